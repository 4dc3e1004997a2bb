"""Composition root of the live trap: builds everything from the site config and runs it.

The gate ends in its safe position on every way out: the footage or camera ending,
SIGTERM or Ctrl-C, the camera disappearing, an exception in any stage. Real
hardware is built here only; tests pass a gpiozero MockFactory and a fake clock.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from types import FrameType
from typing import Any

from fishgate.clock import Clock, MonotonicClock
from fishgate.config import SiteConfig
from fishgate.errors import SourceError
from fishgate.hw.gate import Gate, build_gate
from fishgate.pipeline import Classifier, Detector
from fishgate.replay import EventLog, ReplayStats, build_pipeline, run
from fishgate.sources.base import FrameSource

log = logging.getLogger(__name__)


class Shutdown(Exception):
    """SIGTERM or SIGINT arrived: stop after the current frame."""


@dataclass
class LiveParts:
    source: FrameSource
    detector: Detector
    classifier: Classifier
    gate: Gate
    model_version: str = ""


def open_source(config: SiteConfig, clock: Clock) -> FrameSource:
    """The frame source the config names."""
    s = config.source
    if s.kind == "file":
        from fishgate.sources.replay import ReplaySource

        assert s.path is not None  # config validation requires it
        return ReplaySource(s.path, fps=s.fps, pace=s.pace, clock=clock)
    if s.kind == "opencv":
        from fishgate.sources.opencv import OpenCVSource

        assert s.uri is not None
        return OpenCVSource(s.uri, fps=s.fps, width=s.width, height=s.height, clock=clock)
    if s.kind == "picamera":
        from fishgate.sources.picam import PicameraSource

        return PicameraSource(width=s.width or 640, height=s.height or 360, fps=s.fps or 25.0, clock=clock)
    from fishgate.sources.synthetic import SyntheticSource

    return SyntheticSource(width=s.width or 640, height=s.height or 360, fps=s.fps or 25.0)


def build_parts(config: SiteConfig, clock: Clock, pin_factory: Any = None) -> LiveParts:
    """Camera, detector, classifier and gate as the site config describes them."""
    from fishgate.replay import ClassifierVotes
    from fishgate.vision.classifier import SpeciesClassifier
    from fishgate.vision.gated import build_detector

    classifier = SpeciesClassifier(config.model.path, config.model.card, threads=config.model.threads)
    gate = build_gate(config.gate, clock, pin_factory)
    try:
        source = open_source(config, clock)
    except BaseException:
        gate.close()
        raise
    detector = build_detector(config, (source.width, source.height))
    return LiveParts(source, detector, ClassifierVotes(classifier), gate, classifier.card.version)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Turn SIGTERM/SIGINT into Shutdown in the main thread; restore the old handlers after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Shutdown(signal.Signals(signum).name)

    old = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous)


def run_trap(
    config: SiteConfig,
    parts: LiveParts,
    events: EventLog | None,
    clock: Clock | None = None,
    progress: bool = False,
    mode: str = "auto",
) -> ReplayStats:
    """Run until the source ends or a signal arrives; the gate is made safe whatever happens."""
    clock = clock or MonotonicClock()
    run_id = f"{config.site.name}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    stats = ReplayStats()
    try:
        pipeline = build_pipeline(
            config,
            parts.detector,
            parts.classifier,
            (parts.source.width, parts.source.height),
            parts.source.fps,
            run_id=run_id,
            gate=parts.gate,
            model_version=parts.model_version,
        )
        pipeline.scheduler.set_mode(mode)
        with stop_on_signals():
            return run(pipeline, parts.source, events, parts.source.frame_count, progress, stats)
    except Shutdown as why:
        log.warning("stopping on %s; gate to its safe position", why)
        return stats
    except SourceError:
        log.error("camera lost; gate to its safe position")
        raise
    finally:
        try:
            parts.gate.close()
        finally:
            parts.source.close()
