"""A live camera that stops delivering frames: gate safe within stall_s, camera reopened, sorting resumes.

Time is a fake clock that moves on each look (as wall time does while the loop waits),
so the test is exact about how long the camera was silent without waiting that long.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from fishgate.app import LiveParts, run_trap
from fishgate.clock import FakeClock
from fishgate.config import DetectionConfig, ServoConfig, SiteConfig, SourceConfig, StorageConfig, load_config
from fishgate.errors import SourceError
from fishgate.hw.gate import ServoGate
from fishgate.replay import EventLog
from fishgate.sources.guard import GuardedSource, SourceStall
from fishgate.sources.synthetic import SyntheticFish, SyntheticSource
from fishgate.types import Frame
from fishgate.vision.annotated import LabelPassThrough
from fishgate.vision.gated import build_detector
from tests.helpers import CHUTE_CONFIG

SERVO = ServoConfig(pin=18, river_angle=-45.0, tank_angle=45.0)
SAFE_DUTY = (1.5 + 0.25) / 20  # tank at +45 degrees
FPS = 25.0
TICK_S = 0.04  # fake seconds that pass at each look at the clock (one frame)


class TickingClock(FakeClock):
    """Moves TICK_S forward every time it is read: time passes while the loop polls."""

    def now(self) -> float:
        self.advance(TICK_S)
        return super().now()


class HangsAfter:
    """A camera that delivers `frames` frames, then blocks in its read until closed (a dead RTSP)."""

    def __init__(self, frames: int, fish: list[SyntheticFish]) -> None:
        self.scene = SyntheticSource(frames=frames, fish=fish, fps=FPS)
        self.released = threading.Event()
        self.closed = False

    fps, width, height, frame_count = FPS, 640, 360, None

    def __iter__(self) -> Iterator[Frame]:
        yield from self.scene
        self.released.wait(30)

    def close(self) -> None:
        self.closed = True
        self.released.set()
        self.scene.close()

    def __enter__(self) -> HangsAfter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@pytest.fixture
def config(tmp_path: Path) -> SiteConfig:
    base = load_config(CHUTE_CONFIG)
    return replace(
        base,
        source=SourceConfig(kind="opencv", uri=0, fps=FPS, stall_s=1.0),
        detection=DetectionConfig(kind="background"),
        storage=StorageConfig(tmp_path / "store.db", tmp_path / "snapshots"),
    )


def test_a_silent_camera_sets_the_gate_safe_reopens_and_sorting_resumes(
    config: SiteConfig, tmp_path: Path
) -> None:
    factory = MockFactory(pin_class=MockPWMPin)
    clock = TickingClock()
    gate = ServoGate(SERVO, "tank", 0.3, clock, factory)
    first = HangsAfter(60, [SyntheticFish(0, 150, 120, 8)])
    second = SyntheticSource(frames=150, fish=[SyntheticFish(10, 150, 120, 8)], fps=FPS)
    duty_at_reopen: list[float] = []

    def reopen() -> SyntheticSource:
        duty_at_reopen.append(factory.pin(18).state)
        return second

    parts = LiveParts(first, build_detector(config, (640, 360)), LabelPassThrough(), gate)
    events = tmp_path / "events.jsonl"
    with events.open("w") as stream:
        stats = run_trap(config, parts, EventLog(stream), clock, reopen=reopen)
    factory.reset()

    stall = next(c for c in stats.commands if c.reason == "camera stalled")
    assert stall.route == "tank" and stall.frame == 59  # the last frame the camera gave
    last_frame_t = 59 / FPS
    assert (
        last_frame_t + config.source.stall_s
        <= stall.t
        <= last_frame_t + config.source.stall_s + 1 / FPS + 1e-9
    )
    assert duty_at_reopen == [pytest.approx(SAFE_DUTY)]  # the flap was at tank before the camera came back
    assert first.closed and stats.outages == 1
    assert stats.frames == 60 + 150
    # frames after the reopen carry on from the last index, and the fish of the new camera is counted
    later = [p for p in stats.passages if p.first_frame > 59]
    assert len(later) == 1 and later[0].direction == "upstream"
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["camera_outages"] == 1


class NeverOpens:
    def __call__(self) -> SyntheticSource:
        raise SourceError("camera 0: cannot open (unplugged?)")


def test_reopening_backs_off_and_stops_when_asked() -> None:
    clock = TickingClock()
    stop = threading.Event()
    guarded = GuardedSource(HangsAfter(3, []), NeverOpens(), 1.0, clock, backoff_s=(1.0, 8.0), stop=stop)
    seen: list[Frame | SourceStall] = []
    for item in guarded:
        seen.append(item)
        if isinstance(item, SourceStall) and not item.first and item.silent_s > 20:
            stop.set()
    frames = [i for i in seen if isinstance(i, Frame)]
    stalls = [i for i in seen if isinstance(i, SourceStall)]
    assert [f.index for f in frames] == [0, 1, 2]
    assert stalls[0].first and all(not s.first for s in stalls[1:])
    gaps = [b.silent_s - a.silent_s for a, b in itertools.pairwise(stalls[1:])]
    assert gaps[:3] == [pytest.approx(2.0, abs=0.2), pytest.approx(4.0, abs=0.2), pytest.approx(8.0, abs=0.2)]
    assert gaps[3] == pytest.approx(8.0, abs=0.2)  # capped
    assert guarded.outages == 1
