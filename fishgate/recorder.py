"""Every counted fish goes to the local store the moment the pipeline counts it.

The passage row, its snapshot and its MQTT message (in the outbox) are written
together, before the next frame is looked at: the store is the one place a
passage lives, whether or not a broker is ever reachable.

The disk never stops the trap. A snapshot is written only while the disk has room
(the SnapshotKeeper prunes the oldest to make some); a passage the store cannot
take (disk full, card failing) is held in memory, in order, and written when a
retry succeeds. Only if the trap stops with passages still held, or holds more than
MAX_HELD, are passages lost, and each one is counted (`passages_lost`).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np

from fishgate.errors import DuplicateRecord, StoreError
from fishgate.pipeline import StepResult
from fishgate.retention import SnapshotKeeper
from fishgate.store import OutboxMessage, PassageStore, StoredPassage
from fishgate.telemetry.messages import PASSAGE_SUFFIX, passage_payload
from fishgate.types import Passage

log = logging.getLogger(__name__)
MAX_HELD = 20_000  # passages held in memory while the store refuses them (a season's worth)
RETRY_S = 2.0  # a store that refused is tried again this often, not at every frame
PRUNE_EVERY_S = 3600.0  # the age limit is applied hourly


def passage_messages(stored: StoredPassage) -> list[OutboxMessage]:
    """The outbox messages of one stored passage (written in its transaction)."""
    return [OutboxMessage(PASSAGE_SUFFIX, passage_payload(stored))]


@dataclass
class _Held:
    passage: Passage
    time: datetime  # when it was counted (UTC)
    snapshot: np.ndarray | None
    counted_held: bool = False  # counted once in `passages_held`, however many retries it takes


class PassageRecorder:
    """A step observer: stores the passages of each step, stamped with the time they are counted."""

    def __init__(
        self,
        store: PassageStore,
        site: str,
        timezone: str,
        model_version: str,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        keeper: SnapshotKeeper | None = None,
        count: Callable[[str, int], None] = lambda name, n: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.site = site
        self.zone = ZoneInfo(timezone)
        self.model_version = model_version
        self.wall_clock = wall_clock
        self.keeper = keeper
        self.count = count
        self.clock = clock
        self.on_recorded: Callable[[StoredPassage], None] | None = None
        self.held: deque[_Held] = deque()
        self._retry_at = -float("inf")
        self._pruned_at = -float("inf")

    def observe(self, result: StepResult) -> None:
        for passage in result.passages:
            # the clock now, not one read at start plus frame time: a board without a
            # real-time clock has its time corrected by NTP after it has started
            self._hold(_Held(passage, self.wall_clock(), result.snapshots.get(passage.id)))
        if self.keeper is not None and self.clock() - self._pruned_at >= PRUNE_EVERY_S:
            self._pruned_at = self.clock()
            self.keeper.prune_old(self.wall_clock().astimezone(self.zone).date())
        if self.held and (result.passages or self.clock() >= self._retry_at):
            self.flush()

    def _hold(self, item: _Held) -> None:
        self.held.append(item)
        if len(self.held) > MAX_HELD:
            lost = self.held.popleft()
            self.count("passages_lost", 1)
            log.error(
                "passage %s lost: more than %d held while the store refuses them", lost.passage.id, MAX_HELD
            )

    def flush(self) -> bool:
        """Store what is held, oldest first; True when nothing is left held."""
        while self.held:
            item = self.held[0]
            try:
                stored = self._store(item)
            except DuplicateRecord as exc:
                log.error("%s", exc)
                self.held.popleft()
                continue
            except StoreError as exc:
                self._retry_at = self.clock() + RETRY_S
                if self.keeper is not None:
                    self.keeper.make_room()
                newly = [waiting for waiting in self.held if not waiting.counted_held]
                for waiting in newly:
                    waiting.counted_held = True
                if newly:
                    self.count("passages_held", len(newly))
                    log.error(
                        "%s; %d passages held in memory, retried every %.0f s", exc, len(self.held), RETRY_S
                    )
                return False
            self.held.popleft()
            if self.on_recorded:
                self.on_recorded(stored)
        return True

    def _store(self, item: _Held) -> StoredPassage:
        snapshot = item.snapshot
        if snapshot is not None and self.keeper is not None and not self.keeper.room_for_snapshot():
            snapshot = None
            item.snapshot = None  # a retry does not try again
            self.count("snapshots_dropped", 1)
        stored = self.store.record(
            item.passage,
            site=self.site,
            time=item.time,
            local=item.time.astimezone(self.zone),
            model_version=self.model_version,
            snapshot=snapshot,
            messages=passage_messages,
        )
        if snapshot is not None:
            if stored.snapshot is None:
                self.count("snapshots_dropped", 1)  # the store could not write it (logged there)
            elif self.keeper is not None:
                self.keeper.added(stored.snapshot)
        return stored

    def close(self) -> int:
        """A last try for what is held; returns (and counts) the passages lost."""
        if self.held and self.flush():
            return 0
        lost = len(self.held)
        if lost:
            self.count("passages_lost", lost)
            log.error(
                "%d passages could not be stored before stopping (disk full?) and are lost: %s",
                lost,
                ", ".join(h.passage.id for h in self.held),
            )
            self.held.clear()
        return lost
