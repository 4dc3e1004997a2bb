"""One MQTT client set up as the site config says (credentials, TLS), and a probe that
connects once and says, in an operator's words, why it could not."""

from __future__ import annotations

import ssl
import threading

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from fishgate.config import MqttConfig
from fishgate.telemetry.mqtt import connect_problem, refusal

PROBE_TIMEOUT_S = 8.0


def new_client(mqtt: MqttConfig, client_id: str, clean_session: bool) -> paho.Client:
    """A paho client with the config's credentials and TLS (MQTT 3.1.1)."""
    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean_session, protocol=paho.MQTTv311
    )
    if mqtt.username is not None:
        client.username_pw_set(mqtt.username, mqtt.password)
    if mqtt.tls is not None:
        client.tls_set(
            ca_certs=str(mqtt.tls.ca_file) if mqtt.tls.ca_file else None,
            certfile=str(mqtt.tls.cert_file) if mqtt.tls.cert_file else None,
            keyfile=str(mqtt.tls.key_file) if mqtt.tls.key_file else None,
            cert_reqs=ssl.CERT_REQUIRED,
        )
        client.tls_insecure_set(mqtt.tls.insecure)
    return client


def probe_broker(mqtt: MqttConfig, client_id: str, timeout_s: float = PROBE_TIMEOUT_S) -> str | None:
    """Connect once as the trap would; None when the broker accepts, else what is wrong."""
    client = new_client(mqtt, client_id, clean_session=True)
    answered = threading.Event()
    outcome: list[str | None] = []

    def on_connect(
        client: paho.Client, userdata: object, flags: object, reason: object, props: object
    ) -> None:
        outcome.append(refusal(reason))
        answered.set()

    client.on_connect = on_connect
    try:
        client.connect(mqtt.host, mqtt.port, keepalive=mqtt.keepalive_s)
    except ssl.SSLError as exc:
        why = exc.reason or exc
        return f"the TLS handshake failed ({why}): check [mqtt.tls] against the broker's certificate"
    except OSError:
        return connect_problem(mqtt.host, mqtt.port, mqtt.tls is not None)
    client.loop_start()
    try:
        if not answered.wait(timeout_s):
            return f"no answer from the broker in {timeout_s:.0f} s: is it an MQTT broker on that port?"
        return outcome[0]
    finally:
        client.disconnect()
        client.loop_stop()
