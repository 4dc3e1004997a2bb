#!/usr/bin/env python3
"""Does the review desk slow the trap? Replay fps with and without a reader, side by side.

    python tools/bench_review.py [VIDEO...] [--rounds 3] [--store DB]

The desk runs as the operator would run it (`fishgate review`, its own process) over a
store; a client process reloads the passage list every second, thumbnails included (as
a browser with its cache off would). Meanwhile this process replays VIDEO through the
whole pipeline (tools/bench_pipeline.py's bench, one thread), alternately with the
client running and without, and prints the frame rates and their difference.
Without --store, the store is made by replaying the bundled demo first.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_pipeline import REPO, bench_clip

from fishgate.config import bundled_path

CLIENT = r"""
import re, sys, time, urllib.request
base = sys.argv[1]
while True:
    started = time.monotonic()
    page = urllib.request.urlopen(base + "/passages?order=confidence").read().decode()
    for src in re.findall(r'src="(/snapshot/[^"]+)"', page):
        urllib.request.urlopen(base + src.replace("&amp;", "&")).read()
    time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
"""


def _store_from_demo(folder: Path) -> Path:
    config = folder / "site.toml"
    text = (REPO / "firmware_config" / "chute-sample.toml").read_text()
    text = text.replace("bundled:", f"{bundled_path('')}/")
    text = text.replace("fishgate-data/fishgate.db", f"{folder}/store.db")
    config.write_text(text)
    run = [sys.executable, "-m", "fishgate", "run", "-c", str(config)]
    subprocess.run(run, check=True, capture_output=True)
    return folder / "store.db"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("videos", nargs="*", type=Path, default=[bundled_path("demo/chute-demo.mp4")])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--store", type=Path, help="the store to serve (default: the demo replayed)")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    config = REPO / "firmware_config" / "chute-sample.toml"
    with tempfile.TemporaryDirectory() as tmp:
        store = args.store or _store_from_demo(Path(tmp))
        base = f"http://127.0.0.1:{args.port}"
        desk = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fishgate",
                "review",
                "--db",
                str(store),
                "--bind",
                base.removeprefix("http://"),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert desk.stdout is not None and "fishgate review" in desk.stdout.readline()
            fps: dict[str, list[float]] = {"alone": [], "with a reader": []}
            for _ in range(args.rounds):
                for label in fps:
                    client = None
                    if label != "alone":
                        client = subprocess.Popen([sys.executable, "-c", CLIENT, base])
                        time.sleep(1.5)  # the reader is reloading before the replay starts
                    rows = [bench_clip(video, config) for video in args.videos]
                    frames = sum(r["frames"] for r in rows)
                    fps[label].append(frames / sum(r["frames"] / r["fps"] for r in rows))
                    if client is not None:
                        client.terminate()
                        client.wait()
        finally:
            desk.terminate()
            desk.wait()
    alone, read = statistics.median(fps["alone"]), statistics.median(fps["with a reader"])
    for label, values in fps.items():
        rounds = ", ".join(f"{v:.1f}" for v in values)
        print(f"{label:<15} fps per round: {rounds}  median {statistics.median(values):.1f}")
    # rounds run back to back, so each pair shares the machine's state (clock, heat, load)
    paired = [(b - a) / a for a, b in zip(fps["alone"], fps["with a reader"], strict=True)]
    print(f"paired difference per round: {', '.join(f'{d:+.1%}' for d in paired)}")
    print(f"difference of medians: {(read - alone) / alone:+.1%} (target: within 5 %)")


if __name__ == "__main__":
    main()
