"""Payloads, season boundaries, live stats and Home Assistant discovery, without a broker."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from fishgate.decision.scheduler import GateCommand
from fishgate.pipeline import StepResult
from fishgate.telemetry.discovery import discovery_messages
from fishgate.telemetry.messages import CommandRejected, Topics, counts_payload, parse_mode_command
from fishgate.telemetry.mqtt import season_start
from fishgate.telemetry.status import Reading, TrapStatus
from fishgate.types import SPECIES

NOW = datetime(2026, 8, 12, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("today", "start", "expected"),
    [
        (date(2026, 8, 12), "06-01", date(2026, 6, 1)),
        (date(2026, 3, 1), "06-01", date(2025, 6, 1)),  # before this year's start: last year's season
        (date(2026, 6, 1), "06-01", date(2026, 6, 1)),
        (date(2027, 3, 1), "02-29", date(2027, 2, 28)),
    ],
)
def test_the_season_is_the_one_holding_today(today: date, start: str, expected: date) -> None:
    assert season_start(today, start) == expected


def test_counts_name_every_species_and_both_directions() -> None:
    totals = {"pink_salmon": {"upstream": 4}, "unknown": {"downstream": 1}}
    body = json.loads(counts_payload("river", "today", date(2026, 8, 12), date(2026, 8, 12), totals, NOW))
    assert body["v"] == 1 and list(body["counts"])[: len(SPECIES)] == list(SPECIES)
    assert body["counts"]["pink_salmon"] == {"upstream": 4, "downstream": 0}
    assert body["counts"]["unknown"] == {"upstream": 0, "downstream": 1}
    assert body["total"] == {"upstream": 4, "downstream": 1}


@pytest.mark.parametrize(
    ("payload", "mode"), [(b"tank", "tank"), (b" River\n", "river"), (b'{"mode":"auto"}', "auto")]
)
def test_mode_commands_accepted(payload: bytes, mode: str) -> None:
    assert parse_mode_command(payload) == mode


@pytest.mark.parametrize("payload", [b"", b"open", b'{"mode": "tank", "force": true}', b"[1]", b"\xc3"])
def test_mode_commands_refused(payload: bytes) -> None:
    with pytest.raises(CommandRejected):
        parse_mode_command(payload)


def test_discovery_reads_fields_the_payloads_have() -> None:
    topics = Topics("fishgate", "Upper Trap")
    messages = discovery_messages("homeassistant", topics, "1.0")
    configs = [json.loads(p) for _, p in messages]
    assert len({c["unique_id"] for c in configs}) == len(configs)
    assert all(t.startswith("homeassistant/") and t.endswith("/config") for t, _ in messages)
    counts = json.loads(counts_payload("Upper Trap", "today", date(2026, 8, 12), date(2026, 8, 12), {}, NOW))
    for c in configs:
        if c["state_topic"] == topics.counts_today:
            species, direction = re.findall(r"value_json\.counts\.(\w+)\.(\w+)", c["value_template"])[0]
            assert direction in counts["counts"][species]
    select = next(c for c in configs if "command_topic" in c)
    assert select["command_topic"] == topics.gate_mode_set and select["options"] == ["auto", "river", "tank"]


def test_status_reports_latency_sensors_and_gate_changes(tmp_path: Path) -> None:
    (tmp_path / "battery").write_text("12650\n")
    clock = iter([0.0, 10.0]).__next__
    status = TrapStatus(
        tmp_path, "tank", sensors={"battery_v": Reading(tmp_path / "battery", 0.001)}, clock=clock
    )
    for n in range(100):
        command = GateCommand("river", n / 25, n, "idle") if n == 50 else None
        status.observe(
            StepResult(n, n / 25, [], [], command=command, timings_ms={"detect": 2.0, "gate": 0.5})
        )
    assert status.gate() == ("river", "auto") and status.gate_version == 1
    status.set_mode("tank")
    assert status.gate() == ("river", "tank") and status.gate_version == 2
    stats = status.snapshot(outbox_length=3)
    assert stats["fps"] == 10.0 and stats["frames"] == 100 and stats["outbox"] == 3
    assert stats["frame_ms_p50"] == 2.5 and stats["decision_ms_p99"] == 2.5
    assert stats["battery_v"] == 12.65 and stats["disk_free_mb"] > 0
