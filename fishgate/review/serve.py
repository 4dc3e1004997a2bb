"""Serving the review desk: localhost without a login, anywhere else only with a password."""

from __future__ import annotations

import ipaddress
import logging
import socket
from zoneinfo import ZoneInfo

from werkzeug.serving import BaseWSGIServer, make_server

from fishgate.errors import ConfigError
from fishgate.review.app import Desk, create_app
from fishgate.store import PassageStore

DEFAULT_BIND = "127.0.0.1:8080"


def parse_bind(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) < 65536:  # 0: any free port
        raise ConfigError(f"--bind: expected HOST:PORT (e.g. {DEFAULT_BIND}), got {text!r}")
    return host.strip("[]"), int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def open_desk(
    store: PassageStore, zone: ZoneInfo | None, site: str | None, password: str | None, reviewer: str
) -> Desk:
    """The desk over an opened (and so checked) store; the zone and site from the config or
    from what the trap noted in the store."""
    meta = store.meta()
    return Desk(
        store=store.path,
        snapshots=store.snapshots,
        zone=zone or ZoneInfo(meta.get("timezone", "UTC")),
        site=site or meta.get("site", store.path.stem),
        password=password,
        reviewer=reviewer,
    )


def make_review_server(desk: Desk, bind: str) -> BaseWSGIServer:
    """A threaded WSGI server for the desk on `bind` (HOST:PORT; port 0: any free one)."""
    host, port = parse_bind(bind)
    if not is_loopback(host) and not desk.password:
        raise ConfigError(
            f"--bind {bind}: other machines could reach the review desk; give a password "
            "(--password-file FILE or FISHGATE_REVIEW_PASSWORD), or bind to 127.0.0.1"
        )
    if not logging.getLogger().isEnabledFor(logging.INFO):
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request only with -v
    try:
        return make_server(host, port, create_app(desk), threaded=True)
    except (OSError, socket.gaierror) as exc:
        raise ConfigError(f"--bind {bind}: cannot listen there ({exc.strerror or exc})") from None
