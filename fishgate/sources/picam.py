"""The Raspberry Pi camera through Picamera2.

`picamera2` is imported only when a `PicameraSource` is made: it exists only on
Raspberry Pi OS (as the apt package python3-picamera2), and `import fishgate.sources`
must work on any machine.

`Frame.t` is the sensor's own timestamp relative to the first frame, so exposure
timing is not blurred by Python's scheduling; the clock is the fallback when the
metadata lacks it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from fishgate.clock import Clock, MonotonicClock
from fishgate.errors import SourceError
from fishgate.sources.base import SourceBase, as_bgr, usable_fps
from fishgate.types import Frame

NOT_INSTALLED = (
    "Picamera2 is not installed: on Raspberry Pi OS run `sudo apt install python3-picamera2`"
    " (and create the virtualenv with --system-site-packages so it can see it)"
)


class PicameraSource(SourceBase):
    def __init__(
        self,
        *,
        width: int = 640,
        height: int = 360,
        fps: float = 25.0,
        clock: Clock | None = None,
    ) -> None:
        if not usable_fps(fps):
            raise SourceError(f"source.fps for the Pi camera must be in (0, 1000], got {fps!r}")
        self._fps = float(fps)
        self._clock: Clock = clock if clock is not None else MonotonicClock()
        self._next_index = 0
        self._t0_clock = self._clock.now()
        self._t0_sensor_ns: int | None = None
        self._camera = _start_camera(width, height, self._fps)
        try:
            # The first frame fixes the real size: the ISP may round the requested one.
            self._pending: tuple[np.ndarray, float] | None = self._capture()
        except BaseException:
            _stop_camera(self._camera)
            raise
        self._height, self._width = int(self._pending[0].shape[0]), int(self._pending[0].shape[1])

    def _describe(self) -> str:
        return "the Pi camera"

    def _release(self) -> None:
        self._pending = None
        _stop_camera(self._camera)

    def _frames(self) -> Iterator[Frame]:
        while True:
            self._check_open()
            if self._pending is not None:
                (image, t), self._pending = self._pending, None
            else:
                image, t = self._capture()
            index = self._next_index
            self._next_index += 1
            yield Frame(image, t, index)

    def _capture(self) -> tuple[np.ndarray, float]:
        try:
            # One request gives the image and the metadata of that same exposure.
            request = self._camera.capture_request()
            try:
                image = as_bgr(request.make_array("main"))
                metadata: dict[str, Any] = request.get_metadata()
            finally:
                request.release()  # libcamera has only a few buffers; never keep one
        except Exception as exc:
            raise SourceError(
                f"the Pi camera stopped delivering frames ({exc}); check the ribbon cable"
            ) from exc
        return image, self._timestamp(metadata.get("SensorTimestamp"))

    def _timestamp(self, sensor_ns: object) -> float:
        if not isinstance(sensor_ns, int):
            return max(0.0, self._clock.now() - self._t0_clock)
        if self._t0_sensor_ns is None:
            self._t0_sensor_ns = sensor_ns
        return (sensor_ns - self._t0_sensor_ns) / 1e9


def _start_camera(width: int, height: int, fps: float) -> Any:
    try:
        from picamera2 import Picamera2
    except ImportError as exc:
        raise SourceError(NOT_INSTALLED) from exc
    try:
        camera = Picamera2()
    except Exception as exc:  # Picamera2 raises IndexError/RuntimeError when none is found
        raise SourceError(
            f"no Pi camera found ({exc}); check the ribbon cable and `rpicam-hello --list-cameras`"
        ) from exc
    try:
        # "RGB888" is libcamera's name for bytes in B, G, R order: what OpenCV expects.
        config = camera.create_video_configuration(
            main={"size": (width, height), "format": "RGB888"},
            controls={"FrameRate": fps},
        )
        camera.configure(config)
        camera.start()
    except Exception as exc:
        _stop_camera(camera)
        raise SourceError(
            f"the Pi camera cannot run at {width}x{height} {fps:g} fps ({exc});"
            " choose another size or frame rate in the site config"
        ) from exc
    return camera


def _stop_camera(camera: Any) -> None:
    try:
        camera.stop()
    finally:
        camera.close()
