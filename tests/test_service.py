"""systemd Type=notify: READY, WATCHDOG pings from the frame loop and STOPPING, over a real socket."""

from __future__ import annotations

import socket
from dataclasses import replace
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from fishgate.app import LiveParts, run_trap
from fishgate.clock import FakeClock
from fishgate.config import ServoConfig, StorageConfig, load_config
from fishgate.hw.gate import ServoGate
from fishgate.service import ServiceNotifier
from fishgate.sources.synthetic import SyntheticFish, SyntheticSource
from fishgate.vision.annotated import LabelPassThrough
from fishgate.vision.gated import build_detector
from tests.helpers import CHUTE_CONFIG


@pytest.fixture
def notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """What systemd listens on: a Unix datagram socket named in NOTIFY_SOCKET."""
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(0.2)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    yield sock
    sock.close()


def _received(sock: socket.socket) -> list[str]:
    messages = []
    while True:
        try:
            messages.append(sock.recv(4096).decode())
        except TimeoutError:
            return messages


def test_the_trap_says_ready_pings_the_watchdog_and_says_stopping(
    notify_socket: socket.socket, tmp_path: Path
) -> None:
    config = replace(load_config(CHUTE_CONFIG), storage=StorageConfig(tmp_path / "s.db", tmp_path / "snaps"))
    factory = MockFactory(pin_class=MockPWMPin)
    gate = ServoGate(
        ServoConfig(pin=18, river_angle=-45.0, tank_angle=45.0), "tank", 0.3, FakeClock(), factory
    )
    source = SyntheticSource(frames=50, fish=[SyntheticFish(0, 150, 120, 8)])
    parts = LiveParts(source, build_detector(config, (640, 360)), LabelPassThrough(), gate)
    run_trap(config, parts, None)
    factory.reset()
    messages = _received(notify_socket)
    assert messages[0].startswith("READY=1\nSTATUS=sorting at chute-sample")
    assert "WATCHDOG=1" in messages[1:-1]  # from the frame loop, after READY
    assert messages[-1] == "STOPPING=1"


def test_watchdog_pings_are_rate_limited(notify_socket: socket.socket) -> None:
    now = [0.0]
    service = ServiceNotifier(clock=lambda: now[0])
    for step in range(50):  # two seconds of frames at 25 fps
        now[0] = step / 25
        service.alive()
    assert _received(notify_socket) == ["WATCHDOG=1", "WATCHDOG=1"]


def test_outside_systemd_nothing_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    service = ServiceNotifier()
    assert not service.enabled
    service.ready("x")  # no socket, no error
