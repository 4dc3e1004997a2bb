"""Replay a video file as if it came from the camera.

`Frame.t` is `index / fps`, so a replay is exactly repeatable however fast it runs;
`pace=True` additionally holds each frame back until its real-time moment, for
demos and for exercising the gate scheduler against wall time.

Guarantees for damaged files (each a documented part of the contract):

- missing, empty (0 bytes), a directory, or not a video -> `SourceError` on open;
- opens but has no decodable frame -> `SourceError` on open;
- truncated: whatever the container can still index is yielded, then iteration ends
  normally (no exception), `truncated` becomes True and a warning is logged. An MP4
  cut short usually loses its index (the `moov` atom is written last) and then
  cannot be opened at all, which is the first case;
- `seek` outside the video, or to a frame that cannot be decoded -> `SourceError`.

Iterating continues from the current position (a source is a stream, not a list):
a second `iter()` after the end yields nothing; `seek(0)` rewinds.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from fishgate.clock import Clock, MonotonicClock
from fishgate.errors import SourceError
from fishgate.sources.base import SourceBase, as_bgr, usable_fps
from fishgate.types import Frame

logger = logging.getLogger(__name__)


class ReplaySource(SourceBase):
    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fps: float | None = None,
        pace: bool = False,
        clock: Clock | None = None,
        start_frame: int = 0,
    ) -> None:
        self._path = Path(path)
        self._pace = pace
        self._clock: Clock = clock if clock is not None else MonotonicClock()
        self._cap = _open_capture(self._path)
        self._frames_read = 0
        self._truncated = False
        self._next_index = 0
        self._pending: np.ndarray | None = None  # decoded but not yet yielded
        self._pace_anchor: tuple[float, int] | None = None  # (clock time, index) of pacing start
        try:
            reported = self._cap.get(cv2.CAP_PROP_FPS)
            # what the file itself says, to compare with a config that overrides it
            self.file_fps: float | None = float(reported) if usable_fps(reported) else None
            self._fps = _choose_fps(self._path, fps, reported)
            count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT))
            self._frame_count = count if count > 0 else None
            first = self._prime(start_frame)
        except BaseException:
            self._cap.release()
            raise
        # Sizes from a decoded frame, not the header: decoders may rotate or crop.
        self._height, self._width = int(first.shape[0]), int(first.shape[1])

    # -- replay specifics ------------------------------------------------------------

    @property
    def path(self) -> Path:
        return self._path

    @property
    def frames_read(self) -> int:
        """Frames yielded since the file was opened."""
        return self._frames_read

    @property
    def truncated(self) -> bool:
        """True once decoding stopped before the frame count the header claims."""
        return self._truncated

    def seek(self, index: int) -> None:
        """Make `index` the next frame iteration yields; SourceError if it does not exist."""
        self._check_open()
        count = self._frame_count
        if index < 0 or (count is not None and index >= count):
            last = f"0..{count - 1}" if count is not None else "0 and up"
            raise SourceError(f"cannot seek to frame {index} in {self._path}: it has frames {last}")
        previous = self._next_index
        image = self._decode_at(index)
        if image is None:
            # Leave the source where it was rather than somewhere undefined.
            self._pending = self._decode_at(previous)
            self._next_index = previous
            raise SourceError(
                f"cannot seek to frame {index} in {self._path}: the file ends before it"
                " (truncated or damaged)"
            )
        self._pending = image
        self._next_index = index
        self._pace_anchor = None  # a jump restarts real-time pacing from the new frame

    # -- internals -------------------------------------------------------------------

    def _describe(self) -> str:
        return f"video {self._path}"

    def _release(self) -> None:
        self._cap.release()
        self._pending = None

    def _prime(self, start_frame: int) -> np.ndarray:
        """Decode the first frame to yield (proving the file has one) and return it."""
        if start_frame != 0:
            self.seek(start_frame)
        else:
            self._pending = self._read()
        if self._pending is None:
            raise SourceError(f"video file has no decodable frames: {self._path} (record or export it again)")
        return self._pending

    def _frames(self) -> Iterator[Frame]:
        while True:
            self._check_open()  # close() during iteration stops the next step loudly
            image = self._take()
            if image is None:
                self._note_end()
                return
            index = self._next_index
            self._next_index += 1
            self._frames_read += 1
            if self._pace:
                self._wait_until_due(index)
            yield Frame(self._checked(image, index), index / self._fps, index)

    def _take(self) -> np.ndarray | None:
        if self._pending is not None:
            image, self._pending = self._pending, None
            return image
        return self._read()

    def _read(self) -> np.ndarray | None:
        try:
            ok, image = self._cap.read()
        except cv2.error:  # some decoders raise on a damaged packet instead of failing
            return None
        return as_bgr(image) if ok and image is not None else None

    def _decode_at(self, index: int) -> np.ndarray | None:
        """Position the capture so the next read is `index`, and read that frame."""
        if self._cap.set(cv2.CAP_PROP_POS_FRAMES, index) and (
            int(self._cap.get(cv2.CAP_PROP_POS_FRAMES)) == index
        ):
            return self._read()
        # The backend could not seek exactly: reopen and step forward frame by frame.
        self._cap.release()
        self._cap = _open_capture(self._path)
        for _ in range(index):
            if not self._cap.grab():
                return None
        return self._read()

    def _checked(self, image: np.ndarray, index: int) -> np.ndarray:
        if image.shape[:2] != (self._height, self._width):
            raise SourceError(
                f"frame {index} of {self._path} is {image.shape[1]}x{image.shape[0]} but the"
                f" video started at {self._width}x{self._height}; re-encode it at one size"
            )
        return image

    def _note_end(self) -> None:
        count = self._frame_count
        if self._truncated or count is None or self._next_index >= count:
            return
        self._truncated = True
        logger.warning(
            "%s ends after frame %d but its header claims %d frames (truncated or damaged);"
            " the rest is skipped",
            self._path,
            self._next_index - 1,
            count,
        )

    def _wait_until_due(self, index: int) -> None:
        now = self._clock.now()
        if self._pace_anchor is None:
            self._pace_anchor = (now, index)
            return
        start, first = self._pace_anchor
        delay = start + (index - first) / self._fps - now
        if delay > 0:
            self._clock.sleep(delay)


def _open_capture(path: Path) -> cv2.VideoCapture:
    if not path.exists():
        raise SourceError(f"video file not found: {path} (check `source.path` in the site config)")
    if path.is_dir():
        raise SourceError(f"{path} is a directory, not a video file (name the file itself)")
    if path.stat().st_size == 0:
        raise SourceError(f"video file is empty (0 bytes): {path} (copy or export it again)")
    if not os.access(path, os.R_OK):
        raise SourceError(f"no permission to read video file {path} (check its owner and mode)")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise SourceError(
            f"cannot open {path} as a video: not a video file, damaged or cut short, or a codec"
            " this OpenCV lacks (re-export it, e.g. as H.264 MP4)"
        )
    return cap


def _choose_fps(path: Path, given: float | None, reported: float) -> float:
    if given is not None:
        if not usable_fps(given):
            raise SourceError(f"source.fps for {path} must be in (0, 1000], got {given!r}")
        return float(given)
    if not usable_fps(reported):
        raise SourceError(
            f"{path} does not state a usable frame rate (it reports {reported:g});"
            " set `source.fps` in the site config"
        )
    return float(reported)
