"""Timed gate switching: every fish heading for the gate holds it for its head's arrival window.

The head decides which channel a fish enters, so the gate must stand still at the
fish's route for the whole window in which its head may arrive
(`decision.policy.Arrival`: earliest..latest). Each fish in view that swims towards the
gate is booked with that window and, once the policy has decided, its route. The plan
is redone every frame, because predictions move:

- Bookings are taken in order of arrival. A move for the next fish starts once the
  previous fish's window has closed or, if that would be too late, between the two heads:
  each keeps half of HEAD_GUARD_S, and the rest is shared by the widths of their windows.
- Two decided fish of different routes whose heads are predicted less than one travel
  time plus HEAD_GUARD_S apart cannot both be served: both get the safe route, flagged
  `conflict`. So does a fish the gate can no longer reach in time.
- A fish not decided yet takes no part in the plan until its deadline, which leaves time
  to move the gate for it.
- A fish whose last chance to move the gate has passed is `committed`: its plan is final.
- Moves towards the safe route are made as soon as they may; moves away from it as late
  as the window allows less `lead_s`, so an unseen invader most likely meets the safe
  route.
- With no fish booked, the gate goes to `idle` once `return_to_idle_s` has passed since
  the last window closed. `idle = "tank"` is the invasion-heavy setting: the gate rests
  at the tank and opens to the river only for a native fish with a clear window.

Manual override (`mode` river or tank, from the operator) holds the gate there once no
fish already served is arriving; every fish not yet served is flagged `override`; `auto`
returns to sorting. Every command goes into a
GateTimeline, which tells each passage where the gate really stood when its head arrived.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

from fishgate.decision.policy import Arrival
from fishgate.decision.timeline import TIME_EPS, GateTimeline, Position
from fishgate.hw.gate import Gate
from fishgate.types import Route

Mode = Literal["auto", "river", "tank"]

# Two heads of different routes closer than the gate's travel plus this cannot both be
# served: it leaves a frame either side of the move for the predictions to be wrong by.
HEAD_GUARD_S = 0.08
# With time to spare, the gate stays this long after a served fish's predicted head before
# it moves for the next one: a fish later than predicted still finds it in place.
AFTER_HEAD_S = 0.4
MODES: tuple[str, ...] = get_args(Mode)


@dataclass
class Booking:
    track_id: int
    arrival: Arrival
    decided: Route | None = None  # the policy's route; None: not decided yet
    route: Route | None = None  # the route planned for it: `decided`, or the safe one in a conflict
    route_frame: int | None = None  # frame whose processing gave it the route it has
    conflict: bool = False
    override: bool = False
    committed: bool = False  # too close to move the gate for it any more: its plan is final

    @property
    def earliest(self) -> float:
        return self.arrival.earliest

    @property
    def latest(self) -> float:
        return self.arrival.latest


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
    lead_s: float = 0.2  # a move away from the safe route ends this long before the window opens
    bookings: dict[int, Booking] = field(default_factory=dict)
    done: dict[int, Booking] = field(default_factory=dict)  # windows closed, until collected
    commands: list[GateCommand] = field(default_factory=list)
    mode: Mode = "auto"
    timeline: GateTimeline = field(init=False)
    _last_window: float = float("-inf")

    def __post_init__(self) -> None:
        self.timeline = GateTimeline(self.gate.route, self.travel_s)

    def start(self, frame: int, t: float) -> GateCommand:
        """The record of where the gate stands before the first frame (the log's first line)."""
        self.timeline = GateTimeline(self.gate.route, self.travel_s)
        command = GateCommand(self.gate.route, t, frame, "start")
        self.commands.append(command)
        return command

    def close(self, frame: int, t: float) -> GateCommand:
        """The gate to its safe position for good (end of footage, stop, error), recorded."""
        self.gate.close()
        self.timeline.command(t, self.gate.route)
        command = GateCommand(self.gate.route, t, frame, "close")
        self.commands.append(command)
        return command

    def hold_safe(self, frame: int, t: float, reason: str) -> GateCommand:
        """No picture (the camera stalled): the gate to its safe position now, recorded. The
        fish booked are unknown from here on, so their bookings go; sorting goes on with
        the next frame."""
        self.gate.move(self.safe, reason)
        self.timeline.command(t, self.safe)
        self.bookings.clear()
        command = GateCommand(self.safe, t, frame, reason)
        self.commands.append(command)
        return command

    def set_mode(self, mode: str) -> None:
        """auto: sort; river / tank: hold the gate there for every fish until auto again."""
        if mode not in MODES:
            raise ValueError(f"gate mode: expected one of {', '.join(MODES)}, got {mode!r}")
        self.mode = mode  # type: ignore[assignment]

    def book(self, track_id: int, arrival: Arrival, route: Route | None, frame: int) -> None:
        """Book, or update the window of, a fish heading for the gate; `route` once decided."""
        booking = self.bookings.get(track_id) or self.done.pop(track_id, None)
        if booking is None:
            booking = Booking(track_id, arrival)
        self.bookings[track_id] = booking  # back from `done` if the fish is later than predicted
        booking.arrival = arrival  # a committed fish keeps its route, not its old prediction
        if route is not None and booking.decided is None:
            booking.decided = route
            if not booking.committed:
                booking.route, booking.route_frame = route, frame

    def cancel(self, track_id: int) -> None:
        """The fish will not reach the gate now (holding station, turned back, went downstream)."""
        self.bookings.pop(track_id, None)
        self.done.pop(track_id, None)  # nothing will collect it: no passage is written

    def booking(self, track_id: int) -> Booking | None:
        return self.bookings.get(track_id) or self.done.get(track_id)

    def collect(self, track_id: int) -> None:
        self.done.pop(track_id, None)

    def route_at(self, t: float) -> Position:
        """Where the gate stands at time t by the commands sent so far (`wrong` while moving)."""
        return self.timeline.route_at(t)

    def tick(self, now: float, frame: int, lookahead_s: float) -> GateCommand | None:
        """Re-plan with the latest predictions and move the gate if the plan says so now.

        `lookahead_s` is the time to the next frame: the last chance to move comes then.
        """
        self._close_windows(now)
        command = self._act(now, frame, lookahead_s)
        self._commit(now, lookahead_s)
        return command

    def _act(self, now: float, frame: int, lookahead_s: float) -> GateCommand | None:
        queue = sorted(self.bookings.values(), key=lambda b: b.arrival.head_t)
        if self.mode != "auto":
            for b in queue:
                if not b.committed:
                    self._plan(b, self.mode, frame)
                    b.override = True
            if any(b.committed and b.route == self.timeline.target for b in queue):
                return None  # a fish already served owns the gate until its window closes
            return self._move(self.mode, now, frame, "override")
        for b in queue:  # every plan not yet final starts afresh from the latest predictions
            if not b.committed:
                self._plan(b, b.decided, frame)
                b.conflict = b.override = False
        self._resolve_conflicts(queue, now, frame)
        decided = [b for b in queue if b.route is not None]
        if not decided:
            if not queue and now - self._last_window >= self.return_to_idle_s:
                return self._move(self.idle, now, frame, "idle")
            return None  # a fish not decided yet: it will be by its deadline, still in time to move
        target = self.timeline.target
        if self.timeline.settled_at(now) > now + TIME_EPS:
            return None  # turning a moving flap back only makes it late for both fish
        # the next fish still to come that the gate is not set for (one whose window has
        # closed only holds the gate a little longer: AFTER_HEAD_S)
        fish = next((b for b in decided if b.route != target and b.latest >= now), None)
        if fish is None:
            return None  # every fish to come goes where the gate stands
        served = [b for b in decided if b.route == target and b.arrival.head_t <= fish.arrival.head_t]
        if now < self._may_move_from(served, fish, lookahead_s):
            return None  # a fish served where the gate stands may still be arriving
        if fish.route == self.safe or self._last_chance_passes(fish, now, lookahead_s):
            return self._move(fish.route, now, frame, "fish")  # type: ignore[arg-type]
        return None

    def _may_move_from(self, served: list[Booking], fish: Booking, lookahead_s: float) -> float:
        """When the gate may leave the fish it serves for `fish`: AFTER_HEAD_S after their
        heads and once their windows have closed or, if that is sooner, at the split
        between their heads and the head of `fish` (both then missed by as much as
        possible). A split is made at the frame nearest it, not the next one after it:
        its guard leaves half a frame either side to spare."""
        start = float("-inf")
        for a in served:
            split = self._split(a, fish) - lookahead_s / 2
            start = max(start, min(max(a.latest, a.arrival.head_t + AFTER_HEAD_S), split))
        return start

    def _split(self, a: Booking, b: Booking) -> float:
        """When to start a move from serving `a` to serving `b`, who comes later. Each head
        keeps half of HEAD_GUARD_S from the moving flap; the rest of the time between them
        is shared in proportion to their windows' widths, so that each head is missed by
        the same share of its own window (an even split would leave the less certain fish
        the smaller share of its window). Halfway when there is no more than the guard."""
        guard = HEAD_GUARD_S / 2
        slack = b.arrival.head_t - a.arrival.head_t - self.travel_s
        if slack <= 2 * guard:
            return a.arrival.head_t + slack / 2
        widths = a.arrival.spread_s + b.arrival.spread_s
        share = a.arrival.spread_s / widths if widths > 0 else 0.5
        return a.arrival.head_t + guard + (slack - 2 * guard) * share

    def _plan(self, b: Booking, route: Route | None, frame: int) -> None:
        if route != b.route:
            b.route, b.route_frame = route, frame

    def _commit(self, now: float, lookahead_s: float) -> None:
        """A fish whose window opens before a move decided at the next frame could end is
        served by what the gate does now: its plan is final from here on."""
        for b in self.bookings.values():
            if b.route is not None and self._last_chance_passes(b, now, lookahead_s):
                b.committed = True

    def _last_chance_passes(self, b: Booking, now: float, lookahead_s: float) -> bool:
        """Whether a move for `b` decided at the next frame would end less than `lead_s`
        before its window opens: now is the last chance to move for it."""
        return now + lookahead_s + self.travel_s + self.lead_s > b.earliest

    def _move(self, route: Route, now: float, frame: int, reason: str) -> GateCommand | None:
        if route == self.timeline.target:
            return None
        self.gate.move(route, reason)
        self.timeline.command(now, route)
        command = GateCommand(route, now, frame, reason)
        self.commands.append(command)
        return command

    def _close_windows(self, now: float) -> None:
        """Fish whose heads are surely through: their window has closed and AFTER_HEAD_S has
        passed since the predicted head (until then they may still hold the gate)."""
        for track_id, b in list(self.bookings.items()):
            if max(b.latest, b.arrival.head_t + AFTER_HEAD_S) < now:
                self._last_window = max(self._last_window, b.latest)
                self.done[track_id] = self.bookings.pop(track_id)

    def _resolve_conflicts(self, queue: list[Booking], now: float, frame: int) -> None:
        """Walk the decided bookings in order of arrival, as the gate would serve them; a fish
        that cannot be served goes the safe route with the fish that blocks it. Repeats until
        nothing changes (each pass can only move a fish to the safe route)."""
        for _ in range(len(queue) + 1):
            if not self._one_pass(queue, now, frame):
                return

    def _one_pass(self, queue: list[Booking], now: float, frame: int) -> bool:
        """One walk in order of arrival; True if it changed a plan. Between two heads of
        different routes the gate needs its travel time plus HEAD_GUARD_S."""
        position = self.timeline.target
        ready = self.timeline.settled_at(now)  # when the gate stands still at `position`
        last_head = float("-inf")  # the last head served at `position`
        blocker: Booking | None = None
        guard = HEAD_GUARD_S / 2
        for b in queue:
            if b.route is None:
                continue
            head = b.arrival.head_t
            if b.route == position and ready <= head - guard + TIME_EPS:
                last_head, blocker = max(last_head, head), b
                continue
            start = max(now, ready, last_head + guard)
            if b.route != position and start + self.travel_s <= head - guard + TIME_EPS:
                position, ready, last_head, blocker = b.route, start + self.travel_s, head, b
                continue
            # b cannot be served: the safe route for it, and for the fish that blocks it
            changed = self._to_safe(b, frame)
            if blocker is not None:
                changed |= self._to_safe(blocker, frame)
            if changed:
                return True
            last_head, blocker = max(last_head, head), b
        return False

    def _to_safe(self, b: Booking, frame: int) -> bool:
        if b.committed:
            return False
        changed = b.route != self.safe or not b.conflict
        self._plan(b, self.safe, frame)
        b.conflict = True
        return changed
