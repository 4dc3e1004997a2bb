"""The picture a biologist sees of each fish: its best view while it was in the chute.

Best = a whole view (not cut by the frame edge, not overlapped by another fish)
before any partial one, then the view the species model was surest about. The
crop keeps some water around the fish so fins and tail are in the picture.
"""

from __future__ import annotations

import numpy as np

from fishgate.types import Box

SNAPSHOT_MARGIN = 0.2  # of the box's size, added on every side


class BestViews:
    """Per track, the crop of its best view so far (a copy: frames are reused by sources)."""

    def __init__(self, margin: float = SNAPSHOT_MARGIN) -> None:
        self.margin = margin
        self._best: dict[int, tuple[float, np.ndarray]] = {}

    def offer(self, track_id: int, image: np.ndarray, box: Box, confidence: float, whole: bool) -> None:
        quality = confidence + (1.0 if whole else 0.0)
        held = self._best.get(track_id)
        if held is not None and held[0] >= quality:
            return
        crop = self._crop(image, box)
        if crop is not None:
            self._best[track_id] = (quality, crop)

    def take(self, track_id: int) -> np.ndarray | None:
        held = self._best.pop(track_id, None)
        return None if held is None else held[1]

    def drop(self, track_id: int) -> None:
        self._best.pop(track_id, None)

    def clear(self) -> None:
        self._best.clear()

    def _crop(self, image: np.ndarray, box: Box) -> np.ndarray | None:
        h, w = image.shape[:2]
        mx, my = box.width * self.margin, box.height * self.margin
        x1, y1 = max(0, int(box.x1 - mx)), max(0, int(box.y1 - my))
        x2, y2 = min(w, int(np.ceil(box.x2 + mx))), min(h, int(np.ceil(box.y2 + my)))
        if x2 - x1 < 2 or y2 - y1 < 2:  # tracks-only replays have no picture
            return None
        return image[y1:y2, x1:x2].copy()
