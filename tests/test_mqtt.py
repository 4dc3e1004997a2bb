"""The MQTT publisher against a real Mosquitto broker: outbox delivery, broker outages, commands."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from fishgate.config import MqttConfig, TlsConfig
from fishgate.errors import StoreError
from fishgate.recorder import passage_messages
from fishgate.store import PassageStore
from fishgate.telemetry.messages import Topics
from fishgate.telemetry.mqtt import MqttPublisher
from fishgate.telemetry.status import TrapStatus
from tests.helpers import REPO, until
from tests.mosquitto import Broker, Subscriber, publish, retained
from tests.test_store import passage

OSLO = ZoneInfo("Europe/Oslo")
TOPICS = Topics("fishgate", "river")


def fill(store_path: Path, ids: list[str], species: str = "pink_salmon") -> None:
    with PassageStore(store_path) as store:
        for pid in ids:
            now = datetime.now(UTC)
            store.record(
                passage(pid, species), "river", now, now.astimezone(OSLO), "m1", messages=passage_messages
            )


def publisher(
    port: int, store_path: Path, status: TrapStatus | None = None, **settings: Any
) -> MqttPublisher:
    mqtt = MqttConfig(host="127.0.0.1", port=port, client_id="fishgate-test", stats_interval_s=1, **settings)
    return MqttPublisher(mqtt, "river", "Europe/Oslo", "01-01", store_path, status=status, version="test")


def _ids(sub: Subscriber) -> set[str]:
    return {json.loads(m.payload)["id"] for m in sub.on(TOPICS.passage)}


def _drained(store_path: Path, timeout: float = 20) -> int:
    deadline = time.monotonic() + timeout
    with PassageStore(store_path) as store:
        while store.outbox_length() and time.monotonic() < deadline:
            time.sleep(0.1)
        return store.outbox_length()


def test_every_passage_arrives_once_and_leaves_the_outbox(broker: Broker, tmp_path: Path) -> None:
    store_path = tmp_path / "s.db"
    ids = [f"run-{n}" for n in range(30)]
    fill(store_path, ids)
    sub = Subscriber(broker.port, "fishgate/river/#")
    pub = publisher(broker.port, store_path, TrapStatus(tmp_path, "river"))
    pub.start()
    try:
        got = sub.wait_for(TOPICS.passage, len(ids))
        pub.stop(drain_timeout_s=10)
        sub.sync()  # what it published on the way out (gate state, "offline") has reached us
    finally:
        sub.close()
    payloads = [json.loads(m.payload) for m in got]
    assert sorted(p["id"] for p in payloads) == sorted(ids)
    assert all(p["v"] == 1 and p["site"] == "river" and p["species"] == "pink_salmon" for p in payloads)
    with PassageStore(store_path) as store:
        assert store.outbox_length() == 0
        totals = store.totals()
    today = json.loads(sub.on(TOPICS.counts_today)[-1].payload)
    assert today["counts"]["pink_salmon"] == {"upstream": totals["pink_salmon"]["upstream"], "downstream": 0}
    assert today["counts"]["atlantic_salmon"] == {"upstream": 0, "downstream": 0}
    assert [m.payload for m in sub.on(TOPICS.availability)][-1] == b"offline"  # said so on the way out
    assert json.loads(sub.on(TOPICS.gate_state)[-1].payload)["position"] == "river"


def test_a_broker_down_at_first_gets_everything_once_it_is_up(broker: Broker, tmp_path: Path) -> None:
    sub = Subscriber(broker.port, TOPICS.passage, persistent=True)  # the broker keeps its queue
    broker.stop()
    store_path = tmp_path / "s.db"
    fill(store_path, [f"early-{n}" for n in range(10)])
    pub = publisher(broker.port, store_path)
    pub.start()
    try:
        time.sleep(1.5)  # time passes (deliberately): it tries, fails, backs off; passages keep coming
        fill(store_path, [f"late-{n}" for n in range(5)])
        pub.wake()
        assert not pub.connected
        broker.start()
        got = sub.wait_for(TOPICS.passage, 15)
        pub.stop(drain_timeout_s=10)
    finally:
        sub.close()
    assert sorted(json.loads(m.payload)["id"] for m in got) == sorted(
        [f"early-{n}" for n in range(10)] + [f"late-{n}" for n in range(5)]
    )
    with PassageStore(store_path) as store:
        assert store.outbox_length() == 0


def test_bad_commands_are_refused_and_logged_good_ones_queued(
    broker: Broker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pub = publisher(broker.port, tmp_path / "s.db")
    pub.start()
    try:
        assert pub.subscribed.wait(10), "the trap never subscribed to its commands"
        with caplog.at_level(logging.WARNING, logger="fishgate.telemetry.mqtt"):
            for bad in (b"\xff\xfe\x00", b"river" * 100, b"open", b'{"mode": 3}', b"{not json"):
                publish(broker.port, TOPICS.gate_mode_set, bad)
            publish(broker.port, TOPICS.gate_mode_set, b'{"mode": "tank"}')
            publish(broker.port, TOPICS.gate_mode_set, b"auto")
            deadline = time.monotonic() + 10
            while pub.commands.qsize() < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
    finally:
        pub.stop()
    assert [pub.commands.get_nowait() for _ in range(pub.commands.qsize())] == ["tank", "auto"]
    assert pub.rejected == 5
    reasons = " | ".join(r.getMessage() for r in caplog.records if "refused command" in r.getMessage())
    for why in (
        "not UTF-8",
        "over the 256-byte limit",
        "unknown gate mode 'open'",
        "must be a string",
        "not valid JSON",
    ):
        assert why in reasons


def test_tls_with_username_and_password_delivers(tmp_path: Path) -> None:
    broker = Broker(tmp_path / "broker", users={"trap": "s3cret"}, tls=True)
    broker.folder.mkdir()
    broker.start()
    try:
        store_path = tmp_path / "s.db"
        fill(store_path, ["tls-1", "tls-2"])
        tls = TlsConfig(ca_file=broker.ca_file)
        pub = publisher(broker.port, store_path, username="trap", password="s3cret", tls=tls)
        pub.start()
        try:
            assert _drained(store_path) == 0
        finally:
            pub.stop()
    finally:
        broker.stop()


def test_a_wrong_password_is_logged_and_keeps_the_outbox(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broker = Broker(tmp_path / "broker", users={"trap": "s3cret"})
    broker.folder.mkdir()
    broker.start()
    try:
        store_path = tmp_path / "s.db"
        fill(store_path, ["kept-1"])
        with caplog.at_level(logging.ERROR, logger="fishgate.telemetry.mqtt"):
            pub = publisher(broker.port, store_path, username="trap", password="wrong")
            pub.start()
            try:
                assert _drained(store_path, timeout=2) == 1
            finally:
                pub.stop()
    finally:
        broker.stop()
    assert not pub.connected
    assert any("refused the connection" in r.getMessage() for r in caplog.records)


def test_a_command_sent_while_the_trap_was_away_is_not_applied_later(broker: Broker, tmp_path: Path) -> None:
    first = publisher(broker.port, tmp_path / "s.db")
    first.start()
    assert first.subscribed.wait(10)
    first.stop()  # the persistent session (and its subscription) stays on the broker
    publish(broker.port, TOPICS.gate_mode_set, b"tank")  # nobody there to take it now
    again = publisher(broker.port, tmp_path / "s.db")
    again.start()
    try:
        assert again.subscribed.wait(10)
        publish(broker.port, TOPICS.gate_mode_set, b"river")
        assert until(lambda: not again.commands.empty(), timeout=5)  # while connected, commands arrive
        # a "tank" kept for the trap would have been handed over on connecting, before "river":
        # an hours-old "tank" must not hold the gate
        assert [again.commands.get_nowait() for _ in range(again.commands.qsize())] == ["river"]
    finally:
        again.stop()


def test_an_outbox_delete_that_fails_is_retried_not_forgotten(
    broker: Broker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_path = tmp_path / "s.db"
    fill(store_path, [f"a-{n}" for n in range(5)])
    real_ack, failures = PassageStore.ack, []

    def ack_failing_once(self: PassageStore, seqs: Any) -> None:
        if seqs and not failures:
            failures.append(list(seqs))
            raise StoreError("database is locked")
        real_ack(self, seqs)

    monkeypatch.setattr(PassageStore, "ack", ack_failing_once)
    pub = publisher(broker.port, store_path)
    pub.start()
    try:
        assert _drained(store_path) == 0
    finally:
        pub.stop()
    assert failures  # the failure happened, and the rows still left the outbox


def test_broker_restart_with_messages_in_flight_loses_none(broker: Broker, tmp_path: Path) -> None:
    store_path = tmp_path / "s.db"
    ids = [f"f-{n}" for n in range(1500)]
    fill(store_path, ids)
    sub = Subscriber(broker.port, TOPICS.passage, persistent=True)
    pub = publisher(broker.port, store_path)
    pub.start()
    try:
        deadline = time.monotonic() + 20
        while len(sub.on(TOPICS.passage)) < 100 and time.monotonic() < deadline:
            time.sleep(0.01)
        broker.stop()  # in the middle of the drain: some sent, some unacknowledged, most waiting
        with PassageStore(store_path) as store:
            waiting = store.outbox_length()
        broker.start()
        assert _drained(store_path, timeout=60) == 0
        # wait for every id, not for len(ids) messages: a redelivered duplicate would count twice
        deadline = time.monotonic() + 30
        while (got := _ids(sub)) != set(ids) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        pub.stop()
        sub.close()
    assert 0 < waiting < len(ids)
    assert got == set(ids)  # duplicates (same id) allowed, losses not


def test_a_retained_command_is_refused_and_cleared_and_spoofed_state_overwritten(
    broker: Broker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # before the trap starts, somebody leaves a retained "tank" and a fake config on the broker
    publish(broker.port, TOPICS.gate_mode_set, b"tank", retain=True)
    publish(broker.port, TOPICS.config, b'{"v": 1, "spoofed": true}', retain=True)
    mqtt = MqttConfig(host="127.0.0.1", port=broker.port, client_id="fishgate-test")
    pub = MqttPublisher(
        mqtt, "river", "Europe/Oslo", "01-01", tmp_path / "s.db", config_echo={"site": "river"}
    )
    with caplog.at_level(logging.WARNING, logger="fishgate.telemetry.mqtt"):
        pub.start()
        try:
            assert until(lambda: pub.rejected == 1)
            assert until(lambda: retained(broker.port, TOPICS.gate_mode_set) == [])  # cleared
            assert until(lambda: b"spoofed" not in b"".join(retained(broker.port, TOPICS.config)))
        finally:
            pub.stop()
    assert pub.commands.qsize() == 0  # never applied
    assert any("refused a retained command" in r.getMessage() for r in caplog.records)
    assert json.loads(retained(broker.port, TOPICS.config)[0])["site"] == "river"


def test_commands_off_means_no_subscription(broker: Broker, tmp_path: Path) -> None:
    pub = publisher(broker.port, tmp_path / "s.db", commands=False)
    pub.start()
    try:
        assert until(lambda: pub.connected)
        publish(broker.port, TOPICS.gate_mode_set, b"tank")  # the broker has handled it when this returns
        # a deliberate window: a subscribed trap would have the command within it
        assert not until(lambda: pub.commands.qsize() > 0, timeout=1.0)
        assert not pub.subscribed.is_set() and not broker.has_subscription(TOPICS.gate_mode_set)
    finally:
        pub.stop()


def test_the_shipped_acl_lets_only_named_operators_set_the_gate(tmp_path: Path) -> None:
    acl = (REPO / "firmware_config" / "mosquitto-acl.conf").read_text().replace("example-river", "river")
    (tmp_path / "acl").write_text(acl)
    users = {"trap-river": "t-secret", "operator-kari": "k-secret", "mallory": "m-secret"}
    broker = Broker(tmp_path, users=users, acl=tmp_path / "acl")
    broker.start()
    try:
        mqtt = MqttConfig(
            host="127.0.0.1",
            port=broker.port,
            client_id="fishgate-river",
            username="trap-river",
            password="t-secret",
        )
        pub = MqttPublisher(mqtt, "river", "Europe/Oslo", "01-01", tmp_path / "s.db")
        pub.start()
        try:
            assert pub.subscribed.wait(10), "the ACL must let the trap subscribe to its commands"
            # a known user the ACL does not name: the broker drops the command
            publish(broker.port, TOPICS.gate_mode_set, b"tank", user=("mallory", "m-secret"))
            # a named operator: delivered
            publish(broker.port, TOPICS.gate_mode_set, b"river", user=("operator-kari", "k-secret"))
            assert until(lambda: pub.commands.qsize() >= 1)
            # mallory's "tank" went first and never arrived; only the operator's command did
            assert [pub.commands.get_nowait() for _ in range(pub.commands.qsize())] == ["river"]
        finally:
            pub.stop()
    finally:
        broker.stop()


def test_stats_carry_the_link_and_the_outbox_and_count_each_lost_connection(
    broker: Broker, tmp_path: Path
) -> None:
    store_path = tmp_path / "s.db"
    fill(store_path, [])
    status = TrapStatus(tmp_path, "tank")
    status.set_link(False)
    sub = Subscriber(broker.port, TOPICS.stats)
    pub = publisher(broker.port, store_path, status=status)
    pub.start()
    try:
        stats = json.loads(sub.wait_for(TOPICS.stats, 1, timeout=10)[0].payload)
        assert stats["mqtt_connected"] is True and stats["outbox"] == 0
        broker.stop()
        assert until(lambda: status.snapshot(0, reader="test")["mqtt_connected"] is False)
        assert status.counters() == {"mqtt_disconnects": 1}
        broker.start()
        assert until(lambda: status.snapshot(0, reader="test")["mqtt_connected"] is True, timeout=20)
    finally:
        pub.stop()
        sub.close()
