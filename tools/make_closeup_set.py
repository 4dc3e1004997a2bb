#!/usr/bin/env python3
"""Write a set of close-up counting clips (annotations and manifests, no video).

    python tools/make_closeup_set.py --out out/closeup --clips 40 --seed 5000

Clip i uses seed SEED + i. Each NAME.xml (CVAT for video 1.1) has NAME.json beside it
with the true up and down counts. Replay them tracks-only with
firmware_config/closeup-1080p.toml (`fishgate evaluate-footage DIR --tracks-only`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from fishgate.synth.closeup import CloseupSpec, write_closeup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--clips", type=int, default=40)
    parser.add_argument("--seed", type=int, default=5000, help="seed of the first clip")
    parser.add_argument("--fish", type=int, default=6, help="fish per clip")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    up = down = 0
    for i in range(args.clips):
        seed = args.seed + i
        _, manifest = write_closeup(CloseupSpec(seed=seed, fish=args.fish), args.out / f"closeup-{seed}")
        counts = json.loads(manifest.read_text())["counts"]
        up, down = up + counts["upstream"], down + counts["downstream"]
    print(f"wrote {args.clips} clips to {args.out}: {up} fish up, {down} down")


if __name__ == "__main__":
    main()
