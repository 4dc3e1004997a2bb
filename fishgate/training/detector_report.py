"""How well detections match annotated boxes, frame by frame (greedy IoU matching)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fishgate.types import Box


@dataclass
class MatchCounts:
    truth: int = 0
    detections: int = 0
    hits: int = 0  # one-to-one matches at the IoU threshold

    @property
    def recall(self) -> float:
        return self.hits / self.truth if self.truth else 1.0

    @property
    def precision(self) -> float:
        return self.hits / self.detections if self.detections else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def add(self, found: Sequence[Box], truth: Sequence[Box], iou: float) -> None:
        self.truth += len(truth)
        self.detections += len(found)
        self.hits += matched(found, truth, iou)

    def as_dict(self) -> dict[str, float]:
        return {
            "truth_boxes": self.truth,
            "detections": self.detections,
            "recall": round(self.recall, 4),
            "precision": round(self.precision, 4),
            "f1": round(self.f1, 4),
        }


def matched(found: Sequence[Box], truth: Sequence[Box], iou: float) -> int:
    """One-to-one matches at IoU >= iou, best pairs first."""
    if not found or not truth:
        return 0
    pairs = sorted(((f.iou(t), i, j) for i, f in enumerate(found) for j, t in enumerate(truth)), reverse=True)
    used_f, used_t = set(), set()
    for value, i, j in pairs:
        if value < iou:
            break
        if i not in used_f and j not in used_t:
            used_f.add(i)
            used_t.add(j)
    return len(used_f)


def boxes_of(array: np.ndarray, scale: float = 1.0) -> list[Box]:
    """(K, 4) x1 y1 x2 y2 -> Boxes, scaled."""
    return [Box(*(float(v) * scale for v in row)) for row in array]
