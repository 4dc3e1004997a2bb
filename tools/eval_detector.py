#!/usr/bin/env python3
"""Motion gate and fish detector against annotated clips (video + CVAT XML).

    python tools/eval_detector.py ../shared/footage/*-01.xml
    python tools/eval_detector.py --clips '../shared/footage/*-02.xml' --dump out/
    python tools/eval_detector.py --learned ../shared/footage/*-02.xml     # the bundled learned model
    python tools/eval_detector.py --learned --model models/detector.onnx ...  # another one

Each clip's video is the XML's sibling NAME.mp4; px_per_cm comes from NAME.json where
there is one. The detector runs only on frames the gate lets through, as in the
pipeline. Columns (per clip, then all clips together):

  frames        frames read
  gate p50/p99  ms per frame of MotionGate.update (all frames)
  det p50/p99   ms per frame of FishDetector.detect (frames it ran on), and the mean
  R.5 / R.3     recall: annotated boxes >= 20 px wide matched at IoU >= 0.5 / 0.3
  R.5in         recall at IoU >= 0.5 of unoccluded boxes wholly inside the frame
  P.3           precision: detections matching an annotated box at IoU >= 0.3
  FP/min        false detections (unmatched at IoU 0.3) per minute
  FPrun         longest run of frames in which one false detection persists
  FP>10         false detections that persist 10 frames (0.4 s) or more
  IoU           mean IoU of matched detections (IoU >= 0.3)
  merged%       detections flagged `merged`
  multi%        detections covering two or more annotated fish (half of each inside)
  flagged%      of those, the share flagged `merged`
  gate-empty%   frames with no fish in which the gate said "moving"
  gate-miss%    frames with a fish >= 20 px wide in which the detector did not run (the
                gate said "nothing moves" and the frame before had no detection)
"""

from __future__ import annotations

import argparse
import glob
import json
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

# Run from a checkout without installing: the package beside this script comes first.
REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from fishgate.config import DEFAULT_DETECTOR, bundled_path  # noqa: E402
from fishgate.cvat import read_cvat  # noqa: E402
from fishgate.sources.replay import ReplaySource  # noqa: E402
from fishgate.types import Box  # noqa: E402
from fishgate.vision.detector import Detection, FishDetector  # noqa: E402
from fishgate.vision.learned import LearnedDetector  # noqa: E402
from fishgate.vision.motion import MotionGate  # noqa: E402

MIN_TRUTH_WIDTH_PX = 20.0
STRICT_IOU = 0.5
LOOSE_IOU = 0.3
PERSISTENT_FRAMES = 10
DEFAULT_PX_PER_CM = 2.6
MAX_DUMPS = 60


@dataclass(frozen=True, slots=True)
class Truth:
    box: Box
    occluded: bool


@dataclass
class ClipStats:
    name: str
    frames: int = 0
    seconds: float = 0.0
    gate_ms: list[float] = field(default_factory=list)
    det_ms: list[float] = field(default_factory=list)
    truth: int = 0
    hit5: int = 0
    hit3: int = 0
    truth_in: int = 0
    hit5_in: int = 0
    dets: int = 0
    true_dets: int = 0
    ious: list[float] = field(default_factory=list)
    merged: int = 0
    multi: int = 0
    multi_flagged: int = 0
    empty_frames: int = 0
    empty_passed: int = 0
    fish_frames: int = 0
    fish_blocked: int = 0
    false_runs: list[int] = field(default_factory=list)

    def add(self, other: ClipStats) -> None:
        for name in vars(self):
            if name != "name":
                value = getattr(self, name)
                setattr(self, name, value + getattr(other, name))


def _truth_by_frame(xml: Path) -> dict[int, list[Truth]]:
    annotation = read_cvat(xml)
    by_frame: dict[int, list[Truth]] = defaultdict(list)
    for track in annotation.tracks:
        for tb in track.boxes():
            by_frame[tb.frame].append(Truth(tb.box, tb.occluded))
    return by_frame


def _px_per_cm(xml: Path) -> float:
    manifest = xml.with_suffix(".json")
    if manifest.is_file():
        return float(json.loads(manifest.read_text(encoding="utf-8")).get("px_per_cm", DEFAULT_PX_PER_CM))
    return DEFAULT_PX_PER_CM


def _match(truth: Sequence[Truth], dets: Sequence[Detection], min_iou: float) -> list[tuple[int, int, float]]:
    """One-to-one matches (truth index, detection index, IoU) maximising the summed IoU."""
    if not truth or not dets:
        return []
    iou = np.array([[t.box.iou(d.box) for d in dets] for t in truth])
    rows, cols = linear_sum_assignment(-iou)
    return [
        (int(r), int(c), float(iou[r, c])) for r, c in zip(rows, cols, strict=True) if iou[r, c] >= min_iou
    ]


def _covers(det: Box, fish: Box) -> bool:
    """Whether at least half of `fish` lies inside `det`."""
    ix = max(0.0, min(det.x2, fish.x2) - max(det.x1, fish.x1))
    iy = max(0.0, min(det.y2, fish.y2) - max(det.y1, fish.y1))
    return fish.area > 0 and ix * iy >= 0.5 * fish.area


class _FalseRuns:
    """Follows false detections from frame to frame (IoU >= 0.3) to see how long each lasts."""

    def __init__(self) -> None:
        self.live: list[tuple[Box, int]] = []
        self.finished: list[int] = []

    def step(self, boxes: list[Box]) -> None:
        nxt: list[tuple[Box, int]] = []
        used: set[int] = set()
        for box in boxes:
            best, length = -1, 0
            for i, (prev, n) in enumerate(self.live):
                if i not in used and prev.iou(box) >= LOOSE_IOU:
                    best, length = i, n
                    break
            if best >= 0:
                used.add(best)
            nxt.append((box, length + 1))
        self.finished += [n for i, (_, n) in enumerate(self.live) if i not in used]
        self.live = nxt

    def close(self) -> list[int]:
        return self.finished + [n for _, n in self.live]


def _score_frame(
    stats: ClipStats, truth: list[Truth], dets: list[Detection], width: int, height: int
) -> list[Box]:
    """Adds one frame to the counts; returns the false detections' boxes."""
    strict = _match(truth, dets, STRICT_IOU)
    loose = _match(truth, dets, LOOSE_IOU)
    wide = [t.box.width >= MIN_TRUTH_WIDTH_PX for t in truth]
    inside = [
        w and not t.occluded and not t.box.touches_edge(width, height)
        for w, t in zip(wide, truth, strict=True)
    ]
    stats.truth += sum(wide)
    stats.truth_in += sum(inside)
    stats.hit5 += sum(wide[r] for r, _, _ in strict)
    stats.hit5_in += sum(inside[r] for r, _, _ in strict)
    stats.hit3 += sum(wide[r] for r, _, _ in loose)
    stats.dets += len(dets)
    stats.true_dets += len(loose)
    stats.ious += [iou for _, _, iou in loose]
    stats.merged += sum(d.merged for d in dets)
    multi = [sum(_covers(d.box, t.box) for t in truth) >= 2 for d in dets]
    stats.multi += sum(multi)
    stats.multi_flagged += sum(m and d.merged for m, d in zip(multi, dets, strict=True))
    matched = {c for _, c, _ in loose}
    return [d.box for i, d in enumerate(dets) if i not in matched]


def _dump(
    out: Path, name: str, index: int, image: np.ndarray, truth: list[Truth], dets: list[Detection]
) -> None:
    canvas = image.copy()
    for t in truth:
        b = t.box
        cv2.rectangle(canvas, (int(b.x1), int(b.y1)), (int(b.x2), int(b.y2)), (0, 0, 255), 1)
    for d in dets:
        b = d.box
        colour = (255, 0, 255) if d.merged else (0, 255, 0)
        cv2.rectangle(canvas, (int(b.x1), int(b.y1)), (int(b.x2), int(b.y2)), colour, 1)
    cv2.imwrite(str(out / f"{name}-{index:05d}.png"), canvas)


def evaluate_clip(
    xml: Path,
    *,
    gate_on: bool,
    dump: Path | None,
    max_frames: int | None = None,
    learned: Path | None = None,
) -> ClipStats:
    """`learned`: the learned detector's model instead of background subtraction."""
    truth_by_frame = _truth_by_frame(xml)
    stats = ClipStats(xml.stem)
    runs = _FalseRuns()
    dumps = 0
    with ReplaySource(xml.with_suffix(".mp4")) as source:
        width, height = source.width, source.height
        px_per_cm = _px_per_cm(xml)
        gate = MotionGate(px_per_cm=px_per_cm)
        detector: FishDetector | LearnedDetector = (
            FishDetector((width, height), px_per_cm)
            if learned is None
            else LearnedDetector(learned, frame_size=(width, height))
        )
        dets: list[Detection] = []
        for frame in source:
            if max_frames is not None and frame.index >= max_frames:
                break
            start = time.perf_counter()
            moving = gate.update(frame.image, frame.t).moving
            stats.gate_ms.append((time.perf_counter() - start) * 1000)
            # As in the pipeline: detect where the gate sees motion or fish were just seen.
            run = moving or bool(dets) or not gate_on
            dets = []
            if run:
                start = time.perf_counter()
                dets = detector.detect(frame.image, frame.t)
                stats.det_ms.append((time.perf_counter() - start) * 1000)
            truth = truth_by_frame.get(frame.index, [])
            visible = [t for t in truth if t.box.width >= MIN_TRUTH_WIDTH_PX]
            stats.empty_frames += not truth
            stats.empty_passed += moving and not truth
            stats.fish_frames += bool(visible)
            stats.fish_blocked += bool(visible) and not run
            hits_before = stats.hit5_in, stats.truth_in
            false_boxes = _score_frame(stats, truth, dets, width, height)
            runs.step(false_boxes)
            missed = (stats.truth_in - hits_before[1]) > (stats.hit5_in - hits_before[0])
            if dump is not None and dumps < MAX_DUMPS and (false_boxes or missed):
                _dump(dump, xml.stem, frame.index, frame.image, truth, dets)
                dumps += 1
            stats.frames += 1
    stats.seconds = stats.frames / source.fps
    stats.false_runs = runs.close()
    return stats


def _pct(num: float, den: float) -> str:
    return f"{100 * num / den:.1f}" if den else "-"


def _ratio(num: float, den: float) -> str:
    return f"{num / den:.3f}" if den else "-"


def _p(values: list[float], q: float) -> str:
    if not values:
        return "-"
    return f"{float(np.percentile(values, q)):.2f}"


COLUMNS = (
    ("clip", 13), ("frames", 7), ("gate p50", 9), ("p99", 6), ("det p50", 8), ("p99", 6), ("mean", 6),
    ("R.5", 6), ("R.3", 6), ("R.5in", 6), ("P.3", 6), ("FP/min", 7), ("FPrun", 6), ("FP>10", 6),
    ("IoU", 6), ("merged%", 8), ("multi%", 7), ("flagged%", 9), ("gate-empty%", 12), ("gate-miss%", 11),
)  # fmt: skip


def _row(s: ClipStats) -> str:
    false = s.dets - s.true_dets
    cells = (
        s.name, str(s.frames), _p(s.gate_ms, 50), _p(s.gate_ms, 99), _p(s.det_ms, 50), _p(s.det_ms, 99),
        f"{statistics.fmean(s.det_ms):.2f}" if s.det_ms else "-",
        _ratio(s.hit5, s.truth), _ratio(s.hit3, s.truth), _ratio(s.hit5_in, s.truth_in),
        _ratio(s.true_dets, s.dets), f"{false / (s.seconds / 60):.1f}" if s.seconds else "-",
        str(max(s.false_runs, default=0)), str(sum(n >= PERSISTENT_FRAMES for n in s.false_runs)),
        f"{statistics.fmean(s.ious):.3f}" if s.ious else "-", _pct(s.merged, s.dets), _pct(s.multi, s.dets),
        _pct(s.multi_flagged, s.multi),
        _pct(s.empty_passed, s.empty_frames), _pct(s.fish_blocked, s.fish_frames),
    )  # fmt: skip
    return "".join(
        c.rjust(w) if i else c.ljust(w) for i, (c, (_, w)) in enumerate(zip(cells, COLUMNS, strict=True))
    )


def _clips(args: argparse.Namespace) -> list[Path]:
    paths = [Path(p) for p in args.xml]
    for pattern in args.clips:
        paths += [Path(p) for p in sorted(glob.glob(pattern))]
    return [p for p in paths if p.suffix == ".xml"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("xml", nargs="*", help="CVAT XML files (the video is NAME.mp4 beside each)")
    parser.add_argument("--clips", action="append", default=[], help="glob of CVAT XML files (repeatable)")
    parser.add_argument("--no-gate", action="store_true", help="run the detector on every frame")
    parser.add_argument("--dump", type=Path, help="write frames with misses or false detections here")
    parser.add_argument("--frames", type=int, help="only the first N frames of each clip")
    parser.add_argument(
        "--learned", action="store_true", help="the learned detector instead of background subtraction"
    )
    parser.add_argument(
        "--model",
        type=Path,
        default=bundled_path(DEFAULT_DETECTOR),
        metavar="MODEL.onnx",
        help="the learned detector's model (default: the bundled one)",
    )
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)  # the trap's budget is one core
    clips = _clips(args)
    if not clips:
        print("no CVAT XML files given (see --help)", file=sys.stderr)
        return 2
    if args.dump is not None:
        args.dump.mkdir(parents=True, exist_ok=True)
    print("".join(h.rjust(w) if i else h.ljust(w) for i, (h, w) in enumerate(COLUMNS)))
    total = ClipStats("all")
    for xml in clips:
        stats = evaluate_clip(
            xml,
            gate_on=not args.no_gate,
            dump=args.dump,
            max_frames=args.frames,
            learned=args.model if args.learned else None,
        )
        print(_row(stats), flush=True)
        total.add(stats)
    if len(clips) > 1:
        print(_row(total))
    return 0


if __name__ == "__main__":
    sys.exit(main())
