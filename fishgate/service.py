"""systemd integration: `Type=notify` with a watchdog fed by the frame loop.

READY=1 once the camera, models, gate and store are up and the first frame is asked
for; WATCHDOG=1 after frames (at most once a second), so a loop that stalls where no
stall guard reaches (a stage that hangs) is killed and restarted by systemd after
`WatchdogSec`; STOPPING=1 on the way out. Outside systemd (no NOTIFY_SOCKET) every
call does nothing. The protocol itself is the `sdnotify` package's.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from sdnotify import SystemdNotifier

PING_EVERY_S = 1.0


class ServiceNotifier:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.enabled = bool(os.environ.get("NOTIFY_SOCKET"))
        self._notifier = SystemdNotifier() if self.enabled else None
        self._clock = clock
        self._pinged = -float("inf")

    def _send(self, message: str) -> None:
        if self._notifier is not None:
            self._notifier.notify(message)

    def ready(self, status: str) -> None:
        self._send(f"READY=1\nSTATUS={status}")

    def alive(self) -> None:
        """The frame loop is alive (rate-limited: called after every frame)."""
        now = self._clock()
        if now - self._pinged >= PING_EVERY_S:
            self._pinged = now
            self._send("WATCHDOG=1")

    def status(self, text: str) -> None:
        self._send(f"STATUS={text}")

    def stopping(self) -> None:
        self._send("STOPPING=1")
