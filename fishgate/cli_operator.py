"""The operator's commands on the board: `status` (what the running trap is doing).

Kept apart from cli.py, which holds the pipeline, report and training commands;
`register(sub)` adds these to the one `fishgate` parser.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fishgate.config import load_config
from fishgate.errors import ExitStatus

STALE_INTERVALS = 3  # a status older than this many writes: the trap is not running


def _add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", type=Path, required=True, help="site config (TOML)")


def cmd_status(args: argparse.Namespace) -> int:
    from fishgate.telemetry.status import read_status

    config = load_config(args.config)
    folder = config.storage.path.parent
    status = read_status(folder)
    if status is None:
        print(f"no trap has run with this store yet ({folder}/status.json does not exist)")
        return ExitStatus.ERROR
    age_s = (datetime.now(UTC) - datetime.fromisoformat(status["time"])).total_seconds()
    alive = bool(status.get("running")) and age_s <= STALE_INTERVALS * float(status.get("interval_s", 5))
    if args.json:
        print(json.dumps({**status, "age_s": round(age_s, 1), "alive": alive}))
    else:
        print(format_status(status, age_s, alive))
    return ExitStatus.OK if alive else ExitStatus.ERROR


def format_status(status: dict[str, Any], age_s: float, alive: bool) -> str:
    if alive:
        head = f"running: {status.get('fps')} fps, {status.get('frames')} frames"
    elif status.get("running"):
        head = f"NOT RUNNING: last heard from {age_s:.0f} s ago (crashed, stalled or powered off?)"
    else:
        head = f"stopped {age_s:.0f} s ago"
    link = status.get("mqtt_connected")
    broker = "no [mqtt] section" if link is None else ("connected" if link else "NOT connected")
    lines = [
        head,
        f"gate:     {status.get('gate')} (mode {status.get('mode')})",
        f"mqtt:     {broker}; outbox {status.get('outbox')} messages waiting",
        f"frame ms: p50 {status.get('frame_ms_p50')}, p99 {status.get('frame_ms_p99')}",
        f"disk:     {status.get('disk_free_mb')} MB free",
    ]
    known = {"time", "running", "interval_s", "gate", "mode", "fps", "frames", "mqtt_connected", "outbox"}
    known |= {"frame_ms_p50", "frame_ms_p99", "decision_ms_p50", "decision_ms_p99", "disk_free_mb"}
    counters = {k: v for k, v in status.items() if k not in known and isinstance(v, int)}
    if counters:
        lines.append("counted:  " + ", ".join(f"{k} {v}" for k, v in sorted(counters.items())))
    return "\n".join(lines)


def register(sub: Any) -> None:
    st = sub.add_parser(
        "status",
        help="what the trap on this board is doing now (read from its status file)",
        description="Show the running trap's gate, frame rate, MQTT link, outbox and disk. "
        "Exit 1 when no trap is running with this config's store.",
    )
    _add_config(st)
    st.add_argument("--json", action="store_true", help="the status as JSON")
    st.set_defaults(func=cmd_status)
