"""The live trap: the gate ends in its safe position after SIGTERM, a crash in a stage, a lost camera."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from fishgate.app import LiveParts, run_trap
from fishgate.clock import FakeClock
from fishgate.config import ServoConfig, SiteConfig, StorageConfig, load_config
from fishgate.errors import SourceError, StoreError
from fishgate.hw.gate import ServoGate
from fishgate.sources.synthetic import SyntheticFish, SyntheticSource
from fishgate.types import NO_LENGTH_SCALE, Detection, Frame
from fishgate.vision.annotated import LabelPassThrough
from tests.helpers import CHUTE_CONFIG

CONFIG = load_config(CHUTE_CONFIG)
SERVO = ServoConfig(pin=18, river_angle=-45.0, tank_angle=45.0)
SAFE_DUTY = (1.5 + 0.25) / 20  # tank at +45 degrees
RIVER_DUTY = (1.5 - 0.25) / 20


class StageThatFails:
    """A detector that works, then at one frame does something: raise, or signal the process."""

    length_scale = NO_LENGTH_SCALE

    def __init__(self, at_frame: int, action) -> None:  # type: ignore[no-untyped-def]
        self.frames = 0
        self.at_frame = at_frame
        self.action = action

    def detect(self, image: np.ndarray, t: float) -> list[Detection]:
        self.frames += 1
        if self.frames == self.at_frame:
            self.action()
        return []


@pytest.fixture
def config(tmp_path: Path) -> SiteConfig:
    """The sample chute's config, its store in a temporary folder."""
    return replace(CONFIG, storage=StorageConfig(tmp_path / "store.db", tmp_path / "snapshots"))


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    f = MockFactory(pin_class=MockPWMPin)
    yield f
    f.reset()


def _parts(factory: MockFactory, detector: StageThatFails, source=None) -> tuple[LiveParts, ServoGate]:  # type: ignore[no-untyped-def]
    gate = ServoGate(SERVO, "tank", 0.3, FakeClock(), factory)
    source = source or SyntheticSource(frames=100, fish=[SyntheticFish(0, 150, 120, 8)])
    return LiveParts(source, detector, LabelPassThrough(), gate), gate


def _pulses(factory: MockFactory) -> list[float]:
    return [s.state for s in factory.pin(18).states]


def test_gate_goes_safe_after_sigterm(factory: MockFactory, config: SiteConfig) -> None:
    parts, gate = _parts(factory, StageThatFails(30, lambda: os.kill(os.getpid(), signal.SIGTERM)))
    stats = run_trap(config, parts, None)
    assert stats.frames == 30 and stats.interrupted  # stopped after the frame the signal arrived in
    pulses = _pulses(factory)
    assert RIVER_DUTY in [pytest.approx(p) for p in pulses]  # it was working: idle is river
    assert pulses[-2] == pytest.approx(SAFE_DUTY) and pulses[-1] == 0
    assert gate.route == "tank" and [m.reason for m in gate.moves][-1] == "close"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored


def test_gate_goes_safe_after_an_exception_in_a_stage(factory: MockFactory, config: SiteConfig) -> None:
    def boom() -> None:
        raise ZeroDivisionError("a bug in a stage")

    parts, gate = _parts(factory, StageThatFails(10, boom))
    with pytest.raises(ZeroDivisionError):
        run_trap(config, parts, None)
    pulses = _pulses(factory)
    assert pulses[-2] == pytest.approx(SAFE_DUTY) and pulses[-1] == 0  # at safe, then released
    assert gate.route == "tank" and [m.reason for m in gate.moves][-1] == "close"


class CameraThatDies(SyntheticSource):
    def __iter__(self) -> Iterator[Frame]:
        for frame in super().__iter__():
            if frame.index == 20:
                raise SourceError("camera 0 stopped delivering frames (unplugged?)")
            yield frame


def test_gate_goes_safe_when_the_camera_disappears(factory: MockFactory, config: SiteConfig) -> None:
    parts, gate = _parts(factory, StageThatFails(-1, lambda: None), source=CameraThatDies(frames=100))
    with pytest.raises(SourceError, match="stopped delivering"):
        run_trap(config, parts, None)
    pulses = _pulses(factory)
    assert pulses[-2] == pytest.approx(SAFE_DUTY) and pulses[-1] == 0  # at safe, then released
    assert gate.route == "tank" and [m.reason for m in gate.moves][-1] == "close"


def test_gate_goes_safe_when_the_store_cannot_be_opened(factory: MockFactory, config: SiteConfig) -> None:
    blocked = replace(config, storage=StorageConfig(config.storage.path.parent, config.storage.snapshots))
    parts, gate = _parts(factory, StageThatFails(-1, lambda: None))
    with pytest.raises(StoreError, match=r"cannot open the store|not a fishgate store"):
        run_trap(blocked, parts, None)  # a folder where the database file should be
    assert gate.route == "tank" and [m.reason for m in gate.moves][-1] == "close"


def test_the_status_file_tells_the_operator_what_the_trap_is_doing(
    factory: MockFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from fishgate.cli import main
    from fishgate.config import bundled_path
    from tests.helpers import site_config

    site = site_config(tmp_path, bundled_path("demo/chute-demo.mp4"))
    asked: list[tuple[int, dict]] = []  # type: ignore[type-arg]

    def ask_status() -> None:  # the operator, from another shell, while the trap runs
        code = main(["status", "--config", str(site), "--json"])
        asked.append((code, json.loads(capsys.readouterr().out)))

    parts, _ = _parts(factory, StageThatFails(50, ask_status))
    stats = run_trap(load_config(site), parts, None)
    ((code, live),) = asked
    assert code == 0 and live["alive"] and live["running"]
    assert live["frames"] == 1  # written at the first frame, then every 5 s
    assert live["mqtt_connected"] is None  # no [mqtt] section
    assert main(["status", "--config", str(site)]) == 1  # stopped: not an ok status
    out = capsys.readouterr().out
    assert out.startswith("stopped") and "gate:     tank (mode auto)" in out
    final = json.loads((tmp_path / "status.json").read_text())
    assert final["frames"] == stats.frames + 1 and final["running"] is False  # + the closing step


def test_status_without_a_trap_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from fishgate.cli import main
    from fishgate.config import bundled_path
    from tests.helpers import site_config

    site = site_config(tmp_path, bundled_path("demo/chute-demo.mp4"))
    assert main(["status", "--config", str(site)]) == 1
    assert "no trap has run with this store yet" in capsys.readouterr().out
