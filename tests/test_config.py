"""Site config: the examples load, and every malformed config is one clear line, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from fishgate.cli import main
from fishgate.config import bundled_path, load_config
from fishgate.errors import ConfigError
from tests.helpers import CHUTE_CONFIG, REPO

SAMPLE = CHUTE_CONFIG.read_text(encoding="utf-8")


def test_chute_sample_matches_the_sample_footage_geometry() -> None:
    config = load_config(CHUTE_CONFIG)
    g = config.geometry
    assert (g.px_per_cm, g.counting_line_x, g.upstream, g.gate_distance_cm) == (2.6, 352, "+x", 80.0)
    assert config.source.fps == 25
    assert config.gate.travel_s == 0.3
    assert config.gate.safe == "tank"
    assert config.decision.tank_species == {"pink_salmon", "farmed_salmon"}
    # 80 cm at 2.6 px/cm beyond the right edge of a 640 px frame
    assert g.gate_x_px(640) == pytest.approx(640 + 208)
    assert config.mqtt is None


def test_documented_example_loads_with_every_section() -> None:
    config = load_config(REPO / "firmware_config" / "example.toml")
    assert config.gate.servo is not None and config.gate.servo.pin == 18
    assert config.mqtt is not None and config.mqtt.port == 1883
    assert config.mqtt.discovery and config.mqtt.stats_interval_s == 60
    assert config.site.season_start == "06-01"
    assert config.source.kind == "opencv" and config.source.uri == 0


def test_bundled_and_relative_paths_resolve(tmp_path: Path) -> None:
    text = SAMPLE.replace('path = "fishgate-data/fishgate.db"', 'path = "data/trap.db"')
    cfg = tmp_path / "site.toml"
    cfg.write_text(text, encoding="utf-8")
    config = load_config(cfg)
    assert config.storage.path == tmp_path / "data" / "trap.db"
    assert config.storage.snapshots == tmp_path / "data" / "snapshots"
    assert config.model.path == bundled_path("models/species-int8.onnx")
    assert config.model.card == bundled_path("models/species-int8.json")


def test_mirrored_chute_has_its_gate_left_of_the_frame(tmp_path: Path) -> None:
    cfg = tmp_path / "site.toml"
    cfg.write_text(SAMPLE.replace('upstream = "+x"', 'upstream = "-x"'), encoding="utf-8")
    assert load_config(cfg).geometry.gate_x_px(640) == pytest.approx(-208)


def _section(text: str, header: str, body: str) -> str:
    """Replace the body of one [section] of the sample with `body`."""
    start = text.index(f"[{header}]\n") + len(header) + 3
    end = text.find("\n[", start)
    return text[:start] + body + (text[end:] if end != -1 else "\n")


# (how the sample is broken, the key path the error must name, a phrase it must contain)
MALFORMED = [
    (lambda t: t.replace("travel_s = 0.3", "travel_s = -1"), "gate.travel_s", "must be >= 0.01, got -1"),
    (lambda t: t.replace("px_per_cm = 2.6", "px_per_cm = 0"), "geometry.px_per_cm", "must be >= 0.1"),
    (
        lambda t: t.replace("gate_distance_cm = 80.0", "gate_distance_cm = 1e308"),
        "geometry.gate_distance_cm",
        "<= 2000",
    ),
    (lambda t: t.replace('name = "chute-sample"', 'name = "chute\\u0000x"'), "site.name", "printable"),
    (
        lambda t: t.replace('name = "chute-sample"', 'name = "' + "x" * 70000 + '"'),
        "site.name",
        "at most 100 bytes",
    ),
    (lambda t: t.replace('name = "chute-sample"', 'name = "$SYS"'), "site.name", "must not start with '$'"),
    (lambda t: t.replace("[site]\n", '[site]\ntimezone = "Europe"\n'), "site.timezone", "unknown time zone"),
    (
        lambda t: t.replace("[site]\n", '[site]\ntimezone = "' + "E" * 5000 + '"\n'),
        "site.timezone",
        "unknown time zone",
    ),
    (
        lambda t: t.replace('path = "fishgate-data/fishgate.db"', 'path = "~nosuchuser/x.db"'),
        "storage.path",
        "home folder",
    ),
    (
        lambda t: t + '\n[mqtt]\nhost = "b"\n[mqtt.tls]\nca_file = "/no/such/ca.crt"\n',
        "mqtt.tls.ca_file",
        "file not found",
    ),
    (lambda t: t.replace('upstream = "+x"', 'upstream = "left"'), "geometry.upstream", "'+x', '-x'"),
    (lambda t: t.replace('kind = "recording"', 'kind = "servo"'), "gate.servo", "is required"),
    (lambda t: t.replace('kind = "file"', 'kind = "webcam"'), "source.kind", "got 'webcam'"),
    (
        lambda t: t.replace("px_per_cm = 2.6", "px_per_cm = 2.6\npx_per_inch = 6.6"),
        "geometry.px_per_inch",
        "unknown key",
    ),
    (lambda t: t.replace('safe = "tank"', 'safe = "sea"'), "gate.safe", "got 'sea'"),
    (
        lambda t: t.replace('tank_species = ["pink_salmon", "farmed_salmon"]', 'tank_species = ["pike"]'),
        "decision.tank_species",
        "unknown species 'pike'",
    ),
    (lambda t: t.replace("threads = 1", 'threads = "four"'), "model.threads", "must be an integer"),
    (
        lambda t: t.replace("counting_line_x = 352", "counting_line_x = 700"),
        "geometry.counting_line_x",
        "inside the frame",
    ),
    (
        lambda t: _section(t, "geometry", 'px_per_cm = 2.6\nupstream = "+x"\ngate_distance_cm = 80.0\n'),
        "geometry.counting_line_x",
        "is required",
    ),
    (lambda t: t + '\n[mqtt]\nhost = "broker"\nport = 70000\n', "mqtt.port", "<= 65535"),
    (lambda t: t + '\n[mqtt]\nhost = "b"\ntopic_prefix = "fish/#"\n', "mqtt.topic_prefix", "wildcards"),
    (
        lambda t: (
            t.replace('kind = "recording"', 'kind = "relay"')
            + "\n[gate.relay]\nriver_pin = 23\ntank_pin = 23\n"
        ),
        "gate.relay.tank_pin",
        "must differ",
    ),
    (lambda t: t.replace("fps = 25", "fps = true"), "source.fps", "must be a number"),
    (
        lambda t: t.replace('name = "chute-sample"', 'name = "chute-sample"\ntimezone = "Oslo"'),
        "site.timezone",
        "unknown time zone 'Oslo'",
    ),
    (
        lambda t: t.replace('name = "chute-sample"', 'name = "chute-sample"\nseason_start = "31-06"'),
        "site.season_start",
        "expected MM-DD",
    ),
    (lambda t: t.replace('name = "chute-sample"', 'name = "river/trap"'), "site.name", "must not hold '/'"),
    (lambda t: t + "\n[sensors.battery_v]\nscale = 0.001\n", "sensors.battery_v.path", "is required"),
    (lambda t: t + '\n[mqtt]\nhost = "b"\nstats_interval_s = 0\n', "mqtt.stats_interval_s", ">= 1"),
    (
        lambda t: t.replace("[site]", "model = 3\n[site]").replace("[model]", "[unused]"),
        "model",
        "must be a table",
    ),
]


@pytest.mark.parametrize(("breakage", "key", "phrase"), MALFORMED, ids=[m[1] for m in MALFORMED])
def test_malformed_config_is_one_line_naming_the_key(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    breakage,
    key: str,
    phrase: str,  # type: ignore[no-untyped-def]
) -> None:
    cfg = tmp_path / "site.toml"
    cfg.write_text(breakage(SAMPLE), encoding="utf-8")
    status = main(["check", "--config", str(cfg)])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1, err  # one line
    assert "Traceback" not in err
    assert f": {key}: " in err
    assert phrase in err


def test_invalid_toml_names_the_line(tmp_path: Path) -> None:
    cfg = tmp_path / "site.toml"
    cfg.write_text(SAMPLE.replace("px_per_cm = 2.6", "px_per_cm = = 2.6"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"not valid TOML.*line \d+"):
        load_config(cfg)


def test_missing_config_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")


def test_config_error_is_also_a_value_error(tmp_path: Path) -> None:
    cfg = tmp_path / "site.toml"
    cfg.write_text(SAMPLE.replace("travel_s = 0.3", "travel_s = 0"), encoding="utf-8")
    with pytest.raises(ValueError, match=r"gate\.travel_s: must be >= 0.01, got 0"):
        load_config(cfg)
