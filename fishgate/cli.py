"""The `fishgate` command: `main(argv)` returns an exit status.

Every FishgateError becomes one line on stderr and its exit status here, in one
place; commands themselves just raise.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from fishgate import __version__
from fishgate.config import SiteConfig, bundled_path, load_config
from fishgate.cvat import read_cvat
from fishgate.errors import ConfigError, ExitStatus, FishgateError, PassageLogError, SourceError
from fishgate.evaluate import (
    EvaluationSite,
    FootageResult,
    evaluate_footage,
    evaluation_json,
    format_doubts,
    format_metrics,
    read_replay_log,
)
from fishgate.vision.crops import DEFAULT_CROP_SIZE

if TYPE_CHECKING:
    from fishgate.store import PassageStore

log = logging.getLogger("fishgate")

Command = Callable[[argparse.Namespace], int]


def _add_config(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument(
        "--config",
        "-c",
        type=Path,
        required=required,
        metavar="SITE.toml",
        help="site config (see firmware_config/example.toml)",
    )


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def _add_report_args(
    parser: argparse.ArgumentParser,
    reviewed_help: str = "species as reviewed (default: as the trap detected them)",
) -> None:
    """--config or --db for the store, --from/--to for local days, and --reviewed."""
    _add_config(parser, required=False)
    parser.add_argument("--db", type=Path, help="read this store file instead of the config's storage.path")
    parser.add_argument("--from", dest="start", type=_day, metavar="YYYY-MM-DD", help="first local day")
    parser.add_argument("--to", dest="end", type=_day, metavar="YYYY-MM-DD", help="last local day (included)")
    parser.add_argument("--reviewed", action="store_true", help=reviewed_help)


def _log_for(truth: Path, logs: Path, count: int) -> Path:
    """The passage log of one truth file: LOG itself, or LOG/NAME.jsonl for a folder."""
    if logs.is_dir():
        return logs / f"{truth.stem}.jsonl"
    if count > 1:
        raise PassageLogError(f"{logs}: with several truth files, --log must be a folder of NAME.jsonl")
    return logs


def cmd_evaluate(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    site = EvaluationSite.from_config(config, fps=args.fps)
    results = []
    for truth_path in args.truth:
        annotation = read_cvat(truth_path)
        log = read_replay_log(_log_for(truth_path, args.log, len(args.truth)))
        results.append(evaluate_footage(annotation, log, site))
    if args.json:
        print(json.dumps(evaluation_json(results, site, args.per_clip)))
    else:
        print(format_metrics(results, site, args.per_clip))
    _warn_doubts(results)
    return ExitStatus.OK


def _warn_doubts(results: list[FootageResult]) -> None:
    doubts = format_doubts(results)
    if doubts:
        print(doubts, file=sys.stderr)


def cmd_evaluate_footage(args: argparse.Namespace) -> int:
    from fishgate.batch import BatchPlan, evaluate_clips, report

    config = load_config(args.config)
    plan = BatchPlan(
        folder=args.folder,
        pattern=args.clips,
        tracks_only=args.tracks_only,
        jitter_px=args.jitter,
        drop=args.drop,
        seed=args.seed,
        logs=args.logs,
    )
    results, site = evaluate_clips(config, plan, progress=not args.no_progress)
    print(report(results, site, args.json))
    _warn_doubts(results)
    return ExitStatus.OK


def cmd_replay(args: argparse.Namespace) -> int:
    from fishgate.replay_job import replay_command

    return replay_command(args)


def cmd_run(args: argparse.Namespace) -> int:
    from fishgate.app import build_parts, run_trap
    from fishgate.clock import MonotonicClock
    from fishgate.replay import EventLog

    config = load_config(args.config)
    clock = MonotonicClock()
    parts = build_parts(config, clock)
    with contextlib.ExitStack() as stack:
        events = None
        if args.events:
            args.events.parent.mkdir(parents=True, exist_ok=True)
            events = EventLog(stack.enter_context(args.events.open("a", encoding="utf-8")))
        stats = run_trap(
            config,
            parts,
            events,
            clock,
            progress=args.progress,
            mode=args.override,
            drain_timeout_s=args.drain_timeout,
        )
    print(f"{stats.frames} frames, {len(stats.passages)} passages, {len(stats.commands)} gate commands")
    # 130: stopped by a signal (systemd's unit counts it a clean stop: SuccessExitStatus)
    return ExitStatus.INTERRUPTED if stats.interrupted else ExitStatus.OK


def _store(args: argparse.Namespace, read_only: bool = True) -> PassageStore:
    """The store a report reads: --db, else the site config's storage.path. Checks the
    report's day range first: a reversed one is an error, not an empty report."""
    from fishgate.store import PassageStore

    start, end = getattr(args, "start", None), getattr(args, "end", None)
    if start is not None and end is not None and start > end:
        raise ConfigError(f"--from {start} is after --to {end}: give the earlier day first")
    if args.db is not None:
        return PassageStore(args.db, args.db.parent / "snapshots", read_only=read_only, create=False)
    if args.config is None:
        raise ConfigError("give --config SITE.toml (its storage.path) or --db FILE")
    storage = load_config(args.config).storage
    return PassageStore(storage.path, storage.snapshots, read_only=read_only, create=False)


def _site_zone(args: argparse.Namespace, store: PassageStore) -> ZoneInfo:
    """The site's time zone: the config's, else the one the trap noted in the store, else UTC."""
    if args.config is not None:
        return ZoneInfo(load_config(args.config).site.timezone)
    return ZoneInfo(store.meta().get("timezone", "UTC"))


def _species_arg(name: str | None) -> str | None:
    from fishgate.types import REVIEW_LABELS

    if name is not None and name not in REVIEW_LABELS:
        raise ConfigError(f"--species: unknown species {name!r}; known: {', '.join(REVIEW_LABELS)}")
    return name


def cmd_counts(args: argparse.Namespace) -> int:
    from fishgate.reports import counts_csv, format_counts

    with _store(args) as store:
        rows = store.counts(args.start, args.end, by=args.by, reviewed=args.reviewed)
    if args.csv:
        print(counts_csv(rows, args.by), end="")
    else:
        print(format_counts(rows, args.by, args.start, args.end, reviewed=args.reviewed))
    return ExitStatus.OK


def cmd_passages(args: argparse.Namespace) -> int:
    from fishgate.reports import format_passages
    from fishgate.store import PassageFilter

    species = _species_arg(args.species)
    with _store(args) as store:
        where = PassageFilter(species=species, reviewed=args.reviewed)
        text = format_passages(
            store.passages(args.start, args.end, where=where),
            store.snapshots,
            args.format,
            _site_zone(args, store),
            reviewed=args.reviewed,
        )
    if args.output:
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        print(text, end="")
    return ExitStatus.OK


def cmd_publish(args: argparse.Namespace) -> int:
    """Drain the outbox to the broker now (after days offline), then exit."""
    from fishgate.app import build_publisher
    from fishgate.store import PassageStore

    config = load_config(args.config)
    publisher = build_publisher(config, client_suffix="-publish")
    if publisher is None or config.mqtt is None:
        raise ConfigError(f"{args.config}: no [mqtt] section: nothing to publish to")
    with PassageStore(config.storage.path, config.storage.snapshots, create=False) as store:
        waiting = store.outbox_length()
    publisher.start()
    publisher.stop(drain_timeout_s=args.timeout)
    with PassageStore(config.storage.path, config.storage.snapshots) as store:
        left = store.outbox_length()
    print(
        f"{waiting - left} of {waiting} waiting messages delivered to {config.mqtt.host}:{config.mqtt.port}"
    )
    return ExitStatus.OK if left == 0 else ExitStatus.ERROR


def cmd_check(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    _check_writable(config.storage.path.parent)
    print(_describe(config))
    if not args.deep:
        return ExitStatus.OK
    from fishgate.deep_check import run_checks

    print()
    results = run_checks(config)
    for result in results:
        print(mask_secrets(result.line()))
    failed = [r.name for r in results if not r.ok]
    print(
        f"{len(failed)} of {len(results)} checks failed: {', '.join(failed)}" if failed else "all checks ok"
    )
    return ExitStatus.ERROR if failed else ExitStatus.OK


def _check_writable(folder: Path) -> None:
    """The store's folder (or the nearest that exists, where it will be made) takes writes."""
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is not None and not os.access(existing, os.W_OK):
        raise ConfigError(
            f"storage.path: {existing} is not writable (read-only or no permission): the trap could not "
            "store a passage; fix the folder's permissions or set storage.path elsewhere"
        )


def cmd_gate_test(args: argparse.Namespace) -> int:
    from fishgate.clock import MonotonicClock
    from fishgate.hw.gate import build_gate
    from fishgate.hw.gate_test import LimitSwitches, exercise

    config = load_config(args.config)
    gate = build_gate(config.gate, MonotonicClock())
    feedback = config.gate.feedback
    switches = LimitSwitches(feedback) if feedback is not None else None
    timings = exercise(gate, config.gate.travel_s, args.cycles, switches)
    for number, timing in enumerate(timings, start=1):
        print(timing.line(number))
    print(f"gate back at its safe position ({config.gate.safe})")
    if switches is None:
        print("no [gate.feedback] limit switches: the commands were sent, the flap itself was not seen")
        return ExitStatus.OK
    failed = [t for t in timings if t.slow or not t.seen]
    expected = 2 * args.cycles + 1
    if failed or len(timings) < expected:
        print(f"{len(failed)} of {len(timings)} moves slower than gate.travel_s or never reached their end")
        return ExitStatus.ERROR
    return ExitStatus.OK


def _describe(config: SiteConfig) -> str:
    g, gate = config.geometry, config.gate
    mqtt = (
        f"{config.mqtt.host}:{config.mqtt.port}"
        if config.mqtt
        else "none (offline: passages wait in the store)"
    )
    source = mask_secrets(str(config.source.path or config.source.uri or ""))
    lines = [
        f"config ok: {config.origin}",
        f"  site        {config.site.name} ({config.site.timezone})",
        f"  source      {config.source.kind} {source}".rstrip(),
        f"  geometry    {g.px_per_cm} px/cm, counting line x={g.counting_line_x}, upstream {g.upstream}, "
        f"gate {g.gate_distance_cm} cm beyond the upstream edge",
        f"  gate        {gate.kind}, travel {gate.travel_s} s, idle {gate.idle}, safe {gate.safe}",
        f"  model       {config.model.path if config.model else 'none (tracks-only replay only)'}",
        f"  detector    {_detector_line(config)}",
        f"  tank        {', '.join(sorted(config.decision.tank_species))}",
        f"  storage     {config.storage.path}",
        f"  mqtt        {mqtt}",
    ]
    return "\n".join(lines)


def mask_secrets(text: str) -> str:
    """A URL's password as *** (rtsp://user:secret@camera/ -> rtsp://user:***@camera/)."""
    return re.sub(r"(//[^/:@\s]*:)[^@/\s]*@", r"\1***@", text)


def _detector_line(config: SiteConfig) -> str:
    d = config.detection
    what = f"learned {d.model}" if d.kind == "learned" else "background subtraction"
    return f"{what}, min length {d.min_length_cm} cm, motion gate {'on' if d.motion_gate else 'off'}"


def cmd_demo(args: argparse.Namespace) -> int:
    from fishgate.replay_job import demo_command

    return demo_command(
        bundled_path("demo/chute-demo.toml"), bundled_path("demo/chute-demo.xml"), not args.no_progress
    )


def _default_model() -> Path:
    return bundled_path("models/species-int8.onnx")


def cmd_classify(args: argparse.Namespace) -> int:
    import cv2

    from fishgate.vision.classifier import SpeciesClassifier

    model = args.model or (load_config(args.config).species_model.path if args.config else _default_model())
    classifier = SpeciesClassifier(model, threads=args.threads)
    results = []
    for path in args.images:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise SourceError(f"{path}: cannot read image (missing, or not a PNG/JPEG/BMP file)")
        score = classifier.classify_image(image)
        results.append({"image": str(path), "label": score.label, "confidence": round(score.confidence, 4)})
    for r in results:
        print(json.dumps(r) if args.json else f"{r['image']}\t{r['label']}\t{r['confidence']:.4f}")
    return ExitStatus.OK


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 96x40, got {text!r}") from None
    if not (16 <= w <= 512 and 16 <= h <= 512):
        raise argparse.ArgumentTypeError(f"sizes must be 16..512 pixels, got {text!r}")
    return w, h


@contextlib.contextmanager
def _train_extra() -> Iterator[None]:
    """Imports of the training code: torch and onnx come with the [train] extra only."""
    try:
        yield
    except ImportError as exc:
        raise FishgateError(
            f"training needs the [train] extra ({exc.name} is missing): pip install 'fishgate[train]'"
        ) from None


Clips = tuple[tuple[Path, Path], ...]  # (video, annotation) pairs


def _training_clips(args: argparse.Namespace) -> tuple[Clips, Clips]:
    """(train, validation) clips named by --footage, --train and --val; `train` may have
    --images (ImageFolders) instead of --footage."""
    from fishgate.training.build import find_clips

    if args.footage is None:
        if not getattr(args, "images", None):
            raise ConfigError("give --footage DIR (annotated clips) and/or --images DIR (pictures)")
        if args.val:
            raise ConfigError("--val names clips of --footage: give --footage DIR too")
        return (), ()
    train_clips = find_clips(args.footage, args.train)
    if not train_clips:
        raise FishgateError(f"{args.footage}: no annotated clips match {args.train!r}")
    return train_clips, find_clips(args.footage, args.val) if args.val else ()


def cmd_train(args: argparse.Namespace) -> int:
    with _train_extra():
        from fishgate.training.build import BuildPlan, build
    if not 0 <= args.images_margin <= 0.5:
        raise ConfigError(
            f"--images-margin: expected a share of the box in [0, 0.5], got {args.images_margin}"
        )
    train_clips, val_clips = _training_clips(args)
    plan = BuildPlan(
        train_clips=train_clips,
        val_clips=val_clips,
        out_dir=args.out,
        name=args.name,
        cache_dir=args.cache,
        synthetic_seconds=args.synthetic_seconds,
        epochs=args.epochs,
        seed=args.seed,
        crop_size=args.crop_size,
        image_folders=tuple(args.images or ()),
        image_margin=args.images_margin,
    )
    build(plan)
    return ExitStatus.OK


def cmd_train_detector(args: argparse.Namespace) -> int:
    with _train_extra():
        from fishgate.training.detector_build import DetectorPlan, build_detector
    train_clips, val_clips = _training_clips(args)
    plan = DetectorPlan(
        train_clips=train_clips,
        val_clips=val_clips,
        out_dir=args.out,
        name=args.name,
        cache_dir=args.cache,
        epochs=args.epochs,
        seed=args.seed,
    )
    build_detector(plan)
    return ExitStatus.OK


def _add_training_args(
    parser: argparse.ArgumentParser,
    name: str,
    val_help: str,
    cache_help: str,
    footage_required: bool = True,
) -> None:
    """The options `train` and `train-detector` share: footage, clip globs, output, epochs."""
    parser.add_argument(
        "--footage",
        type=Path,
        required=footage_required,
        help="folder of NAME.mp4 + NAME.xml (CVAT for video 1.1)",
    )
    parser.add_argument("--train", default="*", metavar="GLOB", help="clips to train on (default: all)")
    parser.add_argument("--val", metavar="GLOB", help=f"clips to validate on (default: {val_help})")
    parser.add_argument(
        "--out", type=Path, default=Path("models"), help="where the .onnx and cards go (default: models/)"
    )
    parser.add_argument("--name", default=name, help=f"file name stem (default: {name})")
    parser.add_argument("--epochs", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, help=cache_help)


def _add_noise_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--jitter", type=float, default=0.0, metavar="PX", help="tracks-only: box noise (std, px)"
    )
    parser.add_argument(
        "--drop", type=float, default=0.0, metavar="P", help="tracks-only: drop this fraction of boxes"
    )
    parser.add_argument("--seed", type=int, default=0, help="tracks-only: seed for --jitter/--drop")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fishgate",
        description="Edge controller for AI fish traps: detect, classify, sort and count fish.",
    )
    parser.add_argument("--version", action="version", version=f"fishgate {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    ev = sub.add_parser(
        "evaluate",
        help="score passage logs against CVAT ground truth (EVALUATION.md)",
        description="Match passages to annotated fish and print the metrics of EVALUATION.md.",
    )
    ev.add_argument(
        "truth", type=Path, nargs="+", metavar="TRUTH.xml", help="CVAT for video 1.1 annotation(s)"
    )
    ev.add_argument(
        "--log",
        "-l",
        type=Path,
        required=True,
        metavar="LOG",
        help="passage log (JSON Lines); with several truth files, a folder holding NAME.jsonl for each",
    )
    _add_config(ev)
    ev.add_argument("--fps", type=float, help="frame rate of the footage (default: source.fps of the config)")
    ev.add_argument("--json", action="store_true", help="print one JSON object with the metric names as keys")
    ev.add_argument(
        "--per-clip",
        action="store_true",
        help='a row per clip in the table; in JSON {"clips": {NAME: metrics}, "all": metrics}',
    )
    ev.set_defaults(func=cmd_evaluate)

    ef = sub.add_parser(
        "evaluate-footage",
        help="replay every annotated clip of a folder and score them, per clip and pooled",
        description="Replay each NAME.xml (CVAT for video 1.1) with its video beside it through the "
        "pipeline, then print the metrics of EVALUATION.md per clip and pooled.",
    )
    ef.add_argument("folder", type=Path, metavar="DIR", help="folder of NAME.mp4 + NAME.xml")
    _add_config(ef)
    ef.add_argument(
        "--clips", default="*", metavar="GLOB", help="clip names to take, e.g. '*-02' (default: all)"
    )
    ef.add_argument(
        "--tracks-only",
        action="store_true",
        help="replay the annotated boxes and labels instead of video, detector and species model",
    )
    _add_noise_args(ef)
    ef.add_argument(
        "--logs", type=Path, metavar="DIR", help="keep each clip's passage log here as NAME.jsonl"
    )
    ef.add_argument("--json", action="store_true", help='print {"clips": {NAME: metrics}, "all": metrics}')
    ef.add_argument("--no-progress", action="store_true", help="no progress bar")
    ef.set_defaults(func=cmd_evaluate_footage)

    rp = sub.add_parser(
        "replay",
        help="run recorded footage through the whole pipeline and log its passages",
        description="Replay a video (or, with --detections, only its annotated boxes) through the pipeline.",
    )
    rp.add_argument("video", type=Path, nargs="?", help="video file (default: source.path of the config)")
    _add_config(rp)
    rp.add_argument("--events", "-o", type=Path, help="write passages (JSON Lines) here")
    rp.add_argument(
        "--truth", type=Path, metavar="ANNOT.xml", help="also evaluate against this CVAT annotation"
    )
    rp.add_argument(
        "--detections",
        type=Path,
        metavar="ANNOT.xml",
        help="tracks-only: use these annotated boxes and labels instead of video, detector and classifier",
    )
    _add_noise_args(rp)
    rp.add_argument("--no-progress", action="store_true", help="no progress bar")
    rp.set_defaults(func=cmd_replay)

    rn = sub.add_parser(
        "run",
        help="run the trap: camera, detector, species model and gate as the site config says",
        description="Run until the camera stops or SIGTERM/Ctrl-C; the gate ends in its safe position.",
    )
    _add_config(rn)
    rn.add_argument("--events", "-o", type=Path, help="also append passages and gate commands (JSON Lines)")
    rn.add_argument(
        "--override",
        choices=("auto", "river", "tank"),
        default="auto",
        help="gate mode at start: auto sorts; river or tank holds the gate there (default auto)",
    )
    rn.add_argument("--progress", action="store_true", help="show a progress bar")
    rn.add_argument(
        "--drain-timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="at the end, wait up to S seconds for the MQTT outbox to empty (default 10)",
    )
    rn.set_defaults(func=cmd_run)

    co = sub.add_parser(
        "counts",
        help="passages per day (or hour) x species x direction from the local store",
        description="Count passages per local day (site.timezone) x species x direction.",
    )
    _add_report_args(co)
    co.add_argument("--by", choices=("day", "hour"), default="day", help="one row per day or per hour")
    co.add_argument("--csv", action="store_true", help="CSV for spreadsheets instead of a table")
    co.set_defaults(func=cmd_counts)

    pa = sub.add_parser(
        "passages",
        help="list or export stored passages with their snapshot paths",
        description="List passages from the local store as a table, CSV or JSON Lines.",
    )
    _add_report_args(pa)
    pa.add_argument("--species", help="only this species")
    pa.add_argument("--format", choices=("table", "csv", "jsonl"), default="table")
    pa.add_argument("--output", "-o", type=Path, help="write to this file instead of stdout")
    pa.set_defaults(func=cmd_passages)

    pu = sub.add_parser(
        "publish",
        help="send what waits in the MQTT outbox now, then exit",
        description="Connect to the site's broker and drain the outbox (after a time offline).",
    )
    _add_config(pu)
    pu.add_argument("--timeout", type=float, default=60.0, metavar="S", help="give up after S seconds")
    pu.set_defaults(func=cmd_publish)

    gt = sub.add_parser(
        "gate-test",
        help="move the gate river -> tank -> river and time it (ends at the safe position)",
        description="Exercise the gate without the pipeline; with [gate.feedback] limit switches, "
        "time every move against gate.travel_s.",
    )
    _add_config(gt)
    gt.add_argument("--cycles", type=int, default=3, help="river -> tank cycles (default 3)")
    gt.set_defaults(func=cmd_gate_test)

    ck = sub.add_parser(
        "check",
        help="validate a site config and show what it sets up (--deep: try everything for real)",
        description="Validate the site config (fast, offline). With --deep also run one inference through "
        "each model, read frames from the camera, write and fsync in the store's folder, connect to the "
        "broker and claim the gate's pins: one line per check, exit 1 if any fails.",
    )
    _add_config(ck)
    ck.add_argument("--deep", action="store_true", help="try models, camera, storage, broker and gate")
    ck.set_defaults(func=cmd_check)

    cl = sub.add_parser("classify", help="name the species in pictures of single fish")
    cl.add_argument("images", type=Path, nargs="+", metavar="IMAGE")
    cl.add_argument("--model", "-m", type=Path, help="species model .onnx (default: the bundled INT8 model)")
    _add_config(cl, required=False)
    cl.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads (default 1)")
    cl.add_argument("--json", action="store_true", help="one JSON object per image")
    cl.set_defaults(func=cmd_classify)

    tr = sub.add_parser(
        "train",
        help="rebuild the species model from annotated footage (needs the [train] extra)",
        description="Crops from CVAT-annotated clips and/or folders of single-fish pictures (--images, "
        "e.g. from export-training) -> CPU training -> ONNX -> INT8 -> model card.",
    )
    _add_training_args(
        tr,
        "species",
        "20%% of the tracks held out",
        "keep extracted crops here to make reruns fast",
        footage_required=False,
    )
    tr.add_argument(
        "--images",
        type=Path,
        action="append",
        metavar="DIR",
        help="also train on pictures of single fish in DIR/SPECIES/NAME.jpg, e.g. what "
        "`fishgate export-training` wrote (repeatable; with or instead of --footage)",
    )
    from fishgate.vision.snapshot import SNAPSHOT_MARGIN

    tr.add_argument(
        "--images-margin",
        type=float,
        default=SNAPSHOT_MARGIN,
        metavar="F",
        help="share of the fish's box around it in those pictures, re-cut to the crop margin "
        "(default %(default)s: fishgate snapshots; 0: pictures cut tight, resized whole)",
    )
    tr.add_argument(
        "--synthetic-seconds", type=float, default=0.0, help="generated footage per scenario to add"
    )
    tr.add_argument(
        "--crop-size",
        type=_size,
        default=DEFAULT_CROP_SIZE,
        metavar="WxH",
        help="model input size (default %(default)s)",
    )
    tr.set_defaults(func=cmd_train)
    from fishgate.export_training import register as register_export

    register_export(sub)

    td = sub.add_parser(
        "train-detector",
        help="rebuild the learned fish detector from annotated footage (needs the [train] extra)",
        description="Whole frames + CVAT boxes -> CPU training of a heat-map detector -> ONNX -> card.",
    )
    _add_training_args(
        td,
        "detector",
        "the last 20%% of each training clip",
        "keep extracted frames here to make reruns fast",
    )
    td.set_defaults(func=cmd_train_detector)

    demo = sub.add_parser("demo", help="replay the bundled demo footage with the bundled model")
    demo.add_argument("--no-progress", action="store_true", help="no progress bar")
    demo.set_defaults(func=cmd_demo)

    from fishgate.cli_operator import register
    from fishgate.report_html import register as register_report

    register(sub)
    register_report(sub)
    return parser


def _setup_logging(verbosity: int) -> None:
    level = logging.WARNING - 10 * min(verbosity, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad usage and 0 on --help
        return int(exc.code) if isinstance(exc.code, int) else ExitStatus.BAD_INPUT
    if args.command is None:
        parser.print_help(sys.stderr)
        return ExitStatus.BAD_INPUT
    _setup_logging(args.verbose)
    func: Command = args.func
    try:
        return func(args)
    except FishgateError as exc:
        print(f"fishgate: error: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print("fishgate: interrupted", file=sys.stderr)
        return ExitStatus.INTERRUPTED
    except BrokenPipeError:
        # the reader went away (`fishgate passages | head`): not an error; keep Python's
        # final flush of stdout from raising again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitStatus.OK
