"""The contract every frame source keeps, and a small base for the shared parts.

Contract (tested once for all sources in tests/test_sources_contract.py):

- iterating yields `Frame`s whose image is BGR uint8 of shape (height, width, 3);
- indices go up by exactly 1 (from 0 unless the source was started or seeked elsewhere);
- `Frame.t` never goes back;
- `close()` may be called any number of times; `with source:` closes on exit;
- once closed, asking for a frame raises `SourceError` (rather than yielding
  nothing), so a caller that reuses a closed source fails loudly instead of
  mistaking it for the end of a video.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

import numpy as np

from fishgate.errors import SourceError
from fishgate.types import Frame


@runtime_checkable
class FrameSource(Protocol):
    """Anything that yields frames: a file, a camera, a rendered scene."""

    @property
    def fps(self) -> float: ...

    @property
    def width(self) -> int: ...

    @property
    def height(self) -> int: ...

    @property
    def frame_count(self) -> int | None:
        """Frames in the source, or None for a live source that has no end."""
        ...

    def __iter__(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class SourceBase:
    """Closing, the context manager and the closed-source check, shared by all sources.

    Subclasses set `_fps`, `_width`, `_height` (and `_frame_count` if the source has an
    end) when opened, and implement `_frames()` (the generator behind `__iter__`),
    `_release()` (free the device or file; called once) and `_describe()` (names the
    source in messages).
    """

    _closed: bool = False
    _fps: float
    _width: int
    _height: int
    _frame_count: int | None = None  # None: live, or a file that does not say

    @property
    def fps(self) -> float:
        return self._fps

    @property
    def width(self) -> int:
        return self._width

    @property
    def height(self) -> int:
        return self._height

    @property
    def frame_count(self) -> int | None:
        return self._frame_count

    def __iter__(self) -> Iterator[Frame]:
        # Checked here, not inside the generator, so `iter(closed_source)` fails at once.
        self._check_open()
        return self._frames()

    def _frames(self) -> Iterator[Frame]:
        raise NotImplementedError

    def _release(self) -> None:
        raise NotImplementedError

    def _describe(self) -> str:
        raise NotImplementedError

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._release()

    def _check_open(self) -> None:
        if self._closed:
            raise SourceError(f"{self._describe()} is closed; open a new source to read again")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def usable_fps(value: float) -> bool:
    """True for a frame rate a container or camera can mean (some report 0, NaN or 90000)."""
    return math.isfinite(value) and 0.0 < value <= 1000.0


def as_bgr(image: np.ndarray) -> np.ndarray:
    """A decoded image as contiguous BGR uint8 (H, W, 3); grey decoders give (H, W)."""
    if image.ndim == 2:
        image = np.repeat(image[:, :, np.newaxis], 3, axis=2)
    return np.ascontiguousarray(image, dtype=np.uint8)
