"""Small, frozen data objects passed between stages.

Each checks its own shape on construction and fails with "expected X, got Y", so a
bad value is caught where it is made, not three stages later.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, get_args

import numpy as np

Species = Literal["atlantic_salmon", "sea_trout", "arctic_char", "pink_salmon", "farmed_salmon"]
SPECIES: tuple[str, ...] = get_args(Species)
# Species the trap removes by default (a site config may route differently).
INVASIVE: frozenset[str] = frozenset({"pink_salmon", "farmed_salmon"})
NATIVE: frozenset[str] = frozenset(SPECIES) - INVASIVE
UNKNOWN = "unknown"
# A detector that draws every species true to length: no length_scale to apply.
NO_LENGTH_SCALE: Mapping[str, float] = MappingProxyType({})
NOT_FISH = "not_fish"  # a reviewer's label: a leaf, a stick, a shadow; left out of counts
REVIEW_LABELS: tuple[str, ...] = (*get_args(Species), UNKNOWN, NOT_FISH)

Direction = Literal["upstream", "downstream"]
DIRECTIONS: tuple[str, ...] = get_args(Direction)
Route = Literal["tank", "river"]
ROUTES: tuple[str, ...] = get_args(Route)


def _finite(name: str, value: float) -> None:
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")


@dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned box in pixels, (x1, y1) top-left, (x2, y2) bottom-right."""

    x1: float
    y1: float
    x2: float
    y2: float

    def __post_init__(self) -> None:
        for name in ("x1", "y1", "x2", "y2"):
            _finite(f"Box.{name}", getattr(self, name))
        if self.x2 < self.x1 or self.y2 < self.y1:
            raise ValueError(f"Box: expected x1 <= x2 and y1 <= y2, got {self}")

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    @property
    def area(self) -> float:
        return self.width * self.height

    @property
    def center(self) -> tuple[float, float]:
        return ((self.x1 + self.x2) / 2, (self.y1 + self.y2) / 2)

    def iou(self, other: Box) -> float:
        ix = max(0.0, min(self.x2, other.x2) - max(self.x1, other.x1))
        iy = max(0.0, min(self.y2, other.y2) - max(self.y1, other.y1))
        inter = ix * iy
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    def share_inside(self, outer: Box) -> float:
        """The share of this box's area that lies inside `outer`."""
        ix = min(outer.x2, self.x2) - max(outer.x1, self.x1)
        iy = min(outer.y2, self.y2) - max(outer.y1, self.y1)
        return ix * iy / self.area if ix > 0 and iy > 0 and self.area > 0 else 0.0

    def union(self, other: Box) -> Box:
        """The smallest box holding both."""
        return Box(
            min(self.x1, other.x1), min(self.y1, other.y1), max(self.x2, other.x2), max(self.y2, other.y2)
        )

    def touches_edge(self, width: float, height: float, tolerance: float = 1.0) -> bool:
        """True if the box is cut by the frame border (part of the fish is outside)."""
        return (
            self.x1 <= tolerance
            or self.y1 <= tolerance
            or self.x2 >= width - tolerance
            or self.y2 >= height - tolerance
        )

    def interpolate(self, other: Box, fraction: float) -> Box:
        """The box `fraction` of the way from self to other (0 -> self, 1 -> other)."""
        f = fraction
        return Box(
            self.x1 + (other.x1 - self.x1) * f,
            self.y1 + (other.y1 - self.y1) * f,
            self.x2 + (other.x2 - self.x2) * f,
            self.y2 + (other.y2 - self.y2) * f,
        )


@dataclass(frozen=True, slots=True, eq=False)
class Frame:
    """One image from a source. `t` is the source's own clock in seconds."""

    image: np.ndarray
    t: float
    index: int

    def __post_init__(self) -> None:
        if not isinstance(self.image, np.ndarray) or self.image.dtype != np.uint8:
            got = getattr(self.image, "dtype", type(self.image).__name__)
            raise ValueError(f"Frame.image: expected a uint8 numpy array, got {got}")
        if self.image.ndim not in (2, 3) or (self.image.ndim == 3 and self.image.shape[2] != 3):
            raise ValueError(f"Frame.image: expected shape (H, W) or (H, W, 3), got {self.image.shape}")
        _finite("Frame.t", self.t)
        if not isinstance(self.index, int) or self.index < 0:
            raise ValueError(f"Frame.index: expected an int >= 0, got {self.index!r}")

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])


@dataclass(frozen=True, slots=True)
class Passage:
    """One fish that crossed the counting line: the record of ../EVALUATION.md."""

    id: str
    species: str  # one of SPECIES or UNKNOWN (tracks-only mode passes other labels through)
    confidence: float
    direction: Direction
    route: Route | None
    first_frame: int
    last_frame: int
    decision_frame: int | None
    length_cm: float | None
    extra: tuple[tuple[str, Any], ...] = ()  # further fields (flags, model version, ...)

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("Passage.id: expected a non-empty string")
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"Passage.confidence: expected 0..1, got {self.confidence!r}")
        if self.direction not in DIRECTIONS:
            raise ValueError(f"Passage.direction: expected one of {DIRECTIONS}, got {self.direction!r}")
        if self.route is not None and self.route not in ROUTES:
            raise ValueError(f"Passage.route: expected one of {ROUTES} or None, got {self.route!r}")
        if self.last_frame < self.first_frame:
            raise ValueError(
                f"Passage: expected first_frame <= last_frame, got {self.first_frame} > {self.last_frame}"
            )

    def to_record(self) -> dict[str, Any]:
        """The JSON object of one passage-log line."""
        record: dict[str, Any] = {
            "event": "passage",
            "id": self.id,
            "species": self.species,
            "confidence": self.confidence,
            "direction": self.direction,
            "route": self.route,
            "first_frame": self.first_frame,
            "last_frame": self.last_frame,
            "decision_frame": self.decision_frame,
            "length_cm": self.length_cm,
        }
        record.update(dict(self.extra))
        return record


@dataclass(frozen=True, slots=True)
class Detection:
    """Something fish-shaped found in one frame.

    `edge_cut`: the box touches the frame border, so part of the fish is outside.
    `merged`: the blob probably holds more than one fish.
    `label`: a species given with the detection (tracks-only replay of annotations),
    passed through unchanged instead of asking the classifier.
    """

    box: Box
    score: float = 1.0
    edge_cut: bool = False
    merged: bool = False
    label: str | None = None
