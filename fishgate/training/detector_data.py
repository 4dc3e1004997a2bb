"""Training frames for the fish detector: whole frames at the model's input size, and
the annotated fish boxes in each, read from CVAT-annotated clips.

Every frame of a clip is used (empty chute frames teach the model what is not a
fish). Boxes come from `AnnotatedTrack.boxes()`, so `outside` keyframes hide a fish
as CVAT does; occluded boxes are kept: a fish half behind another is still a fish
the detector must report on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fishgate.cvat import read_cvat
from fishgate.sources.replay import ReplaySource
from fishgate.vision.learned import shrink_frame

MIN_BOX_PX = 4.0  # full-resolution boxes narrower or lower than this are annotation slivers


@dataclass(frozen=True)
class FrameSet:
    """Frames (N, H, W, 3) BGR uint8 at the input size; boxes (x1, y1, x2, y2) in input px."""

    images: np.ndarray
    boxes: tuple[np.ndarray, ...]  # per frame, (K, 4) float32
    clip: np.ndarray  # (N,) index into clip_names
    frame: np.ndarray  # (N,) frame index in its clip
    clip_names: tuple[str, ...]

    def __post_init__(self) -> None:
        n = len(self.images)
        if self.images.ndim != 4 or self.images.shape[3] != 3 or self.images.dtype != np.uint8:
            raise ValueError(f"FrameSet.images: expected (N, H, W, 3) uint8, got {self.images.shape}")
        if not len(self.boxes) == len(self.clip) == len(self.frame) == n:
            raise ValueError("FrameSet: images, boxes, clip and frame must have the same length")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the frames."""
        return int(self.images.shape[2]), int(self.images.shape[1])

    def subset(self, mask: np.ndarray) -> FrameSet:
        idx = np.flatnonzero(mask)
        return FrameSet(
            self.images[idx],
            tuple(self.boxes[i] for i in idx),
            self.clip[idx],
            self.frame[idx],
            self.clip_names,
        )


def clip_frames(video: Path, xml: Path, size: tuple[int, int]) -> FrameSet:
    """Every frame of one clip, shrunk to `size` (width, height) as the runtime shrinks it."""
    annotation = read_cvat(xml)
    by_frame: dict[int, list[tuple[float, float, float, float]]] = {}
    for track in annotation.tracks:
        for tb in track.boxes():
            b = tb.box
            if b.width >= MIN_BOX_PX and b.height >= MIN_BOX_PX:
                by_frame.setdefault(tb.frame, []).append((b.x1, b.y1, b.x2, b.y2))
    images, boxes, frames = [], [], []
    with ReplaySource(video) as source:
        sx, sy = size[0] / source.width, size[1] / source.height
        scale = np.array([sx, sy, sx, sy], np.float32)
        for frame in source:
            image = frame.image if frame.image.ndim == 3 else cv2.cvtColor(frame.image, cv2.COLOR_GRAY2BGR)
            images.append(shrink_frame(image, size))
            found = np.array(by_frame.get(frame.index, []), np.float32).reshape(-1, 4)
            boxes.append(found * scale)
            frames.append(frame.index)
    n = len(images)
    return FrameSet(np.stack(images), tuple(boxes), np.zeros(n, np.int64), np.array(frames), (xml.stem,))


def concat(sets: Sequence[FrameSet]) -> FrameSet:
    names: list[str] = []
    clips = []
    for s in sets:
        clips.append(s.clip + len(names))
        names += s.clip_names
    return FrameSet(
        np.concatenate([s.images for s in sets]),
        tuple(b for s in sets for b in s.boxes),
        np.concatenate(clips),
        np.concatenate([s.frame for s in sets]),
        tuple(names),
    )


def save(frames: FrameSet, path: Path) -> None:
    counts = np.array([len(b) for b in frames.boxes], np.int64)
    flat = np.concatenate([*frames.boxes, np.zeros((0, 4), np.float32)])
    np.savez(
        path,
        images=frames.images,
        counts=counts,
        boxes=flat,
        clip=frames.clip,
        frame=frames.frame,
        clip_names=np.array(frames.clip_names),
    )


def load(path: Path) -> FrameSet:
    with np.load(path) as data:
        ends = np.cumsum(data["counts"])
        boxes = tuple(np.split(data["boxes"].astype(np.float32), ends[:-1])) if len(ends) else ()
        return FrameSet(
            data["images"],
            boxes,
            data["clip"],
            data["frame"],
            tuple(str(n) for n in data["clip_names"]),
        )
