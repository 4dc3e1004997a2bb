"""`fishgate gate-test`: move the gate to and fro before leaving a trap to run, and time it.

With limit switches (`[gate.feedback]`, a gpiozero Button closed at each end) every
move is timed from the command to the switch at its end and set against the site's
`gate.travel_s`: a flap slower than configured would meet fish still moving. Without
them the commands are only sent and spaced by `travel_s`; the report says that the
flap itself was not seen. The gate always ends in its safe position.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fishgate.config import FeedbackConfig
from fishgate.hw.gate import Gate
from fishgate.types import Route

# A move this much slower than gate.travel_s is reported as slow.
SLOW_FACTOR = 1.2


@dataclass(frozen=True)
class MoveTiming:
    route: Route
    seconds: float | None  # command to end switch; None without feedback or if it never closed
    travel_s: float

    @property
    def seen(self) -> bool:
        return self.seconds is not None

    @property
    def slow(self) -> bool:
        return self.seconds is not None and self.seconds > SLOW_FACTOR * self.travel_s

    def line(self, number: int) -> str:
        if self.seconds is None:
            return f"move {number}: {self.route:<5} commanded (no end switch seen)"
        verdict = "SLOW: slower than gate.travel_s" if self.slow else "ok"
        return (
            f"move {number}: {self.route:<5} in {self.seconds:.2f} s (travel_s {self.travel_s:g}) {verdict}"
        )


class LimitSwitches:
    """The two end switches as gpiozero Buttons."""

    def __init__(self, config: FeedbackConfig, pin_factory: Any = None) -> None:
        from gpiozero import Button

        self.buttons = {
            "river": Button(config.river_pin, pull_up=config.pull_up, pin_factory=pin_factory),
            "tank": Button(config.tank_pin, pull_up=config.pull_up, pin_factory=pin_factory),
        }

    def wait(self, route: Route, timeout_s: float) -> bool:
        return bool(self.buttons[route].wait_for_press(timeout=timeout_s))

    def close(self) -> None:
        for button in self.buttons.values():
            button.close()


def exercise(
    gate: Gate,
    travel_s: float,
    cycles: int,
    switches: LimitSwitches | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[MoveTiming]:
    """river -> tank -> river, `cycles` times, timing each move; the gate is closed
    (to its safe position) at the end, whatever happens."""
    timings: list[MoveTiming] = []
    one: list[Route] = ["river", "tank"]
    routes: list[Route] = [*one * cycles, "river"]
    try:
        for route in routes:
            started = time.monotonic()
            gate.move(route, "gate-test")
            if switches is None:
                sleep(travel_s)
                timings.append(MoveTiming(route, None, travel_s))
                continue
            reached = switches.wait(route, timeout_s=3 * travel_s + 0.5)
            took = time.monotonic() - started if reached else None
            timings.append(MoveTiming(route, took, travel_s))
            if not reached:
                break  # a flap that never arrives: stop moving it
    finally:
        gate.close()
        if switches is not None:
            switches.close()
    return timings
