"""Rebuild the fish detector end to end: footage -> frames -> training -> ONNX -> card.

    fishgate train-detector --footage ../shared/footage --train '*-01' --out fishgate/bundled/models

Validation holds out the last 20% of every training clip (or uses --val clips); the
score threshold written into the card is the one with the best F1 (IoU >= 0.5) there,
and the figures in the card are measured through ONNX Runtime as the trap runs it.
The model stays FP32: at ~40 k parameters it is ~150 kB and INT8 would save little.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from fishgate.training.card import write_card
from fishgate.training.dataset import sha256_of
from fishgate.training.detector_data import FrameSet, clip_frames, concat, load, save
from fishgate.training.detector_report import MatchCounts, boxes_of
from fishgate.training.lengths import fish_ratios, format_rows, length_scale, summarise
from fishgate.vision.learned import DetectorCard, LearnedDetector, decode

INPUT_SIZE = (160, 90)  # width, height: a quarter of the sample chute's 640 x 360
INPUT_NAME = "frames"
HELD_OUT_SHARE = 0.2  # the last share of each training clip, when no validation clips are given
THRESHOLDS = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)
BOX_NMS_IOU = 0.5
MERGED_SHARE = 0.4  # most annotated occluded fish lie >= 40% inside another fish's box


@dataclass(frozen=True)
class DetectorPlan:
    train_clips: tuple[tuple[Path, Path], ...]  # (video, CVAT XML)
    val_clips: tuple[tuple[Path, Path], ...]
    out_dir: Path
    name: str = "detector"
    cache_dir: Path | None = None
    epochs: int = 24
    frames_per_epoch: int = 6000
    seed: int = 0
    input_size: tuple[int, int] = INPUT_SIZE


def _cached_frames(video: Path, xml: Path, size: tuple[int, int], cache: Path | None) -> FrameSet:
    if cache is None:
        return clip_frames(video, xml, size)
    key = hashlib.sha256(f"{sha256_of(video)}{sha256_of(xml)}{size}".encode()).hexdigest()
    path = cache / f"{xml.stem}-frames-{key[:16]}.npz"
    if path.exists():
        return load(path)
    frames = clip_frames(video, xml, size)
    cache.mkdir(parents=True, exist_ok=True)
    save(frames, path)
    return frames


def collect(
    clips: Sequence[tuple[Path, Path]], size: tuple[int, int], cache: Path | None, what: str
) -> FrameSet:
    sets = []
    for video, xml in clips:
        frames = _cached_frames(video, xml, size, cache)
        print(f"  {what}: {xml.name}: {len(frames)} frames, {sum(len(b) for b in frames.boxes)} fish boxes")
        sets.append(frames)
    return concat(sets)


def hold_out_tail(frames: FrameSet, share: float) -> tuple[FrameSet, FrameSet]:
    """(first 1 - share, last share) of every clip: the tail's fish are fish training never saw."""
    last = np.zeros(len(frames), bool)
    for clip in np.unique(frames.clip):
        mine = frames.clip == clip
        cut = np.quantile(frames.frame[mine], 1 - share)
        last |= mine & (frames.frame >= cut)
    return frames.subset(~last), frames.subset(last)


def score_frames(
    maps: np.ndarray, frames: FrameSet, card: DetectorCard, thresholds: Sequence[float]
) -> dict[float, dict[str, MatchCounts]]:
    """Matches at IoU 0.5 and 0.3 for each threshold, all in input px."""
    size = frames.size
    result: dict[float, dict[str, MatchCounts]] = {}
    for threshold in thresholds:
        strict, loose = MatchCounts(), MatchCounts()
        for frame_maps, truth_array in zip(maps, frames.boxes, strict=True):
            found = [d.box for d in decode(frame_maps, card, size, threshold)]
            truth = boxes_of(truth_array)
            strict.add(found, truth, 0.5)
            loose.add(found, truth, 0.3)
        result[threshold] = {"iou50": strict, "iou30": loose}
    return result


def draft_card(size: tuple[int, int], threshold: float = 0.4) -> DetectorCard:
    from fishgate.training.detector_model import STRIDE
    from fishgate.training.detector_train import MEAN, STD

    width, height = size
    return DetectorCard(
        model_file="",
        sha256="",
        input_name=INPUT_NAME,
        height=height,
        width=width,
        stride=STRIDE,
        mean=MEAN,
        std=STD,
        score_threshold=threshold,
        box_nms_iou=BOX_NMS_IOU,
        merged_share=MERGED_SHARE,
    )


def export_onnx(net: Any, path: Path, size: tuple[int, int]) -> None:
    import torch

    from fishgate.training.detector_model import WithDecodeMaps

    width, height = size
    torch.onnx.export(
        WithDecodeMaps(net).eval(),
        (torch.zeros(1, 3, height, width),),
        str(path),
        input_names=[INPUT_NAME],
        output_names=["maps"],
        opset_version=17,
        dynamo=False,
    )


def build_detector(plan: DetectorPlan) -> dict[str, Any]:
    """Run the whole build; returns the validation figures written into the card."""
    import torch

    from fishgate.training.detector_train import DetectorTrainSettings, predict_maps, train_detector

    started = time.monotonic()
    print("1/5 frames")
    train_set = collect(plan.train_clips, plan.input_size, plan.cache_dir, "train")
    if plan.val_clips:
        val_set = collect(plan.val_clips, plan.input_size, plan.cache_dir, "validation")
    else:
        train_set, val_set = hold_out_tail(train_set, HELD_OUT_SHARE)
        print(
            f"  no validation clips: the last {HELD_OUT_SHARE:.0%} of each clip held out "
            f"({len(val_set)} frames)"
        )
    print(f"  training on {len(train_set)} frames, {sum(len(b) for b in train_set.boxes)} fish boxes")

    print("2/5 training")
    settings = DetectorTrainSettings(
        epochs=plan.epochs, seed=plan.seed, frames_per_epoch=plan.frames_per_epoch
    )
    net = train_detector(train_set, settings)

    print("3/5 threshold on the validation frames")
    draft = draft_card(plan.input_size)
    scores = score_frames(predict_maps(net, val_set), val_set, draft, THRESHOLDS)
    best = max(THRESHOLDS, key=lambda t: scores[t]["iou50"].f1)
    for t in THRESHOLDS:
        s, lo = scores[t]["iou50"], scores[t]["iou30"]
        mark = "  <- card" if t == best else ""
        print(
            f"  {t:.2f}: IoU.5 R {s.recall:.4f} P {s.precision:.4f} F1 {s.f1:.4f}; IoU.3 F1 {lo.f1:.4f}{mark}"
        )

    print("4/5 export, card, check through ONNX Runtime")
    plan.out_dir.mkdir(parents=True, exist_ok=True)
    model = plan.out_dir / f"{plan.name}.onnx"
    export_onnx(net, model, plan.input_size)
    card = replace(draft, score_threshold=best)
    record: dict[str, Any] = {
        "architecture": "FishCentreNet (CenterNet-style heat map): fishgate.training.detector_model",
        "parameters": sum(p.numel() for p in net.parameters()),
        "training": {
            "settings": asdict(settings),
            "frames": len(train_set),
            "fish_boxes": sum(len(b) for b in train_set.boxes),
            "clips": [xml.name for _, xml in plan.train_clips],
            "files": [{"name": p.name, "sha256": sha256_of(p)} for pair in plan.train_clips for p in pair],
            "torch": torch.__version__,
        },
    }
    write_card(model, card, plan.name, record)
    runtime = LearnedDetector(model, frame_size=val_set.size)
    onnx_maps = np.stack([runtime.maps(image) for image in val_set.images])
    checked = score_frames(onnx_maps, val_set, runtime.card, (best,))[best]
    validation = {
        "frames": len(val_set),
        "held_out": "given clips" if plan.val_clips else f"last {HELD_OUT_SHARE:.0%} of each training clip",
        "iou50": checked["iou50"].as_dict(),
        "iou30": checked["iou30"].as_dict(),
    }
    # the card on disk (written above for the ONNX check) is all the length step needs;
    # the whole record goes in once, with the calibration
    record = {**record, "validation": validation}

    print("5/5 lengths on the training clips (length_scale)")
    rows = summarise(r for video, xml in plan.train_clips for r in fish_ratios(video, xml, model))
    print(format_rows(rows))
    card = replace(card, length_scale=length_scale(rows))
    record["length_calibration"] = [asdict(r) for r in rows]
    write_card(model, card, plan.name, record)
    print(
        f"\n{model} ({model.stat().st_size / 1024:.0f} kB), threshold {best}, validation on {len(val_set)} "
        f"frames through ONNX Runtime: IoU.5 {validation['iou50']}; length_scale {card.length_scale}"
    )
    print(f"built in {time.monotonic() - started:.0f} s")
    return validation
