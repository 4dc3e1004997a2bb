"""Timed gate switching: each routed fish books the gate for the moment its head arrives.

The head decides which channel a fish enters, so the gate must be in the fish's
route when the head reaches it. A booking is *served* one travel time (plus one frame
of look-ahead) before that: the gate is commanded then, and the fish's route is final.
Two fish with different routes whose heads arrive less than one travel time apart
cannot both be served: both get the safe route, flagged as a conflict. The gate goes
back to idle a while after the last tail has passed.

Manual override (`mode` river or tank, from the operator) holds the gate in that
route: every fish is sent there and its booking is flagged `override`; `auto`
returns to sorting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

from fishgate.hw.gate import Gate
from fishgate.types import Route

Mode = Literal["auto", "river", "tank"]
MODES: tuple[str, ...] = get_args(Mode)


@dataclass
class Booking:
    track_id: int
    route: Route
    head_t: float  # predicted arrival of the head at the gate
    tail_t: float  # predicted passing of the tail
    served_frame: int | None = None  # frame whose processing commanded the gate for this fish
    conflict: bool = False
    override: bool = False

    @property
    def served(self) -> bool:
        return self.served_frame is not None


@dataclass(frozen=True)
class GateCommand:
    route: Route
    t: float  # time it was issued (frame time in replay)
    frame: int
    reason: str


@dataclass
class GateScheduler:
    gate: Gate
    idle: Route
    safe: Route
    travel_s: float
    return_to_idle_s: float = 1.0
    bookings: dict[int, Booking] = field(default_factory=dict)
    commands: list[GateCommand] = field(default_factory=list)
    done: dict[int, Booking] = field(default_factory=dict)  # served and passed, until collected
    mode: Mode = "auto"
    _last_tail: float = float("-inf")

    def start(self, frame: int, t: float) -> GateCommand:
        """The record of where the gate stands before the first frame (the log's first line)."""
        command = GateCommand(self.gate.route, t, frame, "start")
        self.commands.append(command)
        return command

    def close(self, frame: int, t: float) -> GateCommand:
        """The gate to its safe position for good (end of footage, stop, error), recorded."""
        self.gate.close()
        command = GateCommand(self.gate.route, t, frame, "close")
        self.commands.append(command)
        return command

    def set_mode(self, mode: str) -> None:
        """auto: sort; river / tank: hold the gate there for every fish until auto again."""
        if mode not in MODES:
            raise ValueError(f"gate mode: expected one of {', '.join(MODES)}, got {mode!r}")
        self.mode = mode  # type: ignore[assignment]

    def book(self, track_id: int, route: Route, head_t: float, tail_t: float) -> None:
        """Book, or update the predicted times of, the gate for a fish."""
        old = self.bookings.get(track_id)
        if old is not None and old.served:
            old.head_t, old.tail_t = head_t, tail_t  # the route is final once served
            return
        self.bookings[track_id] = Booking(track_id, route, head_t, tail_t)

    def cancel(self, track_id: int) -> None:
        """The fish will not reach the gate (holding, turned back) before it is served."""
        b = self.bookings.get(track_id)
        if b is not None and not b.served:
            del self.bookings[track_id]

    def served(self, track_id: int) -> Booking | None:
        """The fish's booking once the gate has been commanded for it."""
        b = self.done.get(track_id) or self.bookings.get(track_id)
        return b if b is not None and b.served else None

    def collect(self, track_id: int) -> None:
        self.done.pop(track_id, None)

    def waiting(self) -> bool:
        """Some fish is booked but not served yet."""
        return any(not b.served for b in self.bookings.values())

    def tick(self, now: float, frame: int, lookahead_s: float) -> GateCommand | None:
        """Serve every fish whose head arrives before a move started now would finish."""
        self.gate.poll()
        ready_by = now + self.travel_s + lookahead_s
        self._drop_passed(now)
        due = sorted((b for b in self.bookings.values() if b.head_t <= ready_by), key=lambda b: b.head_t)
        for b in due:
            if not b.served:
                self._serve(b, frame)
        if self.mode != "auto":
            wanted, reason = self.mode, "override"
        elif due:
            wanted, reason = due[-1].route, "fish"  # earlier heads are already through
        elif now - self._last_tail >= self.return_to_idle_s:
            wanted, reason = self.idle, "idle"
        else:
            return None
        if wanted == self.gate.route:
            return None
        self.gate.move(wanted, reason)
        command = GateCommand(wanted, now, frame, reason)
        self.commands.append(command)
        return command

    def _serve(self, booking: Booking, frame: int) -> None:
        booking.served_frame = frame
        if self.mode != "auto":
            booking.route, booking.override = self.mode, True
            return
        for other in self.bookings.values():
            clash = other.route != booking.route and abs(other.head_t - booking.head_t) < self.travel_s
            if other is booking or not clash:
                continue
            for b in (booking, other):
                if b.route != self.safe:
                    b.route, b.served_frame = self.safe, frame
                b.conflict = True

    def _drop_passed(self, now: float) -> None:
        for track_id, b in list(self.bookings.items()):
            if b.served and b.tail_t < now:
                self._last_tail = max(self._last_tail, b.tail_t)
                self.done[track_id] = self.bookings.pop(track_id)
