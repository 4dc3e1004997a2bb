"""The `fishgate` command: `main(argv)` returns an exit status.

Every FishgateError becomes one line on stderr and its exit status here, in one
place; commands themselves just raise.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from fishgate import __version__
from fishgate.config import SiteConfig, bundled_path, load_config
from fishgate.cvat import read_cvat
from fishgate.errors import ExitStatus, FishgateError, PassageLogError
from fishgate.evaluate import (
    EvaluationSite,
    compute_metrics,
    evaluate_footage,
    format_metrics,
    read_passage_log,
)

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
        passages = read_passage_log(_log_for(truth_path, args.log, len(args.truth)))
        results.append(evaluate_footage(annotation, passages, site))
    overall = compute_metrics(results, site)
    if args.json:
        print(json.dumps(overall, sort_keys=False))
    else:
        per_file = [(r.name, compute_metrics([r], site)) for r in results]
        print(format_metrics(per_file, overall))
    return ExitStatus.OK


def cmd_check(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    print(_describe(config))
    return ExitStatus.OK


def _describe(config: SiteConfig) -> str:
    g, gate = config.geometry, config.gate
    mqtt = (
        f"{config.mqtt.host}:{config.mqtt.port}"
        if config.mqtt
        else "none (offline: passages wait in the store)"
    )
    lines = [
        f"config ok: {config.origin}",
        f"  site        {config.site.name} ({config.site.timezone})",
        f"  source      {config.source.kind} {config.source.path or config.source.uri or ''}".rstrip(),
        f"  geometry    {g.px_per_cm} px/cm, counting line x={g.counting_line_x}, upstream {g.upstream}, "
        f"gate {g.gate_distance_cm} cm beyond the upstream edge",
        f"  gate        {gate.kind}, travel {gate.travel_s} s, idle {gate.idle}, safe {gate.safe}",
        f"  model       {config.model.path}",
        f"  tank        {', '.join(sorted(config.decision.tank_species))}",
        f"  storage     {config.storage.path}",
        f"  mqtt        {mqtt}",
    ]
    return "\n".join(lines)


def cmd_demo(args: argparse.Namespace) -> int:
    model = bundled_path("models/species-int8.onnx")
    if not model.exists():
        print(
            "fishgate demo: no species model is bundled yet, so there is nothing to replay.\n"
            "The foundation is in place: try `fishgate evaluate --help` and `fishgate check "
            "--config firmware_config/chute-sample.toml`.",
            file=sys.stderr,
        )
        return ExitStatus.ERROR
    print("fishgate demo: the live pipeline is not built yet.", file=sys.stderr)
    return ExitStatus.ERROR


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
    ev.set_defaults(func=cmd_evaluate)

    ck = sub.add_parser("check", help="validate a site config and show what it sets up")
    _add_config(ck)
    ck.set_defaults(func=cmd_check)

    demo = sub.add_parser("demo", help="replay the bundled demo footage with the bundled model")
    demo.set_defaults(func=cmd_demo)
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
