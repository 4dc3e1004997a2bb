"""Synthetic footage: deterministic, boxes on the drawn fish, CVAT that reads back, field marks."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import cv2
import numpy as np
import pytest

from fishgate.cvat import read_cvat
from fishgate.synth import (
    SCENARIOS,
    FishState,
    SceneRenderer,
    SceneSpec,
    plan_fish,
    render_fish,
    render_scene,
)
from fishgate.types import SPECIES, Box

REPO = Path(__file__).resolve().parents[1]
CALM = SceneSpec("calm", 8, seed=3)


def _frames(spec: SceneSpec, n: int, *, with_fish: bool = True) -> list[tuple[np.ndarray, list[FishState]]]:
    return list(islice(render_scene(spec, with_fish=with_fish), n))


def _visible(states: list[FishState]) -> list[FishState]:
    return [s for s in states if s.box is not None]


def _box(state: FishState) -> Box:
    assert state.box is not None
    return state.box


# -- determinism and boxes ------------------------------------------------------


def test_the_same_seed_gives_the_same_frames_and_boxes() -> None:
    first, second = _frames(CALM, 30), _frames(CALM, 30)
    assert any(_visible(states) for _, states in first), "the clip should show a fish early on"
    for (img_a, states_a), (img_b, states_b) in zip(first, second, strict=True):
        assert np.array_equal(img_a, img_b)
        assert states_a == states_b
    other = _frames(SceneSpec("calm", 8, seed=4), 30)
    assert not np.array_equal(first[-1][0], other[-1][0])


def test_frames_can_be_rendered_out_of_order() -> None:
    in_order = _frames(CALM, 25)
    renderer = SceneRenderer(CALM)
    image, states = renderer.render(24)
    assert np.array_equal(image, in_order[24][0])
    assert states == in_order[24][1]


def _box_mask(shape: tuple[int, ...], boxes: list[Box], grow: int) -> np.ndarray:
    mask = np.zeros(shape[:2], bool)
    for b in boxes:
        mask[max(0, int(b.y1) - grow) : int(b.y2) + grow, max(0, int(b.x1) - grow) : int(b.x2) + grow] = True
    return mask


def test_boxes_cover_the_drawn_fish_and_nothing_else() -> None:
    with_fish = _frames(CALM, 60)
    empty = _frames(CALM, 60, with_fish=False)
    checked = 0
    for (img, states), (bare, _) in list(zip(with_fish, empty, strict=True))[::6]:
        diff = np.abs(img.astype(np.int16) - bare.astype(np.int16)).max(axis=2)
        boxes = [_box(s) for s in _visible(states)]
        # Outside every box (with a margin for the optical blur) nothing changed.
        assert diff[~_box_mask(img.shape, boxes, 4)].max() <= 2
        for b in boxes:
            if b.area < 300:
                continue
            inside = diff[int(b.y1) : int(b.y2), int(b.x1) : int(b.x2)]
            assert (inside > 12).mean() > 0.35, f"box {b} is mostly background"
            # Tight: fish pixels reach each edge of the box (the noise is the same in both
            # renders, so any change above 2 grey levels is fish).
            for strip in (inside[:, :2], inside[:, -2:], inside[:2, :], inside[-2:, :]):
                assert (strip > 4).any(), f"box {b} is loose"
            checked += 1
    assert checked >= 3


def _intersection(a: Box, b: Box) -> float:
    return max(0.0, min(a.x2, b.x2) - max(a.x1, b.x1)) * max(0.0, min(a.y2, b.y2) - max(a.y1, b.y1))


def test_fish_hidden_behind_another_are_marked_occluded() -> None:
    spec = SceneSpec("crowded", 20, seed=1)
    renderer = SceneRenderer(spec)
    occluded = 0
    for index in range(0, spec.frames, 5):
        _, states = renderer.render(index)
        visible = _visible(states)
        for s in visible:
            if not s.occluded:
                continue
            occluded += 1
            me = _box(s)
            overlap = max(_intersection(me, _box(o)) for o in visible if o is not s)
            assert overlap > 0.2 * me.area, "occluded, yet no other fish covers a fifth of its box"
    assert occluded > 0


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_scenario_renders(scenario: str) -> None:
    spec = SceneSpec(scenario, 10, seed=2)
    renderer = SceneRenderer(spec)
    for index in (60, 61):
        image, states = renderer.render(index)
        assert image.shape == (360, 640, 3) and image.dtype == np.uint8
        assert image.std() > 3, "a frame with no texture at all"
        for s in _visible(states):
            b = _box(s)
            assert 0 <= b.x1 < b.x2 <= 640 and 0 <= b.y1 < b.y2 <= 360


@pytest.mark.parametrize("jpeg", [None, 70])
def test_night_ir_frames_are_grey(jpeg: int | None) -> None:
    spec = SceneSpec("night_ir", 10, seed=5, jpeg_quality=jpeg)
    for image, _ in islice(render_scene(spec), 0, 40, 13):
        assert np.array_equal(image[..., 0], image[..., 1]) and np.array_equal(image[..., 1], image[..., 2])


def test_scenarios_bring_the_fish_they_promise() -> None:
    natives = plan_fish(SceneSpec("natives", 120, seed=1))
    assert natives and {p.species for p in natives} <= {"atlantic_salmon", "sea_trout", "arctic_char"}
    invasion = plan_fish(SceneSpec("invasion", 60, seed=1))
    pink = sum(p.species == "pink_salmon" for p in invasion)
    assert len(invasion) >= 20 and pink > len(invasion) / 2
    for p in plan_fish(SceneSpec("crowded", 60, seed=1)):
        assert 40 <= p.length_cm <= 95


# -- files: CLI, CVAT XML, manifest, video -------------------------------------


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A clip with every behaviour, written by the command-line tool."""
    path = REPO / "tools" / "make_synthetic_footage.py"
    module_spec = importlib.util.spec_from_file_location("make_synthetic_footage", path)
    assert module_spec is not None and module_spec.loader is not None
    tool = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(tool)
    stem = tmp_path_factory.mktemp("synth") / "behaviour-synth"
    argv = ["--scenario", "behaviour", "--seconds", "12", "--seed", "17", "--fish-per-minute", "40"]
    assert tool.main([*argv, "--out", str(stem), "--quiet"]) == 0
    yield stem


def test_the_xml_reads_back_like_the_manifest(clip: Path) -> None:
    manifest = json.loads(clip.with_suffix(".json").read_text())
    annotation = read_cvat(clip.with_suffix(".xml"))
    assert annotation.labels == SPECIES
    assert (annotation.frames, annotation.width, annotation.height) == (300, 640, 360)
    assert manifest["frames"] == 300 and manifest["counting_line_x"] == 352
    fish = {f["track_id"]: f for f in manifest["fish"]}
    assert {t.id for t in annotation.tracks} == set(fish)
    assert {f["behaviour"] for f in fish.values()} == {"pass", "turn", "hold", "downstream"}
    for track in annotation.tracks:
        f = fish[track.id]
        assert (track.label, track.direction) == (f["species"], f["direction"])
        assert (track.first_frame, track.last_frame) == (f["first_frame"], f["last_frame"])
        assert track.keyboxes[-1].outside and track.keyboxes[-1].frame == f["last_frame"] + 1
        assert (f["gate_arrival_s"] is not None) == (f["direction"] == "upstream")
        assert (f["route"] is not None) == (f["direction"] == "upstream")


def test_tracks_go_where_their_direction_says(clip: Path) -> None:
    fish = {f["track_id"]: f for f in json.loads(clip.with_suffix(".json").read_text())["fish"]}
    for track in read_cvat(clip.with_suffix(".xml")).tracks:
        boxes = [tb.box for tb in track.boxes()]
        first, last = boxes[0], boxes[-1]
        if track.direction == "upstream":
            assert first.x1 == 0 and last.x2 == 640
            # The snout reaches the gate (80 cm past the edge) after the fish enters.
            assert fish[track.id]["gate_arrival_s"] > track.first_frame / 25
        elif track.direction == "downstream":
            assert first.x2 == 640 and last.x1 == 0
        else:  # turned back before the counting line, left the way it came
            assert first.x1 == 0 and last.x1 == 0
            assert max(b.x2 for b in boxes) < 352


def test_the_video_has_every_frame(clip: Path) -> None:
    capture = cv2.VideoCapture(str(clip.with_suffix(".mp4")))
    try:
        assert capture.isOpened()
        assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 300
        ok, image = capture.read()
        assert ok and image.shape == (360, 640, 3)
    finally:
        capture.release()


# -- species sprites -------------------------------------------------------------


def _sprites(species: str, n: int = 4, length: float = 180.0) -> list[tuple[np.ndarray, np.ndarray]]:
    return [render_fish(species, length, rng=np.random.default_rng(seed)) for seed in range(n)]


def _body_rows(alpha: np.ndarray, col: int, solid: float = 0.99) -> tuple[int, int]:
    rows = np.flatnonzero(alpha[:, col] > solid)
    return int(rows[0]), int(rows[-1])


def _belly_redness(bgr: np.ndarray, alpha: np.ndarray) -> float:
    """Mean R - B over the lower fifth of the mid-body (the facing-right fish's t ~ 0.55)."""
    values = []
    for col in range(int(0.55 * alpha.shape[1]), int(0.6 * alpha.shape[1])):
        top, bottom = _body_rows(alpha, col)
        patch = bgr[bottom - (bottom - top) // 5 : bottom - 1, col].astype(float)
        values.extend(patch[:, 2] - patch[:, 0])
    return float(np.mean(values))


def _dark_pixels(
    bgr: np.ndarray,
    alpha: np.ndarray,
    cols: slice,
    band: tuple[float, float],
    *,
    darker_than: int,
    solid: float,
) -> int:
    """Pixels darker than `darker_than` in columns `cols`, within `band` (fractions of the
    fish's height in each column, 0 = top) of where alpha exceeds `solid`."""
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    count = 0
    for col in range(*cols.indices(alpha.shape[1])):
        if not (alpha[:, col] > solid).any():
            continue
        top, bottom = _body_rows(alpha, col, solid)
        lo, hi = (top + int(f * (bottom - top)) for f in band)
        count += int(((grey[lo:hi, col] < darker_than) & (alpha[lo:hi, col] > solid)).sum())
    return count


def test_species_labels_and_bad_species() -> None:
    assert SPECIES == ("atlantic_salmon", "sea_trout", "arctic_char", "pink_salmon", "farmed_salmon")
    with pytest.raises(ValueError, match="species"):
        render_fish("cod", 100, rng=np.random.default_rng(0))


def test_sprites_are_fish_shaped() -> None:
    for species in SPECIES:
        for length in (104.0, 247.0):
            for bgr, alpha in _sprites(species, 3, length):
                assert bgr.dtype == np.uint8 and alpha.dtype == np.float32 and bgr.shape[:2] == alpha.shape
                assert alpha.min() >= 0.0 and alpha.max() <= 1.0
                ys, xs = np.nonzero(alpha > 0.5)
                aspect = (xs.max() - xs.min() + 1) / (ys.max() - ys.min() + 1)
                assert 2.0 <= aspect <= 3.1, f"{species} {length}: box aspect {aspect:.2f}"
                # Snout to tail tip; a farmed fish's eroded tail makes it a little shorter.
                assert 0.9 * length <= xs.max() - xs.min() + 1 <= length + 3


def test_facing_left_mirrors_the_sprite() -> None:
    right = render_fish("sea_trout", 150, rng=np.random.default_rng(1))
    left = render_fish("sea_trout", 150, rng=np.random.default_rng(1), facing=-1)
    assert np.array_equal(right[0][:, ::-1], left[0]) and np.array_equal(right[1][:, ::-1], left[1])


def test_arctic_char_has_a_red_belly_and_salmon_a_white_one() -> None:
    char = [_belly_redness(*s) for s in _sprites("arctic_char")]
    salmon = [_belly_redness(*s) for s in _sprites("atlantic_salmon")]
    assert min(char) > 80 and max(salmon) < 25


def test_pink_salmon_has_spots_on_the_tail_and_atlantic_salmon_none() -> None:
    tail = slice(3, 25)  # facing right: the tail fin is at the left end of a 180 px fish
    for bgr, alpha in _sprites("pink_salmon"):
        assert _dark_pixels(bgr, alpha, tail, (0.0, 1.0), darker_than=45, solid=0.9) >= 4
    for bgr, alpha in _sprites("atlantic_salmon"):
        assert _dark_pixels(bgr, alpha, tail, (0.0, 1.0), darker_than=45, solid=0.9) == 0


def test_trout_and_farmed_salmon_are_spotted_below_the_lateral_line_and_salmon_not() -> None:
    flank = slice(40, 140)
    for species, least, most in (
        ("sea_trout", 8, None),
        ("farmed_salmon", 8, None),
        ("atlantic_salmon", 0, 0),
    ):
        for bgr, alpha in _sprites(species):
            dark = _dark_pixels(bgr, alpha, flank, (0.55, 0.85), darker_than=80, solid=0.99)
            assert dark >= least and (most is None or dark <= most), f"{species}: {dark} dark pixels"


def test_pink_salmon_males_have_a_hump() -> None:
    def depth(bgr_alpha: tuple[np.ndarray, np.ndarray]) -> int:
        ys, _ = np.nonzero(bgr_alpha[1][:, 60:140] > 0.99)
        return int(ys.max() - ys.min())

    for seed in range(3):
        male = render_fish("pink_salmon", 180, rng=np.random.default_rng(seed), male_hump=True)
        female = render_fish("pink_salmon", 180, rng=np.random.default_rng(seed), male_hump=False)
        assert depth(male) > depth(female) * 1.15


def test_ir_sprites_are_grey() -> None:
    bgr, _ = render_fish("arctic_char", 150, rng=np.random.default_rng(0), ir=True)
    assert np.array_equal(bgr[..., 0], bgr[..., 1]) and np.array_equal(bgr[..., 1], bgr[..., 2])
