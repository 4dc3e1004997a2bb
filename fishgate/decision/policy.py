"""Which way a fish goes, and by when that must be decided.

A fish is routed as soon as its species vote is confident, or its vote for a route (the
summed votes of our species that go that way) is, and never later than its deadline:
the predicted moment its head reaches the gate, minus the gate's travel time, minus a
margin. A fish still
unsure at its deadline goes the safe route (a trapped native can be released by hand;
a passed invader cannot be recalled).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fishgate.config import Geometry
from fishgate.types import SPECIES, UNKNOWN, Route
from fishgate.vision.tracker import Track, border_px, cut_upstream

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
        """Tank for the site's invasive species, river for our native ones; anything else
        (unknown, or a label that is none of our species) goes the safe route."""
        if species in self.tank_species:
            return "tank"
        return "river" if species in SPECIES else self.safe_route

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
        if track.votes >= self.min_votes:
            if confidence >= self.decide_confidence and species != UNKNOWN:
                return Decision(self.route_for(species), species, confidence, frame, t, "confident")
            route, route_share = self.route_vote(track)
            if route_share >= self.decide_confidence:  # unsure which species, sure which way
                return Decision(route, species, route_share, frame, t, "confident")
        waiting_is_safe = arrival_t is not None and t + frame_dt <= self.deadline(arrival_t)
        if not last_chance and (arrival_t is None or waiting_is_safe):
            return None  # the next frame is still in time
        # at the deadline only a leading species is followed: a vote spread over many species
        # leans to the river by their number alone (three of our five are native)
        if confidence >= self.deadline_confidence and species != UNKNOWN:
            return Decision(self.route_for(species), species, confidence, frame, t, "deadline")
        return Decision(self.safe_route, species, confidence, frame, t, "unsure")

    def route_vote(self, track: Track) -> tuple[Route, float]:
        """The route the track's vote for our species leads to, and its share of the whole
        vote (votes for unknown or a foreign label count in the whole, for no route).

        The gate needs native or invasive, not the species: a fish the model cannot tell
        between two native species (an Arctic char or a sea trout) is surely native."""
        vote = track.current_vote
        total = sum(vote.values())
        by_route: dict[Route, float] = {}
        for label, weight in vote.items():
            if label in SPECIES:
                route = self.route_for(label)
                by_route[route] = by_route.get(route, 0.0) + weight
        if total <= 0 or not by_route:
            return self.safe_route, 0.0
        route = max(by_route, key=lambda r: by_route[r])
        return route, by_route[route] / total


@dataclass(frozen=True)
class Arrival:
    """When a fish's head should reach the gate: `head_t`, give or take `spread_s`.

    The window widens with the time still to swim (a speed measured a little wrong
    is wrong for longer) and is wider for a track seen only briefly.
    """

    head_t: float
    spread_s: float

    @property
    def earliest(self) -> float:
        return self.head_t - self.spread_s

    @property
    def latest(self) -> float:
        return self.head_t + self.spread_s


# The window's half-width: a floor, a share of the time still to swim, and more for a
# track with few observations behind its speed.
ARRIVAL_FLOOR_S = 0.04
ARRIVAL_SPEED_NOISE = 0.06
YOUNG_TRACK_OBSERVATIONS = 6
YOUNG_TRACK_EXTRA = 0.06
# Once its head is out of the picture a fish's head is its tail plus its length, and the
# detector's length of one fish is off by about this share (sd of the annotated length
# over the detector's, per species, on the sample footage: 0.03-0.07; 0.10 for char).
HEAD_LENGTH_SPREAD = 0.05


# The head's line is fitted over the last HEAD_FIT_SPAN_S, each observation weighted by
# exp(-age / HEAD_FIT_TAU_S). The detector's box edges jitter by several pixels from frame
# to frame and are biased near the border, so a short window measures the speed badly: on
# the sample footage a plain 0.8 s fit put one fish in six over 0.2 s off at 0.55 s before
# its arrival, this fit one in twelve. The price is lag: 2.4 s after a fish changes speed
# its speed is measured within 10 % (tests/test_arrival.py). Switching to a short fit when
# the two disagree was tried and lost fish: the border bias looks like a change of speed.
HEAD_FIT_TAU_S = 1.2
HEAD_FIT_SPAN_S = 3 * HEAD_FIT_TAU_S


def head_line(track: Track, frame_width: int, sign: int) -> tuple[float, float] | None:
    """(head x now, its speed along x in px/s): a recency-weighted least-squares line
    through the head's recent positions, None with fewer than three. The head is the
    box's leading edge; once that edge is cut by the border, the trailing edge plus the
    fish's length."""
    now = track.last.t
    recent = []
    for o in reversed(track.path):
        if now - o.t > HEAD_FIT_SPAN_S:
            break
        recent.append(o)
    alone = [o for o in recent if not o.merged]
    if len(alone) >= 3:  # a box shared with another fish is where the two are, not this one
        recent = alone
    if len(recent) < 3:
        return None
    length = track.fish_length_px
    edge = border_px(frame_width)
    n = sx = sy = sxx = sxy = 0.0
    for o in recent:  # plain weighted sums: called for every fish every frame
        lead, trail = (o.box.x2, o.box.x1) if sign > 0 else (o.box.x1, o.box.x2)
        cut = lead >= frame_width - edge if sign > 0 else lead <= edge  # cut_upstream, inlined: hot
        x, y = o.t - now, trail + sign * length if cut else lead
        w = math.exp(x / HEAD_FIT_TAU_S)
        n, sx, sy, sxx, sxy = n + w, sx + w * x, sy + w * y, sxx + w * x * x, sxy + w * x * y
    spread = n * sxx - sx * sx
    if spread <= 1e-12 * n * n:
        return None
    slope = (n * sxy - sx * sy) / spread
    return (sy - slope * sx) / n, slope


def gate_arrival(track: Track, geometry: Geometry, frame_width: int) -> Arrival | None:
    """Predicted arrival at the gate, or None if the fish is not heading there.

    A straight line through the head's recent positions gives its speed and where it is
    now; noise in any one box moves it little.
    """
    sign = geometry.upstream_sign
    t = track.last.t
    line = head_line(track, frame_width, sign)
    if line is not None:
        head, speed = line[0], line[1] * sign
    else:
        x1, x2 = track.extent(frame_width)
        head, speed = (x2 if sign > 0 else x1), track.velocity_x * sign
    if speed < MIN_APPROACH_CM_S * geometry.px_per_cm:
        return None
    gate = geometry.gate_x_px(frame_width)
    head_t = t + (gate - head) * sign / speed
    noise = ARRIVAL_SPEED_NOISE + (YOUNG_TRACK_EXTRA if len(track.path) < YOUNG_TRACK_OBSERVATIONS else 0.0)
    spread = ARRIVAL_FLOOR_S + noise * max(0.0, head_t - t)
    if cut_upstream(track.last.box, frame_width, sign):
        spread += HEAD_LENGTH_SPREAD * track.fish_length_px / speed
    return Arrival(head_t, spread)
