"""Gates driven through gpiozero's MockFactory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from fishgate.clock import FakeClock
from fishgate.config import GateConfig, RelayConfig, ServoConfig
from fishgate.hw.gate import RecordingGate, RelayGate, ServoGate, build_gate

SERVO = ServoConfig(pin=18, river_angle=-45.0, tank_angle=45.0)
RELAY = RelayConfig(river_pin=23, tank_pin=24)
# duty cycle of a 50 Hz servo pulse: 1.5 ms +/- 0.5 ms * angle / 90
DUTY = {"river": (1.5 - 0.25) / 20, "tank": (1.5 + 0.25) / 20}


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    f = MockFactory(pin_class=MockPWMPin)
    yield f
    f.reset()


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


def test_relay_door_drives_one_relay_for_the_travel_time(factory: MockFactory) -> None:
    clock = FakeClock()
    gate = RelayGate(RELAY, "tank", 0.3, clock, factory)
    river, tank = factory.pin(23), factory.pin(24)
    assert (river.state, tank.state) == (0, 1)  # driving towards safe at start
    clock.advance(0.3)
    gate.poll()
    assert (river.state, tank.state) == (0, 0)  # at the end stop: motor off
    gate.move("river")
    assert (river.state, tank.state) == (1, 0)
    clock.advance(0.29)
    gate.poll()
    assert river.state == 1
    clock.advance(0.02)
    gate.poll()
    assert river.state == 0
    # the door reverses with the other relay released first: never both on
    gate.move("tank")
    assert (river.state, tank.state) == (0, 1)
    assert [s.state for s in river.states][-1] == 0
    gate.close()
    assert (river.state, tank.state) == (False, False)
    assert gate.route == "tank"


def test_build_gate_follows_the_config(factory: MockFactory) -> None:
    clock = FakeClock()
    servo = GateConfig("servo", 0.3, "river", "tank", servo=SERVO)
    assert isinstance(build_gate(servo, clock, factory), ServoGate)
    relay = GateConfig("relay", 0.3, "river", "tank", relay=RELAY)
    assert isinstance(build_gate(relay, clock, factory), RelayGate)
    assert isinstance(build_gate(GateConfig("recording", 0.3, "river", "tank"), clock), RecordingGate)
