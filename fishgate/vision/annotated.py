"""Stand-ins for the detector and classifier, so the tracker and counter can be measured alone.

`AnnotatedDetector` turns a CVAT annotation's boxes into detections (optionally
jittered and thinned out, as a real detector would be) and `LabelPassThrough` lets
each annotated label stand in for the classifier, unchanged even if it is not one of
our five species.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from fishgate.cvat import Annotation
from fishgate.types import NO_LENGTH_SCALE, Box, Detection
from fishgate.vision.tracker import border_px


class AnnotatedDetector:
    # annotated boxes are the truth's own lengths: nothing to correct (see pipeline.Detector)
    length_scale: Mapping[str, float] = NO_LENGTH_SCALE

    def __init__(
        self,
        annotation: Annotation,
        frame_size: tuple[int, int],
        fps: float,
        *,
        jitter_px: float = 0.0,
        drop: float = 0.0,
        seed: int = 0,
    ) -> None:
        if not 0 <= drop < 1:
            raise ValueError(f"drop: expected a fraction 0 <= p < 1, got {drop}")
        self.fps = fps
        self.width, self.height = frame_size
        self.jitter_px = jitter_px
        self.drop = drop
        self.rng = np.random.default_rng(seed)
        self.by_frame: dict[int, list[tuple[Box, bool, str]]] = {}
        for track in annotation.tracks:
            for tb in track.boxes():
                self.by_frame.setdefault(tb.frame, []).append((tb.box, tb.occluded, track.label))

    def frames(self) -> int:
        return max(self.by_frame, default=-1) + 1

    def detect(self, image: np.ndarray, t: float) -> list[Detection]:
        index = round(t * self.fps)
        detections = []
        for box, occluded, label in self.by_frame.get(index, []):
            if self.drop and self.rng.random() < self.drop:
                continue
            seen = self._jitter(box)
            if seen is None:
                continue
            cut = seen.touches_edge(self.width, self.height, border_px(self.width))
            detections.append(Detection(seen, 1.0, edge_cut=cut, merged=occluded, label=label))
        return detections

    def _jitter(self, box: Box) -> Box | None:
        if not self.jitter_px:
            return box
        d = self.rng.normal(0, self.jitter_px, 4)
        x1, x2 = sorted((min(max(box.x1 + d[0], 0), self.width), min(max(box.x2 + d[2], 0), self.width)))
        y1, y2 = sorted((min(max(box.y1 + d[1], 0), self.height), min(max(box.y2 + d[3], 0), self.height)))
        return Box(x1, y1, x2, y2) if x2 - x1 >= 1 and y2 - y1 >= 1 else None


class LabelPassThrough:
    """Each detection's own label, with full confidence."""

    def __call__(self, image: np.ndarray, detections: Sequence[Detection]) -> list[dict[str, float]]:
        return [{d.label or "unknown": 1.0} for d in detections]
