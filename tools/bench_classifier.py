#!/usr/bin/env python3
"""Single-crop and batch inference time of species models on this CPU.

    python tools/bench_classifier.py [MODEL.onnx ...] [--threads 1] [--runs 2000]

Defaults to the bundled FP32 and INT8 models. Crops are random pixels at the card's
size: inference time does not depend on what the picture shows.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from fishgate.config import bundled_path
from fishgate.vision.classifier import SpeciesClassifier


def _time_ms(classifier: SpeciesClassifier, crops: np.ndarray, runs: int) -> list[float]:
    classifier.probabilities(crops)  # first run allocates; not what a trap sees
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        classifier.probabilities(crops)
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", type=Path)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=2000)
    args = parser.parse_args()
    models = args.models or [
        bundled_path("models/species-fp32.onnx"),
        bundled_path("models/species-int8.onnx"),
    ]
    rng = np.random.default_rng(0)
    header = f"{'model':<24}{'kB':>7}{'1 crop p50 ms':>15}{'p90 ms':>9}{'8 crops p50 ms':>16}"
    print(f"{header}  threads={args.threads}")
    for path in models:
        classifier = SpeciesClassifier(path, threads=args.threads)
        w, h = classifier.size
        one = rng.integers(0, 256, (1, h, w, 3), dtype=np.uint8)
        eight = rng.integers(0, 256, (8, h, w, 3), dtype=np.uint8)
        single = _time_ms(classifier, one, args.runs)
        batch = _time_ms(classifier, eight, max(1, args.runs // 8))
        p90 = statistics.quantiles(single, n=10)[-1]
        print(
            f"{path.name:<24}{path.stat().st_size / 1024:>7.0f}{statistics.median(single):>15.3f}"
            f"{p90:>9.3f}{statistics.median(batch):>16.3f}"
        )


if __name__ == "__main__":
    main()
