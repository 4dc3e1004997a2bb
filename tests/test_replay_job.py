"""`fishgate replay`, `fishgate demo` and `fishgate run` end to end on generated footage."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

import fishgate.app
from fishgate.cli import main
from fishgate.cvat import read_cvat
from fishgate.hw.gate import Gate, RecordingGate, build_gate
from fishgate.synth import Clip, SceneSpec, write_clip
from tests.helpers import CHUTE_CONFIG, site_config


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Clip:
    return write_clip(SceneSpec("calm", seconds=24, seed=5), tmp_path_factory.mktemp("clip") / "calm")


def _records(path: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_replay_writes_passages_and_gate_commands_and_evaluates(
    clip: Clip, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "out" / "calm.jsonl"
    argv = ["replay", str(clip.video), "-c", str(CHUTE_CONFIG), "--events", str(events)]
    assert main([*argv, "--truth", str(clip.annotations), "--no-progress"]) == 0
    records = _records(events)
    passages = [r for r in records if r.get("event") == "passage"]
    gates = [r for r in records if r.get("event") == "gate"]
    truth = read_cvat(clip.annotations)
    crossing = [t for t in truth.tracks if t.direction in ("upstream", "downstream")]
    assert abs(len(passages) - len(crossing)) <= 1  # calm water: every fish, at most one missed
    assert len({p["id"] for p in passages}) == len(passages)
    for p in passages:
        assert p["model"] and p["species"] in {t.label for t in truth.tracks} | {"unknown"}
        if p["direction"] == "upstream":
            assert p["route"] in ("river", "tank") and p["decision_frame"] <= p["last_frame"] + 25
    assert gates and {g["route"] for g in gates} <= {"river", "tank"}
    # the log opens with where the gate starts and ends with its move to the safe position
    assert (gates[0]["frame"], gates[0]["route"], gates[0]["reason"]) == (
        0,
        "tank",
        "start",
    )  # gates start safe
    assert (gates[-1]["route"], gates[-1]["reason"]) == ("tank", "close")
    assert gates[-1]["frame"] == max(g["frame"] for g in gates) == 24 * 25 - 1
    out = capsys.readouterr().out
    sorting = float(re.search(r"^ALL\s+([\d.]+)", out, re.M).group(1))  # type: ignore[union-attr]
    assert sorting >= 0.8


def test_demo_prints_passages_counts_and_its_evaluation(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--no-progress"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("chute-demo-")]
    assert len(rows) >= 5
    assert re.search(r"^750 frames, \d+ passages", out, re.M)
    assert re.search(r"^\s+\d+\s+pink_salmon\s+upstream\s+-> tank", out, re.M)
    assert re.search(r"^ALL\s+[\d.]+", out, re.M)


def test_run_on_a_file_source_logs_passages_and_ends_safe(
    clip: Clip, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[Gate] = []

    def keep_gate(*args: Any, **kwargs: Any) -> Gate:
        built.append(build_gate(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(fishgate.app, "build_gate", keep_gate)  # to look at the gate itself after the run
    events = tmp_path / "run.jsonl"
    assert main(["run", "-c", str(site_config(tmp_path, clip.video)), "--events", str(events)]) == 0
    records = _records(events)
    assert any(r.get("event") == "passage" for r in records)
    gates = [r for r in records if r.get("event") == "gate"]
    assert (gates[-1]["frame"], gates[-1]["route"], gates[-1]["reason"]) == (599, "tank", "close")
    # the gate itself: moved to its safe position last, then released (it takes no more moves)
    [gate] = built
    assert isinstance(gate, RecordingGate)  # the sample chute drives no pins
    assert gate.route == "tank" and (gate.moves[-1].route, gate.moves[-1].reason) == ("tank", "close")
    assert "river" in {m.route for m in gate.moves}  # it did move: "tank" is not just where it began
    with pytest.raises(RuntimeError, match="closed"):
        gate.move("river")
    assert re.search(r"^600 frames, [1-9]\d* passages", capsys.readouterr().out, re.M)


def test_run_with_override_sends_every_fish_to_that_route(clip: Clip, tmp_path: Path) -> None:
    events = tmp_path / "run.jsonl"
    site = site_config(tmp_path, clip.video)
    assert main(["run", "-c", str(site), "--events", str(events), "--override", "tank"]) == 0
    upstream = [r for r in _records(events) if r.get("event") == "passage" and r["direction"] == "upstream"]
    assert upstream and all(r["route"] == "tank" for r in upstream)
    assert any("override" in r["flags"] for r in upstream)
