#!/usr/bin/env python3
"""Counting rules compared on annotated clips, tracks-only: fishgate's against the naive one.

    python tools/count_rules.py FOLDER --config firmware_config/closeup-1080p.toml [--jitter 10 --drop 0.2]

Each NAME.xml of FOLDER is replayed on its annotated boxes (optionally jittered and
thinned) once with fishgate's extent-and-border rule (vision/counting.py CountingLine)
and once with the naive rule (a track counts if its box centre ends on the other side
of the line from where it began); prints, per rule, the share of clips whose up and
down counts are both exact, and the count error summed over all clips.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fishgate.batch import annotated_clips
from fishgate.config import load_config
from fishgate.cvat import read_cvat
from fishgate.evaluate import EvaluationSite, count_exact, evaluate_footage
from fishgate.replay import replay_log
from fishgate.replay_job import replay_annotation
from fishgate.vision.counting import CountingLine, MidlineCounter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--config", "-c", type=Path, required=True)
    parser.add_argument("--jitter", type=float, default=0.0)
    parser.add_argument("--drop", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    config = load_config(args.config)
    g = config.geometry
    clips = annotated_clips(args.folder)
    print(f"{'rule':<10}{'clips':>7}{'exact':>8}{'up err':>8}{'down err':>10}")
    for name in ("extent", "midline"):
        exact = up_err = down_err = 0
        for xml in clips:
            annotation = read_cvat(xml)
            width = g.frame_width or annotation.width or 0
            counter = (
                CountingLine(g.counting_line_x, g.upstream_sign, width)
                if name == "extent"
                else MidlineCounter(g.counting_line_x, g.upstream_sign)
            )
            stats, fps = replay_annotation(
                config,
                xml,
                None,
                jitter_px=args.jitter,
                drop=args.drop,
                seed=args.seed,
                progress=False,
                counter=counter,
            )
            result = evaluate_footage(annotation, replay_log(stats), EvaluationSite.from_config(config, fps))
            exact += count_exact(result)
            for direction in ("upstream", "downstream"):
                counted = sum(p.direction == direction for p in result.passages)
                true = sum(f.direction == direction for f in result.truth)
                if direction == "upstream":
                    up_err += abs(counted - true)
                else:
                    down_err += abs(counted - true)
        print(f"{name:<10}{len(clips):>7}{exact / len(clips):>8.3f}{up_err:>8}{down_err:>10}")


if __name__ == "__main__":
    main()
