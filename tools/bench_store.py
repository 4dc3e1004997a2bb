#!/usr/bin/env python3
"""What storing one passage costs the pipeline thread: snapshot JPEG + row + outbox, fsynced.

    python tools/bench_store.py [--passages 500] [--folder DIR]

Each passage is durable when `record()` returns (WAL, synchronous=FULL), so the
time is dominated by the disk's fsync; run it on the board's own SD card or SSD
(--folder) to know what a trap pays. Also times the counts query over what was stored.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from fishgate.recorder import passage_messages
from fishgate.store import PassageStore
from fishgate.types import Passage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=500)
    parser.add_argument("--folder", type=Path, help="where the store goes (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.folder) as tmp:
        store = PassageStore(Path(tmp) / "bench.db")
        rng = np.random.default_rng(0)
        snapshot = rng.integers(0, 255, (100, 260, 3), np.uint8)  # a fish crop with margin
        zone, start = ZoneInfo("Europe/Oslo"), datetime(2026, 8, 1, tzinfo=UTC)
        times = []
        for n in range(args.passages):
            passage = Passage(f"bench-{n}", "pink_salmon", 0.97, "upstream", "tank", n, n + 50, n + 20, 55.0)
            when = start + timedelta(minutes=n)
            t0 = time.perf_counter()
            store.record(passage, "bench", when, when.astimezone(zone), "m", snapshot, passage_messages)
            times.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        rows = store.counts(by="hour")
        counts_ms = (time.perf_counter() - t0) * 1000
        store.close()
    times.sort()
    p99 = times[int(0.99 * (len(times) - 1))]
    print(f"record one passage (snapshot + row + outbox, fsynced): median {statistics.median(times):.2f} ms, "
          f"p99 {p99:.2f} ms, max {times[-1]:.2f} ms over {len(times)}")  # fmt: skip
    print(f"counts by hour over {args.passages} passages ({len(rows)} rows): {counts_ms:.2f} ms")


if __name__ == "__main__":
    main()
