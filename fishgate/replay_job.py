"""`fishgate replay`: assemble a replay from the command line and the site config, run it, report."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

from fishgate.config import SiteConfig, load_config
from fishgate.cvat import read_cvat
from fishgate.errors import ConfigError, ExitStatus
from fishgate.evaluate import EvaluationSite, compute_metrics, evaluate_footage, format_metrics
from fishgate.replay import (
    ClassifierVotes,
    EventLog,
    ReplayStats,
    annotation_frames,
    build_pipeline,
    run,
)
from fishgate.sources.replay import ReplaySource
from fishgate.vision.annotated import AnnotatedDetector, LabelPassThrough


def replay_command(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    with ExitStack() as stack:
        log = None
        if args.events:
            args.events.parent.mkdir(parents=True, exist_ok=True)
            log = EventLog(stack.enter_context(args.events.open("w", encoding="utf-8")))
        if args.detections:
            stats, fps, name = _tracks_only(args, config, log)
        else:
            stats, fps, name = _video(args, config, log, stack)
    print(_summary(stats), file=sys.stderr if args.events is None else sys.stdout)
    if args.events is None:
        for p in stats.passages:
            print(p.to_record())
    if args.truth:
        site = EvaluationSite.from_config(config, fps=fps)
        result = evaluate_footage(read_cvat(args.truth), stats.passages, site)
        print(format_metrics([(name, compute_metrics([result], site))], compute_metrics([result], site)))
    return ExitStatus.OK


def _tracks_only(
    args: argparse.Namespace, config: SiteConfig, log: EventLog | None
) -> tuple[ReplayStats, float, str]:
    annotation = read_cvat(args.detections)
    fps = config.source.fps
    if fps is None:
        raise ConfigError("source.fps: is required to replay annotations without video")
    width = config.geometry.frame_width or annotation.width
    height = annotation.height
    if width is None or height is None:
        raise ConfigError("geometry.frame_width: is required, the annotation does not give the frame size")
    detector = AnnotatedDetector(
        annotation, (width, height), fps, jitter_px=args.jitter, drop=args.drop, seed=args.seed
    )
    pipeline = build_pipeline(
        config, detector, LabelPassThrough(), (width, height), fps, run_id=annotation.name
    )
    frames = annotation.frames or detector.frames()
    stats = run(
        pipeline, annotation_frames(annotation, fps, frames), log, frames, progress=not args.no_progress
    )
    return stats, fps, annotation.name


def _video(
    args: argparse.Namespace, config: SiteConfig, log: EventLog | None, stack: ExitStack
) -> tuple[ReplayStats, float, str]:
    from fishgate.vision.classifier import SpeciesClassifier
    from fishgate.vision.gated import build_detector

    video: Path | None = args.video or config.source.path
    if video is None:
        raise ConfigError("source.path: no video given (pass VIDEO or set source.path)")
    source = stack.enter_context(ReplaySource(video, fps=config.source.fps))
    classifier = SpeciesClassifier(config.model.path, config.model.card, threads=config.model.threads)
    size = (source.width, source.height)
    detector = build_detector(config, size)
    pipeline = build_pipeline(
        config,
        detector,
        ClassifierVotes(classifier),
        size,
        source.fps,
        run_id=video.stem,
        model_version=classifier.card.version,
    )
    stats = run(pipeline, source, log, source.frame_count, progress=not args.no_progress)
    return stats, source.fps, video.stem


def _summary(stats: ReplayStats) -> str:
    counts = Counter((p.species, p.direction, p.route) for p in stats.passages)
    lines = [f"{stats.frames} frames, {len(stats.passages)} passages, {len(stats.commands)} gate commands"]
    for (species, direction, route), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0][0])):
        lines.append(f"  {n:4d}  {species:<16} {direction:<10} -> {route or '-'}")
    return "\n".join(lines)
