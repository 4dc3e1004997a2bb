"""The trap end to end with a real broker: one message per passage, counts that agree, a SIGKILL
that loses nothing, and bad commands that do not stop the pipeline."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from fishgate.cli import main
from fishgate.store import PassageStore
from fishgate.synth import Clip, SceneSpec, write_clip
from fishgate.telemetry.messages import Topics
from tests.helpers import REPO, site_config, until
from tests.mosquitto import Broker, Subscriber, publish

TOPICS = Topics("fishgate", "chute-sample")


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Clip:
    return write_clip(SceneSpec("calm", seconds=20, seed=5), tmp_path_factory.mktemp("clip") / "calm")


def _mqtt(broker: Broker) -> str:
    return f'\n[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\nstats_interval_s = 1\n'


def _stored_ids(store: Path) -> list[str]:
    with PassageStore(store) as s:
        return [p.passage.id for p in s.passages()]


def test_a_run_publishes_each_passage_once_and_counts_equal_fishgate_counts(
    broker: Broker, clip: Clip, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = site_config(tmp_path, clip.video, _mqtt(broker))
    sub = Subscriber(broker.port, "#")
    try:
        assert main(["run", "-c", str(site)]) == 0
        ids = _stored_ids(tmp_path / "store.db")
        sub.wait_for(TOPICS.passage, len(ids))
        sub.sync()  # the trap has gone: all it sent has reached us, duplicates too
        got = sub.on(TOPICS.passage)
        counts = json.loads(sub.on(TOPICS.counts_today)[-1].payload)
        discovery = [m for m in sub.messages if m.topic.startswith("homeassistant/")]
    finally:
        sub.close()
    assert len(ids) >= 2
    assert sorted(json.loads(m.payload)["id"] for m in got) == sorted(ids)  # exactly one each
    capsys.readouterr()
    assert main(["counts", "-c", str(site), "--csv"]) == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    for row in table:
        assert counts["counts"][row["species"]] == {
            "upstream": int(row["upstream"]),
            "downstream": int(row["downstream"]),
        }
    assert counts["total"]["upstream"] == sum(int(r["upstream"]) for r in table)
    assert main(["passages", "-c", str(site), "--format", "jsonl"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(r["id"] for r in listed) == sorted(ids)
    assert all(r["snapshot"] and Path(r["snapshot"]).is_file() for r in listed)
    # Home Assistant finds the counts without hand configuration (the broker kept them retained)
    assert any(m.topic.endswith("/pink_salmon_upstream_today/config") for m in discovery)


def test_with_no_broker_configured_passages_wait_in_the_outbox(clip: Clip, tmp_path: Path) -> None:
    site = site_config(tmp_path, clip.video)  # no [mqtt] section
    assert main(["run", "-c", str(site)]) == 0
    with PassageStore(tmp_path / "store.db") as store:
        passages = store.passages()
        assert passages and store.outbox_length() == len(passages)
        ids = {json.loads(row.payload)["id"] for row in store.outbox(100)}
    assert ids == {p.passage.id for p in passages}


def test_sigterm_while_a_passage_is_stored_keeps_it_and_stops_after_that_frame(
    clip: Clip, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    original = PassageStore.record

    def record_with_sigterm(self: PassageStore, *args: Any, **kwargs: Any) -> Any:
        os.kill(os.getpid(), signal.SIGTERM)  # arrives in the middle of storing the passage
        return original(self, *args, **kwargs)

    monkeypatch.setattr(PassageStore, "record", record_with_sigterm)
    assert main(["run", "-c", str(site_config(tmp_path, clip.video))]) == 130  # stopped by a signal
    frames = int(capsys.readouterr().out.split()[0])
    assert frames < 500  # stopped early ...
    with PassageStore(tmp_path / "store.db") as store:
        assert len(store.passages()) == 1 and store.outbox_length() == 1  # ... with the passage kept


def _start_run(site: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "fishgate", "run", "-c", str(site), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_sigkill_mid_run_loses_no_recorded_passage(broker: Broker, clip: Clip, tmp_path: Path) -> None:
    broker.stop()  # offline: everything the run records must wait in the outbox
    site = site_config(tmp_path, clip.video, _mqtt(broker), pace=True)
    run = _start_run(site)
    store = tmp_path / "store.db"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (not store.exists() or len(_stored_ids(store)) < 2):
        time.sleep(0.2)
    run.send_signal(signal.SIGKILL)
    run.wait(10)
    recorded = _stored_ids(store)
    assert len(recorded) >= 2
    with PassageStore(store) as s:
        assert s.integrity_check() == "ok" and s.outbox_length() == len(recorded)
    broker.start()
    sub = Subscriber(broker.port, TOPICS.passage)
    try:
        assert main(["publish", "-c", str(site), "--timeout", "20"]) == 0
        got = {json.loads(m.payload)["id"] for m in sub.wait_for(TOPICS.passage, len(recorded))}
    finally:
        sub.close()
    assert got == set(recorded)


def test_bad_commands_are_refused_while_the_pipeline_keeps_running(
    broker: Broker, clip: Clip, tmp_path: Path
) -> None:
    site = site_config(tmp_path, clip.video, _mqtt(broker), pace=True)
    sub = Subscriber(broker.port, f"{TOPICS.root}/#")
    run = _start_run(site)
    try:
        subscribed = until(lambda: broker.has_subscription(TOPICS.gate_mode_set), timeout=30)
        assert subscribed, "the trap never subscribed to its commands"
        for bad in (b"\x00\xff", b"x" * 5000, b"close", b'{"mode": ["tank"]}'):
            publish(broker.port, TOPICS.gate_mode_set, bad)
        publish(broker.port, TOPICS.gate_mode_set, b"tank")
        out, err = run.communicate(timeout=60)
        sub.sync()  # the gate state it published on the way out has reached us
        modes = [json.loads(m.payload)["mode"] for m in sub.on(TOPICS.gate_state)]
    finally:
        run.kill()
        sub.close()
    assert run.returncode == 0, err
    assert "500 frames" in out  # every frame of the clip was processed
    assert err.count("refused command") == 4
    assert "tank" in modes and modes[-1] == "tank"
