"""MotionGate and FishDetector on rendered chute footage (fishgate.synth), and on the
annotated sample footage where it is present (marked `footage`)."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

import cv2
import numpy as np
import pytest

from fishgate.synth import SceneRenderer, SceneSpec, render_fish
from fishgate.types import Box
from fishgate.vision.detector import Detection, FishDetector
from fishgate.vision.motion import MotionGate
from tests.helpers import REPO, footage_dir

FPS = 25
W, H = 640, 360


def _empty_chute(scenario: str = "calm", seed: int = 4) -> SceneRenderer:
    return SceneRenderer(SceneSpec(scenario, 12, seed=seed), with_fish=False)


def _inside(box: Box) -> bool:
    return not box.touches_edge(W, H)


def _best_iou(box: Box, detections: list[Detection]) -> float:
    return max((box.iou(d.box) for d in detections), default=0.0)


# -- detector on rendered clips --------------------------------------------------


def test_a_calm_clip_finds_nearly_every_fish_with_tight_boxes() -> None:
    spec = SceneSpec("calm", 10, seed=1)
    renderer, detector = SceneRenderer(spec), FishDetector()
    shown = found = 0
    ious = []
    for i in range(spec.frames):
        image, states = renderer.render(i)
        detections = detector.detect(image, i / FPS)
        for s in states:
            if s.box is None or s.occluded or not _inside(s.box):
                continue
            shown += 1
            iou = _best_iou(s.box, detections)
            found += iou >= 0.5
            ious.append(iou)
    assert shown > 100, "the clip should show fish for a while"
    assert found / shown >= 0.9
    assert float(np.median(ious)) >= 0.8, "boxes should be about as tight as the truth"


@pytest.mark.parametrize("scenario", ["debris", "night_ir", "turbid"])
def test_an_empty_chute_gives_no_detections(scenario: str) -> None:
    """Leaves, bubbles, IR noise and silt are no fish (after the first second to learn).

    Only something coming in at the left or right border can pass for the snout of a
    fish for a few frames: it must be cut by the border and soon dropped.
    """
    renderer, detector = _empty_chute(scenario), FishDetector()
    found = []
    frames = 150
    for i in range(frames):
        image, _ = renderer.render(i)
        detections = detector.detect(image, i / FPS)
        if i >= FPS:
            found += detections
    assert [d for d in found if not d.edge_cut] == []
    assert len(found) <= 0.03 * frames


def test_a_cloud_passing_over_an_empty_chute_gives_no_detections() -> None:
    renderer, detector = _empty_chute(), FishDetector()
    image, _ = renderer.render(0)
    for i in range(40):
        gain = 1.0 if i < 20 else 0.8  # the sun goes behind a cloud
        assert detector.detect(cv2.convertScaleAbs(image, alpha=gain), i / FPS) == []


def _still_fish_clip(hold_s: float, opacity: float = 1.0) -> tuple[list[np.ndarray], list[Box]]:
    """A fish swims in from the left, then holds station mid-picture for `hold_s`; drawn
    at `opacity` (below 1, a fainter fish, as through murky water)."""
    renderer = _empty_chute()
    sprite, alpha = render_fish("atlantic_salmon", 150.0, rng=np.random.default_rng(2))
    cols = np.flatnonzero(alpha.max(axis=0) > 0.5)  # the box of the fish as drawn at full opacity
    rows = np.flatnonzero(alpha.max(axis=1) > 0.5)
    alpha = alpha * np.float32(opacity)
    sh, sw = alpha.shape
    y = 150
    stop_x = 240
    frames, boxes = [], []
    n_swim = (stop_x + sw) // 8
    for i in range(n_swim + round(hold_s * FPS)):
        background, _ = renderer.render(i)  # the water keeps moving under the fish
        x = min(-sw + 8 * (i + 1), stop_x)
        image = background.astype(np.float32)
        x0, x1 = max(0, x), min(W, x + sw)
        if x1 > x0:
            a = alpha[:, x0 - x : x1 - x, None]
            region = image[y : y + sh, x0:x1]
            region[:] = region * (1 - a) + sprite[:, x0 - x : x1 - x] * a
        frames.append(np.clip(image, 0, 255).astype(np.uint8))
        x1, x2 = max(0, x + int(cols[0])), min(W, x + int(cols[-1]) + 1)
        boxes.append(Box(float(x1), float(y + rows[0]), float(x2), float(y + rows[-1] + 1)))
    return frames, boxes


def test_a_fish_holding_station_for_three_seconds_stays_detected() -> None:
    frames, boxes = _still_fish_clip(hold_s=3.0)
    detector = FishDetector()
    hold_start = len(frames) - 3 * FPS
    ious = [
        _best_iou(box, detector.detect(image, i / FPS))
        for i, (image, box) in enumerate(zip(frames, boxes, strict=True))
    ]
    held = ious[hold_start:]
    assert min(held) >= 0.5, f"the holding fish faded: IoU fell to {min(held):.2f}"


def test_a_fish_coming_in_is_cut_by_the_edge_then_whole() -> None:
    frames, boxes = _still_fish_clip(hold_s=0.5)
    detector = FishDetector()
    flags = []
    for i, (image, box) in enumerate(zip(frames, boxes, strict=True)):
        for d in detector.detect(image, i / FPS):
            if d.box.iou(box) >= 0.5:
                flags.append(d.edge_cut)
    assert flags and flags[0] is True and flags[-1] is False


def _whole_fish_scores(opacity: float) -> list[float]:
    frames, boxes = _still_fish_clip(hold_s=0.4, opacity=opacity)
    detector = FishDetector()
    return [
        d.score
        for i, (image, box) in enumerate(zip(frames, boxes, strict=True))
        for d in detector.detect(image, i / FPS)
        if d.box.iou(box) >= 0.5 and not d.edge_cut
    ]


def test_a_fainter_fish_scores_lower() -> None:
    """The score says how clearly the fish stands out from the water: full for a fish drawn
    solid, lower for the same fish half see-through, lower still fainter."""
    clear, faint, fainter = (_whole_fish_scores(opacity) for opacity in (1.0, 0.6, 0.4))
    assert len(clear) >= 20 and len(faint) >= 20 and len(fainter) >= 20, "the fish should be found"
    assert min(clear) == 1.0
    assert np.median(faint) < 0.95 and max(fainter) < min(faint)


def test_monochrome_frames_are_taken_as_they_come() -> None:
    frames, boxes = _still_fish_clip(hold_s=0.4)
    detector = FishDetector()
    found = [
        _best_iou(box, detector.detect(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), i / FPS))
        for i, (image, box) in enumerate(zip(frames, boxes, strict=True))
    ]
    assert max(found) >= 0.5


def test_the_wrong_frame_size_is_refused() -> None:
    with pytest.raises(ValueError, match="640x360"):
        FishDetector().detect(np.zeros((100, 100, 3), np.uint8), 0.0)
    with pytest.raises(ValueError, match="px_per_cm"):
        FishDetector(px_per_cm=0)


# -- motion gate -----------------------------------------------------------------


def test_the_gate_ignores_a_global_brightness_step_on_a_still_scene() -> None:
    image, _ = _empty_chute().render(0)
    gate = MotionGate()
    answers = []
    for i in range(60):
        gain = 1.0 if i < 40 else 1.2
        answers.append(gate.update(cv2.convertScaleAbs(image, alpha=gain), i / FPS).moving)
    assert not any(answers[30:]), "after warming up, a brightness step is no motion"


def test_the_gate_ignores_drifting_specks_and_sees_fish() -> None:
    spec = SceneSpec("calm", 12, seed=1)
    fish, empty = SceneRenderer(spec), SceneRenderer(spec, with_fish=False)
    gate_fish, gate_empty = MotionGate(), MotionGate()
    missed = fired = 0
    for i in range(spec.frames):
        image, states = fish.render(i)
        if gate_fish.update(image, i / FPS).moving is False and any(
            s.box is not None and s.box.width >= 20 for s in states
        ):
            missed += 1
        background, _ = empty.render(i)
        fired += i >= FPS and gate_empty.update(background, i / FPS).moving
        if i < FPS:
            gate_empty.update(background, i / FPS)
    assert missed == 0
    assert fired <= 0.05 * spec.frames


def test_the_gate_is_cheap() -> None:
    """Well under a millisecond a frame here; this only guards against a gross slowdown."""
    import time

    image, _ = _empty_chute().render(0)
    gate = MotionGate()
    for i in range(20):
        gate.update(image, i / FPS)
    start = time.perf_counter()
    for i in range(20, 220):
        gate.update(image, i / FPS)
    assert (time.perf_counter() - start) / 200 < 0.005


# -- the annotated sample footage ------------------------------------------------------


def _eval_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("eval_detector", REPO / "tools" / "eval_detector.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.footage
@pytest.mark.parametrize(
    ("clip", "min_recall", "min_precision"),
    [("calm-02", 0.95, 0.9), ("debris-02", 0.85, 0.6)],
)
def test_held_out_footage_meets_recall_and_precision_floors(
    clip: str, min_recall: float, min_precision: float
) -> None:
    folder = footage_dir()
    tool = _eval_tool()
    stats = tool.evaluate_clip(folder / f"{clip}.xml", gate_on=True, dump=None, max_frames=750)
    assert stats.truth_in > 200
    assert stats.hit5_in / stats.truth_in >= min_recall
    assert stats.true_dets / stats.dets >= min_precision
    persistent = [n for n in stats.false_runs if n >= 2 * FPS]
    assert persistent == [], "no false detection may last two seconds"
