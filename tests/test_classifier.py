"""The species classifier runtime: the bundled model, its card, and refusing bad ones."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from fishgate.cli import main
from fishgate.config import bundled_path
from fishgate.errors import ModelError
from fishgate.training.dataset import CropSet
from fishgate.types import SPECIES, UNKNOWN, Box
from fishgate.vision.classifier import SpeciesClassifier, load_card, preprocess
from fishgate.vision.onnx_model import file_sha256

MODEL = bundled_path("models/species-int8.onnx")
FP32 = bundled_path("models/species-fp32.onnx")


@pytest.fixture
def model_copy(tmp_path: Path) -> Path:
    """The bundled INT8 model and its card, copied where a test may break them."""
    model = tmp_path / MODEL.name
    shutil.copy(MODEL, model)
    shutil.copy(MODEL.with_suffix(".json"), model.with_suffix(".json"))
    return model


def _edit_card(model: Path, edit) -> None:  # type: ignore[no-untyped-def]
    card_path = model.with_suffix(".json")
    card = json.loads(card_path.read_text())
    edit(card)
    card_path.write_text(json.dumps(card))


def test_bundled_models_are_small_and_match_their_cards() -> None:
    import onnx

    for model in (MODEL, FP32):
        card = load_card(model.with_suffix(".json"))
        assert card.sha256 == file_sha256(model)
        assert card.labels == SPECIES
        assert model.stat().st_size <= 3 * 1024 * 1024
    # the file itself, not its card, says which is quantised
    ops = {m: {n.op_type for n in onnx.load(str(m)).graph.node} for m in (MODEL, FP32)}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops[MODEL]
    assert not {"QuantizeLinear", "DequantizeLinear"} & ops[FP32]
    card = json.loads(MODEL.with_suffix(".json").read_text())
    validation = card["validation"]
    assert set(validation["per_class"]) == set(SPECIES)
    # measured on held-out clips: none of them was trained on
    validated = {f["name"] for f in validation["files"]}
    assert all(name.endswith(("-02.mp4", "-02.xml")) for name in validated)
    assert validated.isdisjoint(f["name"] for f in card["training"]["files"])


def test_batches_give_one_score_per_crop_and_probabilities_sum_to_one() -> None:
    classifier = SpeciesClassifier(MODEL)
    w, h = classifier.size
    crops = np.random.default_rng(1).integers(0, 256, (5, h, w, 3), dtype=np.uint8)
    probs = classifier.probabilities(crops)
    assert probs.shape == (5, len(SPECIES))
    # the INT8 model's output is itself quantised, in steps of 1/255
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=3 / 255)
    # the batch gives the same answer as one crop at a time
    one_by_one = np.concatenate([classifier.probabilities(crops[i : i + 1]) for i in range(5)])
    np.testing.assert_allclose(probs, one_by_one, atol=1 / 255 + 1e-6)
    assert classifier.probabilities(np.zeros((0, h, w, 3), np.uint8)).shape == (0, len(SPECIES))


def test_low_confidence_is_unknown(model_copy: Path) -> None:
    _edit_card(model_copy, lambda c: c.update(unknown_below=0.999999))
    classifier = SpeciesClassifier(model_copy)
    w, h = classifier.size
    grey = np.full((1, h, w, 3), 128, np.uint8)
    (score,) = classifier.classify(grey)
    assert score.label == UNKNOWN and 0 < score.confidence < 0.999999


def test_preprocess_follows_the_card() -> None:
    card = load_card(MODEL.with_suffix(".json"))
    crop = np.zeros((1, card.height, card.width, 3), np.uint8)
    crop[..., 2] = 255  # pure red in BGR
    x = preprocess(crop, card)
    assert x.shape == (1, 3, card.height, card.width) and x.dtype == np.float32
    red = 0 if card.channel_order == "RGB" else 2
    assert x[0, red].mean() == pytest.approx((1 - card.mean[red]) / card.std[red])
    with pytest.raises(ValueError, match="expected"):
        preprocess(np.zeros((1, 10, 10, 3), np.uint8), card)


def test_crops_are_cut_at_the_card_size_even_at_the_frame_edge() -> None:
    classifier = SpeciesClassifier(MODEL)
    image = np.zeros((360, 640, 3), np.uint8)
    crop = classifier.crop(image, Box(600, 300, 640, 360))
    assert crop.shape == (classifier.card.height, classifier.card.width, 3)


@pytest.mark.parametrize(
    ("breakage", "phrase"),
    [
        (lambda m: m.unlink(), "species model not found"),
        (lambda m: m.write_bytes(m.read_bytes()[: len(m.read_bytes()) // 2]), "does not match its card"),
        (lambda m: m.with_suffix(".json").unlink(), "model card not found"),
        (lambda m: m.with_suffix(".json").write_text("{"), "not readable JSON"),
        (
            lambda m: _edit_card(m, lambda c: c.update(labels=[*c["labels"][:4], "pike"])),
            "labels must be distinct species",
        ),
        (lambda m: _edit_card(m, lambda c: c["input"].update(height=64)), "card was edited"),
        (lambda m: _edit_card(m, lambda c: c.update(labels=c["labels"][:4])), "card was edited"),
        # the same five labels in another order: the sha256 still matches, the stamp does not
        (lambda m: _edit_card(m, lambda c: c.update(labels=c["labels"][::-1])), "says labels = ["),
        (
            lambda m: _edit_card(m, lambda c: c["normalisation"].update(mean=[0.4, 0.5, 0.5])),
            "card was edited",
        ),
        (lambda m: _edit_card(m, lambda c: c["input"].update(channels="BGR")), "card was edited"),
        (lambda m: _edit_card(m, lambda c: c.update(labels=None)), "labels must be a list"),
        (
            lambda m: _edit_card(m, lambda c: c["normalisation"].update(std=[0, 0, 0])),
            "normalisation.std must be",
        ),
        (
            lambda m: _edit_card(m, lambda c: c["normalisation"].update(mean=[0.5, 0.5])),
            "normalisation.mean must be",
        ),
        (lambda m: _edit_card(m, lambda c: c["input"].update(width="128")), "input.width must be an integer"),
        (
            lambda m: _edit_card(m, lambda c: c.update(crop_margin=40)),
            "crop_margin must be a number in [0, 0.5]",
        ),
        (lambda m: _edit_card(m, lambda c: c.update(unknown_below="high")), "unknown_below must be a number"),
    ],
    ids=[
        "missing",
        "corrupt",
        "no-card",
        "bad-card",
        "unknown-label",
        "wrong-shape",
        "label-count",
        "swapped-labels",
        "mean-changed",
        "channels-changed",
        "labels-null",
        "std-zero",
        "mean-two",
        "width-string",
        "crop-margin",
        "threshold-string",
    ],
)
def test_bad_models_are_refused_in_one_line(model_copy: Path, breakage, phrase: str) -> None:  # type: ignore[no-untyped-def]
    breakage(model_copy)
    with pytest.raises(ModelError) as info:
        SpeciesClassifier(model_copy)
    assert phrase in str(info.value)
    assert "\n" not in str(info.value)


def test_a_model_without_its_stamp_is_refused_even_with_a_matching_sha256(model_copy: Path) -> None:
    import onnx

    proto = onnx.load(str(model_copy))
    del proto.metadata_props[:]
    onnx.save(proto, str(model_copy))
    _edit_card(model_copy, lambda c: c.update(sha256=file_sha256(model_copy)))
    with pytest.raises(ModelError, match=r"does not carry its labels, input size and normalisation"):
        SpeciesClassifier(model_copy)


def test_the_stamp_says_what_the_bundled_cards_say() -> None:
    import onnx

    from fishgate.vision.onnx_model import METADATA_KEY

    for model in (MODEL, FP32):
        props = {p.key: p.value for p in onnx.load(str(model)).metadata_props}
        stamped = json.loads(props[METADATA_KEY])
        assert stamped["labels"] == list(SPECIES)
        assert stamped["input"]["channels"] == load_card(model.with_suffix(".json")).channel_order


def test_a_corrupt_model_with_a_matching_card_is_refused_by_the_runtime(model_copy: Path) -> None:
    model_copy.write_bytes(b"\x08\x07garbage" * 100)
    _edit_card(model_copy, lambda c: c.update(sha256=file_sha256(model_copy)))
    with pytest.raises(ModelError, match="ONNX Runtime cannot load the model"):
        SpeciesClassifier(model_copy)


def test_classify_command(tmp_path: Path, model_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    classifier = SpeciesClassifier(MODEL)
    image = tmp_path / "fish.png"
    cv2.imwrite(str(image), np.full((80, 200, 3), 90, np.uint8))
    assert main(["classify", str(image), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["image"] == str(image)
    assert result["label"] in (*SPECIES, UNKNOWN)
    assert result["confidence"] == pytest.approx(
        classifier.classify_image(cv2.imread(str(image))).confidence, abs=1e-4
    )
    assert main(["classify", str(tmp_path / "none.png")]) == 2
    assert "cannot read image" in capsys.readouterr().err
    model_copy.write_bytes(b"broken")
    assert main(["classify", str(image), "--model", str(model_copy)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not match its card" in err


def _accuracy(crops) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    from fishgate.training.report import validation_report

    report = validation_report(SpeciesClassifier(MODEL).probabilities(crops.images), crops)
    return report["crop_accuracy"], report["track_accuracy"]


@pytest.fixture(scope="module")
def unseen_crops(tmp_path_factory: pytest.TempPathFactory) -> CropSet:
    """Crops of fish in two freshly generated clips no model was trained on."""
    from fishgate.synth import SceneSpec, write_clip
    from fishgate.training.dataset import clip_crops, concat

    card = load_card(MODEL.with_suffix(".json"))
    folder = tmp_path_factory.mktemp("unseen")
    sets = []
    for scenario, seed in (("natives", 77), ("invasion", 78)):
        clip = write_clip(SceneSpec(scenario, seconds=20, seed=seed), folder / scenario)
        sets.append(clip_crops(clip.video, clip.annotations, size=(card.width, card.height), stride=4))
    return concat(sets)


def test_bundled_model_names_unseen_generated_fish(unseen_crops: CropSet) -> None:
    assert len(set(unseen_crops.labels.tolist())) >= 4
    crop_accuracy, track_accuracy = _accuracy(unseen_crops)
    assert crop_accuracy >= 0.95
    assert track_accuracy == 1.0


def test_the_int8_model_answers_as_the_fp32_model_does(unseen_crops: CropSet) -> None:
    """Quantising changed almost no answer: measured here on unseen fish (the card claims
    at least 0.99 top-1 agreement on its held-out clips)."""
    int8 = SpeciesClassifier(MODEL).probabilities(unseen_crops.images).argmax(1)
    fp32 = SpeciesClassifier(FP32).probabilities(unseen_crops.images).argmax(1)
    assert len(int8) >= 100
    assert float(np.mean(int8 == fp32)) >= 0.99


@pytest.mark.footage
def test_bundled_model_keeps_its_cards_promise_on_the_held_out_sample_clips() -> None:
    """Re-measured here, the card's validation figures hold within what its 184 tracks
    support (`tools/eval_classifier.py` prints the figures themselves)."""
    from fishgate.training.dataset import clip_crops, concat
    from fishgate.training.report import accuracy_floor, validation_report
    from tests.helpers import footage_dir

    card = load_card(MODEL.with_suffix(".json"))
    claimed = json.loads(MODEL.with_suffix(".json").read_text())["validation"]
    folder = footage_dir()
    crops = concat(
        [
            clip_crops(xml.with_suffix(".mp4"), xml, size=(card.width, card.height), stride=5)
            for xml in sorted(folder.glob("*-02.xml"))
        ]
    )
    report = validation_report(SpeciesClassifier(MODEL).probabilities(crops.images), crops)
    assert report["tracks"] == claimed["tracks"]  # the very fish the card was measured on
    tracks = report["tracks"]
    assert report["track_accuracy"] >= accuracy_floor(claimed["track_accuracy"], tracks)
    # crops of one fish are not independent: the sample size behind a crop figure is its tracks
    assert report["crop_accuracy"] >= accuracy_floor(claimed["crop_accuracy"], tracks)


def test_accuracy_floor_is_the_clopper_pearson_lower_bound() -> None:
    from fishgate.training.report import accuracy_floor

    # 184 of 184 right: the 95 % lower bound is 0.05 ** (1 / 184)
    assert accuracy_floor(1.0, 184) == pytest.approx(0.05 ** (1 / 184))
    assert 181 / 184 < accuracy_floor(1.0, 184) < 182 / 184  # two misses agree with the card, three do not
    from scipy.stats import binomtest

    # the same bound, computed independently: the lower end of the two-sided 90 % exact interval
    exact = binomtest(900, 1000).proportion_ci(confidence_level=0.90, method="exact").low
    assert accuracy_floor(0.9, 1000) == pytest.approx(exact)
    assert accuracy_floor(0.0, 10) == 0.0
    with pytest.raises(ValueError):
        accuracy_floor(1.2, 10)
