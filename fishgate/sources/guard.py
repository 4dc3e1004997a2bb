"""A live camera that stops delivering is noticed by wall time, and reopened with backoff.

A dead RTSP camera can keep OpenCV's read blocked for minutes, and Picamera2's
`capture_request` has no timeout at all, so no count of failed reads can see it. Here
the camera is read in its own thread and the frame loop waits for each frame at most a
short poll; when no frame came for `stall_s` of wall time, the loop gets a
`SourceStall` in place of a frame (the trap sets the gate safe and counts the outage),
the stuck camera is abandoned, and a new one is opened with backoff. Frames after a
reopen are renumbered to carry on from the last one, in index and in time, so the
pipeline sees one unbroken stream with a gap in it.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from fishgate.clock import Clock
from fishgate.errors import SourceError
from fishgate.sources.base import FrameSource
from fishgate.types import Frame

log = logging.getLogger(__name__)
POLL_S = 0.05  # the frame loop looks at the clock at least this often while waiting
FIRST_FRAME_WAIT_S = 10.0  # a camera that opened but gives no frame this long is not working
QUEUE_FRAMES = 2  # read-ahead: a camera thread never runs far ahead of the loop
_END = object()


@dataclass(frozen=True)
class SourceStall:
    """Yielded in place of a frame: no frame for `silent_s`, or a reopen that failed."""

    frame: int  # the last frame delivered (-1: none yet)
    t: float  # where the stream's time stands now (the last frame's time + the silence)
    silent_s: float
    reason: str
    first: bool  # the first notice of this outage (the gate goes safe then)


class _Reader:
    """Iterates a source in a daemon thread, handing frames over through a small queue."""

    def __init__(self, source: FrameSource) -> None:
        self.source = source
        self.frames: queue.Queue[object] = queue.Queue(QUEUE_FRAMES)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._read, name="fishgate-camera", daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for frame in self.source:
                # a copy: sources may reuse their buffer for the next frame while this one is used
                item = replace(frame, image=frame.image.copy())
                while not self.stop.is_set():
                    try:
                        self.frames.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if self.stop.is_set():
                    return
            self.frames.put(_END)
        except BaseException as exc:  # handed to the loop, which decides
            self.frames.put(exc)

    def abandon(self) -> None:
        """Stop reading; close the source in the background (a hung device may hang close too)."""
        self.stop.set()
        threading.Thread(target=self._close, name="fishgate-camera-close", daemon=True).start()

    def _close(self) -> None:
        try:
            self.source.close()
        except Exception as exc:
            log.warning("closing the stalled camera failed: %s", exc)


class GuardedSource:
    """A FrameSource wrapper for live cameras: yields frames, and `SourceStall`s while the
    camera is silent or being reopened. Ends only when the camera itself ends."""

    def __init__(
        self,
        source: FrameSource,
        reopen: Callable[[], FrameSource],
        stall_s: float,
        clock: Clock,
        backoff_s: tuple[float, float] = (1.0, 30.0),
        poll_s: float = POLL_S,
        stop: threading.Event | None = None,
    ) -> None:
        self.source = source
        self.reopen = reopen
        self.stall_s = stall_s
        self.clock = clock
        self.backoff_s = backoff_s
        self.poll_s = poll_s
        self.stop = stop or threading.Event()  # set: give up reopening (the trap is stopping)
        self.outages = 0
        self._reader: _Reader | None = None

    @property
    def fps(self) -> float:
        return self.source.fps

    @property
    def width(self) -> int:
        return self.source.width

    @property
    def height(self) -> int:
        return self.source.height

    @property
    def frame_count(self) -> int | None:
        return self.source.frame_count

    def close(self) -> None:
        if self._reader is not None:
            self._reader.stop.set()
        self.source.close()

    def __iter__(self) -> Iterator[Frame | SourceStall]:
        last_index, last_t = -1, 0.0
        while True:
            self._reader = reader = _Reader(self.source)
            heard = self.clock.now()
            shift: tuple[int, float] | None = None  # (index, time) added to this camera's frames
            while True:
                try:
                    item = reader.frames.get(timeout=self.poll_s)
                except queue.Empty:
                    silent = self.clock.now() - heard
                    if silent >= self.stall_s:
                        reason = f"no frame for {silent:.1f} s"
                        break
                    continue
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    if not isinstance(item, SourceError | OSError):
                        raise item
                    reason = f"camera error: {item}"
                    break
                assert isinstance(item, Frame)
                if shift is None:
                    gap = self.clock.now() - heard if last_index >= 0 else 0.0
                    shift = (last_index + 1 - item.index, last_t + gap - item.t if last_index >= 0 else 0.0)
                frame = replace(item, index=item.index + shift[0], t=item.t + shift[1])
                last_index, last_t = frame.index, frame.t
                heard = self.clock.now()
                yield frame
            yield from self._outage(reader, last_index, last_t, heard, reason)
            if self.stop.is_set():
                return

    def _outage(
        self, reader: _Reader, last_index: int, last_t: float, heard: float, reason: str
    ) -> Iterator[SourceStall]:
        """Tell the loop, abandon the camera, reopen it with backoff until it opens."""
        self.outages += 1
        log.error("camera: %s; gate to its safe position, reopening the camera", reason)
        yield SourceStall(
            last_index, last_t + self.clock.now() - heard, self.clock.now() - heard, reason, True
        )
        reader.abandon()
        delay = self.backoff_s[0]
        while True:
            if not self._wait(delay):
                return
            try:
                self.source = self.reopen()
                break
            except SourceError as exc:
                silent = self.clock.now() - heard
                yield SourceStall(last_index, last_t + silent, silent, f"reopen failed: {exc}", False)
                delay = min(2 * delay, self.backoff_s[1])
        log.warning("camera: reopened after %.1f s without frames", self.clock.now() - heard)

    def _wait(self, seconds: float) -> bool:
        """Sleep in short steps; False as soon as the trap is stopping."""
        end = self.clock.now() + seconds
        while self.clock.now() < end:
            if self.stop.is_set():
                return False
            self.clock.sleep(min(0.25, end - self.clock.now()))
        return not self.stop.is_set()


def read_frames(source: FrameSource, count: int, wait_s: float = FIRST_FRAME_WAIT_S) -> list[Frame]:
    """Up to `count` frames, giving up after `wait_s` of wall time without one (a camera
    that opened but delivers nothing); a read error is raised as SourceError."""
    reader = _Reader(source)
    frames: list[Frame] = []
    try:
        while len(frames) < count:
            try:
                item = reader.frames.get(timeout=wait_s)
            except queue.Empty:
                raise SourceError(
                    f"the camera opened but gave no frame in {wait_s:.0f} s: check its cable, power and "
                    "[source] uri"
                ) from None
            if item is _END:
                break
            if isinstance(item, BaseException):
                raise SourceError(f"reading frames failed: {item}") from item
            assert isinstance(item, Frame)
            frames.append(item)
    finally:
        reader.stop.set()
        reader.thread.join(timeout=1.0)  # done reading before the caller closes the source
    return frames
