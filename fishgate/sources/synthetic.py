"""A rendered chute scene with known fish: ground truth for tests, no footage needed.

The scene is deterministic (same arguments -> same pixels, frame by frame, whether
read in order or after a `seek`) and cheap (one noise draw per frame). Each fish is
a filled ellipse with a tail triangle moving along x; `boxes(index)` gives where
each one is drawn, so detector tests can compare against it.

Geometry of one fish of length L, heading h = sign(speed) (+1 = left to right):
the nose is on the entry edge at `enter_frame` (just outside the view) and moves
`speed` px per frame; the body ellipse spans the front 0.8 L, the tail the rest;
body and tail are 0.24 L high, centred on `y`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fishgate.errors import SourceError
from fishgate.sources.base import FrameSource, SourceBase, usable_fps
from fishgate.types import Box, Frame

BODY_FRACTION = 0.8  # of the length; the tail fin is the rest
HALF_DEPTH = 0.12  # half of the fish's height, as a fraction of its length
_SHIFT = 4  # cv2 drawing with 4 fractional bits, so slow fish move smoothly
_ONE = 1 << _SHIFT


@dataclass(frozen=True, slots=True)
class SyntheticFish:
    enter_frame: int
    y: float  # centre line, pixels from the top
    length_px: float  # nose to tail tip
    speed_px_per_frame: float  # > 0 swims left to right (upstream), < 0 right to left
    color: tuple[int, int, int] = (60, 70, 80)  # BGR

    def __post_init__(self) -> None:
        if self.enter_frame < 0:
            raise ValueError(f"SyntheticFish.enter_frame: expected >= 0, got {self.enter_frame}")
        if not (math.isfinite(self.length_px) and self.length_px > 0):
            raise ValueError(f"SyntheticFish.length_px: expected > 0, got {self.length_px}")
        if not math.isfinite(self.speed_px_per_frame) or self.speed_px_per_frame == 0:
            raise ValueError(
                f"SyntheticFish.speed_px_per_frame: expected a non-zero number, got {self.speed_px_per_frame}"
            )

    @property
    def heading(self) -> int:
        return 1 if self.speed_px_per_frame > 0 else -1

    def nose_x(self, index: int, width: int) -> float:
        entry = 0.0 if self.heading > 0 else float(width)
        return entry + self.speed_px_per_frame * (index - self.enter_frame)

    def box(self, index: int, width: int) -> Box:
        """The whole fish, unclipped (it may lie partly or wholly outside the frame)."""
        nose = self.nose_x(index, width)
        tail = nose - self.heading * self.length_px
        half = HALF_DEPTH * self.length_px
        return Box(min(nose, tail), self.y - half, max(nose, tail), self.y + half)


class SyntheticSource(SourceBase):
    _frame_count: int  # always known: the scene has a fixed length

    def __init__(
        self,
        *,
        width: int = 640,
        height: int = 360,
        fps: float = 25.0,
        frames: int = 250,
        fish: Sequence[SyntheticFish] = (),
        seed: int = 0,
        noise: float = 2.0,
    ) -> None:
        if width < 1 or height < 1 or frames < 1:
            raise ValueError(
                f"SyntheticSource: expected size and frames >= 1, got {width}x{height}, {frames}"
            )
        if not usable_fps(fps):
            raise ValueError(f"SyntheticSource.fps: expected (0, 1000], got {fps}")
        if not (math.isfinite(noise) and noise >= 0):
            raise ValueError(f"SyntheticSource.noise: expected >= 0, got {noise}")
        self._width = width
        self._height = height
        self._fps = float(fps)
        self._frame_count = frames
        self._fish = tuple(fish)
        self._seed = seed
        self._noise = noise
        self._background = _background(width, height, seed)
        self._next_index = 0

    @property
    def fish(self) -> tuple[SyntheticFish, ...]:
        return self._fish

    def seek(self, index: int) -> None:
        """Make `index` the next frame iteration yields; SourceError if it does not exist."""
        self._check_open()
        if not 0 <= index < self._frame_count:
            raise SourceError(
                f"cannot seek to frame {index} in {self._describe()}:"
                f" it has frames 0..{self._frame_count - 1}"
            )
        self._next_index = index

    def boxes(self, index: int) -> list[Box]:
        """Ground truth: the box of every fish visible in frame `index`, clipped to the frame."""
        out: list[Box] = []
        for fish in self._fish:
            clipped = _clip(fish.box(index, self._width), self._width, self._height)
            if clipped is not None:
                out.append(clipped)
        return out

    def render(self, index: int) -> np.ndarray:
        """The image of frame `index` (BGR uint8), the same whenever it is asked for."""
        canvas = self._background.copy()
        for fish in self._fish:
            if _clip(fish.box(index, self._width), self._width, self._height) is not None:
                _draw_fish(canvas, fish, index, self._width)
        if self._noise > 0:
            # Seeded per frame so a seek renders exactly what sequential reading would.
            rng = np.random.default_rng([self._seed, index])
            grain = rng.standard_normal((self._height, self._width, 1), dtype=np.float32)
            noisy = canvas.astype(np.float32) + grain * np.float32(self._noise)
            canvas = np.clip(noisy, 0, 255).astype(np.uint8)
        return canvas

    def _describe(self) -> str:
        return f"synthetic scene ({self._width}x{self._height}, {self._frame_count} frames)"

    def _release(self) -> None:
        pass  # nothing held

    def _frames(self) -> Iterator[Frame]:
        while True:
            self._check_open()
            index = self._next_index
            if index >= self._frame_count:
                return
            self._next_index += 1
            yield Frame(self.render(index), index / self._fps, index)


def write_video(source: FrameSource, path: str | os.PathLike[str], fourcc: str = "mp4v") -> Path:
    """Write the frames `source` yields (from its current position) to a video file.

    The caller still owns and closes `source`. SourceError if this OpenCV cannot
    write the codec `fourcc` into the container the suffix of `path` names.
    """
    path = Path(path)
    if len(fourcc) != 4:
        raise ValueError(f"fourcc: expected 4 characters, got {fourcc!r}")
    code = cv2.VideoWriter.fourcc(*fourcc)
    writer = cv2.VideoWriter(str(path), code, source.fps, (source.width, source.height))
    if not writer.isOpened():
        raise SourceError(f"cannot write {path} with codec {fourcc!r}: this OpenCV build lacks it")
    try:
        for frame in source:
            writer.write(frame.image)
    finally:
        writer.release()
    if not path.is_file() or path.stat().st_size == 0:
        raise SourceError(f"writing {path} with codec {fourcc!r} produced no file")
    return path


def _background(width: int, height: int, seed: int) -> np.ndarray:
    """A murky chute: a vertical light gradient plus soft blotches, fixed per seed."""
    rng = np.random.default_rng(seed)
    coarse = rng.normal(0.0, 12.0, (max(2, height // 24), max(2, width // 24), 1))
    blotches = cv2.resize(coarse.astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
    gradient = np.linspace(20.0, -20.0, height, dtype=np.float32)[:, np.newaxis]
    base = np.array([125.0, 145.0, 135.0], dtype=np.float32)  # greenish water, BGR
    image = base + (blotches + gradient)[:, :, np.newaxis]
    return np.clip(image, 0, 255).astype(np.uint8)


def _clip(box: Box, width: int, height: int) -> Box | None:
    x1, y1 = max(box.x1, 0.0), max(box.y1, 0.0)
    x2, y2 = min(box.x2, float(width)), min(box.y2, float(height))
    if x2 <= x1 or y2 <= y1:
        return None
    return Box(x1, y1, x2, y2)


def _fixed(value: float) -> int:
    # -0.5: cv2 puts integer coordinates at pixel centres, Box edges lie on pixel borders.
    return round((value - 0.5) * _ONE)


def _draw_fish(canvas: np.ndarray, fish: SyntheticFish, index: int, width: int) -> None:
    length, h = fish.length_px, fish.heading
    nose = fish.nose_x(index, width)
    half = HALF_DEPTH * length
    body_half_length = BODY_FRACTION * length / 2
    centre = (_fixed(nose - h * body_half_length), _fixed(fish.y))
    axes = (round(body_half_length * _ONE), round(half * _ONE))
    color = tuple(float(c) for c in fish.color)
    cv2.ellipse(canvas, centre, axes, 0.0, 0.0, 360.0, color, -1, cv2.LINE_AA, _SHIFT)
    # The tail's apex sits inside the body so the two shapes join without a gap.
    apex_x = nose - h * (BODY_FRACTION - 0.05) * length
    tip_x = nose - h * length
    tail = np.array(
        [
            [_fixed(apex_x), _fixed(fish.y)],
            [_fixed(tip_x), _fixed(fish.y - half)],
            [_fixed(tip_x), _fixed(fish.y + half)],
        ],
        dtype=np.int32,
    )
    cv2.fillConvexPoly(canvas, tail, color, cv2.LINE_AA, _SHIFT)
