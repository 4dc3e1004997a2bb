"""Composition root of the live trap: builds everything from the site config and runs it.

The gate ends in its safe position on every way out: the footage or camera ending,
SIGTERM or Ctrl-C, the camera disappearing, an exception in any stage. Real
hardware is built here only; tests pass a gpiozero MockFactory and a fake clock.
"""

from __future__ import annotations

import logging
import secrets
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from types import FrameType
from typing import TYPE_CHECKING, Any

from fishgate import __version__
from fishgate.clock import Clock, MonotonicClock
from fishgate.config import SiteConfig
from fishgate.errors import ConfigError, SourceError
from fishgate.hw.gate import Gate, build_gate
from fishgate.pipeline import Classifier, Detector, Pipeline
from fishgate.recorder import PassageRecorder
from fishgate.replay import EventLog, ReplayStats, StepObserver, build_pipeline, run
from fishgate.retention import SnapshotKeeper
from fishgate.service import ServiceNotifier
from fishgate.sources.base import FrameSource
from fishgate.sources.fit import check_fit
from fishgate.sources.guard import GuardedSource, SourceStall
from fishgate.store import PassageStore, StoreLock
from fishgate.telemetry.status import Reading, StatusFile, TrapStatus

if TYPE_CHECKING:
    from fishgate.telemetry.mqtt import MqttPublisher

log = logging.getLogger(__name__)
LIVE_SOURCES = ("opencv", "picamera")  # watched for stalls; a file or a rendered scene cannot stall


class Shutdown(Exception):
    """A second SIGTERM or SIGINT arrived while stopping: stop now."""


@dataclass
class LiveParts:
    source: FrameSource
    detector: Detector
    classifier: Classifier
    gate: Gate
    model_version: str = ""


def open_source(config: SiteConfig, clock: Clock) -> FrameSource:
    """The frame source the config names, refused (and closed) if its picture does not fit
    the site's geometry: a file by its width and stated frame rate, a camera by its width."""
    source = _open(config, clock)
    s = config.source
    where = str(s.path) if s.kind == "file" else f"the {s.kind} camera"  # a URL may hold a password
    try:
        check_fit(config, source.width, getattr(source, "file_fps", None), where)
    except ConfigError:
        source.close()
        raise
    return source


def _open(config: SiteConfig, clock: Clock) -> FrameSource:
    s = config.source
    if s.kind == "file":
        from fishgate.sources.replay import ReplaySource

        if s.path is None:
            raise ConfigError("source.path: is required to run on a file source (the video to replay)")
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

    classifier = SpeciesClassifier(
        config.species_model.path, config.species_model.card, threads=config.species_model.threads
    )
    gate = build_gate(config.gate, clock, pin_factory)
    try:
        source = open_source(config, clock)
    except BaseException:
        gate.close()
        raise
    detector = build_detector(config, (source.width, source.height))
    return LiveParts(source, detector, ClassifierVotes(classifier), gate, classifier.card.version)


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """SIGTERM/SIGINT set the event: the run stops after the frame in hand, never half-way
    through storing a passage. A second signal stops at once (a camera read that hangs).
    The old handlers come back after."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if stop.is_set():
            raise Shutdown(name)
        stop.set()
        log.warning("%s: stopping after this frame; gate to its safe position", name)

    old = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous)


class Recording:
    """Where a run's results go: the store (with the passage recorder), the live status
    and, with an [mqtt] section, the publisher. Opened together, closed together."""

    def __init__(self, config: SiteConfig, parts: LiveParts, mode: str) -> None:
        self.lock = StoreLock(config.storage.path)
        self.lock.acquire()  # one trap per store (and per MQTT client id)
        try:
            self.store = PassageStore(config.storage.path, config.storage.snapshots)
            self.store.set_meta(site=config.site.name, timezone=config.site.timezone)
        except BaseException:
            self.lock.release()
            raise
        self.status = TrapStatus(config.storage.path.parent, parts.gate.route, mode, _sensors(config))
        self.recorder = PassageRecorder(
            self.store,
            config.site.name,
            config.site.timezone,
            parts.model_version,
            keeper=SnapshotKeeper(config.storage, self.status.count),
            count=self.status.count,
        )
        self.status_file = StatusFile(config.storage.path.parent, self.status, self.store.outbox_length)
        self.publisher = build_publisher(config, self.status)
        if self.publisher is not None:
            self.status.set_link(False)
            self.recorder.on_recorded = lambda stored: self.publisher.wake()  # type: ignore[union-attr]
            self.publisher.start()

    @property
    def observers(self) -> tuple[StepObserver, ...]:
        return (self.recorder, self.status, self.status_file)

    def steer(self, pipeline: Pipeline) -> None:
        """Apply gate-mode commands from MQTT between frames, in the pipeline thread."""
        if self.publisher is None:
            return
        self.publisher.ensure_running()
        while not self.publisher.commands.empty():
            mode = self.publisher.commands.get_nowait()
            pipeline.scheduler.set_mode(mode)
            self.status.set_mode(mode)
            log.warning("gate mode is now %s (MQTT command)", mode)

    def close(self, drain_timeout_s: float) -> None:
        try:
            self.recorder.close()  # a last try for passages held while the disk was full
            if self.publisher is not None:
                self.publisher.stop(drain_timeout_s)
        finally:
            self.status_file.write(running=False)
            self.store.close()
            self.lock.release()


def run_trap(
    config: SiteConfig,
    parts: LiveParts,
    events: EventLog | None,
    clock: Clock | None = None,
    progress: bool = False,
    mode: str = "auto",
    drain_timeout_s: float = 0.0,
    reopen: Callable[[], FrameSource] | None = None,
) -> ReplayStats:
    """Run until the source ends or a signal arrives; the gate is made safe whatever happens.

    Every passage is stored (SQLite, with its snapshot and outbox message) before the
    next frame; with an [mqtt] section a publisher thread drains the outbox, and
    waits up to `drain_timeout_s` at the end for what is still in it. A live camera
    (opencv, picamera) is watched by wall time: silent for `source.stall_s`, the gate
    goes safe and the camera is reopened with `reopen` (by default as the config says).
    """
    clock = clock or MonotonicClock()
    # the random part keeps ids unique when a board restarts with its clock set back
    run_id = f"{config.site.name}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"
    stats = ReplayStats()
    recording: Recording | None = None
    service = ServiceNotifier()
    source: FrameSource | GuardedSource = parts.source
    try:
        recording = Recording(config, parts, mode)
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
        with stop_on_signals() as stop:
            if config.source.kind in LIVE_SOURCES or reopen is not None:
                source = GuardedSource(
                    parts.source,
                    reopen or (lambda: open_source(config, clock)),
                    config.source.stall_s,
                    clock,
                    stop=stop,
                )
            status = recording.status

            def stalled(notice: SourceStall) -> None:
                status.count("camera_outages", 1)
                service.status(f"camera stalled ({notice.reason}); gate safe, reopening")

            service.ready(f"sorting at {config.site.name}")
            return run(
                pipeline,
                source,
                events,
                parts.source.frame_count,
                progress,
                stats,
                observers=recording.observers,
                before_step=recording.steer,
                stop=stop,
                on_stall=stalled,
                heartbeat=service.alive,
            )
    except Shutdown as why:
        log.warning("stopping on %s; gate to its safe position", why)
        stats.interrupted = True
        return stats
    except SourceError:
        log.error("camera lost; gate to its safe position")
        raise
    finally:
        service.stopping()
        try:
            parts.gate.close()
        finally:
            source.close()
            if recording is not None:
                recording.close(drain_timeout_s)


def _sensors(config: SiteConfig) -> dict[str, Reading]:
    return {name: Reading(s.path, s.scale) for name, s in config.sensors.items()}


def build_publisher(
    config: SiteConfig, status: TrapStatus | None = None, client_suffix: str = ""
) -> MqttPublisher | None:
    """The MQTT publisher, or None with no [mqtt] section: passages then wait in the outbox.

    `client_suffix` gives a second client (`fishgate publish`) its own session beside the
    trap's own (`fishgate-SITE`), which may be connected at the same time."""
    if config.mqtt is None:
        return None
    from fishgate.telemetry.mqtt import MqttPublisher

    mqtt = config.mqtt
    if client_suffix:
        mqtt = replace(mqtt, client_id=f"{mqtt.client_id or 'fishgate-' + config.site.name}{client_suffix}")
    return MqttPublisher(
        mqtt,
        config.site.name,
        config.site.timezone,
        config.site.season_start,
        config.storage.path,
        status=status,
        config_echo=config_echo(config),
        version=__version__,
    )


def config_echo(config: SiteConfig) -> dict[str, Any]:
    """What the trap runs with, for the retained config topic: no passwords, no keys."""
    return {
        "site": config.site.name,
        "timezone": config.site.timezone,
        "season_start": config.site.season_start,
        "source": config.source.kind,
        "px_per_cm": config.geometry.px_per_cm,
        "counting_line_x": config.geometry.counting_line_x,
        "upstream": config.geometry.upstream,
        "gate": {"kind": config.gate.kind, "travel_s": config.gate.travel_s, "idle": config.gate.idle,
                 "safe": config.gate.safe},
        "tank_species": sorted(config.decision.tank_species),
        "safe_route": config.decision.safe_route,
        "model": config.model.path.name if config.model else None,
        "decide_confidence": config.decide_confidence,
    }  # fmt: skip
