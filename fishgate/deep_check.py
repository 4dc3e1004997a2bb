"""`fishgate check --deep`: everything the trap needs, tried for real, one line each.

The plain `check` reads the config only (fast, offline). The deep one runs one
inference through each model, reads a few frames from the camera, writes and fsyncs
a file where the store lives, connects to the broker as the trap will, and claims
the gate's pins. A failed check says what is wrong and how to fix it; the others
still run, so an operator at the river sees every problem at once.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fishgate.clock import MonotonicClock
from fishgate.config import SiteConfig
from fishgate.errors import FishgateError
from fishgate.retention import MB, free_bytes

FRAMES = 5  # frames read from the camera


class CheckFailed(Exception):
    """One check did not pass; the message says what is wrong and how to fix it."""


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    text: str

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'}  {self.name:<8} {self.text}"


def check_models(config: SiteConfig) -> str:
    from fishgate.vision.classifier import SpeciesClassifier

    said = []
    if config.model is not None:
        classifier = SpeciesClassifier(config.model.path, config.model.card, threads=config.model.threads)
        w, h = classifier.size
        started = time.perf_counter()
        classifier.probabilities(np.zeros((1, h, w, 3), np.uint8))
        ms = (time.perf_counter() - started) * 1000
        said.append(f"species {classifier.card.version} ({ms:.0f} ms a crop)")
    if config.detection.kind == "learned":
        from fishgate.vision.learned import LearnedDetector

        width = config.geometry.frame_width or config.source.width or 640
        height = config.source.height or round(width * 9 / 16)
        # loading runs one inference (the card's stride against the model's output)
        detector = LearnedDetector(config.detection.model, config.detection.card, frame_size=(width, height))
        said.append(f"detector {detector.card.version}")
    else:
        said.append("detector: background subtraction (no model)")
    return "; ".join(said)


def check_source(config: SiteConfig) -> str:
    from fishgate.app import open_source
    from fishgate.sources.guard import read_frames

    source = open_source(config, MonotonicClock())
    try:
        frames = read_frames(source, FRAMES)
    finally:
        source.close()
    if not frames:
        raise CheckFailed("the source opened but has no frames (an empty video?)")
    return (
        f"{config.source.kind}: {len(frames)} frames of {source.width}x{source.height} at {source.fps:g} fps"
    )


def check_storage(config: SiteConfig) -> str:
    storage = config.storage
    folder = storage.path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".fishgate-check-{os.getpid()}"
        with probe.open("wb") as f:
            f.write(b"fishgate check --deep\n")
            f.flush()
            os.fsync(f.fileno())
        probe.unlink()
    except OSError as exc:
        raise CheckFailed(
            f"{folder}: cannot write and fsync a file there ({exc.strerror or exc}): make the folder "
            "writable by the trap's user, or set storage.path elsewhere"
        ) from None
    free = free_bytes(folder) or 0
    free_mb = free / MB
    if free_mb < storage.min_free_mb:
        raise CheckFailed(
            f"{folder}: {free_mb:.0f} MB free, under storage.min_free_mb = {storage.min_free_mb:g}: "
            "free space, or use a larger card"
        )
    said = f"{folder} writable, {free_mb:,.0f} MB free"
    if storage.max_snapshot_mb is not None and storage.max_snapshot_mb > free_mb - storage.min_free_mb:
        said += (
            f"; note: max_snapshot_mb = {storage.max_snapshot_mb:g} is more than the disk has room for "
            "(the oldest snapshots are pruned when it fills)"
        )
    if storage.path.is_file():
        from fishgate.store import PassageStore

        with PassageStore(storage.path, storage.snapshots, read_only=True) as store:
            said += f"; store holds {store.passage_count()} passages, {store.outbox_length()} waiting to send"
    return said


def check_broker(config: SiteConfig) -> str:
    if config.mqtt is None:
        return "no [mqtt] section: passages wait in the store (fishgate publish sends them later)"
    from fishgate.telemetry.probe import probe_broker

    problem = probe_broker(config.mqtt, f"fishgate-{config.site.name}-check")
    if problem is not None:
        raise CheckFailed(f"{config.mqtt.host}:{config.mqtt.port}: {problem}")
    how = "TLS, " if config.mqtt.tls is not None else ""
    who = f"as {config.mqtt.username!r}" if config.mqtt.username else "anonymously"
    return f"connected to {config.mqtt.host}:{config.mqtt.port} ({how}{who})"


def check_gate(config: SiteConfig, pin_factory: object = None) -> str:
    from fishgate.hw.gate import build_gate

    gate = build_gate(config.gate, MonotonicClock(), pin_factory)
    try:
        if config.gate.kind == "recording":
            return "recording gate (no pins: replay only)"
        servo, relay = config.gate.servo, config.gate.relay
        if config.gate.kind == "servo" and servo is not None:
            pins = [servo.pin]
        else:
            pins = [relay.river_pin, relay.tank_pin] if relay is not None else []
        return f"{config.gate.kind} on pins {', '.join(map(str, pins))} claimed; at {gate.route} (safe)"
    finally:
        gate.close()


CHECKS: tuple[tuple[str, Callable[[SiteConfig], str]], ...] = (
    ("models", check_models),
    ("camera", check_source),
    ("storage", check_storage),
    ("broker", check_broker),
    ("gate", check_gate),
)


def run_checks(
    config: SiteConfig, checks: tuple[tuple[str, Callable[[SiteConfig], str]], ...] = CHECKS
) -> list[CheckResult]:
    results = []
    for name, check in checks:
        try:
            results.append(CheckResult(name, True, check(config)))
        except (CheckFailed, FishgateError) as exc:
            results.append(CheckResult(name, False, _one_line(str(exc))))
        except OSError as exc:  # a device or file the check touched
            results.append(CheckResult(name, False, _one_line(f"{exc.strerror or exc}")))
    return results


def _one_line(text: str) -> str:
    return " ".join(text.split())
