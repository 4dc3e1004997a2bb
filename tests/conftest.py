"""Fixtures shared by several test modules."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from tests.mosquitto import Broker


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A real Mosquitto broker of this test's own, on a free local port."""
    b = Broker(tmp_path / "broker")
    b.folder.mkdir()
    b.start()
    yield b
    b.stop()


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    """gpiozero's own mock pins (PWM-capable, for servos), reset after the test."""
    f = MockFactory(pin_class=MockPWMPin)
    yield f
    f.reset()
