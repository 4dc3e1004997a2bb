"""A real Mosquitto broker for tests: own process, generated config, a free local port.

Tests that need it skip with a clear reason only where `mosquitto` is not installed
(CI installs it). `stop()` and `start()` let a test take the broker away and bring
it back on the same port, with persistence so retained messages and sessions stay.
"""

from __future__ import annotations

import getpass
import re
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def mosquitto_binary() -> str:
    for candidate in ("mosquitto", "/usr/sbin/mosquitto"):
        found = shutil.which(candidate)
        if found:
            return found
    pytest.skip("mosquitto is not installed (apt-get install mosquitto); .ci/run installs it")


@dataclass
class Broker:
    folder: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    users: dict[str, str] = field(default_factory=dict)  # with users, anonymous clients are refused
    tls: bool = False  # serve TLS with a certificate made for 127.0.0.1 (CA in ca.crt)
    acl: Path | None = None  # a Mosquitto ACL file (with users)

    def start(self) -> None:
        conf = self.folder / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            + self._security()
            + f"user {getpass.getuser()}\n"  # as root, mosquitto would drop to a user that cannot write here
            "persistence true\n"
            f"persistence_location {self.folder}/\n"
            "autosave_interval 1\n"
            f"log_dest file {self.folder}/mosquitto.log\n"
            # the default log types, and every subscription taken (see has_subscription)
            + "".join(
                f"log_type {kind}\n" for kind in ("error", "warning", "notice", "information", "subscribe")
            )
        )
        self.process = subprocess.Popen([mosquitto_binary(), "-c", str(conf)], stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.process.stderr.read().decode()}")  # type: ignore[union-attr]
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not listen on port {self.port}")

    def has_subscription(self, topic: str) -> bool:
        """Whether a client has subscribed to exactly `topic` (the broker logs each one it takes,
        once the subscription is in place, before it reads anything else from any client)."""
        log = self.folder / "mosquitto.log"
        if not log.exists():
            return False
        taken = re.compile(r"^\d+: \S+ [012] (\S+)$")
        return any((m := taken.match(line)) and m.group(1) == topic for line in log.read_text().splitlines())

    @property
    def ca_file(self) -> Path:
        return self.folder / "ca.crt"

    def _security(self) -> str:
        lines = []
        if self.users:
            passwords = self.folder / "passwords"
            passwords.write_text("")
            for user, password in self.users.items():
                subprocess.run(["mosquitto_passwd", "-b", str(passwords), user, password], check=True)
            lines += ["allow_anonymous false", f"password_file {passwords}"]
            if self.acl is not None:
                lines.append(f"acl_file {self.acl}")
        else:
            lines.append("allow_anonymous true")
        if self.tls:
            make_certificates(self.folder)
            lines += [f"cafile {self.ca_file}", f"certfile {self.folder / 'server.crt'}"]
            lines.append(f"keyfile {self.folder / 'server.key'}")
        return "".join(line + "\n" for line in lines)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


def make_certificates(folder: Path) -> None:
    """A throw-away CA and a server certificate for 127.0.0.1 (openssl, installed by .ci/run)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (apt-get install openssl); .ci/run installs it")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=folder)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=fishgate test CA",
            "-keyout", "ca.key", "-out", "ca.crt")  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key",
            "-out", "server.csr")  # fmt: skip
    (folder / "san.ext").write_text("subjectAltName = IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", "san.ext", "-out", "server.crt")  # fmt: skip


class Subscriber:
    """A paho client that keeps every message of `topic` (retained ones included).

    It is ready once the broker has acknowledged its subscription (SUBACK). `sync()` waits
    until everything the broker took in before the call has reached it.
    """

    def __init__(self, port: int, topic: str, persistent: bool = False) -> None:
        self.messages: list[paho.MQTTMessage] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._refused: list[Any] = []  # reason codes of a refused subscription
        self._topic = topic
        # a topic of this subscriber's own for sync() markers, kept apart from `messages`
        self._marker_topic = f"test-sync/{port}/{time.monotonic_ns()}"
        self._markers: set[bytes] = set()
        # persistent: the broker keeps the subscription and queues QoS 1 messages while we are away
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"test-sub-{port}", clean_session=not persistent
        )
        self.client.reconnect_delay_set(1, 2)
        self.client.on_connect = self._subscribe
        self.client.on_subscribe = self._acknowledged
        self.client.on_message = self._keep
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self._subscribed.wait(10), "the broker did not acknowledge the test subscriber's subscription"
        assert not self._refused, f"the broker refused the test subscriber's subscription: {self._refused}"

    def _subscribe(
        self, client: paho.Client, userdata: object, flags: object, reason: object, props: object
    ) -> None:
        client.subscribe([(self._topic, 1), (self._marker_topic, 1)])

    def _acknowledged(
        self, client: paho.Client, userdata: object, mid: int, reason_codes: list[Any], props: object
    ) -> None:
        self._refused = [code for code in reason_codes if code.is_failure]
        self._subscribed.set()

    def _keep(self, client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        with self._lock:
            if message.topic == self._marker_topic:
                self._markers.add(bytes(message.payload))
            else:
                self.messages.append(message)

    def on(self, topic: str) -> list[paho.MQTTMessage]:
        with self._lock:
            return [m for m in self.messages if m.topic == topic]

    def wait_for(self, topic: str, count: int, timeout: float = 20.0) -> list[paho.MQTTMessage]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.on(topic)) < count:
            time.sleep(0.05)
        return self.on(topic)

    def sync(self, timeout: float = 10.0) -> None:
        """Return once every message the broker had for us when this was called has arrived.

        A marker published now is queued for us behind them, and the broker hands one client
        its QoS 1 messages in order; so are the retained messages of `topic`, queued when the
        subscription was taken.
        """
        marker = str(time.monotonic_ns()).encode()
        self.client.publish(self._marker_topic, marker, qos=1).wait_for_publish(timeout)
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if marker in self._markers:
                    return
            assert time.monotonic() < deadline, "the test subscriber's sync marker never came back"
            time.sleep(0.01)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def retained(port: int, topic: str) -> list[bytes]:
    """What a newcomer subscribing to `topic` is handed as retained (all of it: see `sync`)."""
    sub = Subscriber(port, topic)
    try:
        sub.sync()
        return [bytes(m.payload) for m in sub.on(topic) if m.retain]
    finally:
        sub.close()


def publish(
    port: int,
    topic: str,
    payload: bytes | str,
    retain: bool = False,
    user: tuple[str, str] | None = None,
) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"test-pub-{time.monotonic_ns()}")
    if user is not None:
        client.username_pw_set(*user)
    client.connect("127.0.0.1", port)
    client.loop_start()
    client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()
