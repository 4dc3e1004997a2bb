"""The site config: a TOML file validated into a typed, frozen tree.

Every error names the key path, the bad value and what is allowed, e.g.
``gate.travel_s: must be > 0, got -1``. Unknown keys are errors too: a typo in a
config that runs unattended for a season must not be silently ignored.
Relative paths are resolved against the config file's folder.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fishgate.errors import ConfigError
from fishgate.types import INVASIVE, ROUTES, SPECIES

SourceKind = Literal["file", "opencv", "picamera", "synthetic"]
GateKind = Literal["servo", "relay", "recording"]
Upstream = Literal["+x", "-x"]
DetectorKind = Literal["background", "learned"]

T = TypeVar("T")
_REQUIRED: Any = object()

# "bundled:NAME" names a file shipped inside the package (demo footage, the species
# model), so a config can point at them wherever pip installed fishgate.
BUNDLED_PREFIX = "bundled:"
DEFAULT_DETECTOR = "models/detector.onnx"


def bundled_path(name: str) -> Path:
    return Path(__file__).resolve().parent / "bundled" / name


@dataclass(frozen=True)
class SiteInfo:
    name: str
    timezone: str = "Europe/Oslo"
    season_start: str = "01-01"  # MM-DD: the season's counts run from this day each year


@dataclass(frozen=True)
class SourceConfig:
    kind: SourceKind
    path: Path | None = None  # file: the video to replay (`fishgate run` needs it; replay takes VIDEO)
    uri: int | str | None = None  # opencv: camera index or stream URL
    fps: float | None = None  # overrides what the source reports
    width: int | None = None
    height: int | None = None
    pace: bool = False  # file: release frames at real time, as a camera would
    # a live camera silent this long (wall time) is stalled: gate safe, camera reopened
    stall_s: float = 3.0


@dataclass(frozen=True)
class Geometry:
    px_per_cm: float
    counting_line_x: float
    upstream: Upstream
    gate_distance_cm: float  # from the frame's upstream edge to the gate
    frame_width: int | None = None  # from the source when not given

    @property
    def upstream_sign(self) -> int:
        return 1 if self.upstream == "+x" else -1

    def gate_x_px(self, frame_width: int) -> float:
        """x of the gate in image coordinates (beyond the upstream edge)."""
        gap = self.gate_distance_cm * self.px_per_cm
        return frame_width + gap if self.upstream == "+x" else -gap


@dataclass(frozen=True)
class ServoConfig:
    pin: int | str
    river_angle: float
    tank_angle: float
    min_pulse_ms: float = 1.0
    max_pulse_ms: float = 2.0


@dataclass(frozen=True)
class RelayConfig:
    river_pin: int | str
    tank_pin: int | str
    active_high: bool = True


@dataclass(frozen=True)
class FeedbackConfig:
    """Limit switches (a gpiozero Button each) closed when the flap is at that end."""

    river_pin: int | str
    tank_pin: int | str
    pull_up: bool = True  # switch to ground; False: switch to 3.3 V


@dataclass(frozen=True)
class GateConfig:
    kind: GateKind
    travel_s: float
    idle: str  # route the gate rests in between fish
    safe: str  # route on exit, crash, camera loss and when unsure
    return_to_idle_s: float = 1.0
    servo: ServoConfig | None = None
    relay: RelayConfig | None = None
    feedback: FeedbackConfig | None = None


@dataclass(frozen=True)
class ModelConfig:
    path: Path
    card: Path
    threads: int = 1
    decide_confidence: float = 0.9  # track vote needed to route before the deadline


@dataclass(frozen=True)
class DetectionConfig:
    min_length_cm: float = 30.0  # shortest fish to detect; leaves and bubbles are shorter
    motion_gate: bool = True  # skip detection on frames where nothing fish-sized moves
    # "background": background subtraction (no model); "learned": the heat-map ONNX
    # detector, which keeps fish swimming one above the other apart
    kind: DetectorKind = "background"
    model: Path = field(default_factory=lambda: bundled_path(DEFAULT_DETECTOR))
    card: Path | None = None  # defaults to the model path with .json
    score_threshold: float | None = None  # overrides the card's (learned only)
    threads: int = 1  # ONNX Runtime intra-op threads (learned only)

    @property
    def card_path(self) -> Path:
        return self.card if self.card is not None else self.model.with_suffix(".json")


@dataclass(frozen=True)
class DecisionConfig:
    tank_species: frozenset[str] = INVASIVE
    safe_route: str = "tank"
    margin_s: float = 0.2


@dataclass(frozen=True)
class TlsConfig:
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    insecure: bool = False


@dataclass(frozen=True)
class MqttConfig:
    host: str
    port: int = 1883
    username: str | None = None
    password: str | None = None
    client_id: str | None = None
    topic_prefix: str = "fishgate"
    keepalive_s: int = 60
    tls: TlsConfig | None = None
    stats_interval_s: float = 60.0
    discovery: bool = True  # Home Assistant MQTT discovery
    commands: bool = True  # accept gate-mode commands on gate/mode/set
    discovery_prefix: str = "homeassistant"


@dataclass(frozen=True)
class SensorConfig:
    """A number read from a file (sysfs / hwmon), times scale: e.g. battery volts."""

    path: Path
    scale: float = 1.0


@dataclass(frozen=True)
class StorageConfig:
    path: Path
    snapshots: Path
    keep_snapshots_days: float | None = None  # older snapshots are pruned; None: kept while room
    max_snapshot_mb: float | None = None  # the snapshot folder's cap, oldest pruned first
    # below this much free space the disk is "nearly full": snapshots are pruned (oldest
    # first), then new ones dropped, so that passages always have room
    min_free_mb: float = 100.0


@dataclass(frozen=True)
class SiteConfig:
    site: SiteInfo
    source: SourceConfig
    geometry: Geometry
    gate: GateConfig
    model: ModelConfig | None  # None: no species model (tracks-only replay needs none)
    decision: DecisionConfig
    storage: StorageConfig
    detection: DetectionConfig = DetectionConfig()
    mqtt: MqttConfig | None = None
    sensors: dict[str, SensorConfig] = field(default_factory=dict)  # name -> reading, in stats
    origin: Path | None = field(default=None, compare=False)

    @property
    def species_model(self) -> ModelConfig:
        """The [model] section, for everything that looks at video."""
        if self.model is None:
            raise ConfigError(
                "model: this needs a species model: add a [model] section with its path "
                "(tracks-only replay, --detections or --tracks-only, runs without one)"
            )
        return self.model

    @property
    def decide_confidence(self) -> float:
        return self.model.decide_confidence if self.model is not None else ModelConfig.decide_confidence


class _Table:
    """A TOML table being read: typed getters that name the key path on error."""

    def __init__(self, data: Mapping[str, Any], path: str, base_dir: Path) -> None:
        self._data = data
        self._path = path
        self._base = base_dir
        self._seen: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self._path}.{name}" if self._path else name

    def fail(self, name: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.key(name)}: {problem}")

    def has(self, name: str) -> bool:
        return name in self._data

    def _raw(self, name: str, default: Any) -> Any:
        self._seen.add(name)
        if name in self._data:
            return self._data[name]
        if default is _REQUIRED:
            raise self.fail(name, "is required but missing")
        return default

    def string(self, name: str, default: Any = _REQUIRED, choices: Sequence[str] = ()) -> Any:
        value = self._raw(name, default)
        if value is None or value is default:
            return value
        if not isinstance(value, str):
            raise self.fail(name, f"must be a string, got {value!r}")
        if choices and value not in choices:
            allowed = ", ".join(repr(c) for c in choices)
            raise self.fail(name, f"must be one of {allowed}, got {value!r}")
        return value

    def number(
        self,
        name: str,
        default: Any = _REQUIRED,
        *,
        gt: float | None = None,
        ge: float | None = None,
        le: float | None = None,
        integer: bool = False,
    ) -> Any:
        value = self._raw(name, default)
        if value is None or value is default:
            return value
        kind = "an integer" if integer else "a number"
        ok_type = isinstance(value, int) if integer else isinstance(value, int | float)
        if isinstance(value, bool) or not ok_type or not math.isfinite(value):
            raise self.fail(name, f"must be {kind}, got {value!r}")
        if gt is not None and not value > gt:
            raise self.fail(name, f"must be > {gt:g}, got {value!r}")
        if ge is not None and not value >= ge:
            raise self.fail(name, f"must be >= {ge:g}, got {value!r}")
        if le is not None and not value <= le:
            raise self.fail(name, f"must be <= {le:g}, got {value!r}")
        return value

    def boolean(self, name: str, default: Any = _REQUIRED) -> Any:
        value = self._raw(name, default)
        if value is not default and not isinstance(value, bool):
            raise self.fail(name, f"must be true or false, got {value!r}")
        return value

    def path(self, name: str, default: Any = _REQUIRED) -> Any:
        value = self.string(name, default)
        if not isinstance(value, str):
            return value
        if not value:
            raise self.fail(name, "must be a path, got an empty string")
        if value.startswith(BUNDLED_PREFIX):
            return bundled_path(value[len(BUNDLED_PREFIX) :])
        if "\0" in value:
            raise self.fail(name, f"must be a path, got one holding a NUL character: {value!r}")
        try:
            p = Path(value).expanduser()
        except RuntimeError:  # "~nosuchuser/..."
            raise self.fail(name, f"names a home folder that does not exist: {value!r}") from None
        return p if p.is_absolute() else self._base / p

    def existing_file(self, name: str, default: Any = _REQUIRED) -> Any:
        """A path that must name a readable file now (a CA certificate, a key)."""
        p = self.path(name, default)
        if not isinstance(p, Path):
            return p
        try:
            found = p.is_file()
        except OSError as exc:  # a name too long for the file system, a path through a file
            raise self.fail(name, f"not a usable file name ({exc.strerror}): {str(p)[:120]!r}") from None
        if not found:
            raise self.fail(name, f"file not found: {str(p)[:200]!r}")
        return p

    def pin(self, name: str) -> int | str:
        """A GPIO pin: a BCM number or a gpiozero pin name such as "GPIO18" or "BOARD12"."""
        value = self._raw(name, _REQUIRED)
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise self.fail(name, f"must be a GPIO number or a pin name like 'GPIO18', got {value!r}")
        if isinstance(value, int) and not 0 <= value <= 53:
            raise self.fail(name, f"must be a BCM GPIO number 0..53, got {value!r}")
        return value

    def table(self, name: str, required: bool = True) -> _Table | None:
        value = self._raw(name, _REQUIRED if required else None)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise self.fail(name, f"must be a table ([{self.key(name)}]), got {value!r}")
        return _Table(value, self.key(name), self._base)

    def names(self) -> list[str]:
        return list(self._data)

    def raw(self, name: str, default: Any = _REQUIRED) -> Any:
        return self._raw(name, default)

    def finish(self) -> None:
        """Reject keys nobody read: they are typos or settings this version does not have."""
        unknown = sorted(set(self._data) - self._seen)
        if unknown:
            known = ", ".join(sorted(self._seen)) or "none"
            raise self.fail(unknown[0], f"unknown key (known keys here: {known})")


def _required(table: _Table | None) -> _Table:
    assert table is not None  # table(required=True) never returns None
    return table


# Longer names are refused: a topic is at most 65535 bytes, and a site's names go into
# every topic and client id; no real site needs more than a line.
MAX_MQTT_NAME = 100


def check_mqtt_name(t: _Table, key: str, value: str | None) -> None:
    """A name that goes into MQTT topics or a client id: printable, no wildcards, no '$'
    at the start (the broker's own topics), not too long."""
    if value is None:
        return
    problem = None
    if len(value.encode("utf-8", "replace")) > MAX_MQTT_NAME:
        problem = f"must be at most {MAX_MQTT_NAME} bytes, got {len(value)} characters"
    elif any(not c.isprintable() for c in value):
        problem = f"must hold only printable characters (no NUL, newline or tab), got {value!r}"
    elif "#" in value or "+" in value:
        problem = f"must not hold the MQTT wildcards '#' or '+', got {value!r}"
    elif value.startswith("$"):
        problem = f"must not start with '$' (the broker's own topics), got {value!r}"
    if problem:
        raise t.fail(key, problem)


def _site(t: _Table) -> SiteInfo:
    info = SiteInfo(
        name=t.string("name"),
        timezone=t.string("timezone", "Europe/Oslo"),
        season_start=t.string("season_start", "01-01"),
    )
    if not info.name.strip():
        raise t.fail("name", "must not be empty")
    if "/" in info.name:
        raise t.fail("name", f"is one level of MQTT topics and must not hold '/', got {info.name!r}")
    check_mqtt_name(t, "name", info.name)
    try:
        if len(info.timezone) > 64:
            raise ValueError
        ZoneInfo(info.timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "Europe" is a folder
        raise t.fail(
            "timezone", f"unknown time zone {info.timezone!r}; use an IANA name like 'Europe/Oslo'"
        ) from None
    try:
        datetime.strptime(f"2024-{info.season_start}", "%Y-%m-%d")
    except ValueError:
        raise t.fail("season_start", f"expected MM-DD such as '06-01', got {info.season_start!r}") from None
    t.finish()
    return info


def _source(t: _Table) -> SourceConfig:
    kind = t.string("kind", choices=("file", "opencv", "picamera", "synthetic"))
    path = t.path("path", None)
    uri = t.raw("uri", None)
    if kind == "opencv":
        if uri is None:
            raise t.fail("uri", "is required when source.kind = 'opencv' (camera index or URL)")
        if isinstance(uri, bool) or not isinstance(uri, int | str):
            raise t.fail("uri", f"must be a camera index or a URL string, got {uri!r}")
    config = SourceConfig(
        kind=kind,
        path=path,
        uri=uri,
        fps=t.number("fps", None, ge=1, le=240),  # cameras: 1..240 frames a second
        width=t.number("width", None, ge=16, le=8192, integer=True),
        height=t.number("height", None, ge=16, le=8192, integer=True),
        pace=t.boolean("pace", False),
        stall_s=t.number("stall_s", 3.0, ge=0.2, le=600),
    )
    t.finish()
    return config


def _geometry(t: _Table) -> Geometry:
    geometry = Geometry(
        # a window from 10 m across down to 10 cm across on any camera up to 8K
        px_per_cm=t.number("px_per_cm", ge=0.1, le=100),
        counting_line_x=t.number("counting_line_x", gt=0, le=8192),
        upstream=t.string("upstream", choices=("+x", "-x")),
        gate_distance_cm=t.number("gate_distance_cm", ge=0, le=2000),  # a chute up to 20 m
        frame_width=t.number("frame_width", None, ge=16, le=8192, integer=True),
    )
    if geometry.frame_width is not None and geometry.counting_line_x >= geometry.frame_width:
        raise t.fail(
            "counting_line_x",
            f"must lie inside the frame (< frame_width {geometry.frame_width}), "
            f"got {geometry.counting_line_x!r}",
        )
    t.finish()
    return geometry


def _servo(t: _Table) -> ServoConfig:
    servo = ServoConfig(
        pin=t.pin("pin"),
        river_angle=t.number("river_angle", ge=-90, le=90),
        tank_angle=t.number("tank_angle", ge=-90, le=90),
        min_pulse_ms=t.number("min_pulse_ms", 1.0, ge=0.3, le=3.0),  # hobby servos: 0.5-2.5 ms
        max_pulse_ms=t.number("max_pulse_ms", 2.0, ge=0.3, le=3.0),
    )
    if servo.river_angle == servo.tank_angle:
        raise t.fail("tank_angle", f"must differ from river_angle, got {servo.tank_angle!r} for both")
    if servo.max_pulse_ms <= servo.min_pulse_ms:
        raise t.fail(
            "max_pulse_ms", f"must be > min_pulse_ms ({servo.min_pulse_ms}), got {servo.max_pulse_ms!r}"
        )
    t.finish()
    return servo


def _pin_pair(t: _Table) -> tuple[int | str, int | str]:
    """(river_pin, tank_pin): one GPIO pin per end of the gate, never the same one."""
    river, tank = t.pin("river_pin"), t.pin("tank_pin")
    if river == tank:
        raise t.fail("tank_pin", f"must differ from river_pin, got {tank!r} for both")
    return river, tank


def _relay(t: _Table) -> RelayConfig:
    river, tank = _pin_pair(t)
    relay = RelayConfig(river_pin=river, tank_pin=tank, active_high=t.boolean("active_high", True))
    t.finish()
    return relay


def _gate(t: _Table) -> GateConfig:
    kind = t.string("kind", choices=("servo", "relay", "recording"))
    servo_t, relay_t = t.table("servo", required=False), t.table("relay", required=False)
    if kind == "servo" and servo_t is None:
        raise t.fail(
            "servo", "is required when gate.kind = 'servo' (add a [gate.servo] table with pin and angles)"
        )
    if kind == "relay" and relay_t is None:
        raise t.fail(
            "relay",
            "is required when gate.kind = 'relay' (add a [gate.relay] table with river_pin and tank_pin)",
        )
    gate = GateConfig(
        kind=kind,
        travel_s=t.number("travel_s", ge=0.01, le=10),
        idle=t.string("idle", "river", choices=ROUTES),
        safe=t.string("safe", "tank", choices=ROUTES),
        return_to_idle_s=t.number("return_to_idle_s", 1.0, ge=0, le=3600),
        servo=_servo(servo_t) if servo_t is not None else None,
        relay=_relay(relay_t) if relay_t is not None else None,
        feedback=_feedback(fb) if (fb := t.table("feedback", required=False)) is not None else None,
    )
    t.finish()
    return gate


def _feedback(t: _Table) -> FeedbackConfig:
    river, tank = _pin_pair(t)
    feedback = FeedbackConfig(river_pin=river, tank_pin=tank, pull_up=t.boolean("pull_up", True))
    t.finish()
    return feedback


def _model(t: _Table) -> ModelConfig:
    path = t.existing_file("path")  # `check` must not say ok about a model that is not there
    model = ModelConfig(
        path=path,
        card=t.path("card", path.with_suffix(".json")),
        threads=t.number("threads", 1, ge=1, le=64, integer=True),
        decide_confidence=t.number("decide_confidence", 0.9, gt=0, le=1),
    )
    t.finish()
    return model


def _decision(t: _Table | None, gate_safe: str) -> DecisionConfig:
    if t is None:
        return DecisionConfig(safe_route=gate_safe)
    species = t.raw("tank_species", sorted(INVASIVE))
    if not isinstance(species, list) or not all(isinstance(s, str) for s in species):
        raise t.fail("tank_species", f"must be a list of species names, got {species!r}")
    for name in species:
        if name not in SPECIES:
            raise t.fail("tank_species", f"unknown species {name!r} (known: {', '.join(SPECIES)})")
    decision = DecisionConfig(
        tank_species=frozenset(species),
        safe_route=t.string("safe_route", gate_safe, choices=ROUTES),
        margin_s=t.number("margin_s", 0.2, ge=0, le=5),
    )
    t.finish()
    return decision


def _detection(t: _Table | None) -> DetectionConfig:
    if t is None:
        return DetectionConfig()
    kind = t.string("kind", "background", choices=("background", "learned"))
    if kind != "learned":
        for key in ("model", "card", "score_threshold", "threads"):
            if t.has(key):
                raise t.fail(key, "applies only to kind = 'learned' (the background detector has no model)")
    detection = DetectionConfig(
        min_length_cm=t.number("min_length_cm", 30.0, gt=0, le=500),
        motion_gate=t.boolean("motion_gate", True),
        kind=kind,
        # the bundled default always exists; a named file must too, for `check` to say ok
        model=t.existing_file("model", bundled_path(DEFAULT_DETECTOR)),
        card=t.path("card", None),
        score_threshold=t.number("score_threshold", None, gt=0, le=1),
        threads=t.number("threads", 1, ge=1, le=64, integer=True),
    )
    t.finish()
    return detection


def _tls(t: _Table) -> TlsConfig:
    tls = TlsConfig(
        ca_file=t.existing_file("ca_file", None),
        cert_file=t.existing_file("cert_file", None),
        key_file=t.existing_file("key_file", None),
        insecure=t.boolean("insecure", False),
    )
    if (tls.cert_file is None) != (tls.key_file is None):
        raise t.fail("key_file", "cert_file and key_file must be given together")
    t.finish()
    return tls


def _mqtt(t: _Table) -> MqttConfig:
    tls_t = t.table("tls", required=False)
    mqtt = MqttConfig(
        host=t.string("host"),
        port=t.number("port", 1883, ge=1, le=65535, integer=True),
        username=t.string("username", None),
        password=t.string("password", None),
        client_id=t.string("client_id", None),
        topic_prefix=t.string("topic_prefix", "fishgate"),
        keepalive_s=t.number("keepalive_s", 60, ge=5, le=3600, integer=True),
        tls=_tls(tls_t) if tls_t is not None else None,
        stats_interval_s=t.number("stats_interval_s", 60.0, ge=1, le=86400),
        discovery=t.boolean("discovery", True),
        commands=t.boolean("commands", True),
        discovery_prefix=t.string("discovery_prefix", "homeassistant"),
    )
    if not mqtt.host:
        raise t.fail("host", "must not be empty")
    if not mqtt.topic_prefix.strip("/"):
        raise t.fail("topic_prefix", f"must be a plain topic, got {mqtt.topic_prefix!r}")
    for key in ("topic_prefix", "discovery_prefix", "client_id", "host"):
        check_mqtt_name(t, key, getattr(mqtt, key))
    if mqtt.password is not None and mqtt.username is None:
        raise t.fail("username", "is required when a password is set")
    t.finish()
    return mqtt


def _sensors(t: _Table | None) -> dict[str, SensorConfig]:
    if t is None:
        return {}
    sensors = {}
    for name in t.names():
        sensor_t = t.table(name)
        assert sensor_t is not None
        sensors[name] = SensorConfig(path=sensor_t.path("path"), scale=sensor_t.number("scale", 1.0))
        sensor_t.finish()
    t.finish()
    return sensors


def _storage(t: _Table) -> StorageConfig:
    path = t.path("path")
    storage = StorageConfig(
        path=path,
        snapshots=t.path("snapshots", path.parent / "snapshots"),
        keep_snapshots_days=t.number("keep_snapshots_days", None, ge=1, le=3650),
        max_snapshot_mb=t.number("max_snapshot_mb", None, ge=1, le=10_000_000),
        min_free_mb=t.number("min_free_mb", 100.0, ge=0, le=1_000_000),
    )
    t.finish()
    return storage


def parse_config(data: Mapping[str, Any], base_dir: Path, origin: Path | None = None) -> SiteConfig:
    """Validate an already-parsed TOML document into a SiteConfig."""
    root = _Table(data, "", base_dir)
    gate = _gate(_required(root.table("gate")))
    mqtt_t = root.table("mqtt", required=False)
    config = SiteConfig(
        site=_site(_required(root.table("site"))),
        source=_source(_required(root.table("source"))),
        geometry=_geometry(_required(root.table("geometry"))),
        gate=gate,
        model=_model(model_t) if (model_t := root.table("model", required=False)) is not None else None,
        decision=_decision(root.table("decision", required=False), gate.safe),
        storage=_storage(_required(root.table("storage"))),
        detection=_detection(root.table("detection", required=False)),
        mqtt=_mqtt(mqtt_t) if mqtt_t is not None else None,
        sensors=_sensors(root.table("sensors", required=False)),
        origin=origin,
    )
    root.finish()
    return config


def load_config(path: str | Path) -> SiteConfig:
    """Read and validate a site config file; every problem is a one-line ConfigError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found (pass --config PATH)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: not a site config: its tables or arrays nest too deeply") from None
    try:
        return parse_config(data, path.resolve().parent, origin=path)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
