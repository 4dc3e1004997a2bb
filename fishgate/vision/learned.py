"""The learned fish detector at run time: a heat-map ONNX model, its JSON card, ONNX Runtime.

Each frame is shrunk to the model's input (160 x 90 for the bundled model) and the
model gives, per cell of a grid at half that size, the probability that a fish's
centre lies there plus that fish's box size and sub-cell offset. A cell that is the
highest of its 3 x 3 neighbours and above the card's threshold is one fish; so two
fish swimming one above the other stay two detections, which background subtraction
cannot do once their blobs touch.

The card (sibling .json) holds input size, normalisation, grid stride, thresholds and
the sha256 of the model, as the species model's card does; see
fishgate/training/detector_build.py for how both are made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from fishgate.errors import ModelError
from fishgate.types import SPECIES, Box, Detection
from fishgate.vision.onnx_model import (
    check_image_input,
    check_stamp,
    open_checked_model,
    read_card,
    require_model,
)

CARD_FORMAT = "fishgate-detector-card/1"
# A detector whose boxes are off from a fish's length by more than this is broken, not biased.
MIN_LENGTH_SCALE, MAX_LENGTH_SCALE = 0.5, 2.0
# Boxes ending within this many input px of the frame border are snapped to it: the
# model's box for a fish half out of the picture falls a few px short of the border
# (median 4 frame px in validation), and the tracker reads a fish entering or leaving
# from a box that touches it.
BORDER_SNAP_INPUT_PX = 2.5
REBUILD_HINT = "set detection.model in the site config, or rebuild it with `fishgate train-detector`"


@dataclass(frozen=True)
class DetectorCard:
    """What the runtime must know about a detector model (the rest of the card is record)."""

    model_file: str
    sha256: str
    input_name: str
    height: int
    width: int
    stride: int  # input px per output cell
    mean: float  # on 0..1 pixel values, the same for B, G and R
    std: float
    score_threshold: float  # a centre probability below this is no fish
    box_nms_iou: float  # two peaks whose boxes overlap more than this are one fish
    merged_share: float  # a box this much inside another detection is flagged `merged`
    version: str = ""
    # species -> annotated fish length / the detector's box width for it, measured on the
    # training footage (tools/calibrate_lengths.py); a species not named needs none
    length_scale: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_json(self) -> dict[str, Any]:
        card = {
            "format": CARD_FORMAT,
            "version": self.version,
            "model_file": self.model_file,
            "sha256": self.sha256,
            "input": {
                "name": self.input_name,
                "layout": "NCHW",
                "dtype": "float32",
                "height": self.height,
                "width": self.width,
                "channels": "BGR",
                "resize": "INTER_AREA from the whole frame",
            },
            "normalisation": {"scale": 1 / 255, "mean": self.mean, "std": self.std},
            "output": {
                "layout": "N x [centre, log_w, log_h, offset_x, offset_y] x H/stride x W/stride",
                "stride": self.stride,
            },
            "score_threshold": self.score_threshold,
            "box_nms_iou": self.box_nms_iou,
            "merged_share": self.merged_share,
        }
        if self.length_scale:
            card["length_scale"] = dict(self.length_scale)
        card.update(self.extra)
        return card

    def model_facts(self) -> dict[str, Any]:
        """What the model file itself must agree on (stamped into its metadata when built)."""
        return {
            "input": {"name": self.input_name, "height": self.height, "width": self.width, "channels": "BGR"},
            "normalisation": {"mean": self.mean, "std": self.std},
            "stride": self.stride,
        }


def load_detector_card(path: Path) -> DetectorCard:
    """Read and check a detector card; every problem is one ModelError line naming the card."""
    data = read_card(path, CARD_FORMAT, "detector")
    try:
        card = DetectorCard(
            model_file=str(data["model_file"]),
            sha256=str(data["sha256"]),
            input_name=str(data["input"]["name"]),
            height=int(data["input"]["height"]),
            width=int(data["input"]["width"]),
            stride=int(data["output"]["stride"]),
            mean=float(data["normalisation"]["mean"]),
            std=float(data["normalisation"]["std"]),
            score_threshold=float(data["score_threshold"]),
            box_nms_iou=float(data["box_nms_iou"]),
            merged_share=float(data["merged_share"]),
            version=str(data.get("version", "")),
            length_scale={str(k): float(v) for k, v in data.get("length_scale", {}).items()},
            extra={k: v for k, v in data.items() if k not in _CARD_KEYS},
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{path}: detector card lacks or garbles {exc}") from None
    if not 0 < card.score_threshold < 1 or card.std <= 0 or card.stride < 1:
        raise ModelError(f"{path}: detector card needs 0 < score_threshold < 1, std > 0, stride >= 1")
    for species, scale in card.length_scale.items():
        if species not in SPECIES or not MIN_LENGTH_SCALE <= scale <= MAX_LENGTH_SCALE:
            raise ModelError(
                f"{path}: length_scale: {species} = {scale}: expected one of {', '.join(SPECIES)} with a "
                f"scale from {MIN_LENGTH_SCALE} to {MAX_LENGTH_SCALE}; measure it again with "
                "tools/calibrate_lengths.py"
            )
    return card


_CARD_KEYS = {
    "format", "version", "model_file", "sha256", "input", "normalisation", "output",
    "score_threshold", "box_nms_iou", "merged_share", "length_scale",
}  # fmt: skip


def preprocess(image: np.ndarray, card: DetectorCard) -> np.ndarray:
    """A BGR (or grey) uint8 frame of any size -> the model's (1, 3, H, W) float32 input."""
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    return normalise(shrink_frame(image, (card.width, card.height))[None], card)


def shrink_frame(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A frame area-averaged down to `size` (width, height), as training shrinks it too:
    halved exactly by OpenCV's fast 2x area path while its sides are even and still twice
    the size or more, then resized the rest of the way. A 640x360 frame to 160x90 takes
    0.14 ms so against 0.34 ms in one INTER_AREA step (a tenth of a crowded frame's time);
    the two differ by the rounding of the halved frame, one grey level at most."""
    width, height = size
    while _halves_exactly(image.shape[1], width) and _halves_exactly(image.shape[0], height):
        image = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA)
    if (image.shape[1], image.shape[0]) != (width, height):
        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    return image


def _halves_exactly(side: int, target: int) -> bool:
    return side % 2 == 0 and side >= 2 * target


def normalise(frames: np.ndarray, card: DetectorCard) -> np.ndarray:
    """(N, H, W, 3) uint8 at the input size -> (N, 3, H, W) float32."""
    scale = np.float32(1 / (255 * card.std))
    x = frames.astype(np.float32) * scale - np.float32(card.mean / card.std)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def decode(
    maps: np.ndarray, card: DetectorCard, frame_size: tuple[int, int], threshold: float | None = None
) -> list[Detection]:
    """One frame's output maps (5, h, w) -> detections in frame px, best first."""
    centre = np.ascontiguousarray(maps[0], dtype=np.float32)
    threshold = card.score_threshold if threshold is None else threshold
    # a peak is the highest cell of its 3x3 neighbourhood (CenterNet's max-pool NMS)
    peaks = (centre >= threshold) & (centre >= cv2.dilate(centre, np.ones((3, 3), np.uint8)))
    rows, cols = np.nonzero(peaks)
    if rows.size == 0:
        return []
    order = np.argsort(-centre[rows, cols])
    rows, cols = rows[order], cols[order]
    width, height = frame_size
    sx, sy = width / card.width, height / card.height
    s = card.stride
    cx = (cols + maps[3, rows, cols]) * s * sx
    cy = (rows + maps[4, rows, cols]) * s * sy
    half_w = np.exp(maps[1, rows, cols]) * sx / 2
    half_h = np.exp(maps[2, rows, cols]) * sy / 2
    snap_x, snap_y = BORDER_SNAP_INPUT_PX * sx, BORDER_SNAP_INPUT_PX * sy
    x1 = np.where(cx - half_w <= snap_x, 0.0, cx - half_w)
    y1 = np.where(cy - half_h <= snap_y, 0.0, cy - half_h)
    x2 = np.where(cx + half_w >= width - snap_x, width, cx + half_w)
    y2 = np.where(cy + half_h >= height - snap_y, height, cy + half_h)
    kept: list[tuple[Box, float]] = []
    for i in range(rows.size):
        box = Box(float(x1[i]), float(y1[i]), float(x2[i]), float(y2[i]))
        if box.width < 1 or box.height < 1 or any(box.iou(k) > card.box_nms_iou for k, _ in kept):
            continue
        kept.append((box, float(centre[rows[i], cols[i]])))
    return [_detection(box, score, kept, card, frame_size) for box, score in kept]


def _detection(
    box: Box,
    score: float,
    all_boxes: list[tuple[Box, float]],
    card: DetectorCard,
    frame_size: tuple[int, int],
) -> Detection:
    # a crop mostly covered by another fish shows two fish: the species vote skips it
    merged = any(other is not box and box.share_inside(other) >= card.merged_share for other, _ in all_boxes)
    return Detection(box, score, edge_cut=box.touches_edge(*frame_size), merged=merged)


class LearnedDetector:
    """A Detector (the pipeline's protocol) running the heat-map model on every call.

    Stateless: the model sees one frame at a time, so `t` is not used and a detector
    skipped by the motion gate needs no catching up."""

    def __init__(
        self,
        model_path: Path,
        card_path: Path | None = None,
        *,
        frame_size: tuple[int, int],
        threads: int = 1,
        score_threshold: float | None = None,
    ) -> None:
        model_path = Path(model_path)
        card_path = Path(card_path) if card_path is not None else model_path.with_suffix(".json")
        require_model(model_path, "fish detector model", REBUILD_HINT)
        self.card = load_detector_card(card_path)
        self.session = open_checked_model(model_path, card_path, self.card.sha256, REBUILD_HINT, threads)
        check_stamp(self.session, model_path, card_path, self.card.model_facts(), REBUILD_HINT)
        check_image_input(self.session, model_path, self.card.input_name, self.card.height, self.card.width)
        self.model_path = model_path
        self.frame_size = frame_size
        self.score_threshold = self.card.score_threshold if score_threshold is None else score_threshold
        self.length_scale = self.card.length_scale
        self._check_output()

    def _check_output(self) -> None:
        """One inference at load: a card whose stride does not fit the model's output map
        would otherwise fail (or misplace every box) at the first fish."""
        c = self.card
        out = self.maps(np.zeros((c.height, c.width, 3), np.uint8))
        wanted = (5, c.height // c.stride, c.width // c.stride)
        if out.shape != wanted:
            raise ModelError(
                f"{self.model_path}: output map {list(out.shape)} does not fit the card's "
                f"output.stride {c.stride} (expected {list(wanted)}); the card belongs to another model"
            )

    def maps(self, image: np.ndarray) -> np.ndarray:
        """The model's raw output for one frame: (5, h, w)."""
        (out,) = self.session.run(None, {self.card.input_name: preprocess(image, self.card)})
        return np.asarray(out[0])

    def detect(self, image: np.ndarray, t: float) -> list[Detection]:
        width, height = self.frame_size
        if image.shape[:2] != (height, width) or image.dtype != np.uint8:
            raise ValueError(f"image: expected {width}x{height} uint8, got {image.dtype} {image.shape}")
        return decode(self.maps(image), self.card, self.frame_size, self.score_threshold)
