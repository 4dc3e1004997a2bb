"""The species classifier at run time: an ONNX model, its JSON card, ONNX Runtime.

The card says everything needed to feed the model (labels, input size and layout,
normalisation, crop margin, the confidence below which a crop is `unknown`) and holds
the sha256 of the model file, so a model and a card that do not belong together are
refused before a single fish is sorted with them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from fishgate.errors import ModelError
from fishgate.types import SPECIES, UNKNOWN, Box
from fishgate.vision.crops import CROP_MARGIN, crop_fish
from fishgate.vision.onnx_model import (
    check_image_input,
    check_stamp,
    open_checked_model,
    read_card,
    require_model,
)

CARD_FORMAT = "fishgate-species-card/1"
REBUILD_HINT = "set model.path in the site config, or rebuild it with `fishgate train`"


@dataclass(frozen=True)
class ModelCard:
    """What the runtime must know about a species model (the rest of the card is record)."""

    model_file: str
    sha256: str
    labels: tuple[str, ...]
    input_name: str
    height: int
    width: int
    channel_order: str  # "RGB" or "BGR"
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    unknown_below: float
    crop_margin: float = CROP_MARGIN
    version: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_json(self) -> dict[str, Any]:
        card = {
            "format": CARD_FORMAT,
            "version": self.version,
            "model_file": self.model_file,
            "sha256": self.sha256,
            "labels": list(self.labels),
            "input": {
                "name": self.input_name,
                "layout": "NCHW",
                "dtype": "float32",
                "height": self.height,
                "width": self.width,
                "channels": self.channel_order,
            },
            "normalisation": {"scale": 1 / 255, "mean": list(self.mean), "std": list(self.std)},
            "output": "probabilities",
            "crop_margin": self.crop_margin,
            "unknown_below": self.unknown_below,
        }
        card.update(self.extra)
        return card

    def model_facts(self) -> dict[str, Any]:
        """What the model file itself must agree on (stamped into its metadata when built)."""
        return {
            "labels": list(self.labels),
            "input": {"name": self.input_name, "height": self.height, "width": self.width,
                      "channels": self.channel_order},
            "normalisation": {"mean": list(self.mean), "std": list(self.std)},
        }  # fmt: skip


def _card_error(path: Path, problem: str) -> ModelError:
    return ModelError(f"{path}: {problem}")


def _get(data: dict[str, Any], path: Path, *keys: str) -> Any:
    node: Any = data
    for i, key in enumerate(keys):
        if not isinstance(node, dict) or key not in node:
            raise _card_error(path, f"model card has no {'.'.join(keys[: i + 1])!r}")
        node = node[key]
    return node


def _number(
    data: dict[str, Any], path: Path, *keys: str, lo: float, hi: float, integer: bool = False
) -> float:
    """A card number within [lo, hi]: a string, null or absurd value is one line at load time."""
    value = _get(data, path, *keys)
    ok = isinstance(value, int if integer else int | float) and not isinstance(value, bool)
    if not ok or not lo <= value <= hi:
        kind = "an integer" if integer else "a number"
        raise _card_error(path, f"{'.'.join(keys)} must be {kind} in [{lo:g}, {hi:g}], got {value!r}")
    return float(value)


def _per_channel(
    data: dict[str, Any], path: Path, key: str, lo: float, hi: float
) -> tuple[float, float, float]:
    """normalisation.mean / .std: three numbers, one per colour channel."""
    value = _get(data, path, "normalisation", key)
    good = isinstance(value, list) and len(value) == 3
    good = good and all(
        isinstance(v, int | float) and not isinstance(v, bool) and lo <= v <= hi for v in value
    )
    if not good:
        raise _card_error(
            path, f"normalisation.{key} must be three numbers in [{lo:g}, {hi:g}], got {value!r}"
        )
    return float(value[0]), float(value[1]), float(value[2])


def load_card(path: Path) -> ModelCard:
    """Read and check a model card; every problem is one ModelError line naming the card,
    at load time, never at the first fish."""
    data = read_card(path, CARD_FORMAT, "model")
    raw_labels = _get(data, path, "labels")
    if not isinstance(raw_labels, list) or not all(isinstance(lab, str) for lab in raw_labels):
        raise _card_error(path, f"labels must be a list of species names, got {raw_labels!r}")
    labels = tuple(raw_labels)
    unknown = [lab for lab in labels if lab not in SPECIES]
    if not labels or unknown or len(set(labels)) != len(labels):
        raise _card_error(
            path, f"labels must be distinct species among {', '.join(SPECIES)}; got {list(labels)}"
        )
    channels = _get(data, path, "input", "channels")
    if channels not in ("RGB", "BGR") or _get(data, path, "input", "layout") != "NCHW":
        raise _card_error(path, "input must be NCHW with channels RGB or BGR")
    threshold = _number(data, path, "unknown_below", lo=0, hi=1)
    if threshold >= 1:
        raise _card_error(path, f"unknown_below must be below 1 (all would be unknown), got {threshold}")
    known = {"format", "version", "model_file", "sha256", "labels", "input", "normalisation", "output"}
    known |= {"crop_margin", "unknown_below"}
    margin = data.get("crop_margin", CROP_MARGIN)
    if isinstance(margin, bool) or not isinstance(margin, int | float) or not 0 <= margin <= 0.5:
        raise _card_error(path, f"crop_margin must be a number in [0, 0.5], got {margin!r}")
    return ModelCard(
        model_file=str(_get(data, path, "model_file")),
        sha256=str(_get(data, path, "sha256")),
        labels=labels,
        input_name=str(_get(data, path, "input", "name")),
        height=int(_number(data, path, "input", "height", lo=8, hi=1024, integer=True)),
        width=int(_number(data, path, "input", "width", lo=8, hi=1024, integer=True)),
        channel_order=channels,
        mean=_per_channel(data, path, "mean", 0.0, 1.0),
        std=_per_channel(data, path, "std", 0.01, 10.0),  # 0 would divide every crop by zero
        unknown_below=threshold,
        crop_margin=float(margin),
        version=str(data.get("version", "")),
        extra={k: v for k, v in data.items() if k not in known},
    )


def preprocess(crops: Sequence[np.ndarray] | np.ndarray, card: ModelCard) -> np.ndarray:
    """BGR uint8 crops (N, H, W, 3) at the card's size -> the model's float32 NCHW input."""
    batch = np.asarray(crops)
    if batch.ndim != 4 or batch.shape[1:] != (card.height, card.width, 3):
        raise ValueError(f"crops: expected (N, {card.height}, {card.width}, 3), got {batch.shape}")
    if card.channel_order == "RGB":
        batch = batch[..., ::-1]
    unit = batch.astype(np.float32) * np.float32(1 / 255)
    x: np.ndarray = (unit - np.array(card.mean, np.float32)) / np.array(card.std, np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


@dataclass(frozen=True)
class SpeciesScore:
    label: str  # a species, or "unknown" when below the card's threshold
    confidence: float  # probability of the top species
    probabilities: tuple[float, ...]  # over the card's labels


class SpeciesClassifier:
    """Scores fish crops in one batch per call through ONNX Runtime."""

    def __init__(self, model_path: Path, card_path: Path | None = None, *, threads: int = 1) -> None:
        model_path = Path(model_path)
        card_path = Path(card_path) if card_path is not None else model_path.with_suffix(".json")
        require_model(model_path, "species model", REBUILD_HINT)
        self.card = load_card(card_path)
        self.session = open_checked_model(model_path, card_path, self.card.sha256, REBUILD_HINT, threads)
        check_stamp(self.session, model_path, card_path, self.card.model_facts(), REBUILD_HINT)
        self._check_io(model_path)
        self.model_path = model_path

    def _check_io(self, model_path: Path) -> None:
        card = self.card
        check_image_input(self.session, model_path, card.input_name, card.height, card.width)
        out = list(self.session.get_outputs()[0].shape)
        if len(out) != 2 or out[1] != len(card.labels):
            raise ModelError(
                f"{model_path}: model output shape {out} does not match {len(card.labels)} labels"
            )

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the crops the model takes."""
        return self.card.width, self.card.height

    def probabilities(self, crops: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
        """(N, labels) probabilities for BGR crops already at the model's size."""
        if len(crops) == 0:
            return np.zeros((0, len(self.card.labels)), np.float32)
        x = preprocess(crops, self.card)
        (probs,) = self.session.run(None, {self.card.input_name: x})
        return np.asarray(probs, dtype=np.float32)

    def classify(self, crops: Sequence[np.ndarray] | np.ndarray) -> list[SpeciesScore]:
        probs = self.probabilities(crops)
        scores = []
        for row in probs:
            top = int(np.argmax(row))
            confidence = float(row[top])
            label = self.card.labels[top] if confidence >= self.card.unknown_below else UNKNOWN
            scores.append(SpeciesScore(label, confidence, tuple(float(p) for p in row)))
        return scores

    def crop(self, image: np.ndarray, box: Box) -> np.ndarray:
        return crop_fish(image, box, self.card.width, self.card.height, self.card.crop_margin)

    def classify_boxes(self, image: np.ndarray, boxes: Sequence[Box]) -> list[SpeciesScore]:
        return self.classify([self.crop(image, b) for b in boxes])

    def classify_image(self, image: np.ndarray) -> SpeciesScore:
        """A whole picture of one fish (e.g. a snapshot), resized as a crop would be."""
        resized = cv2.resize(image, (self.card.width, self.card.height), interpolation=cv2.INTER_AREA)
        return self.classify([resized])[0]
