"""Gates driven through gpiozero's MockFactory."""

from __future__ import annotations

import itertools
import time

import pytest
from gpiozero.pins.mock import MockFactory

from fishgate.clock import FakeClock
from fishgate.config import GateConfig, RelayConfig
from fishgate.hw.gate import RecordingGate, RelayGate, ServoGate, build_gate
from tests.helpers import SERVO, SERVO_DUTY

RELAY = RelayConfig(river_pin=23, tank_pin=24)
DUTY = SERVO_DUTY


def test_servo_gate_starts_safe_moves_and_ends_safe(factory: MockFactory) -> None:
    clock = FakeClock()
    gate = ServoGate(SERVO, "tank", 0.3, clock, factory)
    pin = factory.pin(18)
    assert pin.state == pytest.approx(DUTY["tank"])
    gate.move("river", "test")
    assert pin.state == pytest.approx(DUTY["river"])
    gate.close()
    # the last pulse before the pins are released puts the flap at the safe angle
    states = [s.state for s in pin.states]
    assert states[-2] == pytest.approx(DUTY["tank"]) and states[-1] == 0
    assert clock.now() == pytest.approx(0.3)  # waited for the flap to get there
    assert [m.route for m in gate.moves] == ["river", "tank"]
    gate.close()  # twice is harmless


def _pulses(pin) -> list[float]:  # type: ignore[no-untyped-def]
    """The length in seconds of every on-pulse a MockPin recorded (each recorded state
    carries the time since the change before it)."""
    states = list(pin.states)
    return [b.timestamp for a, b in itertools.pairwise(states) if a.state and not b.state]


def test_relay_door_times_its_own_pulse_while_the_frame_loop_stalls(factory: MockFactory) -> None:
    gate = RelayGate(RELAY, "tank", 0.3, FakeClock(), factory)
    river, tank = factory.pin(23), factory.pin(24)
    assert tank.state == 1 and river.state == 0  # driving towards safe at start
    gate.move("river")
    assert (river.state, tank.state) == (1, 0)  # the other relay released first
    time.sleep(2.0)  # the frame loop is blocked for 2 s: nobody calls poll()
    assert river.state == 0, "the motor must not drive against its end stop"
    assert 0.28 <= _pulses(river)[0] <= 0.45  # gpiozero switched it off after the travel time
    gate.move("tank")  # reversing mid-pulse: the river relay is released at once
    assert (river.state, tank.state) == (0, 1)
    gate.close()
    assert (river.state, tank.state) == (False, False)
    assert gate.route == "tank" and 0.28 <= _pulses(tank)[-1] <= 0.45  # a full pulse to safe


def test_build_gate_follows_the_config(factory: MockFactory) -> None:
    clock = FakeClock()
    servo = GateConfig("servo", 0.3, "river", "tank", servo=SERVO)
    assert isinstance(build_gate(servo, clock, factory), ServoGate)
    relay = GateConfig("relay", 0.3, "river", "tank", relay=RELAY)
    assert isinstance(build_gate(relay, clock, factory), RelayGate)
    assert isinstance(build_gate(GateConfig("recording", 0.3, "river", "tank"), clock), RecordingGate)
