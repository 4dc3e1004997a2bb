"""The pipeline in tracks-only mode on generated footage: counting, deciding in time, the safe route."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from fishgate.config import load_config
from fishgate.cvat import read_cvat
from fishgate.decision.policy import RoutePolicy
from fishgate.evaluate import EvaluationSite, compute_metrics, evaluate_footage, truth_fish
from fishgate.replay import annotation_frames, build_pipeline, replay_log, run
from fishgate.synth import SceneSpec, write_clip
from fishgate.types import NO_LENGTH_SCALE, Box, Detection, Frame
from fishgate.vision.annotated import AnnotatedDetector, LabelPassThrough
from fishgate.vision.tracker import Tracker
from tests.helpers import CHUTE_CONFIG

CONFIG = load_config(CHUTE_CONFIG)
SITE = EvaluationSite.from_config(CONFIG)


@pytest.fixture(scope="module")
def behaviour_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    clip = write_clip(SceneSpec("behaviour", seconds=40, seed=12), tmp_path_factory.mktemp("p") / "behaviour")
    return clip.annotations


class Undecided:
    """A classifier that can never tell: every species equally likely."""

    def __call__(self, image: np.ndarray, detections: Sequence[Detection]) -> list[dict[str, float]]:
        return [{"pink_salmon": 0.5, "atlantic_salmon": 0.5} for _ in detections]


def _replay(xml: Path, classifier=None, jitter: float = 0.0, drop: float = 0.0):  # type: ignore[no-untyped-def]
    annotation = read_cvat(xml)
    detector = AnnotatedDetector(annotation, (640, 360), 25, jitter_px=jitter, drop=drop, seed=3)
    pipeline = build_pipeline(CONFIG, detector, classifier or LabelPassThrough(), (640, 360), 25, run_id="t")
    stats = run(pipeline, annotation_frames(annotation, 25, annotation.frames or 0), None, progress=False)
    return annotation, stats, pipeline


def test_counts_every_crossing_and_no_turned_back_fish(behaviour_clip: Path) -> None:
    annotation, stats, _ = _replay(behaviour_clip)
    truth = truth_fish(annotation, SITE)
    crossing = [f for f in truth if f.direction in ("upstream", "downstream")]
    assert any(f.direction == "none" for f in truth)  # the clip has fish that turn back
    result = compute_metrics([evaluate_footage(annotation, replay_log(stats), SITE)], SITE)
    assert len(stats.passages) == len(crossing)
    assert result["count_nmae"] == 0.0 and result["false_passages_per_hour"] == 0.0
    assert result["species_accuracy"] == 1.0 and result["timely"] == 1.0
    for p in stats.passages:
        record = p.to_record()
        assert record["event"] == "passage"
        assert (record["route"] is None) == (record["direction"] == "downstream")


def test_decisions_come_before_the_deadline_even_with_noisy_boxes(behaviour_clip: Path) -> None:
    annotation, stats, _ = _replay(behaviour_clip, jitter=3.0, drop=0.1)
    arrival = {f.track_id: f.gate_arrival_s for f in truth_fish(annotation, SITE)}
    result = evaluate_footage(annotation, replay_log(stats), SITE)
    upstream = [(f, p) for f, p in result.matches if f.direction == "upstream"]
    assert upstream
    for fish, passage in upstream:
        assert passage.decision_frame is not None
        assert passage.decision_frame / 25 <= arrival[fish.track_id] - CONFIG.gate.travel_s  # type: ignore[operator]


def test_a_fish_nobody_can_name_goes_the_safe_route(behaviour_clip: Path) -> None:
    _, stats, _ = _replay(behaviour_clip, classifier=Undecided())
    upstream = [p for p in stats.passages if p.direction == "upstream"]
    assert upstream and all(p.route == CONFIG.decision.safe_route for p in upstream)
    assert all("unsure" in dict(p.extra)["flags"] for p in upstream)


def test_policy_waits_while_it_can_and_decides_by_the_deadline() -> None:
    policy = RoutePolicy(frozenset({"pink_salmon"}), "tank", travel_s=0.3, margin_s=0.1)
    tracker = Tracker(640, 360)
    (track,), _ = tracker.update([Detection(Box(100, 100, 200, 140))], 0, 0.0)
    track.add_vote({"pink_salmon": 0.55, "sea_trout": 0.45})
    assert policy.decide(track, 0, 1.0, 0.04, arrival_t=2.0) is None  # 1.04 s < 1.6 s deadline
    late = policy.decide(track, 40, 1.58, 0.04, arrival_t=2.0)
    assert late is not None and late.route == "tank" and late.reason == "unsure"
    for _ in range(3):
        track.add_vote({"sea_trout": 0.99, "pink_salmon": 0.01})
    sure = policy.decide(track, 5, 0.2, 0.04, arrival_t=2.0)
    assert sure is not None and (sure.route, sure.reason, sure.species) == ("river", "confident", "sea_trout")


class FirstSeenPastTheLine:
    """A pink salmon the detector finds only once it is past the counting line: 100 px
    long, head 140 px past the line (x = 352) in frame 0, swimming upstream at 8 px a
    frame. `sign` -1 mirrors it: upstream is then towards -x."""

    length_scale = NO_LENGTH_SCALE

    def __init__(self, sign: int) -> None:
        self.sign = sign

    def detect(self, image: np.ndarray, t: float) -> list[Detection]:
        head = 500 + 8 * round(t * 25)
        if head - 100 >= 640:
            return []
        x1, x2 = head - 100, min(640.0, head)
        if self.sign < 0:
            x1, x2 = 640 - x2, 640 - x1
        return [Detection(Box(x1, 150, x2, 190), edge_cut=head >= 640, label="pink_salmon")]


@pytest.mark.parametrize("upstream", ["+x", "-x"])
def test_the_gate_serves_a_fish_whose_crossing_nobody_saw(upstream: str) -> None:
    # The fish never crossed the line in view, so it is no passage; but it swims out
    # through the upstream border towards the gate, which must stand at the tank for it.
    sign = 1 if upstream == "+x" else -1
    line = 352 if sign > 0 else 640 - 352
    geometry = dataclasses.replace(CONFIG.geometry, upstream=upstream, counting_line_x=line)
    config = dataclasses.replace(CONFIG, geometry=geometry)
    pipeline = build_pipeline(
        config, FirstSeenPastTheLine(sign), LabelPassThrough(), (640, 360), 25, run_id="t"
    )
    blank = np.zeros((1, 1), np.uint8)
    stats = run(pipeline, (Frame(blank, i / 25, i) for i in range(150)), None, progress=False)
    head_at_gate = (CONFIG.geometry.gate_x_px(640) - 500) / 8 / 25
    assert stats.passages == []
    assert pipeline.scheduler.route_at(head_at_gate) == "tank"
    # it rests at the river: the one move made for a fish was made for this one
    assert [(c.route, c.reason) for c in stats.commands if c.reason == "fish"] == [("tank", "fish")]
    assert pipeline.scheduler.bookings == {} and pipeline.scheduler.done == {}  # served, then let go
    assert pipeline.decisions == {}


def test_a_fish_the_model_cannot_place_between_two_native_species_goes_to_the_river() -> None:
    policy = RoutePolicy(frozenset({"pink_salmon"}), "tank", travel_s=0.3, margin_s=0.1)
    tracker = Tracker(640, 360)
    (track,), _ = tracker.update([Detection(Box(100, 100, 200, 140))], 0, 0.0)
    for _ in range(4):  # char or trout, never sure which: but surely not a pink
        track.add_vote({"arctic_char": 0.5, "sea_trout": 0.48, "pink_salmon": 0.02})
    decision = policy.decide(track, 0, 0.1, 0.04, arrival_t=2.0)
    assert decision is not None and (decision.route, decision.reason) == ("river", "confident")
    assert decision.species == "arctic_char" and decision.confidence > 0.95
    # the same doubt between a native and an invasive species waits, then takes the safe route
    (other,), _ = Tracker(640, 360).update([Detection(Box(100, 100, 200, 140))], 0, 0.0)
    for _ in range(4):
        other.add_vote({"arctic_char": 0.5, "pink_salmon": 0.5})
    assert policy.decide(other, 0, 0.1, 0.04, arrival_t=2.0) is None
    late = policy.decide(other, 40, 1.58, 0.04, arrival_t=2.0)
    assert late is not None and (late.route, late.reason) == ("tank", "unsure")


@pytest.mark.parametrize(
    "vote",
    [
        {s: 0.2 for s in ("atlantic_salmon", "sea_trout", "arctic_char", "pink_salmon", "farmed_salmon")},
        {"pink_salmon": 0.34, "sea_trout": 0.33, "arctic_char": 0.33},
        {"unknown": 1.0},
        {"Coho": 0.4, "sea_trout": 0.3, "arctic_char": 0.3},
    ],
)
def test_a_vote_spread_over_many_species_is_no_vote_for_the_river(vote: dict[str, float]) -> None:
    # three of our five species are native: a vote that knows nothing leans to the river by
    # their number alone, and must still end at the safe route, flagged unsure
    policy = RoutePolicy(frozenset({"pink_salmon", "farmed_salmon"}), "tank", travel_s=0.3, margin_s=0.1)
    (track,), _ = Tracker(640, 360).update([Detection(Box(100, 100, 200, 140))], 0, 0.0)
    for _ in range(4):
        track.add_vote(vote)
    assert policy.decide(track, 0, 0.1, 0.04, arrival_t=2.0) is None
    late = policy.decide(track, 40, 1.58, 0.04, arrival_t=2.0)
    assert late is not None and (late.route, late.reason) == ("tank", "unsure")
