"""Evaluation: hand-built truth/log pairs whose metrics are known exactly."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from fishgate.cli import main
from fishgate.config import Geometry, load_config
from fishgate.cvat import read_cvat
from fishgate.errors import PassageLogError
from fishgate.evaluate import (
    METRIC_KEYS,
    EvaluationSite,
    compute_metrics,
    evaluate_footage,
    interval_iou,
    read_passage_log,
)
from fishgate.types import Passage
from tests.helpers import (
    CHUTE_CONFIG,
    cvat_document,
    footage_dir,
    passages_from_truth,
    swimming_fish,
    write_log,
)

SITE = EvaluationSite(
    fps=25.0,
    geometry=Geometry(
        px_per_cm=2.6, counting_line_x=352, upstream="+x", gate_distance_cm=80.0, frame_width=640
    ),
    actuation_s=0.3,
)
HOURS = 1500 / 25 / 3600  # the hand-made clip is 1500 frames long


@pytest.fixture
def scene(tmp_path: Path) -> Path:
    """Four upstream fish (two invasive, two native) and one sea trout going downstream."""
    tracks = [
        (0, "pink_salmon", swimming_fish(0)),
        (1, "atlantic_salmon", swimming_fish(200)),
        (2, "farmed_salmon", swimming_fish(400)),
        (3, "sea_trout", swimming_fish(600)),
        (4, "sea_trout", swimming_fish(900, direction="downstream")),
    ]
    path = tmp_path / "scene.xml"
    path.write_text(cvat_document(tracks, size=1500, name="scene"), encoding="utf-8")
    return path


def _perfect(scene: Path) -> list[Passage]:
    return passages_from_truth(read_cvat(scene), SITE)


def _metrics(scene: Path, passages: list[Passage]) -> dict[str, object]:
    return compute_metrics([evaluate_footage(read_cvat(scene), passages, SITE)], SITE)


def _with(passages: list[Passage], index: int, **changes: object) -> list[Passage]:
    out = list(passages)
    out[index] = dataclasses.replace(out[index], **changes)  # type: ignore[arg-type]
    return out


def test_gate_arrival_of_a_steady_fish_is_exact(scene: Path) -> None:
    # Head at 8 px/frame from frame 0: it reaches the gate (640 + 80 cm * 2.6 px/cm = 848 px)
    # at frame 105, i.e. 4.2 s; it entered at frame 200 + 105 for the second fish.
    truth = {
        f.track_id: f for f in __import__("fishgate.evaluate").evaluate.truth_fish(read_cvat(scene), SITE)
    }
    assert truth[0].gate_arrival_s == pytest.approx(105 / 25)
    assert truth[1].gate_arrival_s == pytest.approx(305 / 25)
    assert truth[4].gate_arrival_s is None  # downstream fish never reach the gate


def test_perfect_log(scene: Path) -> None:
    m = _metrics(scene, _perfect(scene))
    assert {k: m[k] for k in METRIC_KEYS} == {
        "sorting_correct": 1.0,
        "invasive_capture": 1.0,
        "native_pass": 1.0,
        "species_accuracy": 1.0,
        "count_nmae": 0.0,
        "false_passages_per_hour": 0.0,
        "timely": 1.0,
    }
    assert (m["fish_upstream"], m["fish_downstream"], m["passages"]) == (4, 1, 5)
    assert m["hours"] == pytest.approx(HOURS)


def test_a_missed_fish(scene: Path) -> None:
    passages = [p for p in _perfect(scene) if p.species != "atlantic_salmon"]
    m = _metrics(scene, passages)
    assert m["sorting_correct"] == 0.75
    assert m["native_pass"] == 0.5
    assert m["invasive_capture"] == 1.0
    assert m["species_accuracy"] == 1.0  # over matched passages only
    assert m["count_nmae"] == pytest.approx(1 / 5)  # one of five species x direction cells is off by 1
    assert m["timely"] == 1.0


def test_a_wrong_species(scene: Path) -> None:
    # the pink salmon taken for an Atlantic salmon and let through
    passages = _with(_perfect(scene), 0, species="atlantic_salmon", route="river")
    m = _metrics(scene, passages)
    assert m["sorting_correct"] == 0.75
    assert m["invasive_capture"] == 0.5
    assert m["native_pass"] == 1.0
    assert m["species_accuracy"] == pytest.approx(4 / 5)
    assert m["count_nmae"] == pytest.approx(2 / 5)  # pink 0 of 1, Atlantic 2 of 1
    assert m["false_passages_per_hour"] == 0.0


def test_a_late_decision(scene: Path) -> None:
    # farmed salmon (enters at 400) reaches the gate at frame 505 = 20.2 s; the gate needs 0.3 s,
    # so a command at frame 498 (19.92 s) is late and one at 497 (19.88 s) is in time.
    late = _metrics(scene, _with(_perfect(scene), 2, decision_frame=498))
    assert late["sorting_correct"] == 0.75
    assert late["invasive_capture"] == 0.5
    assert late["timely"] == 0.75
    assert late["species_accuracy"] == 1.0
    on_time = _metrics(scene, _with(_perfect(scene), 2, decision_frame=497))
    assert on_time["timely"] == 1.0 and on_time["sorting_correct"] == 1.0


def test_an_undecided_upstream_fish_is_wrong(scene: Path) -> None:
    m = _metrics(scene, _with(_perfect(scene), 1, route=None, decision_frame=None))
    assert m["sorting_correct"] == 0.75 and m["native_pass"] == 0.5 and m["timely"] == 0.75


def test_a_false_passage(scene: Path) -> None:
    ghost = Passage("ghost", "sea_trout", 0.6, "upstream", "river", 1200, 1260, 1210, None)
    m = _metrics(scene, [*_perfect(scene), ghost])
    assert m["false_passages_per_hour"] == pytest.approx(1 / HOURS)  # 60 per hour
    assert m["sorting_correct"] == 1.0 and m["species_accuracy"] == 1.0
    assert m["count_nmae"] == pytest.approx(1 / 5)
    assert m["passages"] == 6


def test_a_wrong_direction(scene: Path) -> None:
    # the downstream sea trout logged as going upstream: no match in either direction
    passages = _with(_perfect(scene), 4, direction="upstream", route="river", decision_frame=900)
    m = _metrics(scene, passages)
    assert m["species_accuracy"] == 1.0  # 4 of 4 matched passages
    assert m["false_passages_per_hour"] == pytest.approx(1 / HOURS)
    assert m["count_nmae"] == pytest.approx(2 / 5)  # trout down 0 of 1, trout up 2 of 1
    assert m["sorting_correct"] == 1.0


def test_matching_is_one_to_one_and_needs_iou_0_3(scene: Path) -> None:
    perfect = _perfect(scene)
    fish0 = perfect[0]  # frames 0..91
    # a second passage over the same fish cannot match it too; a sliver of it does not match at all
    twin = dataclasses.replace(fish0, id="twin", first_frame=fish0.first_frame + 5)
    sliver = dataclasses.replace(
        fish0, id="sliver", first_frame=fish0.first_frame, last_frame=fish0.first_frame + 20
    )
    m = _metrics(scene, [sliver, twin, *perfect[1:]])
    assert m["species_accuracy"] == 1.0
    assert m["false_passages_per_hour"] == pytest.approx(1 / HOURS)  # the sliver (IoU 0.23)
    assert m["sorting_correct"] == 1.0  # the twin stood in for the fish


def test_interval_iou_is_inclusive() -> None:
    assert interval_iou((0, 9), (0, 9)) == 1.0
    assert interval_iou((0, 9), (5, 14)) == pytest.approx(5 / 15)
    assert interval_iou((0, 9), (10, 19)) == 0.0


def test_passage_log_skips_other_records_and_repeated_ids(tmp_path: Path, scene: Path) -> None:
    passages = _perfect(scene)
    path = write_log(
        tmp_path / "log.jsonl", [*passages, passages[0]], extra_lines=['{"event": "stats", "fps": 300}', ""]
    )
    assert [p.id for p in read_passage_log(path)] == [p.id for p in passages]


@pytest.mark.parametrize(
    ("line", "phrase"),
    [
        ("{not json", "not valid JSON"),
        ('["passage"]', "expected a JSON object"),
        ('{"event": "passage", "id": "a"}', "no 'species' field"),
        (
            '{"event":"passage","id":"a","species":"x","confidence":1,"direction":"up","route":null,'
            '"first_frame":1,"last_frame":2,"decision_frame":null,"length_cm":null}',
            "'direction' must be",
        ),
        (
            '{"event":"passage","id":"a","species":"x","confidence":1,"direction":"upstream","route":"sea",'
            '"first_frame":1,"last_frame":2,"decision_frame":null,"length_cm":null}',
            "'route' must be",
        ),
        (
            '{"event":"passage","id":"a","species":"x","confidence":1,"direction":"upstream","route":null,'
            '"first_frame":"1","last_frame":2,"decision_frame":null,"length_cm":null}',
            "'first_frame' must be int",
        ),
    ],
)
def test_malformed_passage_log_names_file_and_line(tmp_path: Path, line: str, phrase: str) -> None:
    path = tmp_path / "log.jsonl"
    path.write_text('{"event": "start"}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(PassageLogError, match=rf"log\.jsonl, line 2: .*{phrase}"):
        read_passage_log(path)


def test_cli_prints_a_table_and_exact_json(
    tmp_path: Path, scene: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = write_log(
        tmp_path / "scene.jsonl", _with(_perfect(scene), 0, species="atlantic_salmon", route="river")
    )
    assert main(["evaluate", str(scene), "--log", str(log), "--config", str(CHUTE_CONFIG), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {*METRIC_KEYS, "fish_upstream", "fish_downstream", "passages", "hours"}
    assert result["invasive_capture"] == 0.5
    assert main(["evaluate", str(scene), "--log", str(tmp_path), "--config", str(CHUTE_CONFIG)]) == 0
    table = capsys.readouterr().out
    assert "sorting" in table and "0.7500" in table


def test_cli_reports_a_missing_log_in_one_line(
    tmp_path: Path, scene: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(
        ["evaluate", str(scene), "--log", str(tmp_path / "none.jsonl"), "--config", str(CHUTE_CONFIG)]
    )
    err = capsys.readouterr().err
    assert status == 2 and "none.jsonl: cannot read passage log" in err and err.count("\n") == 1


@pytest.mark.footage
def test_every_sample_clip_scores_perfectly_against_its_own_truth(tmp_path: Path) -> None:
    footage = footage_dir()
    site = EvaluationSite.from_config(load_config(CHUTE_CONFIG))
    truths = sorted(footage.glob("*.xml"))
    for xml in truths:
        write_log(tmp_path / f"{xml.stem}.jsonl", passages_from_truth(read_cvat(xml), site))
        result = compute_metrics(
            [evaluate_footage(read_cvat(xml), read_passage_log(tmp_path / f"{xml.stem}.jsonl"), site)], site
        )
        assert (result["sorting_correct"], result["species_accuracy"], result["count_nmae"]) == (
            1.0,
            1.0,
            0.0,
        ), xml.name
        assert result["false_passages_per_hour"] == 0.0 and result["timely"] == 1.0


@pytest.mark.footage
def test_gate_arrival_agrees_with_the_manifests_within_two_frames() -> None:
    from fishgate.evaluate import truth_fish

    site = EvaluationSite.from_config(load_config(CHUTE_CONFIG))
    checked = 0
    for xml in sorted(footage_dir().glob("*.xml")):
        manifest = {f["track_id"]: f for f in json.loads(xml.with_suffix(".json").read_text())["fish"]}
        for fish in truth_fish(read_cvat(xml), site):
            if fish.direction == "upstream":
                assert fish.gate_arrival_s == pytest.approx(
                    manifest[fish.track_id]["gate_arrival_s"], abs=0.08
                )
                checked += 1
    assert checked > 300
