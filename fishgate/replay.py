"""Replay recorded footage (or only its annotations) through the live pipeline.

The same Pipeline the trap runs, fed by a ReplaySource instead of a camera and a
RecordingGate instead of pins; passages go to a JSON Lines log in the format of
EVALUATION.md, gate commands beside them as `"event": "gate"` records.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

import numpy as np
from tqdm import tqdm

from fishgate.clock import FakeClock
from fishgate.config import SiteConfig
from fishgate.cvat import Annotation
from fishgate.decision.policy import RoutePolicy
from fishgate.decision.scheduler import GateCommand, GateScheduler
from fishgate.evaluate import GateRecord, ReplayLog
from fishgate.hw.gate import Gate, RecordingGate
from fishgate.pipeline import Classifier, CrossingRule, Detector, Pipeline, StepResult
from fishgate.sources.guard import SourceStall
from fishgate.types import Detection, Frame, Passage
from fishgate.vision.classifier import SpeciesClassifier
from fishgate.vision.tracker import Tracker


class ClassifierVotes:
    """The species model as the pipeline's Classifier: crops of all boxes in one batch."""

    def __init__(self, classifier: SpeciesClassifier) -> None:
        self.classifier = classifier
        self.labels = classifier.card.labels

    def __call__(self, image: np.ndarray, detections: Sequence[Detection]) -> list[dict[str, float]]:
        crops = [self.classifier.crop(image, d.box) for d in detections]
        probs = self.classifier.probabilities(crops)
        return [dict(zip(self.labels, map(float, row), strict=True)) for row in probs]


def build_pipeline(
    config: SiteConfig,
    detector: Detector,
    classifier: Classifier,
    frame_size: tuple[int, int],
    fps: float,
    run_id: str,
    gate: Gate | None = None,
    model_version: str = "",
    counter: CrossingRule | None = None,
) -> Pipeline:
    policy = RoutePolicy(
        tank_species=config.decision.tank_species,
        safe_route=config.decision.safe_route,  # type: ignore[arg-type]
        travel_s=config.gate.travel_s,
        margin_s=config.decision.margin_s,
        decide_confidence=config.decide_confidence,
    )
    scheduler = GateScheduler(
        gate=gate if gate is not None else RecordingGate(config.gate.safe, FakeClock()),  # type: ignore[arg-type]
        idle=config.gate.idle,  # type: ignore[arg-type]
        safe=config.decision.safe_route,  # type: ignore[arg-type]
        travel_s=config.gate.travel_s,
        return_to_idle_s=config.gate.return_to_idle_s,
    )
    return Pipeline(
        detector,
        classifier,
        Tracker(*frame_size, length_scale=detector.length_scale),
        policy,
        scheduler,
        config.geometry,
        frame_size,
        fps,
        passage_id=lambda track: f"{run_id}-{track.id}",
        model_version=model_version,
        counter=counter,
    )


@dataclass
class ReplayStats:
    frames: int = 0
    unfinished: int = 0  # fish still on their way when the footage ended
    outages: int = 0  # times a live camera stalled (the gate went safe)
    interrupted: bool = False  # stopped by SIGTERM / Ctrl-C before the source ended
    passages: list[Passage] = field(default_factory=list)
    commands: list[GateCommand] = field(default_factory=list)
    timings_ms: dict[str, list[float]] = field(default_factory=dict)


class StepObserver(Protocol):
    """Told of every step's result in the pipeline thread (the store, the live stats)."""

    def observe(self, result: StepResult) -> None: ...


class EventLog:
    """JSON Lines: one passage (or gate command) per line, flushed as written."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def write(self, record: dict[str, Any]) -> None:
        self.stream.write(json.dumps(record) + "\n")
        self.stream.flush()


def run(
    pipeline: Pipeline,
    frames: Iterable[Frame | SourceStall],
    log: EventLog | None,
    total: int | None = None,
    progress: bool = True,
    stats: ReplayStats | None = None,
    observers: Sequence[StepObserver] = (),
    before_step: Callable[[Pipeline], None] | None = None,
    stop: threading.Event | None = None,
    on_stall: Callable[[SourceStall], None] | None = None,
    heartbeat: Callable[[], None] | None = None,
) -> ReplayStats:
    """Step every frame; passages and gate commands are logged the moment they happen.

    Pass `stats` to keep what was gathered if a signal or error ends the run early.
    `observers` see every step's result; `before_step` may steer the pipeline between
    frames (a gate-mode command from MQTT); `stop` ends the run after the frame in hand.
    A live camera's `SourceStall` (no frame for stall_s) sets the gate safe at once and
    is told to `on_stall`; `heartbeat` is called after every frame and every stall
    notice (the systemd watchdog: the loop is alive).
    """
    stats = stats if stats is not None else ReplayStats()
    bar = tqdm(total=total, unit="frame", disable=not progress, dynamic_ncols=True, mininterval=0.5)
    _record_command(pipeline.scheduler.start(0, 0.0), stats, log)
    last = (0, 0.0)
    try:
        for frame in frames:
            if isinstance(frame, SourceStall):
                if frame.first:
                    command = pipeline.scheduler.hold_safe(frame.frame, frame.t, "camera stalled")
                    _record_command(command, stats, log)
                    stats.outages += 1
                    if on_stall is not None:
                        on_stall(frame)
                if heartbeat is not None:
                    heartbeat()
                if stop is not None and stop.is_set():
                    stats.interrupted = True
                    break
                continue
            if before_step is not None:
                before_step(pipeline)
            result = pipeline.step(frame)
            last = (frame.index, frame.t)
            _record(result, stats, log)
            for observer in observers:
                observer.observe(result)
            if heartbeat is not None:
                heartbeat()
            if stop is not None and stop.is_set():
                stats.interrupted = True
                break
            bar.update(1)
            bar.set_postfix(passages=len(stats.passages), refresh=False)
    finally:
        bar.close()
        # every way out leaves the gate safe, and the log says when it went there
        closing = pipeline.scheduler.close(*last)
        _record_command(closing, stats, log)
    # Fish that crossed the line but had not reached the gate when the footage ended have
    # passed: they are counted (their route is where the gate then stood). Fish still in
    # the picture have not: they are logged as unfinished.
    final, unfinished = pipeline.finish(closing)
    _record_passages(final, stats, log)
    for observer in observers:
        observer.observe(final)
    for track in unfinished:
        stats.unfinished += 1
        if log:
            log.write(
                {
                    "event": "unfinished",
                    "track": track.id,
                    "first_frame": track.first.frame,
                    "last_frame": track.last.frame,
                    "species": track.species()[0],
                }
            )
    return stats


def _record(result: StepResult, stats: ReplayStats, log: EventLog | None) -> None:
    stats.frames += 1
    for name, ms in result.timings_ms.items():
        stats.timings_ms.setdefault(name, []).append(ms)
    if result.command is not None:
        _record_command(result.command, stats, log)
    _record_passages(result, stats, log)


def _record_passages(result: StepResult, stats: ReplayStats, log: EventLog | None) -> None:
    for passage in result.passages:
        stats.passages.append(passage)
        if log:
            log.write(passage.to_record())


def _record_command(command: GateCommand, stats: ReplayStats, log: EventLog | None) -> None:
    stats.commands.append(command)
    if log:
        log.write(
            {
                "event": "gate",
                "route": command.route,
                "frame": command.frame,
                "t": round(command.t, 4),
                "reason": command.reason,
            }
        )


def replay_log(stats: ReplayStats) -> ReplayLog:
    """What this replay would have written to its log, for evaluating it in-process."""
    return ReplayLog(tuple(stats.passages), tuple(GateRecord(c.frame, c.route) for c in stats.commands))


def annotation_frames(annotation: Annotation, fps: float, frames: int) -> Iterator[Frame]:
    """Frames with no picture (tracks-only mode): only index and time matter."""
    blank = np.zeros((1, 1), np.uint8)
    for index in range(frames):
        yield Frame(blank, index / fps, index)
