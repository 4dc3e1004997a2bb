"""`fishgate gate-test`: the gate moved and timed against its limit switches, under MockFactory."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from fishgate.cli import main
from fishgate.clock import MonotonicClock
from fishgate.config import FeedbackConfig
from fishgate.hw.gate import ServoGate
from fishgate.hw.gate_test import LimitSwitches, exercise
from tests.helpers import CHUTE_CONFIG, SERVO, SERVO_DUTY

FEEDBACK = FeedbackConfig(river_pin=5, tank_pin=6)
DUTY = SERVO_DUTY


class Flap:
    """A simulated flap: when the servo's pulse changes it leaves its end switch at once and
    closes the other end's switch after that move's travel time (slower towards `slow`)."""

    def __init__(self, factory: MockFactory, travel: dict[str, float]) -> None:
        self.factory, self.travel = factory, travel
        self.switch = {"river": factory.pin(5), "tank": factory.pin(6)}
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Flap:
        self.switch["tank"].drive_low()  # the gate starts at its safe end
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join(2)

    def _run(self) -> None:
        servo, at = self.factory.pin(18), "tank"
        while not self.stopping.is_set():
            route = next((r for r, d in DUTY.items() if servo.state == pytest.approx(d)), None)
            if route is not None and route != at:
                for pin in self.switch.values():
                    pin.drive_high()  # released (pull-up)
                self.stopping.wait(self.travel[route])
                self.switch[route].drive_low()  # pressed: the flap is at that end
                at = route
            self.stopping.wait(0.005)


def test_a_slow_move_is_reported_and_the_gate_ends_safe(factory: MockFactory) -> None:
    gate = ServoGate(SERVO, "tank", 0.3, MonotonicClock(), factory)
    with Flap(factory, {"river": 0.2, "tank": 0.6}):  # towards the tank it is twice too slow
        switches = LimitSwitches(FEEDBACK, factory)
        timings = exercise(gate, 0.3, cycles=1, switches=switches)
    assert [t.route for t in timings] == ["river", "tank", "river"]
    assert [t.slow for t in timings] == [False, True, False]
    assert 0.15 <= timings[0].seconds <= 0.3 and 0.55 <= timings[1].seconds <= 0.8  # type: ignore[operator]
    assert "SLOW" in timings[1].line(2) and "ok" in timings[0].line(1)
    # the pin sequence: safe at start, river, tank, river, then safe again and released
    duties = [s.state for s in factory.pin(18).states]
    steps = [d for i, d in enumerate(duties) if i == 0 or d != duties[i - 1]]
    assert steps[1:] == pytest.approx(
        [DUTY["tank"], DUTY["river"], DUTY["tank"], DUTY["river"], DUTY["tank"], 0]
    )


def test_a_flap_that_never_arrives_stops_the_test(factory: MockFactory) -> None:
    gate = ServoGate(SERVO, "tank", 0.1, MonotonicClock(), factory)
    switches = LimitSwitches(FEEDBACK, factory)  # nothing ever presses them
    started = time.monotonic()
    timings = exercise(gate, 0.1, cycles=3, switches=switches)
    assert len(timings) == 1 and not timings[0].seen  # stopped after the first move
    assert time.monotonic() - started < 2.0
    duties = [s.state for s in factory.pin(18).states]
    assert duties[-1] == 0 and duties[-2] == pytest.approx(DUTY["tank"])  # closed: at safe, pulses off


def test_without_switches_it_says_it_cannot_see_the_flap(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gate-test", "-c", str(CHUTE_CONFIG), "--cycles", "1"]) == 0
    out = capsys.readouterr().out
    assert out.count("commanded (no end switch seen)") == 3
    assert "the flap itself was not seen" in out and "safe position (tank)" in out


def test_feedback_pins_must_differ(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = tmp_path / "site.toml"
    site.write_text(CHUTE_CONFIG.read_text() + "\n[gate.feedback]\nriver_pin = 5\ntank_pin = 5\n")
    assert main(["gate-test", "-c", str(site)]) == 2
    assert "gate.feedback.tank_pin: must differ from river_pin" in capsys.readouterr().err


def test_no_pin_factory_is_one_line_naming_the_pi_extra(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from gpiozero import Device

    monkeypatch.delenv("GPIOZERO_PIN_FACTORY", raising=False)
    monkeypatch.setattr(Device, "pin_factory", None)  # as on a machine that has none
    site = tmp_path / "site.toml"
    text = CHUTE_CONFIG.read_text().replace('kind = "recording"', 'kind = "servo"')
    site.write_text(
        text.replace(
            "[gate]\n", "[gate.servo]\npin = 18\nriver_angle = -45.0\ntank_angle = 45.0\n\n[gate]\n", 1
        )
    )
    assert main(["gate-test", "-c", str(site)]) == 2
    err = capsys.readouterr().err
    assert "finds no pin factory" in err and "[pi] extra" in err and err.count("\n") == 1
