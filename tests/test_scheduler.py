"""The gate scheduler on a fake clock: where the gate stands when each head arrives.

Each scene scripts what the tracker would predict for every fish, frame by frame (its
head's arrival, moving if the fish speeds up or stops), and what the policy decided and
when. The scheduler runs as in the pipeline, one tick per frame at 25 fps; the gate's
own command timeline then says where it stood at each fish's true arrival.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from fishgate.clock import FakeClock
from fishgate.decision.policy import Arrival
from fishgate.decision.scheduler import GateScheduler
from fishgate.hw.gate import RecordingGate
from fishgate.types import Route

FPS = 25
DT = 1 / FPS


@dataclass
class Fish:
    id: int
    route: Route
    head: float  # when its head truly reaches the gate
    decided_at: float = 0.5
    # what the tracker predicts at time t: a head time, or None (not heading for the gate)
    predicted: Callable[[float], float | None] | None = None
    seen_until: float | None = None  # out of the picture: its last prediction stands
    extra_spread: float = 0.0  # added to its arrival window's half-width (a length unsure)

    def prediction(self, t: float) -> float | None:
        return self.predicted(t) if self.predicted is not None else self.head


def _arrival(head: float, t: float, extra_spread: float = 0.0) -> Arrival:
    return Arrival(head, 0.04 + 0.06 * max(0.0, head - t) + extra_spread)


def run(
    fish: list[Fish],
    until: float,
    idle: Route = "river",
    modes: dict[float, str] | None = None,
) -> GateScheduler:
    scheduler = GateScheduler(RecordingGate("tank", FakeClock()), idle, "tank", travel_s=0.3)
    scheduler.start(0, 0.0)
    modes = dict(modes or {})
    for frame in range(round(until * FPS)):
        t = frame * DT
        for when in [w for w in modes if w <= t + 1e-9]:
            scheduler.set_mode(modes.pop(when))  # the operator's command, between two frames
        for f in fish:
            seen_until = f.seen_until if f.seen_until is not None else f.head - 0.5
            if t > seen_until:
                continue  # gone out of the picture towards the gate
            head = f.prediction(t)
            if head is None:
                scheduler.cancel(f.id)
                continue
            route = f.route if t >= f.decided_at else None
            scheduler.book(f.id, _arrival(head, t, f.extra_spread), route, frame)
        scheduler.tick(t, frame, lookahead_s=DT)
    return scheduler


def fates(scheduler: GateScheduler, fish: list[Fish]) -> dict[int, str]:
    return {f.id: scheduler.route_at(f.head) for f in fish}


def test_a_lone_fish_finds_the_gate_set_and_the_gate_then_rests_at_idle() -> None:
    pink = Fish(1, "tank", head=3.0)
    scheduler = run([pink], until=6.0)
    assert fates(scheduler, [pink]) == {1: "tank"}
    assert scheduler.route_at(5.5) == "river"  # back to idle after its window
    assert not scheduler.booking(1).conflict  # type: ignore[union-attr]


def test_two_fish_close_together_are_both_served() -> None:
    # 0.45 s apart: more than the 0.3 s travel plus the guard
    fish = [Fish(1, "tank", head=3.0), Fish(2, "river", head=3.45), Fish(3, "tank", head=3.9)]
    scheduler = run(fish, until=6.0)
    assert fates(scheduler, fish) == {1: "tank", 2: "river", 3: "tank"}
    assert not any(scheduler.booking(f.id).conflict for f in fish)  # type: ignore[union-attr]


def test_a_move_between_close_heads_leaves_the_wider_window_the_larger_share() -> None:
    # the salmon's window is wide (its length unsure) and its head comes 0.09 s before its
    # prediction, inside that window; halfway between the predicted heads the flap would
    # still be moving when it arrives
    pink = Fish(1, "tank", head=10.0)
    salmon = Fish(2, "river", head=10.36, predicted=lambda t: 10.45, extra_spread=0.12)
    scheduler = run([pink, salmon], until=12.0)
    assert fates(scheduler, [pink, salmon]) == {1: "tank", 2: "river"}
    assert not any(scheduler.booking(f.id).conflict for f in (pink, salmon))  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "pink_spread, salmon_spread, pink_head, salmon_head",
    [(0.0, 0.1, 10.002, 10.387), (0.0, 0.1, 10.0, 10.4), (0.25, 0.0, 10.028, 10.418)],
)
def test_however_lopsided_the_windows_each_head_keeps_its_guard(
    pink_spread: float, salmon_spread: float, pink_head: float, salmon_head: float
) -> None:
    # one window far wider than the other must not push the move onto the other head:
    # each keeps half of HEAD_GUARD_S from the moving flap, frames rounding included
    pink = Fish(1, "tank", head=pink_head, seen_until=pink_head, extra_spread=pink_spread)
    salmon = Fish(2, "river", head=salmon_head, seen_until=salmon_head, extra_spread=salmon_spread)
    scheduler = run([pink, salmon], until=12.0)
    assert fates(scheduler, [pink, salmon]) == {1: "tank", 2: "river"}


def test_a_conflict_pair_goes_the_safe_route_and_the_next_fish_is_served() -> None:
    fish = [Fish(1, "tank", head=3.0), Fish(2, "river", head=3.15), Fish(3, "river", head=4.2)]
    scheduler = run(fish, until=6.0)
    assert fates(scheduler, fish) == {1: "tank", 2: "tank", 3: "river"}
    assert [scheduler.booking(i).conflict for i in (1, 2, 3)] == [True, True, False]  # type: ignore[union-attr]


def test_a_fish_whose_predicted_arrival_jumps_is_replanned() -> None:
    # the pink salmon looked slow (4.5 s), then sped up: it arrives at 3.3, before the trout
    pink = Fish(1, "tank", head=3.3, predicted=lambda t: 4.5 if t < 2.2 else 3.3)
    trout = Fish(2, "river", head=3.9)
    scheduler = run([pink, trout], until=6.0)
    assert fates(scheduler, [pink, trout]) == {1: "tank", 2: "river"}


def test_a_fish_that_stops_in_front_of_the_gate_does_not_hold_it() -> None:
    # the char heads for the gate, stops at 2.0 s and stays, then swims on at 4.0 s and
    # arrives at 5.0; meanwhile a pink salmon passes at 3.5
    char = Fish(2, "river", head=5.0, predicted=lambda t: 3.2 if t < 2.0 else (None if t < 4.0 else 5.0))
    pink = Fish(1, "tank", head=3.5)
    scheduler = run([char, pink], until=7.0)
    assert fates(scheduler, [char, pink]) == {2: "river", 1: "tank"}


def test_a_fish_decided_late_still_finds_the_gate_in_time() -> None:
    # the trout is only decided at its deadline (0.55 s before its head), the gate resting at tank
    trout = Fish(1, "river", head=4.0, decided_at=3.45)
    scheduler = run([trout], until=6.0, idle="tank")
    assert fates(scheduler, [trout]) == {1: "river"}
    assert scheduler.route_at(2.0) == "tank" and scheduler.route_at(5.5) == "tank"


def test_resting_at_tank_opens_to_the_river_only_for_the_native_window() -> None:
    trout = Fish(1, "river", head=4.0)
    scheduler = run([trout], until=7.0, idle="tank")
    assert fates(scheduler, [trout]) == {1: "river"}
    river = [c for c in scheduler.commands if c.route == "river"]
    assert len(river) == 1 and 4.0 - 0.3 - 0.4 <= river[0].t <= 4.0 - 0.3  # as late as it may
    assert scheduler.route_at(5.5) == "tank"  # back to rest once the trout has passed


def test_an_override_during_a_served_window_waits_for_that_fish() -> None:
    # the operator holds the gate at tank while the gate is already set for an arriving
    # trout: that fish keeps the river; every later fish goes to the tank
    trout = Fish(1, "river", head=3.0)
    later = Fish(2, "river", head=5.0)
    scheduler = run([trout, later], until=7.0, modes={2.9: "tank"})
    assert fates(scheduler, [trout, later]) == {1: "river", 2: "tank"}
    assert not scheduler.booking(1).override and scheduler.booking(2).override  # type: ignore[union-attr]
    scheduler.set_mode("auto")
    with pytest.raises(ValueError, match="auto, river, tank"):
        scheduler.set_mode("open")


def test_a_cancelled_fish_does_not_move_the_gate() -> None:
    pink = Fish(4, "tank", head=3.0, predicted=lambda t: 3.0 if t < 0.6 else None)  # turned back
    scheduler = run([pink], until=5.0)
    assert [c.route for c in scheduler.commands] == ["tank", "river"]  # start record, idle


def test_close_records_the_move_to_the_safe_position() -> None:
    scheduler = run([Fish(1, "river", head=2.0)], until=3.0)
    command = scheduler.close(75, 3.0)
    assert (command.route, command.reason) == ("tank", "close")
    assert scheduler.route_at(3.0 + 0.3) == "tank"
