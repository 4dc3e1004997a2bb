"""MQTT topics and payloads: versioned JSON, built and checked here and nowhere else.

Every topic lives under `{topic_prefix}/{site}/`. Every JSON payload carries
`"v": PAYLOAD_VERSION`; a consumer that sees a higher `v` knows fields may have
changed meaning. The README's "MQTT" section shows one example of each.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from fishgate.store import OutboxMessage, Review, StoredPassage
from fishgate.types import SPECIES, UNKNOWN

PAYLOAD_VERSION = 1
MODES = ("auto", "river", "tank")
MAX_COMMAND_BYTES = 256  # a mode command is a word or a tiny JSON object; more is refused unread
DIRECTIONS = ("upstream", "downstream")


class CommandRejected(ValueError):
    """A command payload that is not a valid gate mode; the reason says why."""


@dataclass(frozen=True)
class Topics:
    prefix: str
    site: str

    @property
    def root(self) -> str:
        return f"{self.prefix.strip('/')}/{self.site}"

    def of(self, suffix: str) -> str:
        return f"{self.root}/{suffix}"

    @property
    def availability(self) -> str:
        return self.of("availability")

    @property
    def passage(self) -> str:
        return self.of("passage")

    @property
    def review(self) -> str:
        return self.of(REVIEW_SUFFIX)

    @property
    def counts_today(self) -> str:
        return self.of("counts/today")

    @property
    def counts_season(self) -> str:
        return self.of("counts/season")

    @property
    def stats(self) -> str:
        return self.of("stats")

    @property
    def gate_state(self) -> str:
        return self.of("gate/state")

    @property
    def gate_mode_set(self) -> str:
        return self.of("gate/mode/set")

    @property
    def config(self) -> str:
        return self.of("config")


PASSAGE_SUFFIX = "passage"  # the outbox stores topics below the site's root
REVIEW_SUFFIX = "review"


def _dump(payload: Mapping[str, Any]) -> str:
    return json.dumps({"v": PAYLOAD_VERSION, **payload}, separators=(",", ":"))


def passage_payload(stored: StoredPassage) -> str:
    """One passage: the EVALUATION.md fields plus site, time, model version and snapshot."""
    return _dump(stored.to_record())


def review_payload(review: Review, site: str) -> str:
    """A reviewer's label for a passage: the correction (or confirmation) a biologist signed."""
    return _dump(
        {
            "event": "review",
            "review": review.id,
            "passage": review.passage_id,
            "old": review.old_label,
            "new": review.new_label,
            "reviewer": review.reviewer,
            "site": site,
            "time": review.time.isoformat(timespec="seconds"),
        }
    )


def review_messages(review: Review, site: str) -> list[OutboxMessage]:
    """The outbox messages of one review (written in its transaction)."""
    return [OutboxMessage(REVIEW_SUFFIX, review_payload(review, site))]


def counts_payload(
    site: str, period: str, start: date, end: date, totals: Mapping[str, Mapping[str, int]], now: datetime
) -> str:
    """Passages per species and direction over local days start..end (what `fishgate counts` sums)."""
    species = [*SPECIES, UNKNOWN, *sorted(set(totals) - {*SPECIES, UNKNOWN})]
    counts = {s: {d: int(totals.get(s, {}).get(d, 0)) for d in DIRECTIONS} for s in species}
    total = {d: sum(c[d] for c in counts.values()) for d in DIRECTIONS}
    return _dump(
        {
            "site": site,
            "period": period,
            "from": start.isoformat(),
            "to": end.isoformat(),
            "counts": counts,
            "total": total,
            "time": now.isoformat(timespec="seconds"),
        }
    )


def gate_payload(position: str, mode: str, now: datetime) -> str:
    return _dump({"position": position, "mode": mode, "time": now.isoformat(timespec="seconds")})


def stats_payload(stats: Mapping[str, Any], now: datetime) -> str:
    return _dump({**stats, "time": now.isoformat(timespec="seconds")})


def config_payload(config: Mapping[str, Any]) -> str:
    return _dump(config)


def parse_mode_command(payload: bytes) -> str:
    """`auto`, `river` or `tank`, as a bare word or `{"mode": "..."}`; anything else is refused."""
    if len(payload) > MAX_COMMAND_BYTES:
        raise CommandRejected(f"payload of {len(payload)} bytes is over the {MAX_COMMAND_BYTES}-byte limit")
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise CommandRejected("payload is not UTF-8 text") from None
    if text.startswith("{"):
        try:
            body = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CommandRejected(f"payload is not valid JSON ({exc.msg})") from None
        if not isinstance(body, dict) or set(body) - {"mode", "v"} or "mode" not in body:
            raise CommandRejected(f'expected {{"mode": "auto|river|tank"}}, got {text[:60]!r}')
        text = body["mode"]
        if not isinstance(text, str):
            raise CommandRejected(f"mode must be a string, got {text!r}")
    mode = text.lower()
    if mode not in MODES:
        raise CommandRejected(f"unknown gate mode {text[:40]!r}; expected one of {', '.join(MODES)}")
    return mode
