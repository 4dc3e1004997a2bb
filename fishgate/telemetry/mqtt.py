"""Offline-first MQTT: the outbox drained to the broker at QoS 1. The only paho importer.

- The pipeline never waits for the network: it writes passages (and their outbox
  rows) to the store; this publisher's own thread reads the outbox with its own
  SQLite connection and publishes.
- A row leaves the outbox only when the broker acknowledged its message id
  (paho's `on_publish` for QoS 1 = PUBACK). Unacknowledged messages are resent by
  paho after a reconnect (persistent session: clean_session=False, fixed client
  id); after a restart the rows are simply sent again, with the same passage id.
- paho's own network thread reconnects with backoff (1 s doubling to 2 min).
- State is retained and republished on every connect: availability (with a Last
  Will saying "offline"), counts for today and the season (queries over the
  store, so they always equal `fishgate counts`), gate state, config echo, Home
  Assistant discovery.
- Commands (gate mode) arrive on paho's thread, are checked here, and are handed
  to the pipeline thread through a queue; a bad one is logged and dropped. A
  *retained* command is never applied (anyone who can publish could otherwise hold
  the gate at every start): it is refused, logged and cleared from the broker.
  `[mqtt] commands = false` does not subscribe at all.
- Connection failures are logged with their reason, once per outage, and each loss
  of the connection; at a clean stop the gate's final (safe) position is published
  before "offline".
"""

from __future__ import annotations

import contextlib
import logging
import queue
import socket
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode

from fishgate.config import MqttConfig
from fishgate.store import PassageStore
from fishgate.telemetry.discovery import discovery_messages
from fishgate.telemetry.messages import (
    CommandRejected,
    Topics,
    config_payload,
    counts_payload,
    gate_payload,
    parse_mode_command,
    stats_payload,
)
from fishgate.telemetry.status import TrapStatus

log = logging.getLogger(__name__)

WINDOW = 100  # outbox rows published and not yet acknowledged, at most
WAKE_S = 0.5  # the drain thread looks at the outbox at least this often
BACKOFF_S = (1, 120)  # paho's reconnect delay: first try, longest wait


class MqttPublisher:
    def __init__(
        self,
        mqtt: MqttConfig,
        site: str,
        timezone: str,
        season_start: str,
        store_path: Path,
        status: TrapStatus | None = None,
        config_echo: Mapping[str, Any] | None = None,
        version: str = "",
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.mqtt = mqtt
        self.site = site
        self.zone = ZoneInfo(timezone)
        self.season_start = season_start
        self.store_path = store_path
        self.status = status
        self.config_echo = dict(config_echo or {})
        self.version = version
        self.wall_clock = wall_clock
        self.topics = Topics(mqtt.topic_prefix, site)
        self.commands: queue.SimpleQueue[str] = queue.SimpleQueue()  # accepted gate modes
        self.rejected = 0
        self._acked: queue.SimpleQueue[int] = queue.SimpleQueue()  # mids from paho's thread
        self._inflight: dict[int, int] = {}  # mid -> outbox seq, drain thread only
        self._unstored_acks: list[int] = []  # acknowledged mids not yet deleted from the outbox
        self._sent_upto = 0  # highest outbox seq published by this process
        self._connected = threading.Event()
        # the broker has acknowledged the command subscription on this connection (SUBACK)
        self.subscribed = threading.Event()
        self._announce = threading.Event()  # (re)connected: publish retained state again
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._empty_seen_at = -1.0  # monotonic start of the last cycle that found nothing left to send
        self._thread: threading.Thread | None = None
        self._client = self._make_client()
        self._last_stats = 0.0
        self._counts_day: date | None = None  # the local day the last counts were for
        self._gate_version = -1
        self._failing: str | None = None  # the reason the broker cannot be reached, logged once

    # -- life cycle (pipeline thread) ------------------------------------------

    def start(self) -> None:
        m = self.mqtt
        self._client.connect_async(m.host, m.port, keepalive=m.keepalive_s)
        self._client.loop_start()
        self._thread = threading.Thread(target=self._drain_loop, name="fishgate-mqtt", daemon=True)
        self._thread.start()

    def ensure_running(self) -> None:
        """Restart the drain thread if it died (called from the pipeline thread now and then)."""
        if self._thread is not None and not self._thread.is_alive() and not self._stopping.is_set():
            log.error("MQTT: the publishing thread had stopped; restarted it")
            self._thread = threading.Thread(target=self._drain_loop, name="fishgate-mqtt", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        """New rows are in the outbox."""
        self._wake.set()

    def stop(self, drain_timeout_s: float = 0.0) -> None:
        """Wait up to drain_timeout_s for the outbox to empty, say "offline", disconnect."""
        if drain_timeout_s > 0 and not self._wait_drained(drain_timeout_s):
            log.warning(
                "MQTT: outbox not empty after %.0f s; the rest goes at the next start", drain_timeout_s
            )
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._connected.is_set():
            if self.status is not None:
                self._publish_gate()  # where the gate was left (its safe position), before "offline"
            info = self._client.publish(self.topics.availability, "offline", qos=1, retain=True)
            if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
                with contextlib.suppress(RuntimeError, ValueError):
                    info.wait_for_publish(timeout=2)
        self._client.disconnect()
        self._client.loop_stop()

    def _wait_drained(self, timeout_s: float) -> bool:
        """True once a drain cycle that started after this call found the outbox empty."""
        asked = time.monotonic()
        self._wake.set()
        while self._empty_seen_at < asked:
            if time.monotonic() - asked > timeout_s:
                return False
            time.sleep(0.05)
        return True

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    # -- paho callbacks (paho's network thread) --------------------------------

    def _make_client(self) -> paho.Client:
        from fishgate.telemetry.probe import new_client

        m = self.mqtt
        # clean_session=False: the broker keeps our session (and queued commands) across drops
        client = new_client(m, m.client_id or f"fishgate-{self.site}", clean_session=False)
        client.will_set(self.topics.availability, "offline", qos=1, retain=True)
        client.reconnect_delay_set(*BACKOFF_S)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        return client

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        refused = refusal(reason)
        if refused is not None:
            self._connect_failed(refused)
            return
        log.info("MQTT: connected to %s:%s", self.mqtt.host, self.mqtt.port)
        self._failing = None
        if self.mqtt.commands:
            # QoS 0: the broker must not keep a command for us while we are away; an old
            # "tank" applied hours later, after a restart, would be worse than a lost one
            client.subscribe(self.topics.gate_mode_set, qos=0)
        self._connected.set()
        if self.status is not None:
            self.status.set_link(True)
        self._announce.set()
        self._wake.set()

    def _on_connect_fail(self, client: paho.Client, userdata: Any) -> None:
        self._connect_failed(connect_problem(self.mqtt.host, self.mqtt.port, self.mqtt.tls is not None))

    def _connect_failed(self, why: str) -> None:
        """Logged once per outage (and again if the reason changes), not at every retry."""
        if why != self._failing:
            log.error(
                "MQTT: cannot connect to %s:%s: %s; retrying (up to every %d s), passages wait in the outbox",
                self.mqtt.host,
                self.mqtt.port,
                why,
                BACKOFF_S[1],
            )
        self._failing = why

    def _on_disconnect(self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if self._connected.is_set() and not self._stopping.is_set():
            log.warning("MQTT: disconnected (%s); passages wait in the outbox", reason)
        self._connected.clear()
        self.subscribed.clear()
        if self.status is not None:
            self.status.set_link(False)

    def _on_publish(self, client: paho.Client, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        self._acked.put(mid)
        self._wake.set()

    def _on_subscribe(
        self, client: paho.Client, userdata: Any, mid: int, reason_codes: list[Any], props: Any
    ) -> None:
        if not any(code.is_failure for code in reason_codes):
            self.subscribed.set()

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        if not message.payload:
            return  # an empty message clears a retained one (ours, above): nothing to do
        if message.retain:
            self.rejected += 1
            log.warning(
                "MQTT: refused a retained command on %s (a command must be sent live, not kept by the "
                "broker); cleared it",
                message.topic,
            )
            client.publish(message.topic, b"", qos=1, retain=True)  # an empty retained message clears it
            return
        try:
            mode = parse_mode_command(bytes(message.payload))
        except CommandRejected as why:
            self.rejected += 1
            log.warning("MQTT: refused command on %s: %s", message.topic, why)
            return
        log.info("MQTT: gate mode %s requested", mode)
        self.commands.put(mode)

    # -- the drain thread --------------------------------------------------------

    def _drain_loop(self) -> None:
        store = PassageStore(self.store_path)
        try:
            while not self._stopping.is_set():
                self._wake.wait(WAKE_S)
                self._wake.clear()
                try:
                    self._cycle(store)
                except Exception:  # never let a bad moment stop publishing for the season
                    log.exception("MQTT: publishing failed; retrying")
                    time.sleep(WAKE_S)
            self._take_acks(store)
        finally:
            store.close()

    def _cycle(self, store: PassageStore) -> None:
        started = time.monotonic()
        self._take_acks(store)
        if not self._connected.is_set():
            return
        if self._announce.is_set():
            self._announce.clear()
            self._publish_state(store)
        sent = self._send_outbox(store)
        now = time.monotonic()
        if sent or self._counts_stale():
            self._publish_counts(store)
        if self.status is not None:
            if self.status.gate_version != self._gate_version:
                self._publish_gate()
            if now - self._last_stats >= self.mqtt.stats_interval_s:
                self._last_stats = now
                self._publish(
                    self.topics.stats, stats_payload(self.status.snapshot(store.outbox_length()), self._now())
                )
        if not self._inflight and store.outbox_length() == 0:
            self._empty_seen_at = started

    def _take_acks(self, store: PassageStore) -> None:
        while True:
            try:
                self._unstored_acks.append(self._acked.get_nowait())
            except queue.Empty:
                break
        mids = [mid for mid in self._unstored_acks if mid in self._inflight]
        store.ack([self._inflight[mid] for mid in mids])  # a failure keeps them for the next cycle
        for mid in mids:
            del self._inflight[mid]
        self._unstored_acks.clear()  # acks of state messages: nothing to delete

    def _send_outbox(self, store: PassageStore) -> int:
        room = WINDOW - len(self._inflight)
        if room <= 0:
            return 0
        rows = store.outbox(room, after=self._sent_upto)
        for row in rows:
            info = self._client.publish(self.topics.of(row.topic), row.payload, qos=1, retain=row.retain)
            if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
                log.warning("MQTT: publish of outbox row %d failed (%s); will retry", row.seq, info.rc)
                break
            # NO_CONN: paho keeps a QoS 1 message and sends it after reconnecting
            self._inflight[info.mid] = row.seq
            self._sent_upto = row.seq
        return len(rows)

    def _publish(self, topic: str, payload: str, retain: bool = False) -> None:
        self._client.publish(topic, payload, qos=1, retain=retain)

    def _publish_state(self, store: PassageStore) -> None:
        self._publish(self.topics.availability, "online", retain=True)
        if self.config_echo:
            self._publish(self.topics.config, config_payload(self.config_echo), retain=True)
        if self.mqtt.discovery:
            for topic, payload in discovery_messages(self.mqtt.discovery_prefix, self.topics, self.version):
                self._publish(topic, payload, retain=True)
        self._gate_version = -1  # republish the gate state
        self._publish_counts(store)

    def _counts_stale(self) -> bool:
        """Today's counts start from zero at local midnight even when no fish comes."""
        return self._today() != self._counts_day

    def _publish_counts(self, store: PassageStore) -> None:
        today = self._today()
        season = season_start(today, self.season_start)
        stamp = self._now()
        for topic, period, start in (
            (self.topics.counts_today, "today", today),
            (self.topics.counts_season, "season", season),
        ):
            totals = store.totals(start, today)
            self._publish(topic, counts_payload(self.site, period, start, today, totals, stamp), retain=True)
        self._counts_day = today

    def _publish_gate(self) -> None:
        assert self.status is not None
        version = self.status.gate_version
        position, mode = self.status.gate()
        self._publish(self.topics.gate_state, gate_payload(position, mode, self._now()), retain=True)
        self._gate_version = version

    def _now(self) -> datetime:
        return self.wall_clock()

    def _today(self) -> date:
        return self._now().astimezone(self.zone).date()


def refusal(reason: object) -> str | None:
    """A CONNACK's reason code in words: None when it accepted."""
    if not getattr(reason, "is_failure", False):
        return None
    text = str(reason)
    if "authori" in text.lower() or "password" in text.lower():
        return (
            f"the broker refused the connection: it refused the user name or password ({text}); "
            "check [mqtt] username and password against the broker's password file"
        )
    return f"the broker refused the connection ({text})"


def connect_problem(host: str, port: int, tls: bool) -> str:
    """Why a TCP connection to the broker fails, in words an operator can act on."""
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return f"the name {host!r} does not resolve ({exc.strerror}): check [mqtt] host and DNS"
    try:
        socket.create_connection((host, port), timeout=3).close()
    except ConnectionRefusedError:
        return "connection refused: is the broker running, and is [mqtt] port right?"
    except OSError as exc:
        return f"unreachable ({exc.strerror or exc}): check the network"
    if tls:
        return "the TLS handshake failed: check [mqtt.tls] (CA file, certificates) against the broker"
    return "the broker closed the connection"


def season_start(today: date, start: str) -> date:
    """The first day of the season holding `today` (MM-DD each year)."""
    month, day = (int(v) for v in start.split("-"))
    this_year = _clamped(today.year, month, day)
    return this_year if this_year <= today else _clamped(today.year - 1, month, day)


def _clamped(year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:  # 02-29 in a year without it
        return date(year, month, day - 1)
