"""The sorting gate: one protocol, gpiozero-driven hardware behind it, and a recorder.

Hardware is reached only through a gpiozero pin factory passed in, as gpiozero itself
does it: the trap passes the real factory (lgpio on a Pi), tests pass `MockFactory`.
Every gate starts in its safe position and `close()` puts it back there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol

from fishgate.clock import Clock
from fishgate.config import GateConfig, RelayConfig, ServoConfig
from fishgate.errors import ConfigError, GateError
from fishgate.types import Route

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GateMove:
    """One command to the gate, as recorded."""

    route: Route
    t: float  # clock time the command was issued
    reason: str = ""


class Gate(Protocol):
    """What the scheduler needs of a gate."""

    @property
    def route(self) -> Route:
        """The route the gate was last commanded to."""
        ...

    def move(self, route: Route, reason: str = "") -> None: ...

    def close(self) -> None:
        """Go to the safe position and release the hardware. Safe to call twice."""
        ...


class _GateBase:
    def __init__(self, safe: Route, clock: Clock) -> None:
        self.safe: Route = safe
        self.clock = clock
        self.moves: list[GateMove] = []
        self._route: Route = safe
        self._closed = False

    @property
    def route(self) -> Route:
        return self._route

    def move(self, route: Route, reason: str = "") -> None:
        if self._closed:
            raise RuntimeError("gate is closed")
        if route not in ("river", "tank"):
            raise ValueError(f"gate route: expected 'river' or 'tank', got {route!r}")
        self.moves.append(GateMove(route, self.clock.now(), reason))
        if route != self._route:
            log.debug("gate -> %s (%s)", route, reason)
        self._route = route
        self._drive(route)

    def _drive(self, route: Route) -> None:
        raise NotImplementedError

    def close(self) -> None:
        if self._closed:
            return
        try:
            self.move(self.safe, "close")
            self._settle()
        finally:
            self._closed = True
            self._release()

    def _settle(self) -> None:
        pass

    def _release(self) -> None:
        pass


class RecordingGate(_GateBase):
    """No hardware: records every move (replay, tests, a bench without a gate)."""

    def _drive(self, route: Route) -> None:
        pass


class ServoGate(_GateBase):
    """A flap turned by a hobby servo: one angle per route (gpiozero AngularServo)."""

    def __init__(
        self, config: ServoConfig, safe: Route, travel_s: float, clock: Clock, pin_factory: Any
    ) -> None:
        from gpiozero import AngularServo

        super().__init__(safe, clock)
        self._angles = {"river": config.river_angle, "tank": config.tank_angle}
        self._travel_s = travel_s
        self.servo = AngularServo(
            config.pin,
            initial_angle=self._angles[safe],
            min_angle=-90,
            max_angle=90,
            min_pulse_width=config.min_pulse_ms / 1000,
            max_pulse_width=config.max_pulse_ms / 1000,
            pin_factory=pin_factory,
        )

    def _drive(self, route: Route) -> None:
        self.servo.angle = self._angles[route]

    def _settle(self) -> None:
        # let the flap reach the safe angle before the pulses stop
        self.clock.sleep(self._travel_s)

    def _release(self) -> None:
        self.servo.close()


class RelayGate(_GateBase):
    """A door driven by a motor through two relays (or an H-bridge): one relay per direction.

    A move energises one relay for the travel time, then stops: the door rests at its
    end stop. gpiozero times the pulse in its own background thread (`blink`, once), so
    a frame loop that stalls cannot leave the motor driving against the end stop. The
    two relays are never on together (that would short an H-bridge): the other one is
    released first.
    """

    def __init__(
        self, config: RelayConfig, safe: Route, travel_s: float, clock: Clock, pin_factory: Any
    ) -> None:
        from gpiozero import DigitalOutputDevice

        super().__init__(safe, clock)
        self._travel_s = travel_s
        self.relays = {
            "river": DigitalOutputDevice(
                config.river_pin, active_high=config.active_high, pin_factory=pin_factory
            ),
            "tank": DigitalOutputDevice(
                config.tank_pin, active_high=config.active_high, pin_factory=pin_factory
            ),
        }
        self._drive(safe)

    def _drive(self, route: Route) -> None:
        other = "tank" if route == "river" else "river"
        self.relays[other].off()  # also stops a pulse still running on it
        self.relays[route].blink(on_time=self._travel_s, off_time=0, n=1, background=True)

    def _settle(self) -> None:
        # the pulse towards safe, this time waited for, before the pins are released
        self.relays[self.safe].blink(on_time=self._travel_s, off_time=0, n=1, background=False)

    def _release(self) -> None:
        for relay in self.relays.values():
            relay.off()
            relay.close()


def build_gate(config: GateConfig, clock: Clock, pin_factory: Any = None) -> Gate:
    """The gate a site config describes. `pin_factory=None` lets gpiozero pick the board's;
    a machine with none (no lgpio, not a Pi) gets one line saying what to install."""
    from gpiozero.exc import BadPinFactory

    try:
        return _build_gate(config, clock, pin_factory)
    except BadPinFactory:
        raise GateError(
            f"gate.kind = {config.kind!r} needs GPIO pins, and gpiozero finds no pin factory here: "
            "on a Raspberry Pi install the [pi] extra (pip install '.[pi]' -c constraints.txt); "
            "to replay or test without pins use gate.kind = 'recording'"
        ) from None


def _build_gate(config: GateConfig, clock: Clock, pin_factory: Any) -> Gate:
    if config.kind == "recording":
        return RecordingGate(config.safe, clock)  # type: ignore[arg-type]
    if config.kind == "servo":
        if config.servo is None:
            raise ConfigError("gate.servo: is required when gate.kind = 'servo'")
        return ServoGate(config.servo, config.safe, config.travel_s, clock, pin_factory)  # type: ignore[arg-type]
    if config.relay is None:
        raise ConfigError("gate.relay: is required when gate.kind = 'relay'")
    return RelayGate(config.relay, config.safe, config.travel_s, clock, pin_factory)  # type: ignore[arg-type]
