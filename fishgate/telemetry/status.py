"""What the trap is doing right now, for the stats and gate-state messages.

`TrapStatus.observe(result)` runs in the pipeline thread after every frame; the
publisher thread reads `snapshot()` and `gate()`. A lock guards the hand-over;
the pipeline's part is a few appends.

`StatusFile` writes the same figures to `status.json` beside the store every few
seconds, for `fishgate status` on the board: an operator with a laptop on the
trap's link sees what the trap sees, broker or not.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from fishgate.pipeline import StepResult
from fishgate.retention import MB, free_bytes

WINDOW = 1500  # frames the latency percentiles cover (a minute at 25 fps)


@dataclass(frozen=True)
class Reading:
    """A number read from a file (a sysfs/hwmon value), times a scale: battery volts, CPU degrees."""

    path: Path
    scale: float = 1.0

    def read(self) -> float | None:
        try:
            return round(float(self.path.read_text().strip()) * self.scale, 3)
        except (OSError, ValueError):
            return None


CPU_TEMPERATURE = Reading(Path("/sys/class/thermal/thermal_zone0/temp"), 0.001)  # millidegrees


class TrapStatus:
    def __init__(
        self,
        disk: Path,
        gate_position: str,
        mode: str = "auto",
        sensors: dict[str, Reading] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.disk = disk
        self.sensors = {"cpu_temperature_c": CPU_TEMPERATURE, **(sensors or {})}
        self.clock = clock
        self._lock = threading.Lock()
        self._step_ms: deque[float] = deque(maxlen=WINDOW)
        self._command_ms: deque[float] = deque(maxlen=WINDOW)
        self._frames = 0
        self._since: dict[str, tuple[float, int]] = {}  # per reader: (time, frames) at its last snapshot
        self._started = clock()
        self._gate = (gate_position, mode)
        self.gate_version = 0  # bumped on every gate move or mode change
        self._link: bool | None = None  # MQTT connected; None without an [mqtt] section
        self._counters: Counter[str] = Counter()  # outages, drops, losses: published as they grow

    def set_link(self, connected: bool) -> None:
        """The MQTT link is up or down (called from paho's thread)."""
        with self._lock:
            if self._link and not connected:
                self._counters["mqtt_disconnects"] += 1
            self._link = connected

    def count(self, name: str, n: int = 1) -> None:
        """One more of something the operator must hear about (a camera outage, a dropped snapshot)."""
        with self._lock:
            self._counters[name] += n

    def counters(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counters)

    def observe(self, result: StepResult) -> None:
        step_ms = sum(result.timings_ms.values())
        with self._lock:
            self._frames += 1
            self._step_ms.append(step_ms)
            if result.command is not None:
                # the gate stage is the last one: its command goes out as the step ends
                self._command_ms.append(step_ms)
                self._set_gate(result.command.route, self._gate[1])

    def set_mode(self, mode: str) -> None:
        with self._lock:
            self._set_gate(self._gate[0], mode)

    def _set_gate(self, position: str, mode: str) -> None:
        if (position, mode) != self._gate:
            self._gate = (position, mode)
            self.gate_version += 1

    def gate(self) -> tuple[str, str]:
        with self._lock:
            return self._gate

    def snapshot(self, outbox_length: int, reader: str = "mqtt") -> dict[str, Any]:
        """Stats since this reader's previous snapshot: fps, latencies, temperatures, disk,
        queue, link, power and the counters. Each reader (MQTT stats, the status file)
        has its own fps window."""
        now = self.clock()
        with self._lock:
            then, frames_then = self._since.get(reader, (self._started, 0))
            self._since[reader] = (now, self._frames)
            fps = (self._frames - frames_then) / (now - then) if now > then else 0.0
            step = np.array(self._step_ms) if self._step_ms else None
            command = np.array(self._command_ms) if self._command_ms else None
            link, counters = self._link, dict(self._counters)
        stats: dict[str, Any] = {
            "fps": round(fps, 2),
            "frames": self._frames,
            "frame_ms_p50": _percentile(step, 50),
            "frame_ms_p99": _percentile(step, 99),
            "decision_ms_p50": _percentile(command, 50),
            "decision_ms_p99": _percentile(command, 99),
            "disk_free_mb": _disk_free_mb(self.disk),
            "outbox": outbox_length,
            "mqtt_connected": link,
        }
        stats.update({name: reading.read() for name, reading in self.sensors.items()})
        stats.update(counters)
        return stats


STATUS_FILE = "status.json"


class StatusFile:
    """A step observer: every `interval_s` (wall time) writes the trap's status to
    `status.json` in `folder`, atomically (a reader never sees half a file)."""

    def __init__(
        self,
        folder: Path,
        status: TrapStatus,
        outbox_length: Callable[[], int],
        interval_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.path = folder / STATUS_FILE
        self.status = status
        self.outbox_length = outbox_length
        self.interval_s = interval_s
        self.clock = clock
        self.wall_clock = wall_clock
        self._last = -float("inf")

    def observe(self, result: StepResult) -> None:
        if self.clock() - self._last >= self.interval_s:
            self.write()

    def write(self, running: bool = True) -> None:
        self._last = self.clock()
        position, mode = self.status.gate()
        data = {
            "time": self.wall_clock().isoformat(timespec="seconds"),
            "running": running,
            "interval_s": self.interval_s,
            "gate": position,
            "mode": mode,
            **self.status.snapshot(self.outbox_length(), reader="file"),
        }
        tmp = self.path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(data), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError:  # a full disk must not stop the frame loop; the store reports it
            pass


def read_status(folder: Path) -> dict[str, Any] | None:
    """The last status a trap wrote in `folder`, or None if none ever ran there."""
    try:
        data = json.loads((folder / STATUS_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _percentile(values: np.ndarray | None, q: float) -> float | None:
    return None if values is None else round(float(np.percentile(values, q)), 3)


def _disk_free_mb(path: Path) -> float | None:
    free = free_bytes(path)
    return None if free is None else round(free / MB, 1)
