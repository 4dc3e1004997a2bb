"""SyntheticSource: its ground-truth boxes are where the fish are drawn, and it repeats."""

from __future__ import annotations

import numpy as np
import pytest

from fishgate.errors import SourceError
from fishgate.sources import SyntheticFish, SyntheticSource
from fishgate.types import Box

WIDTH, HEIGHT, FPS, FRAMES = 200, 120, 25.0, 60
RIGHTWARD = SyntheticFish(enter_frame=0, y=40.0, length_px=60.0, speed_px_per_frame=5.0)
LEFTWARD = SyntheticFish(enter_frame=10, y=85.0, length_px=40.0, speed_px_per_frame=-4.0, color=(30, 30, 40))


def scene(fish: tuple[SyntheticFish, ...] = (RIGHTWARD, LEFTWARD), seed: int = 0) -> SyntheticSource:
    return SyntheticSource(width=WIDTH, height=HEIGHT, fps=FPS, frames=FRAMES, fish=fish, seed=seed)


def drawn_box(index: int, fish: SyntheticFish) -> Box | None:
    """Bounding box of the pixels the fish changes (same scene without it as reference)."""
    with_fish = scene((fish,)).render(index).astype(np.int16)
    without = scene(()).render(index).astype(np.int16)
    ys, xs = np.nonzero(np.abs(with_fish - without).max(axis=2) > 8)
    if len(xs) == 0:
        return None
    return Box(float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))


# Frames where the fish is entering (cut by the edge), fully in view, and leaving.
@pytest.mark.parametrize(
    ("fish", "index"),
    [(RIGHTWARD, 4), (RIGHTWARD, 20), (RIGHTWARD, 41), (LEFTWARD, 15), (LEFTWARD, 40)],
)
def test_boxes_are_where_the_fish_is_drawn(fish: SyntheticFish, index: int) -> None:
    [truth] = scene((fish,)).boxes(index)
    drawn = drawn_box(index, fish)
    assert drawn is not None
    # Anti-aliasing may tint one pixel beyond the exact outline, never more.
    edges = zip(
        (truth.x1, truth.y1, truth.x2, truth.y2), (drawn.x1, drawn.y1, drawn.x2, drawn.y2), strict=True
    )
    assert all(abs(a - b) <= 1.5 for a, b in edges), (truth, drawn)


def test_pixels_inside_the_box_differ_from_the_background() -> None:
    index = 20
    [box] = scene((RIGHTWARD,)).boxes(index)
    with_fish = scene((RIGHTWARD,)).render(index).astype(np.int16)
    without = scene(()).render(index).astype(np.int16)
    x1, y1, x2, y2 = (round(v) for v in (box.x1, box.y1, box.x2, box.y2))
    inside = np.abs(with_fish - without)[y1:y2, x1:x2]
    assert inside.mean() > 20  # the fish fills most of its box, in a clearly darker colour
    outside = np.abs(with_fish - without)
    outside[max(0, y1 - 2) : y2 + 2, max(0, x1 - 2) : x2 + 2] = 0
    assert outside.max() == 0  # and nothing is drawn anywhere else


def test_boxes_are_clipped_and_empty_when_the_fish_is_out_of_view() -> None:
    source = scene()
    assert source.boxes(0) == []  # RIGHTWARD's nose is on the left edge, LEFTWARD not yet in
    [entering] = source.boxes(3)
    assert entering.x1 == 0.0 and entering.x2 == pytest.approx(15.0)
    gone = (WIDTH + RIGHTWARD.length_px) / RIGHTWARD.speed_px_per_frame + 1
    assert all(b.center[1] > 60 for b in source.boxes(int(gone)))  # only LEFTWARD remains
    for index in range(FRAMES):
        for box in source.boxes(index):
            assert 0 <= box.x1 < box.x2 <= WIDTH and 0 <= box.y1 < box.y2 <= HEIGHT


def test_positive_speed_moves_right_and_negative_moves_left() -> None:
    right = [scene((RIGHTWARD,)).boxes(i)[0].x2 for i in (5, 10, 15)]
    left = [scene((LEFTWARD,)).boxes(i)[0].x1 for i in (15, 20, 25)]
    assert right[0] < right[1] < right[2]
    assert left[0] > left[1] > left[2]
    # And the drawing moves with the boxes, not just the numbers.
    early, late = drawn_box(15, RIGHTWARD), drawn_box(25, RIGHTWARD)
    assert early is not None and late is not None
    assert late.center[0] - early.center[0] == pytest.approx(50.0, abs=2.0)


def test_same_seed_same_pixels_other_seed_other_pixels() -> None:
    a = [f.image for f in scene(seed=3)]
    b = [f.image for f in scene(seed=3)]
    c = [f.image for f in scene(seed=4)][:1]
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], c[0])


def test_frames_change_over_time_with_noise() -> None:
    frames = list(scene(()))
    assert not np.array_equal(frames[0].image, frames[1].image)
    quiet = SyntheticSource(width=WIDTH, height=HEIGHT, frames=3, noise=0.0)
    still = list(quiet)
    assert np.array_equal(still[0].image, still[2].image)


def test_seek_renders_exactly_what_sequential_reading_does() -> None:
    sequential = list(scene())
    source = scene()
    source.seek(33)
    frame = next(iter(source))
    assert (frame.index, frame.t) == (33, 33 / FPS)
    assert np.array_equal(frame.image, sequential[33].image)


def test_t_is_index_over_fps_and_the_scene_ends() -> None:
    frames = list(scene())
    assert len(frames) == FRAMES
    assert all(f.t == f.index / FPS for f in frames)


@pytest.mark.parametrize("index", [-1, FRAMES])
def test_seek_out_of_range(index: int) -> None:
    with pytest.raises(SourceError, match=f"frame {index}"):
        scene().seek(index)


@pytest.mark.parametrize(
    "bad",
    [
        {"enter_frame": -1},
        {"length_px": 0.0},
        {"speed_px_per_frame": 0.0},
        {"speed_px_per_frame": float("inf")},
    ],
)
def test_fish_with_impossible_values_are_refused(bad: dict[str, float]) -> None:
    fields: dict[str, float] = {
        "enter_frame": 0,
        "y": 10.0,
        "length_px": 30.0,
        "speed_px_per_frame": 2.0,
    }
    with pytest.raises(ValueError, match=next(iter(bad))):
        SyntheticFish(**(fields | bad))  # type: ignore[arg-type]
