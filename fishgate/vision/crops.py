"""Cutting a fish out of a frame the same way for training and at run time.

The classifier must see crops made exactly as its training crops were, so both the
dataset builder and the runtime call `crop_fish`.
"""

from __future__ import annotations

import cv2
import numpy as np

from fishgate.types import Box

# Fraction of the box added on every side: the tail tips and fin edges that a tight
# box cuts carry field marks (forked vs square tail, white fin edges).
CROP_MARGIN = 0.08
# (width, height) new models are trained at: a fish is ~2.7 times as long as deep, and
# 128 px keep the spots that tell sea trout from salmon (96 px lost a few tracks).
DEFAULT_CROP_SIZE = (128, 48)


def crop_fish(
    image: np.ndarray, box: Box, width: int, height: int, margin: float = CROP_MARGIN
) -> np.ndarray:
    """The box (plus margin) resized to width x height, as uint8 RGB-or-BGR like the image.

    Parts of the enlarged box outside the frame are filled by replicating the border,
    so a crop always has the requested size.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"crop size: expected positive width and height, got {width}x{height}")
    mx, my = box.width * margin, box.height * margin
    x1, y1 = int(np.floor(box.x1 - mx)), int(np.floor(box.y1 - my))
    x2, y2 = int(np.ceil(box.x2 + mx)), int(np.ceil(box.y2 + my))
    h, w = image.shape[:2]
    if x2 <= x1 or y2 <= y1:
        raise ValueError(f"crop_fish: box {box} is empty")
    pad = (max(0, -y1), max(0, y2 - h), max(0, -x1), max(0, x2 - w))
    region = image[max(0, y1) : min(h, y2), max(0, x1) : min(w, x2)]
    if region.size == 0:
        raise ValueError(f"crop_fish: box {box} lies outside the {w}x{h} frame")
    if any(pad):
        region = cv2.copyMakeBorder(region, *pad, borderType=cv2.BORDER_REPLICATE)
    if region.ndim == 2:
        region = cv2.cvtColor(region, cv2.COLOR_GRAY2BGR)
    return cv2.resize(region, (width, height), interpolation=cv2.INTER_AREA)
