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
from fishgate.evaluate import EvaluationSite, evaluate_footage, format_metrics
from fishgate.pipeline import CrossingRule
from fishgate.replay import (
    ClassifierVotes,
    EventLog,
    ReplayStats,
    annotation_frames,
    build_pipeline,
    replay_log,
    run,
)
from fishgate.sources.fit import check_fit
from fishgate.sources.replay import ReplaySource
from fishgate.types import Passage
from fishgate.vision.annotated import AnnotatedDetector, LabelPassThrough


def replay_command(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    with ExitStack() as stack:
        log = None
        if args.events:
            args.events.parent.mkdir(parents=True, exist_ok=True)
            log = EventLog(stack.enter_context(args.events.open("w", encoding="utf-8")))
        if args.detections:
            stats, fps = replay_annotation(
                config,
                args.detections,
                log,
                jitter_px=args.jitter,
                drop=args.drop,
                seed=args.seed,
                progress=not args.no_progress,
            )
            name = args.detections.stem
        else:
            video: Path | None = args.video or config.source.path
            if video is None:
                raise ConfigError("source.path: no video given (pass VIDEO or set source.path)")
            stats, fps = replay_video(config, video, log, progress=not args.no_progress)
            name = video.stem
    print(_summary(stats), file=sys.stderr if args.events is None else sys.stdout)
    if args.events is None:
        for p in stats.passages:
            print(p.to_record())
    if args.truth:
        print(evaluation(config, args.truth, stats, fps, name))
    return ExitStatus.OK


def demo_command(config_path: Path, truth: Path, progress: bool = True) -> int:
    """Replay the bundled demo footage; print its passages, the counts and the evaluation."""
    config = load_config(config_path)
    assert config.source.path is not None
    print(f"replaying {config.source.path.name} with {config.species_model.path.name} ...", file=sys.stderr)
    stats, fps = replay_video(config, config.source.path, None, progress=progress)
    print(passage_table(stats.passages))
    print()
    print(_summary(stats))
    print()
    print(evaluation(config, truth, stats, fps, config.source.path.stem))
    return ExitStatus.OK


def evaluation(config: SiteConfig, truth: Path, stats: ReplayStats, fps: float, name: str) -> str:
    """The EVALUATION.md metrics of this replay against a CVAT annotation, as a table."""
    site = EvaluationSite.from_config(config, fps=fps)
    return format_metrics([evaluate_footage(read_cvat(truth), replay_log(stats), site)], site)


def passage_table(passages: list[Passage]) -> str:
    head = f"{'passage':<18}{'frames':>12}  {'species':<16}{'conf':>6}  {'direction':<10}{'route':<7}"
    lines = [head + f"{'decided':>8}{'cm':>7}  flags"]
    for p in passages:
        flags = ",".join(dict(p.extra).get("flags") or [])
        decided = "-" if p.decision_frame is None else str(p.decision_frame)
        length = "-" if p.length_cm is None else f"{p.length_cm:.0f}"
        lines.append(
            f"{p.id:<18}{f'{p.first_frame}-{p.last_frame}':>12}  {p.species:<16}{p.confidence:>6.2f}  "
            f"{p.direction:<10}{p.route or '-':<7}{decided:>8}{length:>7}  {flags}"
        )
    return "\n".join(lines)


def replay_annotation(
    config: SiteConfig,
    truth: Path,
    log: EventLog | None,
    *,
    jitter_px: float = 0.0,
    drop: float = 0.0,
    seed: int = 0,
    progress: bool = True,
    counter: CrossingRule | None = None,
) -> tuple[ReplayStats, float]:
    """Tracks-only: the annotation's boxes stand in for the detector and its labels for the
    species model; tracker, counter, decision and gate timing run as on the trap."""
    annotation = read_cvat(truth)
    fps = config.source.fps
    if fps is None:
        raise ConfigError("source.fps: is required to replay annotations without video")
    if annotation.width is not None:  # the annotated picture must fit the site, as a video must
        check_fit(config, annotation.width, None, str(truth))
    width = config.geometry.frame_width or annotation.width
    height = annotation.height
    if width is None or height is None:
        raise ConfigError("geometry.frame_width: is required, the annotation does not give the frame size")
    detector = AnnotatedDetector(annotation, (width, height), fps, jitter_px=jitter_px, drop=drop, seed=seed)
    pipeline = build_pipeline(
        config, detector, LabelPassThrough(), (width, height), fps, run_id=annotation.name, counter=counter
    )
    frames = annotation.frames or detector.frames()
    stats = run(pipeline, annotation_frames(annotation, fps, frames), log, frames, progress=progress)
    return stats, fps


def replay_video(
    config: SiteConfig, video: Path, log: EventLog | None, progress: bool = True
) -> tuple[ReplayStats, float]:
    """The whole pipeline on a video file: detector, species model, decision, recorded gate."""
    from fishgate.vision.classifier import SpeciesClassifier
    from fishgate.vision.gated import build_detector

    with ReplaySource(video, fps=config.source.fps) as source:
        check_fit(config, source.width, source.file_fps, str(video))
        classifier = SpeciesClassifier(
            config.species_model.path, config.species_model.card, threads=config.species_model.threads
        )
        size = (source.width, source.height)
        pipeline = build_pipeline(
            config,
            build_detector(config, size),
            ClassifierVotes(classifier),
            size,
            source.fps,
            run_id=video.stem,
            model_version=classifier.card.version,
        )
        stats = run(pipeline, source, log, source.frame_count, progress=progress)
        return stats, source.fps


def _summary(stats: ReplayStats) -> str:
    counts = Counter((p.species, p.direction, p.route) for p in stats.passages)
    lines = [f"{stats.frames} frames, {len(stats.passages)} passages, {len(stats.commands)} gate commands"]
    for (species, direction, route), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0][0])):
        lines.append(f"  {n:4d}  {species:<16} {direction:<10} -> {route or '-'}")
    return "\n".join(lines)
