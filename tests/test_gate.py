"""Gates driven through gpiozero's MockFactory, and the scheduler that times them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from fishgate.clock import FakeClock
from fishgate.config import GateConfig, RelayConfig, ServoConfig
from fishgate.decision.scheduler import GateScheduler
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


def _scheduler() -> tuple[GateScheduler, RecordingGate]:
    gate = RecordingGate("tank", FakeClock())
    return GateScheduler(gate, idle="river", safe="tank", travel_s=0.3, return_to_idle_s=1.0), gate


def test_gate_is_commanded_one_travel_time_before_the_head_arrives() -> None:
    scheduler, gate = _scheduler()
    scheduler.tick(0.0, 0, lookahead_s=0.04)  # nothing booked: goes to idle
    assert gate.route == "river"
    scheduler.book(7, "tank", head_t=2.0, tail_t=2.6)
    commands = []
    for frame in range(1, 150):
        t = frame * 0.04
        if (c := scheduler.tick(t, frame, lookahead_s=0.04)) is not None:
            commands.append(c)
    tank, idle = commands
    assert tank.route == "tank" and 2.0 - 0.3 - 0.04 <= tank.t < 2.0 - 0.3  # in time, not much earlier
    assert idle.route == "river" and idle.t >= 2.6 + 1.0  # back to idle after the tail plus the wait
    assert scheduler.served(7) is not None and not scheduler.served(7).conflict  # type: ignore[union-attr]


def test_heads_closer_than_the_travel_time_with_different_routes_both_go_safe() -> None:
    scheduler, _ = _scheduler()
    scheduler.book(1, "river", head_t=5.0, tail_t=5.5)
    scheduler.book(2, "tank", head_t=5.2, tail_t=5.7)
    scheduler.book(3, "river", head_t=6.0, tail_t=6.4)  # 0.8 s later: the gate can switch back
    for frame in range(0, 200):
        scheduler.tick(frame * 0.04, frame, lookahead_s=0.04)
    served = {i: scheduler.served(i) for i in (1, 2, 3)}
    assert served[1].route == "tank" and served[1].conflict  # type: ignore[union-attr]
    assert served[2].route == "tank" and served[2].conflict  # type: ignore[union-attr]
    assert served[3].route == "river" and not served[3].conflict  # type: ignore[union-attr]


def test_a_cancelled_fish_does_not_move_the_gate() -> None:
    scheduler, gate = _scheduler()
    scheduler.tick(0.0, 0, 0.04)
    scheduler.book(4, "tank", head_t=3.0, tail_t=3.5)
    scheduler.cancel(4)  # it turned back
    for frame in range(1, 120):
        scheduler.tick(frame * 0.04, frame, 0.04)
    assert [m.route for m in gate.moves] == ["river"]


def test_manual_override_holds_the_gate_and_sends_every_fish_there() -> None:
    scheduler, gate = _scheduler()
    scheduler.tick(0.0, 0, 0.04)
    scheduler.set_mode("tank")
    scheduler.book(1, "river", head_t=2.0, tail_t=2.5)  # an Atlantic salmon, say
    for frame in range(1, 100):
        scheduler.tick(frame * 0.04, frame, 0.04)
    served = scheduler.served(1) or scheduler.done.get(1)
    assert served is not None and served.route == "tank" and served.override
    assert gate.route == "tank"  # held there, no return to idle
    scheduler.set_mode("auto")
    for frame in range(100, 200):
        scheduler.tick(frame * 0.04, frame, 0.04)
    assert gate.route == "river"  # back to sorting: idle again
    with pytest.raises(ValueError, match="auto, river, tank"):
        scheduler.set_mode("open")
