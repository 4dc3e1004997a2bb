"""A track that comes out of a crowd following another fish is split (vision/swaps.py)."""

from __future__ import annotations

import numpy as np
import pytest

from fishgate.config import load_config
from fishgate.replay import build_pipeline, run
from fishgate.types import NO_LENGTH_SCALE, Box, Detection, Frame
from fishgate.vision.annotated import LabelPassThrough
from fishgate.vision.swaps import SwapCheck, firm_species
from fishgate.vision.tracker import Track, Tracker

CONFIG = load_config("firmware_config/chute-sample.toml")  # counting line x = 352, upstream +x
FPS = 25


class FishIntoABlob:
    """A sea trout 100 px long swims upstream at 6 px a frame into mid-picture, where from
    frame 81 to 86 the detector draws one merged blob; out of it comes a fish of
    `out_label` swimming back downstream and out through the left border: the trout
    itself turning back, or a fish that took its place while the trout stayed hidden."""

    length_scale = NO_LENGTH_SCALE

    def __init__(self, out_label: str) -> None:
        self.out_label = out_label

    def detect(self, image: np.ndarray, t: float) -> list[Detection]:
        f = round(t * FPS)
        if f <= 80:  # last trout box 380..480: wholly past the line
            head = 6.0 * f
            if head < 1:
                return []
            return [
                Detection(Box(max(0.0, head - 100), 150, head, 190), edge_cut=head <= 100, label="sea_trout")
            ]
        if f <= 86:
            return [Detection(Box(380, 148, 560, 192), merged=True, label="sea_trout")]
        x1 = 460.0 - 6 * (f - 87)
        if x1 + 100 < 1:
            return []
        return [Detection(Box(max(0.0, x1), 150, x1 + 100, 190), edge_cut=x1 <= 0, label=self.out_label)]


def _passages(out_label: str) -> list[tuple[str, str]]:
    pipeline = build_pipeline(
        CONFIG, FishIntoABlob(out_label), LabelPassThrough(), (640, 360), FPS, run_id="t"
    )
    blank = np.zeros((1, 1), np.uint8)
    stats = run(pipeline, (Frame(blank, i / FPS, i) for i in range(200)), None, progress=False)
    return sorted((p.species, p.direction) for p in stats.passages)


def test_a_track_that_comes_out_of_a_blob_on_another_species_is_two_fish() -> None:
    # one track saw it all: without the split it came in and went out on the left and
    # counted nothing; the trout crossed upstream, the salmon downstream
    assert _passages("atlantic_salmon") == [("atlantic_salmon", "downstream"), ("sea_trout", "upstream")]


def test_a_fish_that_turns_back_in_a_blob_is_not_split() -> None:
    assert _passages("sea_trout") == []


class PinkIntoADriftingBlob:
    """A pink salmon swims upstream at 6 px a frame to frame 80 (head at x 480: at the gate,
    x 848, at 5.65 s), then a merged blob drifts back downstream for 30 frames and a sea
    trout comes out of it, swimming downstream out of the picture."""

    length_scale = NO_LENGTH_SCALE

    def detect(self, image: np.ndarray, t: float) -> list[Detection]:
        f = round(t * FPS)
        if f <= 80:
            head = 6.0 * f
            if head < 1:
                return []
            return [
                Detection(
                    Box(max(0.0, head - 100), 150, head, 190), edge_cut=head <= 100, label="pink_salmon"
                )
            ]
        if f <= 110:
            d = 6 * (f - 80)
            return [Detection(Box(380 - d, 148, 560 - d, 192), merged=True, label="pink_salmon")]
        x1 = 180 - 12 * (f - 111)
        if x1 + 100 < 1:
            return []
        return [Detection(Box(max(0.0, x1), 150, x1 + 100, 190), edge_cut=x1 <= 0, label="sea_trout")]


def test_the_fish_a_track_lost_in_a_crowd_keeps_its_own_arrival_at_the_gate() -> None:
    # while the track followed the blob its arrival drifted away (11.9 s, then 26.5 s); split,
    # the pink is booked again from its own boxes: the gate serves it, the passage says when
    pipeline = build_pipeline(
        CONFIG, PinkIntoADriftingBlob(), LabelPassThrough(), (640, 360), FPS, run_id="t"
    )
    blank = np.zeros((1, 1), np.uint8)
    stats = run(pipeline, (Frame(blank, i / FPS, i) for i in range(220)), None, progress=False)
    pink = next(p for p in stats.passages if p.species == "pink_salmon")
    assert pink.direction == "upstream" and pink.route == "tank"
    assert dict(pink.extra)["arrival_t"] == pytest.approx((848 - 480) / 6 / FPS + 80 / FPS, abs=0.05)
    assert pipeline.scheduler.route_at(5.65) == "tank"
    assert [p.species for p in stats.passages] == ["sea_trout", "pink_salmon"]  # both before the end


def _voted(vote: dict[str, float], votes: int) -> Track:
    """A track whose clean crops have voted this much."""
    track = Track(0)
    track.vote, track.votes = dict(vote), votes
    return track


def test_a_check_needs_a_firm_vote_before_and_firm_views_after() -> None:
    assert firm_species(_voted({"sea_trout": 9.5, "atlantic_salmon": 0.5}, votes=10)) == "sea_trout"
    assert firm_species(_voted({"sea_trout": 8.5, "atlantic_salmon": 1.5}, votes=10)) is None  # 0.85 < 0.9
    assert firm_species(_voted({"sea_trout": 3.0}, votes=2)) is None  # too few clean votes
    check = SwapCheck(since=40, species="sea_trout")
    for _ in range(3):
        check.views.append({"atlantic_salmon": 0.9, "sea_trout": 0.1})
    assert check.complete and check.swapped() and check.after() == ("atlantic_salmon", pytest.approx(0.9))
    unsure = SwapCheck(since=40, species="sea_trout", views=[{"atlantic_salmon": 0.6, "sea_trout": 0.4}] * 3)
    assert not unsure.swapped()
    same = SwapCheck(since=40, species="sea_trout", views=[{"sea_trout": 1.0}] * 3)
    assert not same.swapped()


def test_split_gives_each_part_its_own_path_speed_and_votes() -> None:
    tracker = Tracker(640, 360)
    for f in range(20):  # +5 px a frame ...
        tracker.update([Detection(Box(100 + 5 * f, 150, 200 + 5 * f, 190))], f, f / FPS)
    for f in range(20, 24):  # ... a blob ...
        tracker.update([Detection(Box(180, 148, 330, 192), merged=True)], f, f / FPS)
    for f in range(24, 40):  # ... and out of it a fish going -5 px a frame
        tracker.update([Detection(Box(230 - 5 * (f - 24), 150, 330 - 5 * (f - 24), 190))], f, f / FPS)
    (track,) = tracker.active
    track.add_vote({"sea_trout": 1.0})
    assert tracker.crowd_start(track, 24) == 20  # walks back over the blob
    before, after = tracker.split(track, 20)
    assert before.id == track.id and after.id != track.id and tracker.active == [after]
    assert [o.frame for o in before.path] == list(range(20))
    assert [o.frame for o in after.path] == list(range(20, 40))
    assert before.velocity_x == pytest.approx(5 * FPS) and after.velocity_x == pytest.approx(-5 * FPS)
    assert before.votes == 1 and after.votes == 0
    with pytest.raises(ValueError, match="outside"):
        tracker.split(after, 0)
