"""Training pipeline end to end on a small generated clip: crops -> train -> ONNX -> INT8 -> card."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training needs the [train] extra")

from fishgate.synth import SceneSpec, write_clip  # noqa: E402
from fishgate.training import augment  # noqa: E402
from fishgate.training.build import BuildPlan, build  # noqa: E402
from fishgate.training.dataset import clip_crops  # noqa: E402
from fishgate.vision.classifier import SpeciesClassifier, load_card  # noqa: E402
from fishgate.vision.crops import DEFAULT_CROP_SIZE  # noqa: E402
from fishgate.vision.onnx_model import file_sha256  # noqa: E402


def test_augmentations_change_every_crop_keep_the_shape_and_are_seeded() -> None:
    x = torch.rand(16, 3, 40, 96, generator=torch.Generator().manual_seed(0))
    a = augment.river(x, torch.Generator().manual_seed(7))
    b = augment.river(x, torch.Generator().manual_seed(7))
    c = augment.river(x, torch.Generator().manual_seed(8))
    assert a.shape == x.shape
    assert bool(((a - x).abs().flatten(1).amax(1) > 0.05).all())  # no crop left as it was
    assert torch.equal(a, b) and not torch.equal(a, c)
    grey = augment.infrared(x, torch.Generator().manual_seed(0), p=1.0)
    luma = 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]  # BT.601 luma: colour gone, brightness kept
    for channel in range(3):
        assert torch.allclose(grey[:, channel], luma)


def test_build_writes_matching_fp32_and_int8_models_with_cards(tmp_path: Path) -> None:
    import onnx

    clip = write_clip(SceneSpec("natives", seconds=20, seed=3), tmp_path / "natives")
    plan = BuildPlan(
        train_clips=((clip.video, clip.annotations),),
        val_clips=(),
        out_dir=tmp_path / "models",
        epochs=1,
        train_stride=2,
        calibration_crops=40,
    )
    report = build(plan)
    int8, fp32 = tmp_path / "models" / "species-int8.onnx", tmp_path / "models" / "species-fp32.onnx"
    for model in (int8, fp32):
        card = load_card(model.with_suffix(".json"))
        assert card.sha256 == file_sha256(model)
        assert (card.width, card.height) == DEFAULT_CROP_SIZE
    record = json.loads(int8.with_suffix(".json").read_text())
    assert record["precision"] == "int8"
    assert record["quantisation"]["calibration_crops"] > 0
    assert [f["name"] for f in record["training"]["files"]] == ["natives.mp4", "natives.xml"]
    assert report["crops"] == record["validation"]["crops"] > 0
    # the INT8 file really is quantised, and both load in the runtime the trap uses
    assert int8.stat().st_size < fp32.stat().st_size
    assert "QuantizeLinear" in {n.op_type for n in onnx.load(str(int8)).graph.node}
    # quantising changes few answers: measured on the clip's fish, not read off the card
    crops = clip_crops(clip.video, clip.annotations, size=DEFAULT_CROP_SIZE, stride=2).images
    probs = {m: SpeciesClassifier(m).probabilities(crops) for m in (int8, fp32)}
    assert len(crops) >= 100 and float(np.abs(probs[int8] - probs[fp32]).max()) < 0.05
    assert float(np.mean(probs[int8].argmax(1) == probs[fp32].argmax(1))) >= 0.8


def test_detector_targets_keep_two_fish_one_above_the_other_apart() -> None:
    from fishgate.training.detector_train import targets

    # two fish 60 x 16 input px, centres 8 px (4 cells) apart vertically
    boxes = np.array([[40, 30, 100, 46], [44, 38, 104, 54]], np.float32)
    heat, reg, mask = targets(boxes, (45, 80))
    assert mask.sum() == 2
    rows, cols = np.nonzero(heat == 1.0)
    assert sorted(rows.tolist()) == [19, 23] and sorted(cols.tolist()) == [35, 37]
    assert heat[21, 36] < 0.5, "a valley between the two peaks"
    assert reg[0, 19, 35] == pytest.approx(np.log(60))


def test_detector_build_writes_a_model_the_runtime_loads(tmp_path: Path) -> None:
    from fishgate.training.detector_build import DetectorPlan, build_detector
    from fishgate.vision.learned import LearnedDetector, load_detector_card

    clip = write_clip(SceneSpec("crowded", seconds=8, seed=3), tmp_path / "crowded")
    plan = DetectorPlan(
        train_clips=((clip.video, clip.annotations),),
        val_clips=(),
        out_dir=tmp_path / "models",
        epochs=1,
        frames_per_epoch=96,
    )
    validation = build_detector(plan)
    model = tmp_path / "models" / "detector.onnx"
    card = load_detector_card(model.with_suffix(".json"))
    assert card.sha256 == file_sha256(model) and (card.width, card.height) == (160, 90)
    assert card.extra["validation"] == validation and validation["frames"] > 0
    assert card.extra["training"]["clips"] == ["crowded.xml"]
    detector = LearnedDetector(model, frame_size=(640, 360))
    assert detector.maps(np.zeros((360, 640, 3), np.uint8)).shape == (5, 45, 80)
    # the last step measured its lengths on the training clip (one epoch: whatever it found)
    assert isinstance(card.extra["length_calibration"], list)
    assert all(0.5 <= scale <= 2.0 for scale in card.length_scale.values())
