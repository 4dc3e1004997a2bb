#!/usr/bin/env python3
"""How fast the whole pipeline runs on this CPU, per clip and per stage.

    python tools/bench_pipeline.py VIDEO... [--config firmware_config/chute-sample.toml] [--repeat N]

For each clip: frames per second including decoding (one thread for OpenCV and ONNX
Runtime), milliseconds per stage, and the 50th/99th percentile of the time from a
frame's arrival (decoded, handed to the pipeline) to the gate command it produced.
Then the cost of a frame with nothing moving, on a still synthetic chute.

With `--repeat N` each clip is run N times and its fastest run is shown, as `timeit`
does: on a shared machine other work only ever adds time, so the fastest run is the
nearest to a quiet machine; `slowest` shows the spread.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from fishgate.config import load_config
from fishgate.replay import ClassifierVotes, build_pipeline
from fishgate.sources.replay import ReplaySource
from fishgate.sources.synthetic import SyntheticSource
from fishgate.vision.classifier import SpeciesClassifier
from fishgate.vision.gated import build_detector

REPO = Path(__file__).resolve().parents[1]


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def bench_clip(video: Path, config_path: Path) -> dict[str, float]:
    config = load_config(config_path)
    classifier = ClassifierVotes(
        SpeciesClassifier(config.species_model.path, config.species_model.card, threads=1)
    )
    with ReplaySource(video, fps=config.source.fps) as source:
        size = (source.width, source.height)
        detector = build_detector(config, size)
        pipeline = build_pipeline(config, detector, classifier, size, source.fps, run_id=video.stem)
        stages: dict[str, list[float]] = {}
        decode_ms, to_command_ms = [], []
        frames = 0
        start = time.perf_counter()
        it = iter(source)
        while True:
            t0 = time.perf_counter()
            frame = next(it, None)
            t1 = time.perf_counter()
            if frame is None:
                break
            result = pipeline.step(frame)
            t2 = time.perf_counter()
            frames += 1
            decode_ms.append((t1 - t0) * 1000)
            if result.command is not None or result.decisions:
                to_command_ms.append((t2 - t1) * 1000)
            for name, ms in result.timings_ms.items():
                stages.setdefault(name, []).append(ms)
        wall = time.perf_counter() - start
    row = {"frames": frames, "fps": frames / wall, "decode": statistics.fmean(decode_ms)}
    row.update({name: statistics.fmean(ms) for name, ms in stages.items()})
    row["cmd_p50"], row["cmd_p99"] = _pct(to_command_ms, 50), _pct(to_command_ms, 99)
    return row


def bench_still(config_path: Path, frames: int = 500) -> tuple[float, float]:
    """Median and p99 ms per frame of detect+track+decide on a chute where nothing moves."""
    config = load_config(config_path)
    source = SyntheticSource(frames=frames, noise=2.0)
    classifier = ClassifierVotes(
        SpeciesClassifier(config.species_model.path, config.species_model.card, threads=1)
    )
    detector = build_detector(config, (source.width, source.height))
    pipeline = build_pipeline(
        config, detector, classifier, (source.width, source.height), source.fps, run_id="still"
    )
    times = []
    for frame in source:
        t0 = time.perf_counter()
        pipeline.step(frame)
        times.append((time.perf_counter() - t0) * 1000)
    times = times[25:]  # after the background has settled
    return statistics.median(times), _pct(times, 99)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("videos", nargs="+", type=Path)
    parser.add_argument("--config", type=Path, default=REPO / "firmware_config" / "chute-sample.toml")
    parser.add_argument("--repeat", type=int, default=1, help="runs per clip; the fastest is shown")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error(f"--repeat: expected 1 or more runs per clip, got {args.repeat}")
    cv2.setNumThreads(1)
    cols = ("fps", "decode", "detect", "track", "classify", "decide", "gate", "cmd_p50", "cmd_p99")
    if args.repeat > 1:
        cols += ("slowest",)
    print(f"{'clip':<16}{'frames':>7}" + "".join(f"{c:>10}" for c in cols) + "   (ms unless fps)")
    rows = []
    for video in args.videos:
        runs = [bench_clip(video, args.config) for _ in range(args.repeat)]
        row = max(runs, key=lambda r: r["fps"])
        row["slowest"] = min(r["fps"] for r in runs)  # stage times are the fastest run's
        rows.append(row)
        print(
            f"{video.stem:<16}{row['frames']:>7.0f}"
            + "".join(f"{row.get(c, float('nan')):>10.2f}" for c in cols)
        )
    total_frames = sum(r["frames"] for r in rows)
    overall = total_frames / sum(r["frames"] / r["fps"] for r in rows)
    print(f"{'ALL':<16}{total_frames:>7.0f}{overall:>10.2f}")
    median, p99 = bench_still(args.config)
    print(
        f"nothing moving: {median:.3f} ms per frame median, {p99:.3f} ms p99"
        " (detect+track+decide+gate, no decode)"
    )


if __name__ == "__main__":
    main()
