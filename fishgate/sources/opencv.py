"""A live camera through OpenCV: a USB/V4L2 index, or an RTSP/HTTP stream URL.

A live camera has no frame index of its own, so `Frame.t` is the injected clock's
time since the source was opened. A camera that stops delivering frames (unplugged,
network gone) raises `SourceError` from the iterator after `read_timeout_frames`
frame periods without a frame, so the application can put the gate in its safe
position instead of waiting forever.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import cv2
import numpy as np

from fishgate.clock import Clock, MonotonicClock
from fishgate.errors import SourceError
from fishgate.sources.base import SourceBase, as_bgr, usable_fps
from fishgate.types import Frame

# How long FFmpeg may wait for a network stream to open or deliver a packet, so a dead
# camera turns into an error rather than a hang.
NETWORK_TIMEOUT_MS = 5000


def mask_uri(uri: int | str) -> str:
    """`uri` fit for a log or message: a password in it becomes `***`."""
    if isinstance(uri, int):
        return str(uri)
    parts = urlsplit(uri)
    if "@" not in parts.netloc:
        return uri
    userinfo, host = parts.netloc.rsplit("@", 1)
    if ":" not in userinfo:
        return uri
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


class OpenCVSource(SourceBase):
    def __init__(
        self,
        uri: int | str,
        *,
        fps: float | None = None,
        width: int | None = None,
        height: int | None = None,
        clock: Clock | None = None,
        read_timeout_frames: int = 25,
    ) -> None:
        if read_timeout_frames < 1:
            raise ValueError(f"read_timeout_frames: expected >= 1, got {read_timeout_frames}")
        self._uri = uri
        self._name = f"camera {mask_uri(uri)}"
        self._clock: Clock = clock if clock is not None else MonotonicClock()
        self._read_timeout_frames = read_timeout_frames
        self._next_index = 0
        self._cap = _open_capture(uri, self._name)
        try:
            _request_mode(self._cap, fps, width, height)
            self._fps = self._choose_fps(fps)
            self._t0 = self._clock.now()
            # The first frame fixes the real size: cameras may ignore the requested one.
            self._pending: tuple[np.ndarray, float] | None = self._wait_for_frame()
        except BaseException:
            self._cap.release()
            raise
        self._height, self._width = int(self._pending[0].shape[0]), int(self._pending[0].shape[1])

    def _describe(self) -> str:
        return self._name

    def _release(self) -> None:
        self._cap.release()
        self._pending = None

    def _frames(self) -> Iterator[Frame]:
        while True:
            self._check_open()
            if self._pending is not None:
                (image, t), self._pending = self._pending, None
            else:
                image, t = self._wait_for_frame()
            if image.shape[:2] != (self._height, self._width):
                raise SourceError(
                    f"{self._name} changed its frame size from {self._width}x{self._height}"
                    f" to {image.shape[1]}x{image.shape[0]}; fix the camera's mode"
                )
            index = self._next_index
            self._next_index += 1
            yield Frame(image, t, index)

    def _wait_for_frame(self) -> tuple[np.ndarray, float]:
        """The next frame and its time, or SourceError after too many failed reads."""
        for _ in range(self._read_timeout_frames):
            try:
                ok, image = self._cap.read()
            except cv2.error:
                ok, image = False, None
            if ok and image is not None:
                # max(0, ...) because t is seconds since open and a clock may not start at 0.
                return as_bgr(image), max(0.0, self._clock.now() - self._t0)
            # Wait a frame period so the timeout means time, not a burst of instant failures.
            self._clock.sleep(1.0 / self._fps)
        raise SourceError(
            f"{self._name} stopped delivering frames ({self._read_timeout_frames}"
            " reads in a row failed); check its cable, power or network"
        )

    def _choose_fps(self, given: float | None) -> float:
        if given is not None:
            if not usable_fps(given):
                raise SourceError(f"source.fps for {self._name} must be in (0, 1000], got {given!r}")
            return float(given)
        reported = float(self._cap.get(cv2.CAP_PROP_FPS))
        if not usable_fps(reported):
            raise SourceError(
                f"{self._name} does not report a usable frame rate ({reported:g});"
                " set `source.fps` in the site config"
            )
        return reported


def _open_capture(uri: int | str, name: str) -> cv2.VideoCapture:
    if isinstance(uri, str) and "://" in uri:
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            NETWORK_TIMEOUT_MS,
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            NETWORK_TIMEOUT_MS,
        ]
        cap = cv2.VideoCapture(uri, cv2.CAP_FFMPEG, params)
    else:
        cap = cv2.VideoCapture(uri)
    if not cap.isOpened():
        cap.release()
        raise SourceError(
            f"cannot open {name}: check that it is connected, the index or URL in"
            " `source.uri`, and that no other program is using it"
        )
    return cap


def _request_mode(cap: cv2.VideoCapture, fps: float | None, width: int | None, height: int | None) -> None:
    """Ask the camera for a mode; it may pick the nearest it has (checked on first frame)."""
    if width is not None:
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
    if height is not None:
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
    if fps is not None:
        cap.set(cv2.CAP_PROP_FPS, fps)
