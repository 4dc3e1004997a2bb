"""Tracker: known paths in, the same fish out, through dropouts, holds and turns."""

from __future__ import annotations

import pytest

from fishgate.types import Box, Detection
from fishgate.vision.tracker import Tracker

W, H, FPS = 640, 360, 25.0


def fish_at(x_head: float, y: float = 150.0, length: float = 120.0) -> Detection:
    """A fish swimming towards +x with its head at x_head, clipped to the frame."""
    x1, x2 = max(0.0, x_head - length), min(float(W), x_head)
    return Detection(Box(x1, y, x2, y + 40), edge_cut=x1 <= 0 or x2 >= W)


def run(paths: list[list[Detection | None]]) -> tuple[Tracker, list, list]:
    tracker = Tracker(W, H)
    ended, seen_ids = [], []
    for frame in range(max(len(p) for p in paths)):
        dets = [p[frame] for p in paths if frame < len(p) and p[frame] is not None]
        seen, gone = tracker.update(dets, frame, frame / FPS)  # type: ignore[arg-type]
        ended += gone
        seen_ids.append(sorted(t.id for t in seen))
    return tracker, ended + tracker.finish(), seen_ids


def test_one_fish_crossing_is_one_track_with_its_speed_and_length() -> None:
    path = [fish_at(8.0 * f) for f in range(1, 95)]
    _, ended, _ = run([path])
    (track,) = ended
    assert len(track.path) == 94
    assert track.velocity_x == pytest.approx(8.0 * FPS)  # even with the box cut at both edges
    assert track.length_px == pytest.approx(120.0)


def test_short_dropouts_are_bridged() -> None:
    path: list[Detection | None] = [fish_at(8.0 * f) for f in range(1, 95)]
    for f in range(40, 50):  # 0.4 s unseen (behind a post, say)
        path[f] = None
    _, ended, _ = run([path])
    assert len(ended) == 1 and len(ended[0].path) == 84


def test_a_fish_holding_still_then_turning_back_stays_one_track() -> None:
    forward = [fish_at(6.0 * f) for f in range(1, 50)]  # up to x = 294
    hold = [fish_at(294.0) for _ in range(75)]  # 3 s holding station
    back = [Detection(Box(max(0.0, 174.0 - 6 * f), 150, max(1.0, 294.0 - 6 * f), 190)) for f in range(1, 45)]
    _, ended, _ = run([forward + hold + back])
    assert len(ended) == 1
    assert ended[0].velocity_x < 0


def test_two_fish_side_by_side_keep_their_ids() -> None:
    a = [fish_at(8.0 * f, y=100) for f in range(1, 95)]
    b = [fish_at(8.0 * f + 30, y=170) for f in range(1, 92)]
    _, ended, seen = run([a, b])
    assert len(ended) == 2
    assert all(ids == [0, 1] for ids in seen[10:80])
    ys = sorted(round(t.path[40].box.y1) for t in ended)
    assert ys == [100, 170] and all(len({round(o.box.y1) for o in t.path}) == 1 for t in ended)


def test_votes_from_partial_views_count_only_until_a_whole_view_votes() -> None:
    _, ended, _ = run([[fish_at(50.0)]])
    track = ended[0]
    track.add_vote({"pink_salmon": 0.6, "sea_trout": 0.4}, weak=True)
    assert track.species() == ("pink_salmon", pytest.approx(0.6))
    track.add_vote({"sea_trout": 0.9, "pink_salmon": 0.1})
    track.add_vote({"sea_trout": 0.5, "pink_salmon": 0.5})
    label, share = track.species()
    # confidence-weighted: 0.9*0.9 + 0.5*0.5 for trout vs 0.9*0.1 + 0.5*0.5 for pink
    assert label == "sea_trout" and share == pytest.approx(1.06 / 1.40)
    assert track.votes == 2


def test_reset_starts_ids_again() -> None:
    tracker, _, _ = run([[fish_at(50.0)]])
    tracker.reset()
    seen, _ = tracker.update([fish_at(60.0)], 0, 0.0)
    assert seen[0].id == 0 and tracker.active == seen


def test_a_tail_cut_off_by_the_detector_is_rejoined_not_a_new_fish() -> None:
    whole = [fish_at(200.0 + 6 * f, length=180) for f in range(10)]
    tracker = Tracker(W, H)
    for frame, det in enumerate(whole):
        tracker.update([det], frame, frame / FPS)
    # frame 10: the detector cuts the fish in two at its tail's wrist
    head = Box(140.0, 150, 260.0, 190)  # the whole fish would be 80 .. 260
    tail = Box(80.0, 158, 140.0, 182)
    seen, _ = tracker.update([Detection(head), Detection(tail)], 10, 10 / FPS)
    assert len(seen) == 1 and len(tracker.active) == 1
    assert seen[0].box.x1 == 80.0 and seen[0].box.x2 == 260.0


def test_a_second_fish_inside_a_whole_fishs_box_is_a_new_track() -> None:
    big = [fish_at(200.0 + 6 * f, length=180) for f in range(11)]
    tracker = Tracker(W, H)
    for frame, det in enumerate(big[:10]):
        tracker.update([det], frame, frame / FPS)
    # the big fish is seen whole; a small one swims across its flank (boxes overlap)
    small = Detection(Box(150.0, 160, 230.0, 185))  # inside the big fish's 80 .. 260
    seen, _ = tracker.update([big[10], small], 10, 10 / FPS)
    assert len(seen) == 2 and len(tracker.active) == 2


def test_a_fish_hidden_in_anothers_blob_keeps_its_track_and_place() -> None:
    a = [fish_at(100.0 + 8 * f, y=100) for f in range(60)]
    b = [fish_at(100.0 + 8 * f, y=200) for f in range(60)]
    tracker = Tracker(W, H)
    for frame in range(60):
        dets = [a[frame], b[frame]]
        if 20 <= frame < 40:  # swimming so close that the detector sees one blob
            dets = [Detection(a[frame].box.union(b[frame].box), merged=True)]
        seen, ended = tracker.update(dets, frame, frame / FPS)
        assert not ended
        if 20 <= frame < 40:
            assert len(seen) == 2 and all(t.last.merged for t in seen)
    assert sorted(t.id for t in tracker.active) == [0, 1]
    lower = next(t for t in tracker.active if t.id == 1)
    assert lower.box.y1 == 200  # its own place, not the blob's


def test_a_fish_leaving_is_not_taken_over_by_one_coming_in_at_the_same_border() -> None:
    out = [fish_at(560.0 + 4 * f, y=110, length=160) for f in range(60)]  # half out from f = 20
    tracker = Tracker(W, H)
    ended: list = []
    for frame in range(110):
        leaving = out[frame].box if frame < 60 else None
        if frame < 30:
            dets = [out[frame]]
        else:  # a fish coming downstream overlaps it at the border: the detector sees one blob
            x1 = 640.0 - 6 * (frame - 25)
            incoming = Box(max(0.0, x1), 130, min(640.0, x1 + 140), 180)
            box = incoming.union(leaving) if leaving is not None else incoming
            dets = [Detection(box, edge_cut=box.x2 >= W - 1)]
        ended += tracker.update(dets, frame, frame / FPS)[1]
    first = [t for t in ended + tracker.active if t.id == 0]
    assert first and first[0].velocity_x > 0 and first[0].last.box.x2 >= W - 1  # it left upstream
    assert any(t.id != 0 and t.velocity_x < 0 for t in tracker.active)  # the other has its own track


def _close_up(boxes_per_frame: list[list[tuple[float, float, float, float]]], width: int = 1920) -> list:
    """Track 1080p close-up boxes (x1, y1, x2, y2) at 10 fps; returns (frame, [(track id, box)])."""
    tracker = Tracker(width, 1080)
    out = []
    for frame, boxes in enumerate(boxes_per_frame):
        dets = [Detection(Box(*b), edge_cut=b[0] <= 19 or b[2] >= width - 19) for b in boxes]
        seen, _ = tracker.update(dets, frame, frame / 10)
        out.append((frame, sorted((t.id, t.box.x1) for t in seen)))
    return out


def test_a_fish_filling_the_frame_that_turns_at_the_border_keeps_its_track() -> None:
    # 1200 px long, swimming out through the left border at 2000 px/s, then turning back
    # while still half in the picture: the box that comes back is the same fish
    out = [(700, 300, 1900, 600), (500, 300, 1700, 600), (300, 300, 1500, 600), (100, 300, 1300, 600)]
    out += [(0, 300, 1100, 600), (0, 300, 950, 600)]
    back = [(60, 300, 1010, 600), (200, 300, 1150, 600), (400, 300, 1350, 600)]
    seen = _close_up([[b] for b in out + back])
    assert {ids[0][0] for _, ids in seen} == {0}  # one fish, one track, before and after the turn


def test_a_long_fish_cut_by_the_border_does_not_take_a_small_fish_behind_it() -> None:
    # a 1700 px fish with its head at x = 1640, cut by the left border, and a small fish
    # entering through the same border behind and beside it; the long fish's detection is
    # missed for a frame. Its box centre means nothing (the border cuts it): measured from
    # the heads, the small fish is 1300 px from the long fish and 240 px from its own track.
    long_fish = [(0, 230, 1600, 700), (0, 230, 1620, 700), None, (0, 230, 1660, 700)]
    small = [None, (14, 455, 120, 770), (11, 455, 360, 750), (1, 455, 470, 770)]
    frames = [[b for b in (lf, sm) if b is not None] for lf, sm in zip(long_fish, small, strict=True)]
    seen = _close_up(frames)
    assert seen[1][1] == [(0, 0), (1, 14)]  # frame 1: the small fish gets track 1
    assert seen[2][1] == [(1, 11)]  # frame 2: it keeps it; the long fish's track waits
    assert seen[3][1] == [(0, 0), (1, 1)]


def test_a_small_fish_behind_a_long_one_at_the_border_is_measured_from_the_heads() -> None:
    # the long fish, cut by the left border with its head at x = 1600, is missed in frame 1
    # while a small fish comes in through the same border: their box centres are 700 px
    # apart, but their heads 1400 px; the small fish is a new fish, not the long one
    frames = [[(0, 230, 1600, 700)], [(14, 300, 200, 600)], [(11, 300, 360, 600)]]
    seen = _close_up(frames)
    assert seen[1][1] == [(1, 14)]
    assert seen[2][1] == [(1, 11)]


@pytest.mark.parametrize(
    ("length", "speed", "offsets", "same_track"),
    [
        (120.0, 8.0, (25.0, 25.0), False),  # 0.6 of its depth lower: another fish
        (120.0, 8.0, (-25.0, -25.0), False),  # or higher
        (120.0, 8.0, (20.0, 20.0), False),  # half its depth: refused, and not shared either
        (120.0, 8.0, (10.0, 10.0), True),  # a quarter of its depth: may be the fish itself
        (120.0, 8.0, (25.0, 15.0), False),  # a shallower fish (30 px), its centre 20 px lower
        (400.0, 2.0, (25.0, 25.0), True),  # a fish filling half the frame or more rolls as it turns
    ],
)
def test_a_fish_coming_out_of_a_shared_blob_does_not_take_a_fish_at_another_depth(
    length: float, speed: float, offsets: tuple[float, float], same_track: bool
) -> None:
    # fish A (y 100..140) and fish C (y 200..240) swim side by side, then as one blob;
    # out of it comes C, and a box where A should be but moved by `offsets` (top, bottom):
    # A turned back unseen and another fish, hidden in the blob, swims on in its place
    # (crowded-01), or A itself comes out a little lower
    head = 130.0 + length
    a = [fish_at(head + speed * f, y=100, length=length) for f in range(45)]
    c = [fish_at(head + speed * f, y=200, length=length) for f in range(45)]
    tracker = Tracker(W, H)
    for frame in range(45):
        if frame < 20:
            dets = [a[frame], c[frame]]
        elif frame < 30:
            dets = [Detection(a[frame].box.union(c[frame].box), merged=True)]
        else:
            b = a[frame].box
            dets = [c[frame], Detection(Box(b.x1, b.y1 + offsets[0], b.x2, b.y2 + offsets[1]))]
        tracker.update(dets, frame, frame / FPS)
        if frame == 29:
            assert [t.last.merged for t in tracker.active] == [True, True]  # both in the blob
    # one track, and only one, follows the box that came out where A was
    after = [t for t in tracker.active if t.last.box.y1 == 100 + offsets[0]]
    assert len(after) == 1
    assert (after[0].id == 0) == same_track
