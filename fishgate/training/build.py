"""Rebuild the species model end to end: footage -> crops -> training -> ONNX -> INT8 -> card.

Crops come from annotated clips, from ImageFolders of single-fish pictures (such as
`fishgate export-training` writes from a site's reviewed snapshots), or both.

Needs the `[train]` extra (torch, onnx). Every step prints what it does; the final
report is measured with the INT8 model through the same runtime the trap uses.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fishgate.errors import AnnotationError
from fishgate.training.card import write_card
from fishgate.training.dataset import (
    CropSet,
    clip_crops,
    concat,
    image_folder_crops,
    sha256_of,
    split_by_track,
)
from fishgate.training.report import format_report, validation_report
from fishgate.types import SPECIES
from fishgate.vision.classifier import SpeciesClassifier
from fishgate.vision.crops import CROP_MARGIN, DEFAULT_CROP_SIZE
from fishgate.vision.snapshot import SNAPSHOT_MARGIN

CROP_SIZE = DEFAULT_CROP_SIZE


@dataclass(frozen=True)
class BuildPlan:
    train_clips: tuple[tuple[Path, Path], ...]  # (video, CVAT XML)
    val_clips: tuple[tuple[Path, Path], ...]
    out_dir: Path
    name: str = "species"
    cache_dir: Path | None = None
    synthetic_seconds: float = 0.0  # of generated footage per scenario, added to training
    val_fraction: float = 0.2  # used only when no validation clips are given
    epochs: int = 24
    seed: int = 0
    train_stride: int = 1
    unknown_below: float = 0.5
    calibration_crops: int = 600
    crop_size: tuple[int, int] = CROP_SIZE
    extra_card: dict[str, Any] = field(default_factory=dict)
    # ImageFolders (SPECIES/NAME.jpg) added to the training crops, e.g. export-training's
    image_folders: tuple[Path, ...] = ()
    image_margin: float = SNAPSHOT_MARGIN  # of the fish's box around it in those pictures


def find_clips(folder: Path, pattern: str) -> tuple[tuple[Path, Path], ...]:
    """(video, annotation) pairs: every NAME.xml matching the pattern with a NAME.mp4/.avi/.mkv beside it."""
    pairs = []
    for xml in sorted(folder.glob(pattern if pattern.endswith(".xml") else pattern + ".xml")):
        video = next(
            (xml.with_suffix(s) for s in (".mp4", ".avi", ".mkv", ".mov") if xml.with_suffix(s).exists()),
            None,
        )
        if video is None:
            raise AnnotationError(f"{xml}: no video beside it (expected {xml.stem}.mp4)")
        pairs.append((video, xml))
    return tuple(pairs)


def _cached_crops(video: Path, xml: Path, stride: int, cache: Path | None, size: tuple[int, int]) -> CropSet:
    if cache is None:
        return clip_crops(video, xml, size=size, stride=stride)
    key = hashlib.sha256(f"{sha256_of(video)}{sha256_of(xml)}{size}/{stride}".encode()).hexdigest()
    path = cache / f"{xml.stem}-{key[:16]}.npz"
    if path.exists():
        return CropSet.load(path)
    crops = clip_crops(video, xml, size=size, stride=stride)
    cache.mkdir(parents=True, exist_ok=True)
    crops.save(path)
    return crops


def collect(
    clips: Sequence[tuple[Path, Path]], stride: int, cache: Path | None, what: str, size: tuple[int, int]
) -> CropSet:
    sets = []
    for video, xml in clips:
        crops = _cached_crops(video, xml, stride, cache, size)
        print(f"  {what}: {xml.name}: {len(crops)} crops from {len(np.unique(crops.track_keys))} tracks")
        sets.append(crops)
    return concat(sets)


def synthetic_clips(folder: Path, seconds: float, seed: int) -> tuple[tuple[Path, Path], ...]:
    """One generated clip per scenario (rendered once, then reused): variety real footage lacks."""
    from fishgate.synth import SCENARIOS, SceneSpec, write_clip

    folder.mkdir(parents=True, exist_ok=True)
    pairs = []
    for i, scenario in enumerate(sorted(SCENARIOS)):
        stem = folder / f"{scenario}-synth-s{seed}-{seconds:g}s"
        if not stem.with_suffix(".xml").exists():
            write_clip(SceneSpec(scenario, seconds=seconds, seed=10_000 + 1000 * seed + i), stem)
        pairs.append((stem.with_suffix(".mp4"), stem.with_suffix(".xml")))
    return tuple(pairs)


def _synthetic(plan: BuildPlan) -> CropSet | None:
    if plan.synthetic_seconds <= 0:
        return None
    folder = (plan.cache_dir or plan.out_dir / ".cache") / "synthetic"
    clips = synthetic_clips(folder, plan.synthetic_seconds, plan.seed)
    return collect(clips, plan.train_stride, plan.cache_dir, "synthetic", plan.crop_size)


def image_folders(plan: BuildPlan) -> tuple[list[CropSet], list[dict[str, Any]]]:
    """The crops of the plan's ImageFolders, and what the card records of each."""
    sets, records = [], []
    for folder in plan.image_folders:
        crops = image_folder_crops(folder, size=plan.crop_size, margin=plan.image_margin)
        counts = {k: v for k, v in crops.class_counts().items() if v}
        print(f"  images: {folder}: {len(crops)} pictures {counts}")
        sets.append(crops)
        records.append(
            {
                "path": str(folder),
                "sha256": crops.sources[0].sha256,
                "digest_of": "sorted lines 'LABEL/FILE SHA256' (manifest.csv: file, sha256)",
                "pictures": len(crops),
                "per_label": counts,
                "margin": plan.image_margin,
                "recut_with_crop_margin": CROP_MARGIN if plan.image_margin > CROP_MARGIN else None,
            }
        )
    return sets, records


def _write_card(model: Path, plan: BuildPlan, record: dict[str, Any], unknown_below: float) -> Path:
    from fishgate.training.export import draft_card

    width, height = plan.crop_size
    return write_card(model, draft_card(tuple(SPECIES), height, width, unknown_below), plan.name, record)


def build(plan: BuildPlan) -> dict[str, Any]:
    """Run the whole build; returns the INT8 validation report."""
    import torch

    from fishgate.training.export import calibration_sample, draft_card, export_fp32, quantise_int8
    from fishgate.training.train import TrainSettings, train

    started = time.monotonic()
    print("1/5 crops")
    width, height = plan.crop_size
    clip_set = (
        [collect(plan.train_clips, plan.train_stride, plan.cache_dir, "train", plan.crop_size)]
        if plan.train_clips
        else []
    )
    folder_sets, folder_records = image_folders(plan)
    if not clip_set and not folder_sets:
        raise AnnotationError("nothing to train on: give annotated clips or a folder of pictures")
    train_set = concat(clip_set + folder_sets)
    if plan.val_clips:
        val_set = collect(plan.val_clips, 1, plan.cache_dir, "validation", plan.crop_size)
    else:
        train_set, val_set = split_by_track(train_set, plan.val_fraction, plan.seed)
        print(
            f"  no validation clips: {len(val_set)} crops of {plan.val_fraction:.0%} of the tracks held out"
        )
    synthetic = _synthetic(plan)
    full_train = concat([train_set, synthetic]) if synthetic is not None else train_set
    print(f"  training on {len(full_train)} crops: {full_train.class_counts()}")

    print("2/5 training")
    settings = TrainSettings(epochs=plan.epochs, seed=plan.seed)
    net = train(full_train, settings, val_set)

    print("3/5 export and INT8 quantisation")
    plan.out_dir.mkdir(parents=True, exist_ok=True)
    fp32 = plan.out_dir / f"{plan.name}-fp32.onnx"
    int8 = plan.out_dir / f"{plan.name}-int8.onnx"
    export_fp32(net, fp32, height, width)
    draft = draft_card(full_train.label_names, height, width, plan.unknown_below)
    calibration = calibration_sample(train_set, plan.calibration_crops, plan.seed)
    quantise_int8(fp32, int8, calibration, draft)

    print("4/5 validation through ONNX Runtime")
    record = {
        "architecture": "SpeciesNet (MobileNet-style, depthwise separable), fishgate.training.model",
        "parameters": sum(p.numel() for p in net.parameters()),
        "training": {
            "settings": asdict(settings),
            "crops": len(full_train),
            "crops_per_class": full_train.class_counts(),
            "files": [asdict(s) for s in full_train.sources],
            "synthetic_seconds_per_scenario": plan.synthetic_seconds,
            "image_folders": folder_records,
            "torch": torch.__version__,
        },
    }
    _write_card(fp32, plan, {**record, "precision": "fp32"}, plan.unknown_below)
    _write_card(int8, plan, {**record, "precision": "int8"}, plan.unknown_below)
    fp32_probs = SpeciesClassifier(fp32).probabilities(val_set.images)
    int8_probs = SpeciesClassifier(int8).probabilities(val_set.images)
    agreement = float((fp32_probs.argmax(1) == int8_probs.argmax(1)).mean())
    reports = {"fp32": validation_report(fp32_probs, val_set), "int8": validation_report(int8_probs, val_set)}
    validation = {"files": [asdict(s) for s in val_set.sources], "int8_fp32_top1_agreement": agreement}

    print("5/5 model cards")
    for path, precision in ((fp32, "fp32"), (int8, "int8")):
        extra = {**record, "precision": precision, "validation": {**validation, **reports[precision]}}
        if precision == "int8":
            extra["quantisation"] = {
                "method": "ONNX Runtime static, QDQ, per-channel INT8 weights, UINT8 activations, MinMax",
                "calibration_crops": len(calibration),
            }
        _write_card(path, plan, {**extra, **plan.extra_card}, plan.unknown_below)

    print(f"\nINT8 model {int8} ({int8.stat().st_size / 1024:.0f} kB), validation on {len(val_set)} crops:")
    print(format_report(reports["int8"]))
    print(f"INT8 vs FP32 top-1 agreement: {100 * agreement:.2f}%")
    print(f"FP32 crop accuracy {100 * (reports['fp32']['crop_accuracy'] or 0):.2f}%")
    print(f"built in {time.monotonic() - started:.0f} s")
    return reports["int8"]
