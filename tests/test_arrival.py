"""The predicted arrival of a fish's head at the gate (decision.policy.gate_arrival)."""

from __future__ import annotations

import numpy as np
import pytest

from fishgate.config import Geometry
from fishgate.decision import policy
from fishgate.decision.policy import gate_arrival
from fishgate.types import Box, Detection
from fishgate.vision.tracker import Track, Tracker

FPS = 25.0
WIDTH = 640
GEOMETRY = Geometry(px_per_cm=2.6, counting_line_x=352, upstream="+x", gate_distance_cm=80.0)
MIRRORED = Geometry(px_per_cm=2.6, counting_line_x=WIDTH - 352, upstream="-x", gate_distance_cm=80.0)
GATE_X = GEOMETRY.gate_x_px(WIDTH)
LENGTH = 220.0  # an 85 cm salmon: its tail is still in the picture 0.5 s before its head reaches the gate


def _swim(
    speeds: list[float],
    jitter_px: float,
    seed: int,
    drawn: float = 1.0,
    length_scale: dict[str, float] | None = None,
    mirrored: bool = False,
) -> tuple[Track, float]:
    """A salmon whose tail starts at x=0 and swims at speeds[i] px/s during frame i, its
    box edges each off by up to jitter_px and drawn `drawn` times its length (short at the
    head); returns its track after the last frame and the time its head truly reaches the
    gate at its last speed. `mirrored`: the same fish at a site whose upstream is -x."""
    rng = np.random.default_rng(seed)
    tracker = Tracker(WIDTH, 240, length_scale=length_scale)
    tail, track = 0.0, None
    for i, speed in enumerate(speeds):
        tail += speed / FPS
        x1 = tail + rng.uniform(-jitter_px, jitter_px)
        x2 = tail + LENGTH * drawn + rng.uniform(-jitter_px, jitter_px)
        if mirrored:
            x1, x2 = WIDTH - x2, WIDTH - x1
        box = Box(max(0.0, x1), 100.0, min(float(WIDTH), x2), 150.0)
        edge_cut = box.x1 <= tracker.border or box.x2 >= WIDTH - tracker.border
        seen, _ = tracker.update([Detection(box, edge_cut=edge_cut)], i, i / FPS)
        track = seen[0]
        track.add_vote({"atlantic_salmon": 1.0})
    assert track is not None
    now = (len(speeds) - 1) / FPS
    return track, now + (GATE_X - (tail + LENGTH)) / speeds[-1]


def _error(speeds: list[float], jitter_px: float, seed: int) -> float:
    track, true_t = _swim(speeds, jitter_px, seed)
    arrival = gate_arrival(track, GEOMETRY, WIDTH)
    assert arrival is not None
    return arrival.head_t - true_t


def test_a_steady_fish_is_predicted_exactly() -> None:
    assert _error([115.0] * 70, jitter_px=0.0, seed=0) == pytest.approx(0.0, abs=1e-6)


def test_jittery_boxes_move_the_prediction_little() -> None:
    # A detector's box edges jitter by several pixels from frame to frame. 0.5 s before its
    # head reaches the gate (its head already out of the picture) the prediction must be
    # good to well under the gate's travel time, for nine fish in ten.
    speeds = [115.0] * round((GATE_X - LENGTH) / 115.0 * FPS - 0.5 * FPS)
    errors = sorted(abs(_error(speeds, jitter_px=8.0, seed=seed)) for seed in range(40))
    assert errors[35] < 0.05  # a plain line through the last 0.8 s: 0.07


@pytest.mark.parametrize("before, after", [(160.0, 100.0), (100.0, 160.0)])
def test_the_prediction_follows_a_fish_that_changes_speed(before: float, after: float) -> None:
    # The fit's price for steadiness is lag: 2.4 s after a change of speed the new speed
    # is what counts (a fit that weighed every box alike over that span would still be
    # 15 % off; one that never forgets, further still).
    for seed in range(10):
        track, true_t = _swim([before] * 40 + [after] * 60, jitter_px=4.0, seed=seed)
        line = policy.head_line(track, WIDTH, 1)
        arrival = gate_arrival(track, GEOMETRY, WIDTH)
        assert line is not None and arrival is not None
        assert line[1] == pytest.approx(after, rel=0.1)
        assert abs(arrival.head_t - true_t) < 0.2


def test_a_species_the_detector_draws_short_is_on_time_with_its_length_scale() -> None:
    # A detector that draws salmon 5 % short puts a salmon's head, once out of the picture
    # (the trailing edge plus the length), 11 px behind: 0.1 s late at 115 px/s, a third
    # of the gate's travel.
    speeds = [115.0] * round((GATE_X - LENGTH) / 115.0 * FPS - 0.5 * FPS)
    track, true_t = _swim(speeds, jitter_px=0.0, seed=0, drawn=0.95)
    late = gate_arrival(track, GEOMETRY, WIDTH)
    track, _ = _swim(speeds, jitter_px=0.0, seed=0, drawn=0.95, length_scale={"atlantic_salmon": 1 / 0.95})
    on_time = gate_arrival(track, GEOMETRY, WIDTH)
    assert late is not None and on_time is not None
    assert late.head_t - true_t > 0.08
    # what is left: the fitted line still holds boxes from when the head was in view, short
    assert abs(on_time.head_t - true_t) < 0.04
    assert track.fish_length_px == pytest.approx(LENGTH, rel=0.01)  # and so its length_cm


def test_a_site_whose_upstream_is_minus_x_is_predicted_alike() -> None:
    speeds = [160.0] * 40 + [115.0] * 45
    for seed in range(5):
        kwargs = {
            "jitter_px": 6.0,
            "seed": seed,
            "drawn": 0.95,
            "length_scale": {"atlantic_salmon": 1 / 0.95},
        }
        track, true_t = _swim(speeds, **kwargs)
        mirrored, mirrored_true_t = _swim(speeds, mirrored=True, **kwargs)
        arrival = gate_arrival(track, GEOMETRY, WIDTH)
        mirrored_arrival = gate_arrival(mirrored, MIRRORED, WIDTH)
        assert arrival is not None and mirrored_arrival is not None
        assert mirrored_true_t == true_t
        assert mirrored_arrival.head_t == pytest.approx(arrival.head_t, abs=1e-6)
        assert mirrored_arrival.spread_s == pytest.approx(arrival.spread_s, abs=1e-6)


def test_a_head_beyond_the_border_widens_the_window_by_the_length_unsure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A length 5 % off (the detector's spread per fish) puts a head that is out of the
    # picture 0.1 s off at 115 px/s: its window must still hold the true arrival.
    speeds = [115.0] * round((GATE_X - LENGTH) / 115.0 * FPS - 0.5 * FPS)
    track, true_t = _swim(speeds, jitter_px=0.0, seed=0, drawn=0.95)
    assert track.last.box.x2 >= WIDTH - 1  # the head is cut by the border
    wide = gate_arrival(track, GEOMETRY, WIDTH)
    monkeypatch.setattr(policy, "HEAD_LENGTH_SPREAD", 0.0)
    narrow = gate_arrival(track, GEOMETRY, WIDTH)
    assert wide is not None and narrow is not None
    assert wide.spread_s - narrow.spread_s == pytest.approx(0.05 * track.fish_length_px / 115.0, rel=0.02)
    assert wide.earliest <= true_t < narrow.earliest  # predicted late: the head comes early
    # while its head is in view the head is seen, not inferred: no widening
    in_view, _ = _swim(speeds[:20], jitter_px=0.0, seed=0, drawn=0.95)
    monkeypatch.setattr(policy, "HEAD_LENGTH_SPREAD", 0.05)
    seen = gate_arrival(in_view, GEOMETRY, WIDTH)
    monkeypatch.setattr(policy, "HEAD_LENGTH_SPREAD", 0.0)
    assert seen is not None and seen.spread_s == gate_arrival(in_view, GEOMETRY, WIDTH).spread_s  # type: ignore[union-attr]
