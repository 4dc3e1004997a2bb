"""Export for retraining: a biologist relabels snapshots in the store, `export-training`
writes them as an ImageFolder with a manifest, and `fishgate train --images` learns from it."""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from fishgate.cli import main
from fishgate.store import PassageStore
from fishgate.synth import SceneRenderer, SceneSpec, render_fish
from fishgate.training.dataset import folder_digest, image_folder_crops, recut
from fishgate.types import SPECIES, Box
from fishgate.vision.crops import DEFAULT_CROP_SIZE, crop_fish
from fishgate.vision.snapshot import BestViews
from tests.test_store import passage, record

DAY1 = datetime(2026, 8, 12, 7, 30, tzinfo=UTC)  # 09:30 in Oslo
DAY2 = DAY1 + timedelta(days=1)
REVIEWED = 20  # passages relabelled to a species
COLUMNS = "file,id,label,detected,confidence,reviewed_by,review_time,day,snapshot,sha256"


def _fish_in_the_chute(species: str, seed: int) -> tuple[np.ndarray, Box]:
    """A frame of the chute with one rendered fish well inside it, and the fish's box."""
    image, _ = SceneRenderer(SceneSpec("calm", 8, seed=4), with_fish=False).render(seed)
    rng = np.random.default_rng(seed)
    sprite, alpha = render_fish(species, float(rng.uniform(120, 170)), rng=rng, facing=1 - 2 * (seed % 2))
    x, y = int(rng.integers(120, 300)), int(rng.integers(100, 180))
    sh, sw = alpha.shape
    a = alpha[..., None]
    region = image[y : y + sh, x : x + sw].astype(np.float32)
    image[y : y + sh, x : x + sw] = np.clip(region * (1 - a) + sprite * a, 0, 255).astype(np.uint8)
    cols, rows = np.flatnonzero(alpha.max(axis=0) > 0.5), np.flatnonzero(alpha.max(axis=1) > 0.5)
    return image, Box(
        float(x + cols[0]), float(y + rows[0]), float(x + cols[-1] + 1), float(y + rows[-1] + 1)
    )


def _snapshot(image: np.ndarray, box: Box) -> np.ndarray:
    """The snapshot the pipeline keeps of this view (BestViews: 20 % margin)."""
    views = BestViews()
    views.offer(1, image, box, 0.9, whole=True)
    snapshot = views.take(1)
    assert snapshot is not None
    return snapshot


def _truth(i: int) -> str:
    return SPECIES[i % len(SPECIES)]


def _detected(i: int) -> str:
    """What the trap said: wrong for 12 of the 20 fish a biologist corrects."""
    return SPECIES[(i + 1) % len(SPECIES)] if i < 12 else _truth(i)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store of 26 passages on two days, 25 with a snapshot of a rendered fish:
    f00-f19 reviewed to their true species (12 corrected, 8 confirmed; f03 reviewed twice),
    f20 reviewed not_fish, f21 unknown, f22 reviewed but without snapshot,
    f23-f25 never reviewed (labelled as detected)."""
    db = tmp_path_factory.mktemp("site") / "store.db"
    with PassageStore(db) as store:
        store.set_meta(site="river", timezone="Europe/Oslo")
        for i in range(26):
            p = replace(passage(f"f{i:02d}", _detected(i)), confidence=0.5 + i / 100)
            picture = None if i == 22 else _snapshot(*_fish_in_the_chute(_truth(i), seed=i))
            record(store, p, DAY1 if i % 2 == 0 else DAY2, picture)
        store.review("f03", "arctic_char", "Kari", DAY2)  # overruled by Ola below
        for i in range(REVIEWED):
            store.review(f"f{i:02d}", _truth(i), "Ola" if i == 3 else "Kari", DAY2 + timedelta(hours=1))
        store.review("f20", "not_fish", "Kari", DAY2)
        store.review("f21", "unknown", "Kari", DAY2)
        store.review("f22", "sea_trout", "Kari", DAY2)
    return db


def _manifest(out: Path) -> list[dict[str, str]]:
    with (out / "manifest.csv").open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_reviewed_export_is_an_imagefolder_of_the_relabelled_snapshots(
    site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "export"
    assert main(["export-training", "--db", str(site), "--reviewed", "-o", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == (
        f"exported 20 pictures of 23 passages to {out} (reviewed passages only, labelled as reviewed)"
    )
    assert printed[1:6] == [f"  {s:<16}{4:>6}" for s in sorted(SPECIES)]
    assert printed[6:] == [
        "left out: 1 not_fish, 1 unknown (no species to train on)",
        "left out: 1 without a snapshot file (none written, or pruned)",
    ]
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == sorted(["manifest.csv", *(f"{_truth(i)}/f{i:02d}.jpg" for i in range(REVIEWED))])
    assert (out / "manifest.csv").read_text().splitlines()[0] == COLUMNS
    rows = {r["id"]: r for r in _manifest(out)}
    assert sorted(rows) == [f"f{i:02d}" for i in range(REVIEWED)]
    snapshots = site.parent / "snapshots"
    for i in range(REVIEWED):
        row = rows[f"f{i:02d}"]
        assert (row["label"], row["detected"]) == (_truth(i), _detected(i))
        data = (out / row["file"]).read_bytes()
        assert data == (snapshots / row["snapshot"]).read_bytes()  # the JPEG as stored, not re-encoded
        assert row["sha256"] == hashlib.sha256(data).hexdigest()
    assert rows["f03"] == {
        "file": "pink_salmon/f03.jpg", "id": "f03", "label": "pink_salmon", "detected": "farmed_salmon",
        "confidence": "0.5300", "reviewed_by": "Ola", "review_time": "2026-08-13T08:30:00+00:00",
        "day": "2026-08-13", "snapshot": "2026-08-13/f03.jpg", "sha256": rows["f03"]["sha256"],
    }  # fmt: skip
    assert sum(r["label"] != r["detected"] for r in rows.values()) == 12  # the corrections


def test_without_reviewed_every_passage_goes_as_reviewed_else_as_detected(
    site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "all"
    assert main(["export-training", "--db", str(site), "-o", str(out), "--from", "2026-08-12"]) == 0
    assert "26 passages" in capsys.readouterr().out
    rows = {r["id"]: r for r in _manifest(out)}
    assert len(rows) == 23  # 26 less not_fish, unknown and the one without a snapshot
    for i in (23, 24, 25):  # never reviewed: filed as the trap detected them
        assert rows[f"f{i:02d}"]["label"] == _detected(i) and rows[f"f{i:02d}"]["reviewed_by"] == ""
    assert rows["f00"]["label"] == _truth(0) != _detected(0)
    # one day only
    day2 = tmp_path / "day2"
    assert (
        main(["export-training", "--db", str(site), "-o", str(day2), "--reviewed", "--from", "2026-08-13"])
        == 0
    )
    assert {r["day"] for r in _manifest(day2)} == {"2026-08-13"} and len(_manifest(day2)) == 10


def test_a_snapshot_recut_is_the_crop_the_classifier_cuts() -> None:
    """Training crops have the card's crop margin (8 %); snapshots keep 20 % around the fish.
    Re-cut, a snapshot gives the crop the trap's classifier sees of the same view, up to
    JPEG and the pixel the snapshot's rounding moves the box by; resized whole, it does not."""
    for seed in (1, 5, 8, 13):
        image, box = _fish_in_the_chute("sea_trout", seed=seed)
        live = crop_fish(image, box, *DEFAULT_CROP_SIZE).astype(np.int16)
        _, jpeg = cv2.imencode(".jpg", _snapshot(image, box), [cv2.IMWRITE_JPEG_QUALITY, 90])
        snapshot = cv2.imdecode(jpeg, cv2.IMREAD_COLOR)
        again = recut(snapshot, DEFAULT_CROP_SIZE, margin=0.2).astype(np.int16)
        whole = cv2.resize(snapshot, DEFAULT_CROP_SIZE, interpolation=cv2.INTER_AREA).astype(np.int16)
        assert again.shape == live.shape == (DEFAULT_CROP_SIZE[1], DEFAULT_CROP_SIZE[0], 3)
        off = float(np.abs(again - live).mean())  # grey levels of 255
        assert off < 4.0 and float(np.abs(whole - live).mean()) > 3 * off, seed


def test_train_reads_the_export_and_the_card_names_it(
    site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("torch", reason="training needs the [train] extra")
    out = tmp_path / "export"
    assert main(["export-training", "--db", str(site), "--reviewed", "-o", str(out)]) == 0
    models = tmp_path / "models"
    status = main(["train", "--images", str(out), "--out", str(models), "--epochs", "1", "--name", "site"])
    assert status == 0
    printed = capsys.readouterr().out
    assert f"images: {out}: 20 pictures" in printed
    record = json.loads((models / "site-int8.json").read_text())
    training = record["training"]
    digest = folder_digest((r["file"], r["sha256"]) for r in _manifest(out))  # checkable from the manifest
    assert training["files"] == [{"name": "export/", "sha256": digest}]
    [folder] = training["image_folders"]
    assert folder["path"] == str(out) and folder["sha256"] == digest and folder["pictures"] == 20
    assert folder["per_label"] == dict.fromkeys(SPECIES, 4)
    assert (folder["margin"], folder["recut_with_crop_margin"]) == (0.2, 0.08)
    assert training["crops"] == 16 and record["validation"]["crops"] == 4  # a fifth held out
    assert record["labels"] == list(SPECIES)


def test_the_image_folder_reader(tmp_path: Path) -> None:
    folder = tmp_path / "pics"
    (folder / "sea_trout" / "deeper").mkdir(parents=True)
    picture = np.full((60, 150, 3), 90, np.uint8)
    cv2.imwrite(str(folder / "sea_trout" / "a.png"), picture)
    cv2.imwrite(str(folder / "sea_trout" / "deeper" / "b.jpg"), picture[..., 0])  # grey is read as BGR
    (folder / "sea_trout" / "notes.txt").write_text("not a picture")
    (folder / "manifest.csv").write_text("anything\n")
    crops = image_folder_crops(folder, size=(96, 40), margin=0.0)
    assert crops.images.shape == (2, 40, 96, 3) and crops.class_counts()["sea_trout"] == 2
    assert list(crops.track_keys) == ["pics:sea_trout/a.png", "pics:sea_trout/deeper/b.jpg"]


@pytest.mark.parametrize(
    ("make", "phrase"),
    [
        (lambda f: (f / "not_fish").mkdir(), "not species of the model (unknown and not_fish cannot be trained on)"),
        (lambda f: (f / "pike").mkdir(), "['pike'] are not species of the model; expected folders named atlantic_salmon, sea_trout"),
        (lambda f: (f / "x.jpg").write_bytes(b""), "pictures must lie in a folder named after their species"),
        (lambda f: (f / "sea_trout").mkdir() or (f / "sea_trout" / "x.jpg").write_bytes(b"junk"), "x.jpg: cannot read"),
        (lambda f: (f / "sea_trout").mkdir(), "no pictures in FOLDER/SPECIES/"),
    ],
)  # fmt: skip
def test_train_refuses_folders_it_cannot_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: object, phrase: str
) -> None:
    pytest.importorskip("torch", reason="training needs the [train] extra")
    folder = tmp_path / "pics"
    folder.mkdir()
    make(folder)  # type: ignore[operator]
    assert main(["train", "--images", str(folder), "--out", str(tmp_path / "m"), "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert phrase in err and err.count("\n") == 1
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        ([], "give --footage DIR (annotated clips) and/or --images DIR (pictures)"),
        (["--images", "x", "--val", "*-02"], "--val names clips of --footage"),
        (["--images", "x", "--images-margin", "0.7"], "--images-margin: expected a share of the box in [0, 0.5]"),
    ],
)  # fmt: skip
def test_train_arguments_that_cannot_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], phrase: str
) -> None:
    pytest.importorskip("torch", reason="training needs the [train] extra")
    assert main(["train", *args, "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert phrase in err and err.count("\n") == 1


def test_force_replaces_an_earlier_export_and_nothing_else(
    site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "export"
    args = ["export-training", "--db", str(site), "--reviewed", "-o", str(out)]
    assert main(args) == 0
    (out / "arctic_char" / "stale.jpg").write_bytes(b"from an earlier export")
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "the folder is not empty" in err and "--force" in err and err.count("\n") == 1
    assert main([*args, "--force"]) == 0
    assert not (out / "arctic_char" / "stale.jpg").exists() and len(_manifest(out)) == REVIEWED
    (out / "thesis.docx").write_text("mine")
    capsys.readouterr()
    assert main([*args, "--force"]) == 2
    assert "also holds 'thesis.docx'" in capsys.readouterr().err
    assert (out / "thesis.docx").exists() and (out / "sea_trout").is_dir()  # nothing deleted


@pytest.mark.parametrize(
    ("extra", "phrase"),
    [
        (["--from", "2026-08-13", "--to", "2026-08-12"], "--from 2026-08-13 is after --to 2026-08-12"),
        (["--from", "13.08.2026"], "expected a date YYYY-MM-DD"),
        (["-o", "{site}"], "a file, not a folder"),
    ],
)
def test_export_arguments_that_cannot_work(
    site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], phrase: str
) -> None:
    extra = [e.format(site=site) for e in extra]
    assert main(["export-training", "--db", str(site), "-o", str(tmp_path / "x"), *extra]) == 2
    err = capsys.readouterr().err
    assert phrase in err.splitlines()[-1]  # one line (argparse puts its usage above it)
    assert "usage:" in err or err.count("\n") == 1


def test_export_needs_a_store_and_something_to_export(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export-training", "-o", str(tmp_path / "x")]) == 2
    assert "give --config SITE.toml (its storage.path) or --db FILE" in capsys.readouterr().err
    db = tmp_path / "s.db"
    with PassageStore(db) as store:
        record(store, passage("p1"), DAY1, _snapshot(*_fish_in_the_chute("pink_salmon", seed=1)))
    assert main(["export-training", "--db", str(db), "--reviewed", "-o", str(tmp_path / "x")]) == 1
    assert capsys.readouterr().out.startswith(
        f"nothing exported to {tmp_path / 'x'}: 0 pictures of 0 passages"
    )
    assert not (tmp_path / "x").exists()
