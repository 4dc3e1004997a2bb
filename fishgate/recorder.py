"""Every counted fish goes to the local store the moment the pipeline counts it.

The passage row, its snapshot and its MQTT message (in the outbox) are written
together, before the next frame is looked at: the store is the one place a
passage lives, whether or not a broker is ever reachable.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from fishgate.pipeline import StepResult
from fishgate.store import OutboxMessage, PassageStore, StoredPassage
from fishgate.telemetry.messages import PASSAGE_SUFFIX, passage_payload


def passage_messages(stored: StoredPassage) -> list[OutboxMessage]:
    """The outbox messages of one stored passage (written in its transaction)."""
    return [OutboxMessage(PASSAGE_SUFFIX, passage_payload(stored))]


class PassageRecorder:
    """A step observer: stores the passages of each step, stamped with the time they are counted."""

    def __init__(
        self,
        store: PassageStore,
        site: str,
        timezone: str,
        model_version: str,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.site = site
        self.zone = ZoneInfo(timezone)
        self.model_version = model_version
        self.wall_clock = wall_clock
        self.on_recorded: Callable[[StoredPassage], None] | None = None

    def observe(self, result: StepResult) -> None:
        for passage in result.passages:
            # the clock now, not one read at start plus frame time: a board without a
            # real-time clock has its time corrected by NTP after it has started
            when = self.wall_clock()
            stored = self.store.record(
                passage,
                site=self.site,
                time=when,
                local=when.astimezone(self.zone),
                model_version=self.model_version,
                snapshot=result.snapshots.get(passage.id),
                messages=passage_messages,
            )
            if self.on_recorded:
                self.on_recorded(stored)
