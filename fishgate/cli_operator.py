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

from fishgate.cli import _add_config
from fishgate.config import load_config
from fishgate.errors import ConfigError, ExitStatus, SourceError

STALE_INTERVALS = 3  # a status older than this many writes: the trap is not running


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

    am = sub.add_parser(
        "aim",
        help="a PNG of the camera's view with the counting line, upstream, gate, scale and fish",
        description="Grab frames from the configured source and draw what the config says about them: "
        "the counting line, the upstream arrow, the gate side, a 10 cm scale bar from px_per_cm, and the "
        "fish the detector finds with their estimated lengths.",
    )
    _add_config(am)
    am.add_argument("--output", "-o", type=Path, default=Path("aim.png"), help="PNG to write (aim.png)")
    am.add_argument("--frames", type=int, default=25, help="frames to read (the last is drawn; default 25)")
    am.add_argument("--at", type=float, metavar="S", help="video files: start S seconds in")
    am.set_defaults(func=cmd_aim)

    ca = sub.add_parser(
        "calibrate",
        help="px_per_cm from two points a known length apart (prints the TOML line)",
        description="Measure px_per_cm: pick on the aim picture the two ends of something of known "
        "length lying along the chute (a ruler, a marked board), give their pixels and the length.",
    )
    ca.add_argument("--config", "-c", type=Path, help="site config: checks the points and compares")
    ca.add_argument("--points", required=True, metavar="X1,Y1,X2,Y2", help="the two ends, in pixels")
    ca.add_argument("--cm", type=float, required=True, help="the known length between them, in cm")
    ca.set_defaults(func=cmd_calibrate)

    register_review(sub)

    sr = sub.add_parser(
        "store-rescue",
        help="copy what can still be read from a damaged store into a new one",
        description="Read a damaged store row by row (one bad page loses its rows, not the season) and "
        "write every readable passage, review and outbox message into a new store. The damaged file "
        "is never changed. Exit 1 if any row could not be read.",
    )
    sr.add_argument("--db", type=Path, required=True, help="the damaged store")
    sr.add_argument("--output", "-o", type=Path, required=True, help="the new store to write")
    sr.set_defaults(func=cmd_store_rescue)


def cmd_aim(args: argparse.Namespace) -> int:
    import cv2

    from fishgate.aim import aim_picture, fish_seen, scale_advice
    from fishgate.app import open_source
    from fishgate.clock import MonotonicClock
    from fishgate.sources.guard import read_frames
    from fishgate.vision.gated import build_detector

    config = load_config(args.config)
    source = open_source(config, MonotonicClock())
    try:
        if args.at is not None:
            seek = getattr(source, "seek", None)
            if seek is None:
                raise ConfigError("--at: only a video file can be started part-way; a camera shows now")
            seek(round(args.at * source.fps))
        frames = read_frames(source, args.frames)
    finally:
        source.close()
    if not frames:
        raise SourceError(f"{config.source.kind} source: no frame to aim with")
    # every frame goes through the detector: the background model needs a few to learn the water
    detector = build_detector(config, (source.width, source.height))
    for frame in frames:
        detections = detector.detect(frame.image, frame.t)
    fish = fish_seen(detections, config.geometry.px_per_cm)
    picture = aim_picture(frames[-1].image, config, fish)
    if not cv2.imwrite(str(args.output), picture):
        raise ConfigError(f"--output: cannot write a PNG to {args.output}")
    g = config.geometry
    print(f"wrote {args.output}: {source.width}x{source.height}, frame {frames[-1].index}")
    print(
        f"  counting line x = {g.counting_line_x:g}, upstream {g.upstream}, 10 cm = {10 * g.px_per_cm:.0f} px"
    )
    lengths = ", ".join(f"{f.length_cm:.0f} cm" if f.whole else "one at the edge" for f in fish)
    lengths = lengths or "none (no fish in view?)"
    print(f"  fish found: {lengths}")
    advice = scale_advice(fish, g.px_per_cm)
    if advice:
        print(f"warning: {advice}")
    return ExitStatus.OK


def cmd_calibrate(args: argparse.Namespace) -> int:
    from fishgate.aim import parse_points, px_per_cm_from

    config = load_config(args.config) if args.config else None
    size = None  # the points are checked against the frame when the config says its size
    if config is not None:
        width = config.geometry.frame_width or config.source.width
        if width is not None and config.source.height is not None:
            size = (width, config.source.height)
    scale = px_per_cm_from(parse_points(args.points), args.cm, size)
    distance = scale * args.cm
    print(f"# {distance:.1f} px over {args.cm:g} cm; paste under [geometry]:")
    print(f"px_per_cm = {scale:.3f}")
    if config is not None:
        now = config.geometry.px_per_cm
        print(f"# the config has px_per_cm = {now:g} ({(now - scale) / scale:+.1%} from this measurement)")
    return ExitStatus.OK


def cmd_review(args: argparse.Namespace) -> int:
    import os
    from zoneinfo import ZoneInfo

    from fishgate.cli import _store
    from fishgate.review.serve import make_review_server, open_desk

    password = os.environ.get("FISHGATE_REVIEW_PASSWORD") or None
    if args.password_file is not None:
        try:
            password = args.password_file.read_text(encoding="utf-8").strip() or None
        except OSError as exc:
            raise ConfigError(f"--password-file: cannot read {args.password_file} ({exc.strerror})") from None
    config = load_config(args.config) if args.config else None
    with _store(args) as store:  # opened once with its checks; the desk reopens per request
        desk = open_desk(
            store,
            ZoneInfo(config.site.timezone) if config else None,
            config.site.name if config else None,
            password,
            args.reviewer,
        )
    server = make_review_server(desk, args.bind)
    host, port = str(server.server_address[0]), server.server_address[1]
    where = "read-only: nothing can be saved" if not desk.writable else "reviews are saved in the store"
    print(f"fishgate review: http://{host}:{port}/ ({desk.store}; {where}); Ctrl-C to stop", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return ExitStatus.OK


def cmd_store_rescue(args: argparse.Namespace) -> int:
    from fishgate.store_rescue import rescue

    results = rescue(args.db, args.output)
    for r in results:
        print(f"{r.table:<9} {r.copied:>7} rows copied" + (f", {r.lost} unreadable (lost)" if r.lost else ""))
    lost = sum(r.lost for r in results)
    print(f"wrote {args.output}" + (f"; {lost} rows could not be read" if lost else "; nothing lost"))
    return ExitStatus.OK if lost == 0 else ExitStatus.ERROR


def register_review(sub: Any) -> None:
    from fishgate.review.serve import DEFAULT_BIND

    rv = sub.add_parser(
        "review",
        help="the biologist's desk: browse passages with pictures, correct labels, see the season",
        description="Serve a local web application over the store: the passage list with thumbnails "
        "and filters, each passage with its picture and keyboard shortcuts to confirm or correct it, "
        "and the season's charts. Corrections are stored as reviews, never over the detections.",
    )
    _add_config(rv, required=False)
    rv.add_argument("--db", type=Path, help="a store file (a copy on a desk) instead of the config's")
    rv.add_argument(
        "--bind", default=DEFAULT_BIND, metavar="HOST:PORT", help=f"where to listen ({DEFAULT_BIND})"
    )
    rv.add_argument("--password-file", type=Path, help="password for other machines (HTTP Basic)")
    rv.add_argument("--reviewer", default="", help="your name, signed on each review (the page remembers it)")
    rv.set_defaults(func=cmd_review)
