"""A fuzz of site configs: every mutation is accepted or refused in one line, never a
traceback; every accepted one runs a short replay (the bundled demo's annotated boxes,
tracks-only) that counts every fish the truth has and ends with the gate safe."""

from __future__ import annotations

import re
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fishgate.config import SiteConfig, bundled_path, parse_config
from fishgate.cvat import read_cvat
from fishgate.errors import ConfigError
from fishgate.evaluate import EvaluationSite, evaluate_footage
from fishgate.replay import replay_log
from fishgate.replay_job import replay_annotation
from tests.helpers import CHUTE_CONFIG

SAMPLE: dict[str, Any] = tomllib.loads(CHUTE_CONFIG.read_text())
DEMO_TRUTH = bundled_path("demo/chute-demo.xml")
DEMO = read_cvat(DEMO_TRUTH)
DEMO_FPS = 25.0
KEYS = [(table, key) for table, body in SAMPLE.items() for key in body]
WEIRD_TEXT = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "a\nb",
        "#",
        "+",
        "$SYS",
        "~nosuchuser/x",
        "Europe",
        "x" * 5000,
        "../../etc/passwd",
        "é",
    ]
)
VALUES = st.one_of(
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 1e308, -1e308, 1e-12, 65536, 2**63]),
    st.booleans(),
    st.text(max_size=40),
    WEIRD_TEXT,
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def _mutated(table: str, key: str, value: Any, drop: bool) -> dict[str, Any]:
    data = {t: dict(body) for t, body in SAMPLE.items()}
    if drop:
        data[table].pop(key)
    else:
        data[table][key] = value
    return data


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(KEYS), VALUES, st.booleans())
def test_a_mutated_config_is_accepted_or_refused_in_one_line(
    key: tuple[str, str], value: Any, drop: bool
) -> None:
    table, name = key
    try:
        config = parse_config(_mutated(table, name, value, drop), CHUTE_CONFIG.parent)
    except ConfigError as exc:
        message = str(exc)
        assert "\n" not in message and message
        assert re.match(rf"{table}(\.\w+)*: ", message), message  # it names the key path
        return
    # accepted: what it says is what was asked, and every number is a plausible one
    assert config.geometry.px_per_cm <= 100 and config.geometry.gate_distance_cm <= 2000
    assert 0 < config.gate.travel_s <= 10
    if config.geometry.frame_width is not None:
        assert 0 < config.geometry.counting_line_x < config.geometry.frame_width
    _sorts_every_fish(config)


def _sorts_every_fish(config: SiteConfig) -> None:
    """A short replay with this config: no fish of the truth goes uncounted, every counted
    fish got a route, and the gate's last command is its safe position."""
    if config.source.fps is None:  # a video source without fps reads it from the file: the demo's
        config = replace(config, source=replace(config.source, fps=DEMO_FPS))
    try:
        stats, fps = replay_annotation(config, DEMO_TRUTH, None, progress=False)
    except ConfigError as exc:  # refused at the replay in one line (the footage does not fit): no loss
        assert "\n" not in str(exc) and "geometry.frame_width" in str(exc), exc
        return
    result = evaluate_footage(DEMO, replay_log(stats), EvaluationSite.from_config(config, fps))
    for direction in ("upstream", "downstream"):
        true = sum(f.direction == direction for f in result.truth)
        counted = sum(p.direction == direction for p in result.passages)
        assert counted >= true, f"{direction}: {counted} counted of {true}"
    assert all(p.route in ("river", "tank") for p in stats.passages if p.direction == "upstream")
    assert stats.commands and stats.commands[-1].route == config.gate.safe


def test_nesting_too_deep_is_one_line(tmp_path: Path) -> None:
    from fishgate.config import load_config

    path = tmp_path / "deep.toml"
    path.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    try:
        load_config(path)
    except ConfigError as exc:
        assert "nest too deeply" in str(exc) or "not valid TOML" in str(exc)
    else:
        raise AssertionError("a config nested 5000 deep was accepted")
