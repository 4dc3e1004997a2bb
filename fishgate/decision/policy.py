"""Which way a fish goes, and by when that must be decided.

A fish is routed as soon as its species vote is confident, and never later than its
deadline: the predicted moment its head reaches the gate, minus the gate's travel
time, minus a margin. A fish still unsure at its deadline goes the safe route (a
trapped native can be released by hand; a passed invader cannot be recalled).
"""

from __future__ import annotations

from dataclasses import dataclass

from fishgate.config import Geometry
from fishgate.types import UNKNOWN, Route
from fishgate.vision.tracker import Track

# Slower than this towards the gate, a fish is holding station: no arrival to predict.
MIN_APPROACH_CM_S = 5.0


@dataclass(frozen=True)
class Decision:
    route: Route
    species: str
    confidence: float
    frame: int  # frame whose processing produced the command
    t: float  # that frame's time
    reason: str  # "confident", "deadline" (best guess when time ran out) or "unsure" (safe route)


@dataclass(frozen=True)
class RoutePolicy:
    tank_species: frozenset[str]
    safe_route: Route
    travel_s: float
    margin_s: float
    decide_confidence: float = 0.9
    min_votes: int = 3
    # At the deadline a vote this sure is still followed; below it the fish goes the safe way.
    deadline_confidence: float = 0.6

    def route_for(self, species: str) -> Route:
        if species == UNKNOWN:
            return self.safe_route
        return "tank" if species in self.tank_species else "river"

    def deadline(self, arrival_t: float) -> float:
        return arrival_t - self.travel_s - self.margin_s

    def decide(
        self,
        track: Track,
        frame: int,
        t: float,
        frame_dt: float,
        arrival_t: float | None,
        last_chance: bool = False,
    ) -> Decision | None:
        """A decision now, or None to wait for more crops (only while the deadline allows).

        `last_chance`: the fish is leaving the picture towards the gate, so nothing more
        will be learnt about it: decide now whatever the deadline.
        """
        species, confidence = track.species()
        if track.votes >= self.min_votes and confidence >= self.decide_confidence and species != UNKNOWN:
            return Decision(self.route_for(species), species, confidence, frame, t, "confident")
        waiting_is_safe = arrival_t is not None and t + frame_dt <= self.deadline(arrival_t)
        if not last_chance and (arrival_t is None or waiting_is_safe):
            return None  # the next frame is still in time
        if confidence >= self.deadline_confidence and species != UNKNOWN:
            return Decision(self.route_for(species), species, confidence, frame, t, "deadline")
        return Decision(self.safe_route, species, confidence, frame, t, "unsure")


def gate_arrival(track: Track, geometry: Geometry, frame_width: int) -> tuple[float, float] | None:
    """Predicted (head, tail) arrival times at the gate, or None if the fish is not heading there."""
    speed = track.velocity_x * geometry.upstream_sign  # towards the gate
    if speed < MIN_APPROACH_CM_S * geometry.px_per_cm:
        return None
    x1, x2 = track.extent(frame_width)
    head, tail = (x2, x1) if geometry.upstream_sign > 0 else (x1, x2)
    gate = geometry.gate_x_px(frame_width)
    t = track.last.t
    return t + (gate - head) * geometry.upstream_sign / speed, t + (
        gate - tail
    ) * geometry.upstream_sign / speed
