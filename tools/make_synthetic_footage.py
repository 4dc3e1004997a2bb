#!/usr/bin/env python3
"""Render a synthetic, annotated clip of the trap chute.

    python tools/make_synthetic_footage.py --scenario calm --seconds 20 --seed 1 --out DIR/NAME

writes DIR/NAME.mp4 (mp4v, or H.264 with --h264 where ffmpeg is installed),
DIR/NAME.xml (CVAT for video 1.1) and DIR/NAME.json (manifest).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

# Run from a checkout without installing: the package beside this script comes first.
REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from fishgate.synth import SCENARIOS, SceneSpec, write_clip  # noqa: E402


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenario", required=True, choices=sorted(SCENARIOS))
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, type=Path, help="DIR/NAME: where to write NAME.mp4/.xml/.json")
    p.add_argument("--fps", type=int, default=25)
    p.add_argument("--fish-per-minute", type=float, default=None, help="override the scenario's rate")
    p.add_argument(
        "--jpeg-quality", type=int, default=None, help="add JPEG artefacts to every frame (1..100)"
    )
    p.add_argument("--h264", action="store_true", help="re-encode with ffmpeg/libx264 -crf 28 if available")
    p.add_argument("--quiet", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        spec = SceneSpec(
            args.scenario,
            args.seconds,
            fps=args.fps,
            seed=args.seed,
            fish_per_minute=args.fish_per_minute,
            jpeg_quality=args.jpeg_quality,
        )
    except ValueError as exc:
        print(f"make_synthetic_footage: {exc}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    def progress(done: int, total: int) -> None:
        if not args.quiet and (done % 100 == 0 or done == total):
            print(f"\r{done}/{total} frames", end="" if done < total else "\n", file=sys.stderr, flush=True)

    clip = write_clip(spec, args.out, h264=args.h264, progress=progress)
    if not args.quiet:
        took = time.perf_counter() - started
        print(
            f"{clip.video} ({'H.264' if clip.h264 else 'mp4v'}), {clip.annotations}, {clip.manifest}: "
            f"{spec.frames} frames, {len(clip.tracks)} fish, {took:.1f} s",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
