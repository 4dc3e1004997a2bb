"""How long a learned detector draws each species, against annotated lengths.

A fish's length decides where its head is once the head has left the picture, and so
when it reaches the gate; it is also the length_cm of every passage. The tracker takes
it as the median width of the fish's whole, unshared boxes, so a detector that draws a
species short makes those fish late at the gate and short in the records. For every
annotated fish this compares its annotated length (its widest box wholly inside the
frame, as the evaluation takes it) with the median width of the detector's boxes
that match it (IoU >= 0.5, not cut by the border, not flagged merged). Per species,
the median of those ratios, annotated / detected, is the card's `length_scale` where
it is off by more than a tolerance.

Measured on the footage the detector was trained on (`fishgate train-detector` does it
as its last step; `tools/calibrate_lengths.py` does it for a model already built). Needs
no `[train]` extra: ONNX Runtime and OpenCV only.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from fishgate.cvat import read_cvat
from fishgate.evaluate import annotated_length, inside_frame
from fishgate.sources.replay import ReplaySource
from fishgate.types import SPECIES
from fishgate.vision.learned import MAX_LENGTH_SCALE, MIN_LENGTH_SCALE, LearnedDetector

MATCH_IOU = 0.5
MIN_VIEWS = 5  # a fish seen whole fewer times than this says nothing of the detector
# Biases smaller than this move a predicted arrival by less than a frame and are within
# what the boxes' jitter makes of a median: left uncorrected.
TOLERANCE = 0.03


@dataclass(frozen=True)
class SpeciesLengths:
    species: str
    fish: int
    median: float  # annotated length / detected width
    q1: float
    q3: float


def fish_ratios(
    video: Path, truth: Path, model: Path, card: Path | None = None, score_threshold: float | None = None
) -> list[tuple[str, float]]:
    """(label, annotated length / median detected width) for each fish of one clip."""
    annotation = read_cvat(truth)
    labels = {t.id: t.label for t in annotation.tracks}
    boxes = {t.id: {b.frame: b.box for b in t.boxes()} for t in annotation.tracks}
    widths: dict[int, list[float]] = defaultdict(list)
    with ReplaySource(video) as source:
        width = source.width
        detector = LearnedDetector(
            model, card, frame_size=(width, source.height), score_threshold=score_threshold
        )
        for frame in source:
            whole = [d.box for d in detector.detect(frame.image, frame.t) if not d.edge_cut and not d.merged]
            for track_id, by_frame in boxes.items():
                annotated = by_frame.get(frame.index)
                if annotated is None or not inside_frame(annotated, width):
                    continue
                best = max(whole, key=annotated.iou, default=None)
                if best is not None and best.iou(annotated) >= MATCH_IOU:
                    widths[track_id].append(best.width)
    return [
        (labels[track_id], annotated_length(list(boxes[track_id].values()), width) / statistics.median(seen))
        for track_id, seen in widths.items()
        if len(seen) >= MIN_VIEWS  # seen only in frames where the annotation is whole
    ]


def summarise(ratios: Iterable[tuple[str, float]]) -> list[SpeciesLengths]:
    """Per species of ours (a foreign label cannot be voted), the ratios' median and quartiles."""
    by_species: dict[str, list[float]] = defaultdict(list)
    for species, ratio in ratios:
        if species in SPECIES:
            by_species[species].append(ratio)
    rows = []
    for species, values in sorted(by_species.items()):
        q1, median, q3 = statistics.quantiles(values, n=4) if len(values) > 1 else (values[0],) * 3
        rows.append(SpeciesLengths(species, len(values), median, q1, q3))
    return rows


def length_scale(rows: Iterable[SpeciesLengths], tolerance: float = TOLERANCE) -> dict[str, float]:
    """The card's length_scale: species off by more than `tolerance`, within what a card
    may hold (a detector further off than that is broken, not biased: left out)."""
    return {
        r.species: round(r.median, 3)
        for r in rows
        if abs(r.median - 1.0) > tolerance and MIN_LENGTH_SCALE <= r.median <= MAX_LENGTH_SCALE
    }


def format_rows(rows: Iterable[SpeciesLengths]) -> str:
    lines = [f"{'species':<16} {'fish':>5} {'median':>7} {'q1':>7} {'q3':>7}"]
    lines += [f"{r.species:<16} {r.fish:>5} {r.median:>7.3f} {r.q1:>7.3f} {r.q3:>7.3f}" for r in rows]
    return "\n".join(lines)
