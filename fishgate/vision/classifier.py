"""The species classifier at run time: an ONNX model, its JSON card, ONNX Runtime.

The card says everything needed to feed the model (labels, input size and layout,
normalisation, crop margin, the confidence below which a crop is `unknown`) and holds
the sha256 of the model file, so a model and a card that do not belong together are
refused before a single fish is sorted with them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from fishgate.errors import ModelError
from fishgate.types import SPECIES, UNKNOWN, Box
from fishgate.vision.crops import CROP_MARGIN, crop_fish

CARD_FORMAT = "fishgate-species-card/1"


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


def _card_error(path: Path, problem: str) -> ModelError:
    return ModelError(f"{path}: {problem}")


def _get(data: dict[str, Any], path: Path, *keys: str) -> Any:
    node: Any = data
    for i, key in enumerate(keys):
        if not isinstance(node, dict) or key not in node:
            raise _card_error(path, f"model card has no {'.'.join(keys[: i + 1])!r}")
        node = node[key]
    return node


def load_card(path: Path) -> ModelCard:
    """Read and check a model card; every problem is one ModelError line naming the card."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _card_error(
            path, "model card not found (it sits beside the .onnx with a .json suffix)"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _card_error(path, f"model card is not readable JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != CARD_FORMAT:
        raise _card_error(path, f"not a fishgate model card (expected format {CARD_FORMAT!r})")
    labels = tuple(_get(data, path, "labels"))
    unknown = [lab for lab in labels if lab not in SPECIES]
    if not labels or unknown or len(set(labels)) != len(labels):
        raise _card_error(
            path, f"labels must be distinct species among {', '.join(SPECIES)}; got {list(labels)}"
        )
    channels = _get(data, path, "input", "channels")
    if channels not in ("RGB", "BGR") or _get(data, path, "input", "layout") != "NCHW":
        raise _card_error(path, "input must be NCHW with channels RGB or BGR")
    threshold = float(_get(data, path, "unknown_below"))
    if not 0 <= threshold < 1:
        raise _card_error(path, f"unknown_below must be in [0, 1), got {threshold}")
    known = {"format", "version", "model_file", "sha256", "labels", "input", "normalisation", "output"}
    known |= {"crop_margin", "unknown_below"}
    return ModelCard(
        model_file=str(_get(data, path, "model_file")),
        sha256=str(_get(data, path, "sha256")),
        labels=labels,
        input_name=str(_get(data, path, "input", "name")),
        height=int(_get(data, path, "input", "height")),
        width=int(_get(data, path, "input", "width")),
        channel_order=channels,
        mean=tuple(float(v) for v in _get(data, path, "normalisation", "mean")),  # type: ignore[arg-type]
        std=tuple(float(v) for v in _get(data, path, "normalisation", "std")),  # type: ignore[arg-type]
        unknown_below=threshold,
        crop_margin=float(data.get("crop_margin", CROP_MARGIN)),
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


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class SpeciesClassifier:
    """Scores fish crops in one batch per call through ONNX Runtime."""

    def __init__(self, model_path: Path, card_path: Path | None = None, *, threads: int = 1) -> None:
        model_path = Path(model_path)
        card_path = Path(card_path) if card_path is not None else model_path.with_suffix(".json")
        if not model_path.is_file():
            raise ModelError(
                f"{model_path}: species model not found (set model.path in the site config, "
                "or rebuild it with `fishgate train`)"
            )
        self.card = load_card(card_path)
        digest = file_sha256(model_path)
        if digest != self.card.sha256:
            raise ModelError(
                f"{model_path}: sha256 {digest[:12]}… does not match its card {card_path.name} "
                f"({self.card.sha256[:12]}…): the model file is corrupt or the card belongs to another model"
            )
        self.session = _open_session(model_path, threads)
        self._check_io(model_path)
        self.model_path = model_path

    def _check_io(self, model_path: Path) -> None:
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        card = self.card
        if len(inputs) != 1 or inputs[0].name != card.input_name:
            names = [i.name for i in inputs]
            raise ModelError(
                f"{model_path}: model inputs {names} do not match the card's {card.input_name!r}"
            )
        shape = list(inputs[0].shape)
        if len(shape) != 4 or shape[1:] != [3, card.height, card.width]:
            raise ModelError(
                f"{model_path}: model input shape {shape} does not match the card's "
                f"[N, 3, {card.height}, {card.width}]"
            )
        out = list(outputs[0].shape)
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


def _open_session(model_path: Path, threads: int) -> Any:
    import onnxruntime as ort  # imported here: `fishgate --help` should not pay for it

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # ORT's own warnings would drown the one-line errors
    try:
        return ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own Fail/InvalidProtobuf/... types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{model_path}: ONNX Runtime cannot load the model ({first[:200]})") from None
