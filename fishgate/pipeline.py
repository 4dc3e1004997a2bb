"""One frame through the stages: detect, track, classify, decide, switch the gate, count.

`Pipeline.step(frame)` is a short list of stage calls; each stage lives in its own
module and knows nothing of the others. The frame's own time `frame.t` is the only
clock the vision and decision stages see, so a replay decides exactly as the live
trap would have.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import numpy as np

from fishgate.config import Geometry
from fishgate.decision.policy import Arrival, Decision, RoutePolicy, gate_arrival
from fishgate.decision.scheduler import GateCommand, GateScheduler
from fishgate.decision.timeline import WRONG
from fishgate.types import SPECIES, UNKNOWN, Box, Detection, Frame, Passage
from fishgate.vision.counting import CountingLine
from fishgate.vision.snapshot import BestViews
from fishgate.vision.swaps import SwapCheck, firm_species
from fishgate.vision.tracker import Track, Tracker, cut_upstream

_T = TypeVar("_T")

# A track stops asking the classifier once it has this many votes and has been decided.
VOTES_AFTER_DECISION = 8


class Detector(Protocol):
    """The fish in one frame. `length_scale`: species -> true length / box width, for a
    detector whose boxes are biased for some species (the learned detector's card); the
    tracker corrects each fish's length with it. NO_LENGTH_SCALE for one true to length."""

    @property
    def length_scale(self) -> Mapping[str, float]: ...

    def detect(self, image: np.ndarray, t: float) -> list[Detection]: ...


class CrossingRule(Protocol):
    """Which way a fish seen as these boxes crossed the counting line, or None."""

    def crossing(self, boxes: Sequence[Box]) -> str | None: ...


class Classifier(Protocol):
    """Species probabilities for fish boxes in one frame, one dict per box."""

    def __call__(self, image: np.ndarray, detections: Sequence[Detection]) -> list[dict[str, float]]: ...


@dataclass
class StepResult:
    frame: int
    t: float
    detections: list[Detection]
    tracks: list[Track]
    decisions: list[tuple[int, Decision]] = field(default_factory=list)
    command: GateCommand | None = None
    passages: list[Passage] = field(default_factory=list)
    snapshots: dict[str, np.ndarray] = field(default_factory=dict)  # passage id -> best view
    timings_ms: dict[str, float] = field(default_factory=dict)


class Pipeline:
    def __init__(
        self,
        detector: Detector,
        classifier: Classifier,
        tracker: Tracker,
        policy: RoutePolicy,
        scheduler: GateScheduler,
        geometry: Geometry,
        frame_size: tuple[int, int],
        fps: float,
        passage_id: Callable[[Track], str],
        model_version: str = "",
        counter: CrossingRule | None = None,
    ) -> None:
        self.detector = detector
        self.classifier = classifier
        self.tracker = tracker
        self.policy = policy
        self.scheduler = scheduler
        self.geometry = geometry
        self.frame_width = frame_size[0]
        self.frame_dt = 1.0 / fps
        self.passage_id = passage_id
        self.model_version = model_version
        self.counter: CrossingRule = counter or CountingLine(
            geometry.counting_line_x, geometry.upstream_sign, frame_size[0]
        )
        self.decisions: dict[int, Decision] = {}
        self.views = BestViews()
        # ended tracks waiting for the gate; direction None: a piece of a fish, the gate serves it
        self._pending: dict[int, tuple[Track, str | None]] = {}
        self._swap_checks: dict[int, SwapCheck] = {}  # track id -> check open since a crowd
        self._last = (0, 0.0)

    def step(self, frame: Frame) -> StepResult:
        timings: dict[str, float] = {}
        clock = _StageClock(timings)
        detections = clock.run("detect", lambda: self.detector.detect(frame.image, frame.t))
        seen, ended = clock.run("track", lambda: self.tracker.update(detections, frame.index, frame.t))
        clock.run("classify", lambda: self._vote(frame, seen))
        result = StepResult(frame.index, frame.t, detections, seen, timings_ms=timings)
        # every fish still in view may reach its deadline, even in a frame that missed it
        result.decisions = clock.run("decide", lambda: self._decide(frame, self.tracker.active))
        for track in ended:
            self._end(track, frame.index, frame.t)
        result.command = clock.run(
            "gate", lambda: self.scheduler.tick(frame.t, frame.index, lookahead_s=self.frame_dt)
        )
        self._last = (frame.index, frame.t)
        ready = self._ready_passages()
        result.passages = [passage for _, passage in ready]
        for track_id, passage in ready:
            view = self.views.take(track_id)
            if view is not None:
                result.snapshots[passage.id] = view
        return result

    def finish(self, closing: GateCommand | None = None) -> tuple[StepResult, list[Track]]:
        """The footage ended (call it once the gate is closed, `closing` its command).

        Returns the passages of fish that crossed the line but had not reached the gate
        yet (they have passed; their route is where the gate then stood), with their
        snapshots, and the tracks still in the picture, which have not passed.
        """
        frame, t = self._last
        result = StepResult(frame, t, [], [], command=closing)
        for track_id, (track, direction) in list(self._pending.items()):
            if direction is None:
                continue
            passage = self._passage(track, direction)
            result.passages.append(passage)
            view = self.views.take(track_id)
            if view is not None:
                result.snapshots[passage.id] = view
        self._pending.clear()
        self._swap_checks.clear()
        self.views.clear()
        return result, self.tracker.finish()

    def _vote(self, frame: Frame, seen: list[Track]) -> None:
        # the observation just added to each track is this frame's detection for it
        for track in seen:
            if track.last.merged:
                self._open_swap_check(track)
        checking = {tr.id for tr in seen if self._checking(tr)}
        wanting = [tr for tr in seen if tr.id in checking or self._wants_votes(tr)]
        if not wanting:
            return
        crops = [Detection(tr.last.box, label=tr.last.label) for tr in wanting]
        for track, probs in zip(wanting, self.classifier(frame.image, crops), strict=True):
            if track.id in checking:
                self._swap_checks[track.id].views.append(probs)
                continue
            weak = not track.last.clean
            track.add_vote(probs, weak=weak)
            self.views.offer(track.id, frame.image, track.last.box, max(probs.values()), whole=not weak)
        for i, track in enumerate(seen):
            check = self._swap_checks.get(track.id)
            if check is not None and check.complete:
                del self._swap_checks[track.id]
                seen[i] = self._settle_swap_check(track, check, frame)

    def _open_swap_check(self, track: Track) -> None:
        """A track in a crowd: its next clean views will say whether it still follows its fish."""
        check = self._swap_checks.get(track.id)
        if check is not None and not check.views:
            return  # the same crowd goes on
        species = firm_species(track)
        if species is None:
            self._swap_checks.pop(track.id, None)  # nothing firm to compare the fish with
        else:
            # a new crowd after a few clean views starts afresh: keeping the first crowd's
            # start when those views doubted the fish lost a close-up clip (seeds 20000)
            self._swap_checks[track.id] = SwapCheck(len(track.path) - 1, species)

    def _checking(self, track: Track) -> bool:
        check = self._swap_checks.get(track.id)
        return check is not None and track.last.clean and not check.complete

    def _settle_swap_check(self, track: Track, check: SwapCheck, frame: Frame) -> Track:
        """The track as it goes on: itself, its views now votes; or, if it swapped fish, a
        new track from where the crowd began, while the track so far ends there."""
        if not check.swapped():
            for probs in check.views:
                track.add_vote(probs)
            return track
        if self.tracker.followed_by_another(track):
            return track  # it took a fish already followed: a new track would count it twice
        before, after = self.tracker.split(track, self.tracker.crowd_start(track, check.since))
        for probs in check.views:
            after.add_vote(probs)
        # its booking was last predicted from the other fish's boxes: predict it again
        arrival = gate_arrival(before, self.geometry, self.frame_width)
        self._book(before.id, arrival, self.decisions.get(before.id), frame.index)
        self._end(before, frame.index, frame.t)
        return after

    def _wants_votes(self, track: Track) -> bool:
        if not track.last.clean:
            # a partial view votes only for a fish that has shown no whole view yet
            return track.votes == 0 and track.id not in self.decisions
        return track.id not in self.decisions or track.votes < VOTES_AFTER_DECISION

    def _decide(self, frame: Frame, active: list[Track]) -> list[tuple[int, Decision]]:
        made = []
        for track in active:
            arrival = gate_arrival(track, self.geometry, self.frame_width)
            decision = self.decisions.get(track.id)
            if decision is None:
                opens = arrival.earliest if arrival else None
                decision = self.policy.decide(track, frame.index, frame.t, self.frame_dt, opens)
                if decision is not None:
                    self.decisions[track.id] = decision
                    made.append((track.id, decision))
            self._book(track.id, arrival, decision, frame.index)
        return made

    def _book(self, track_id: int, arrival: Arrival | None, decision: Decision | None, frame: int) -> None:
        """Hold the gate for the fish's predicted arrival; no arrival (holding station, turning
        back): it must not hold the gate."""
        if arrival is None:
            self.scheduler.cancel(track_id)
            return
        route = decision.route if decision is not None else None
        self.scheduler.book(track_id, arrival, route, decision.frame if decision is not None else frame)

    def _end(self, track: Track, frame: int, t: float) -> None:
        self._swap_checks.pop(track.id, None)
        direction = self.counter.crossing([o.box for o in track.path])
        left_upstream = cut_upstream(track.last.box, self.tracker.frame_width, self.geometry.upstream_sign)
        if direction is None and track.id in self.decisions and left_upstream:
            # a piece of a fish whose crossing another track saw (or nobody saw): not a
            # passage, but the fish swims on to the gate, which must still be set for it
            self._pending[track.id] = (track, None)
            return
        if direction is None:
            self._forget(track.id)
            return
        if direction == "downstream":
            self.scheduler.cancel(track.id)
        elif track.id not in self.decisions:
            self._last_chance(track, frame, t)
        self._pending[track.id] = (track, direction)

    def _last_chance(self, track: Track, frame: int, t: float) -> None:
        """Gone out of the picture towards the gate before its deadline: decide on what we saw."""
        arrival = gate_arrival(track, self.geometry, self.frame_width)
        opens = arrival.earliest if arrival else None
        decision = self.policy.decide(track, frame, t, self.frame_dt, opens, last_chance=True)
        if decision is not None:
            self.decisions[track.id] = decision
            if arrival is not None:
                self._book(track.id, arrival, decision, frame)

    def _ready_passages(self) -> list[tuple[int, Passage]]:
        """(track id, passage) whose fate is known: upstream fish once their head's window has closed."""
        ready = []
        for track_id, (track, direction) in list(self._pending.items()):
            if direction != "downstream" and track_id in self.scheduler.bookings:
                continue
            del self._pending[track_id]
            if direction is None:  # the gate has served it; nothing to record
                self._forget(track_id)
                continue
            ready.append((track_id, self._passage(track, direction)))
        return ready

    def _forget(self, track_id: int) -> None:
        """A fish that is no passage: its decision, booking and best view go."""
        self.decisions.pop(track_id, None)
        self.scheduler.cancel(track_id)
        self.views.drop(track_id)

    def _passage(self, track: Track, direction: str) -> Passage:
        species, confidence = track.species()
        decision = self.decisions.pop(track.id, None)
        booking = self.scheduler.booking(track.id)
        self.scheduler.collect(track.id)
        route: str | None = None
        decision_frame: int | None = None
        arrival_t: float | None = None
        flags: list[str] = []
        if direction == "upstream":
            if decision is None:
                flags.append("undecided")
            else:
                decision_frame = decision.frame
                if decision.reason != "confident":
                    flags.append(decision.reason)
                if decision.species not in (*SPECIES, UNKNOWN):
                    flags.append("foreign_species")  # a label that is none of ours: the safe route
            if booking is not None:
                flags += [flag for flag in ("conflict", "override") if getattr(booking, flag)]
                if booking.route_frame is not None and (decision is None or booking.route != decision.route):
                    decision_frame = booking.route_frame
                arrival_t = booking.arrival.head_t
            # the record says where the gate stood when the head arrived (as predicted), not
            # where the fish ought to have gone
            route, moving = self._gate_at(arrival_t if arrival_t is not None else self._last[1])
            if moving:
                flags.append("gate_moving")
        length = track.fish_length_px / self.geometry.px_per_cm if track.length_px > 0 else None
        upstream = decision is not None and direction == "upstream"
        return Passage(
            id=self.passage_id(track),
            species=species if track.votes else UNKNOWN,
            confidence=round(confidence, 4),
            direction=direction,  # type: ignore[arg-type]
            route=route,  # type: ignore[arg-type]
            first_frame=track.first.frame,
            last_frame=track.last.frame,
            decision_frame=decision_frame,
            length_cm=round(length, 1) if length else None,
            extra=(
                ("flags", flags),
                ("votes", track.votes),
                ("decided_by", decision.reason if upstream and decision else None),
                ("decision_t", round(decision.t, 3) if upstream and decision else None),
                ("arrival_t", round(arrival_t, 3) if arrival_t is not None else None),
                ("model", self.model_version),
            ),
        )

    def _gate_at(self, t: float) -> tuple[str, bool]:
        """(route, moving): where the gate stood at time t, or was going if it was moving."""
        where = self.scheduler.route_at(t)
        if where == WRONG:
            return self.scheduler.timeline.heading_at(t), True
        return where, False


class _StageClock:
    """Times each stage of a step in milliseconds (the benchmark reads them)."""

    def __init__(self, timings: dict[str, float]) -> None:
        self.timings = timings

    def run(self, name: str, stage: Callable[[], _T]) -> _T:
        start = time.perf_counter()
        try:
            return stage()
        finally:
            self.timings[name] = (time.perf_counter() - start) * 1000
