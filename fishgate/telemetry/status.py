"""What the trap is doing right now, for the stats and gate-state messages.

`TrapStatus.observe(result)` runs in the pipeline thread after every frame; the
publisher thread reads `snapshot()` and `gate()`. A lock guards the hand-over;
the pipeline's part is a few appends.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fishgate.pipeline import StepResult

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
        self._since = (clock(), 0)  # (time, frames) at the last stats snapshot
        self._gate = (gate_position, mode)
        self.gate_version = 0  # bumped on every gate move or mode change

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

    def snapshot(self, outbox_length: int) -> dict[str, Any]:
        """Stats since the previous snapshot: fps, latencies, temperatures, disk, queue, power."""
        now = self.clock()
        with self._lock:
            then, frames_then = self._since
            self._since = (now, self._frames)
            fps = (self._frames - frames_then) / (now - then) if now > then else 0.0
            step = np.array(self._step_ms) if self._step_ms else None
            command = np.array(self._command_ms) if self._command_ms else None
        stats: dict[str, Any] = {
            "fps": round(fps, 2),
            "frames": self._frames,
            "frame_ms_p50": _percentile(step, 50),
            "frame_ms_p99": _percentile(step, 99),
            "decision_ms_p50": _percentile(command, 50),
            "decision_ms_p99": _percentile(command, 99),
            "disk_free_mb": _disk_free_mb(self.disk),
            "outbox": outbox_length,
        }
        stats.update({name: reading.read() for name, reading in self.sensors.items()})
        return stats


def _percentile(values: np.ndarray | None, q: float) -> float | None:
    return None if values is None else round(float(np.percentile(values, q)), 3)


def _disk_free_mb(path: Path) -> float | None:
    try:
        return round(shutil.disk_usage(path).free / 1e6, 1)
    except OSError:
        return None
