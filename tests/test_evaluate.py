"""Evaluation: hand-built truth/log pairs whose metrics are known exactly."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from fishgate.cli import main
from fishgate.config import Geometry, load_config
from fishgate.cvat import read_cvat
from fishgate.errors import PassageLogError
from fishgate.evaluate import (
    METRIC_KEYS,
    EvaluationSite,
    FootageResult,
    GateRecord,
    ReplayLog,
    compute_metrics,
    evaluate_footage,
    gate_moving_at_arrival,
    gate_timeline,
    interval_iou,
    read_passage_log,
    read_replay_log,
    truth_fish,
)
from fishgate.types import Passage
from tests.helpers import (
    CHUTE_CONFIG,
    box_xml,
    cvat_document,
    footage_dir,
    gate_lines,
    passages_from_truth,
    perfect_gate,
    perfect_log,
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


def _gate(scene: Path) -> list[GateRecord]:
    """Perfect gate: start river; tank at 96, river at 296, tank at 496, river at 696."""
    return perfect_gate(read_cvat(scene), SITE)


def _metrics(scene: Path, passages: list[Passage], gate: list[GateRecord] | None = None) -> dict[str, object]:
    log = ReplayLog(tuple(passages), tuple(gate if gate is not None else _gate(scene)))
    return compute_metrics([evaluate_footage(read_cvat(scene), log, SITE)], SITE)


def _result(scene: Path, passages: list[Passage], gate: list[GateRecord]) -> FootageResult:
    return evaluate_footage(read_cvat(scene), ReplayLog(tuple(passages), tuple(gate)), SITE)


def _with(passages: list[Passage], index: int, **changes: object) -> list[Passage]:
    out = list(passages)
    out[index] = dataclasses.replace(out[index], **changes)  # type: ignore[arg-type]
    return out


def test_gate_arrival_of_a_steady_fish_is_exact(scene: Path) -> None:
    # Head at 8 px/frame from frame 0: it reaches the gate (640 + 80 cm * 2.6 px/cm = 848 px)
    # at frame 105, i.e. 4.2 s; it entered at frame 200 + 105 for the second fish.
    truth = {f.track_id: f for f in truth_fish(read_cvat(scene), SITE)}
    assert truth[0].gate_arrival_s == pytest.approx(105 / 25)
    assert truth[1].gate_arrival_s == pytest.approx(305 / 25)
    assert truth[4].gate_arrival_s is None  # downstream fish never reach the gate


def test_perfect_log(scene: Path) -> None:
    assert [(r.frame, r.route) for r in _gate(scene)] == [
        (0, "river"),
        (96, "tank"),
        (296, "river"),
        (496, "tank"),
        (696, "river"),
    ]
    m = _metrics(scene, _perfect(scene))
    assert {k: m[k] for k in METRIC_KEYS} == {
        "sorting_correct": 1.0,
        "invasive_capture": 1.0,
        "native_pass": 1.0,
        "gate_conflicts": 0,
        "species_accuracy": 1.0,
        "count_nmae": 0.0,
        "false_passages_per_hour": 0.0,
        "timely": 1.0,
        "route_agreement": 1.0,
    }
    assert (m["fish_upstream"], m["fish_downstream"], m["passages"]) == (4, 1, 5)
    assert m["hours"] == pytest.approx(HOURS)


def test_a_missed_fish_still_goes_where_the_gate_stands(scene: Path) -> None:
    # no passage for the Atlantic salmon, but the gate was set for it anyway: it went to the river
    passages = [p for p in _perfect(scene) if p.species != "atlantic_salmon"]
    m = _metrics(scene, passages)
    assert (m["sorting_correct"], m["native_pass"], m["invasive_capture"]) == (1.0, 1.0, 1.0)
    assert m["count_nmae"] == pytest.approx(1 / 5)  # one of five species x direction cells is off by 1
    assert m["species_accuracy"] == 1.0 and m["route_agreement"] == 1.0  # over matched passages only


def test_an_unseen_fish_meets_the_gate_wherever_it_stood(scene: Path) -> None:
    # nobody saw the Atlantic salmon: no passage, no command; the gate still stood at tank
    # for the pink salmon before it
    passages = [p for p in _perfect(scene) if p.species != "atlantic_salmon"]
    gate = [r for r in _gate(scene) if r.frame != 296]
    result = _result(scene, passages, gate)
    assert result.fates == {0: "tank", 1: "tank", 2: "tank", 3: "river"}
    m = compute_metrics([result], SITE)
    assert (m["sorting_correct"], m["native_pass"], m["invasive_capture"]) == (0.75, 0.5, 1.0)


def test_a_lost_gate_command(scene: Path) -> None:
    # the pink salmon was decided right, but its command never reached the gate
    gate = [r for r in _gate(scene) if r.frame != 96]
    m = _metrics(scene, _perfect(scene), gate)
    assert (m["sorting_correct"], m["invasive_capture"], m["native_pass"]) == (0.75, 0.5, 1.0)
    assert m["route_agreement"] == 0.75  # its passage says tank; it went to the river
    assert m["timely"] == 1.0  # the decision itself was in time


def test_a_wrong_species(scene: Path) -> None:
    # the pink salmon taken for an Atlantic salmon: no tank command, let through
    passages = _with(_perfect(scene), 0, species="atlantic_salmon", route="river")
    gate = [r for r in _gate(scene) if r.frame != 96]
    m = _metrics(scene, passages, gate)
    assert m["sorting_correct"] == 0.75
    assert m["invasive_capture"] == 0.5
    assert m["native_pass"] == 1.0
    assert m["route_agreement"] == 1.0  # the record says river, and river it was
    assert m["species_accuracy"] == pytest.approx(4 / 5)
    assert m["count_nmae"] == pytest.approx(2 / 5)  # pink 0 of 1, Atlantic 2 of 1
    assert m["false_passages_per_hour"] == 0.0


@pytest.mark.parametrize(("frame", "fate"), [(497, "tank"), (498, "wrong")])
def test_a_late_gate_command(scene: Path, frame: int, fate: str) -> None:
    # the farmed salmon reaches the gate at frame 505 = 20.2 s; the gate needs 0.3 s, so a
    # move begun at frame 497 (19.88 s) is done in time and one at 498 (19.92 s) is not
    gate = [r if r.frame != 496 else GateRecord(frame, "tank") for r in _gate(scene)]
    passages = _with(_perfect(scene), 2, decision_frame=frame)
    result = _result(scene, passages, gate)
    assert result.fates[2] == fate
    m = compute_metrics([result], SITE)
    assert m["timely"] == (1.0 if fate == "tank" else 0.75)
    assert m["sorting_correct"] == m["invasive_capture"] * 0.5 + 0.5  # the other three are right
    assert m["route_agreement"] == (1.0 if fate == "tank" else 0.75)
    assert gate_moving_at_arrival([result]) == (fate == "wrong")


def test_a_gate_moving_at_a_heads_arrival(scene: Path) -> None:
    # set to tank in time for the farmed salmon, then sent back to river 2 frames before its
    # head arrives: it meets a moving gate, whatever its passage says
    gate = sorted([*_gate(scene), GateRecord(503, "river")], key=lambda r: r.frame)
    result = _result(scene, _perfect(scene), gate)
    assert result.fates == {0: "tank", 1: "river", 2: "wrong", 3: "river"}
    assert gate_moving_at_arrival([result]) == 1
    m = compute_metrics([result], SITE)
    assert (m["sorting_correct"], m["invasive_capture"], m["route_agreement"]) == (0.75, 0.5, 0.75)


def test_a_command_to_where_the_gate_is_going_changes_nothing(scene: Path) -> None:
    # a second "tank" 4 frames before the pink salmon's head does not restart the move
    gate = sorted([*_gate(scene), GateRecord(101, "tank")], key=lambda r: r.frame)
    assert _result(scene, _perfect(scene), gate).fates[0] == "tank"


def test_an_undecided_upstream_fish(scene: Path) -> None:
    # no decision and no command for the Atlantic salmon: the gate stood at tank for the pink
    passages = _with(_perfect(scene), 1, route=None, decision_frame=None)
    gate = [r for r in _gate(scene) if r.frame != 296]
    m = _metrics(scene, passages, gate)
    assert (m["sorting_correct"], m["native_pass"], m["timely"]) == (0.75, 0.5, 0.75)
    assert m["route_agreement"] == 0.75  # route null is not where it went


@pytest.fixture
def clash(tmp_path: Path) -> Path:
    """A pink salmon and an Atlantic salmon whose heads reach the gate 4 frames (0.16 s) apart,
    and a sea trout well after them."""
    tracks = [
        (0, "pink_salmon", swimming_fish(0)),
        (1, "atlantic_salmon", swimming_fish(4, y=220)),
        (2, "sea_trout", swimming_fish(300)),
    ]
    path = tmp_path / "clash.xml"
    path.write_text(cvat_document(tracks, size=600, name="clash"), encoding="utf-8")
    return path


def test_a_gate_conflict_pair_is_right_at_the_safe_route(clash: Path) -> None:
    passages = passages_from_truth(read_cvat(clash), SITE)
    gate = perfect_gate(read_cvat(clash), SITE)
    assert [(r.frame, r.route) for r in gate] == [(0, "river"), (96, "tank"), (100, "tank"), (396, "river")]
    result = _result(clash, passages, gate)
    assert result.conflicts == {0, 1}
    assert result.fates == {0: "tank", 1: "tank", 2: "river"}
    m = compute_metrics([result], SITE)
    assert m["gate_conflicts"] == 2
    assert (m["sorting_correct"], m["invasive_capture"]) == (1.0, 1.0)
    assert m["native_pass"] == 1.0  # over the trout alone: the Atlantic salmon is in the conflict
    # the passage of the Atlantic salmon said river: the record disagrees with its fate
    assert m["route_agreement"] == pytest.approx(2 / 3)
    # serving the native instead sends both through to the river: both wrong
    served_native = [GateRecord(0, "river"), GateRecord(396, "river")]
    m = compute_metrics([_result(clash, passages, served_native)], SITE)
    assert (m["sorting_correct"], m["invasive_capture"], m["native_pass"]) == (pytest.approx(1 / 3), 0.0, 1.0)


def test_a_ratio_with_nothing_to_count_is_null(tmp_path: Path) -> None:
    # the only native is in a gate conflict: native_pass has no fish to count
    tracks = [(0, "pink_salmon", swimming_fish(0)), (1, "atlantic_salmon", swimming_fish(4, y=220))]
    pair = tmp_path / "pair.xml"
    pair.write_text(cvat_document(tracks, size=600, name="pair"), encoding="utf-8")
    log = perfect_log(read_cvat(pair), SITE)
    m = compute_metrics([evaluate_footage(read_cvat(pair), log, SITE)], SITE)
    assert m["native_pass"] is None and m["gate_conflicts"] == 2 and m["sorting_correct"] == 1.0


def test_a_log_without_gate_records_is_refused(scene: Path) -> None:
    with pytest.raises(PassageLogError, match="no gate records"):
        _metrics(scene, _perfect(scene), gate=[])


def test_gate_timeline_replays_moves() -> None:
    timeline = gate_timeline(
        [GateRecord(0, "river"), GateRecord(10, "tank"), GateRecord(12, "river")], 25, 0.3
    )
    assert timeline.route_at(0.39) == "river"  # before the first move
    assert timeline.route_at(0.40) == "wrong"  # a move begins at the instant of arrival
    assert timeline.route_at(0.47) == "wrong"  # turned back mid-move: a new 0.3 s move from 0.48
    assert timeline.route_at(0.77) == "wrong"
    assert timeline.route_at(0.78) == "river"


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
        tmp_path / "log.jsonl",
        [*passages, passages[0]],
        extra_lines=['{"event": "stats", "fps": 300}', "", *gate_lines(_gate(scene))],
    )
    assert [p.id for p in read_passage_log(path)] == [p.id for p in passages]
    assert read_replay_log(path).gate == tuple(_gate(scene))


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
        ('{"event": "gate", "frame": 3, "route": "sea"}', "gate record 'route' must be tank or river"),
        ('{"event": "gate", "frame": -1, "route": "tank"}', "gate record 'frame' must be an int >= 0"),
    ],
)
def test_malformed_passage_log_names_file_and_line(tmp_path: Path, line: str, phrase: str) -> None:
    path = tmp_path / "log.jsonl"
    path.write_text('{"event": "start"}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(PassageLogError, match=rf"log\.jsonl, line 2: .*{phrase}"):
        read_passage_log(path)


def test_cli_prints_a_table_and_exact_json(
    tmp_path: Path, scene: Path, clash: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gate = [r for r in _gate(scene) if r.frame != 96]  # the pink salmon let through
    passages = _with(_perfect(scene), 0, species="atlantic_salmon", route="river")
    log = write_log(tmp_path / "scene.jsonl", passages, gate_lines(gate))
    assert main(["evaluate", str(scene), "--log", str(log), "--config", str(CHUTE_CONFIG), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {*METRIC_KEYS, "fish_upstream", "fish_downstream", "passages", "hours"}
    assert result["invasive_capture"] == 0.5
    assert main(["evaluate", str(scene), "--log", str(tmp_path), "--config", str(CHUTE_CONFIG)]) == 0
    table = capsys.readouterr().out
    assert "sorting" in table and "0.7500" in table and "scene" not in table  # pooled row only
    # two clips, a row and an object each
    perfect = perfect_log(read_cvat(clash), SITE)
    write_log(tmp_path / "clash.jsonl", perfect.passages, gate_lines(perfect.gate))
    args = ["evaluate", str(scene), str(clash), "--log", str(tmp_path), "--config", str(CHUTE_CONFIG)]
    assert main([*args, "--per-clip"]) == 0
    rows = [line.split()[0] for line in capsys.readouterr().out.splitlines()[2:]]
    assert rows[:3] == ["scene", "clash", "ALL"]
    assert main([*args, "--per-clip", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"clips", "all", "count_exact", "gate_moving"}
    assert set(result["clips"]) == {"scene", "clash"} and result["gate_moving"] == 0
    assert result["clips"]["clash"]["gate_conflicts"] == 2 and result["clips"]["scene"]["gate_conflicts"] == 0
    assert result["all"]["invasive_capture"] == pytest.approx(2 / 3)
    assert set(result["all"]) == set(result["clips"]["scene"])


def test_cli_reports_a_missing_log_in_one_line(
    tmp_path: Path, scene: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(
        ["evaluate", str(scene), "--log", str(tmp_path / "none.jsonl"), "--config", str(CHUTE_CONFIG)]
    )
    err = capsys.readouterr().err
    assert status == 2 and "none.jsonl: cannot read passage log" in err and err.count("\n") == 1


@pytest.mark.footage
def test_a_perfect_log_of_the_sample_clips_scores_what_evaluation_md_states(tmp_path: Path) -> None:
    """Written and read back as files: every passage right, and the gate schedule that knows
    every true arrival reaches exactly the figures EVALUATION.md gives for it."""
    footage = footage_dir()
    site = EvaluationSite.from_config(load_config(CHUTE_CONFIG))
    conflicts = {}
    for day in ("01", "02"):
        results = []
        for xml in sorted(footage.glob(f"*-{day}.xml")):
            perfect = perfect_log(read_cvat(xml), site)
            write_log(tmp_path / f"{xml.stem}.jsonl", perfect.passages, gate_lines(perfect.gate))
            log = read_replay_log(tmp_path / f"{xml.stem}.jsonl")
            results.append(evaluate_footage(read_cvat(xml), log, site))
        m = compute_metrics(results, site)
        assert (m["species_accuracy"], m["count_nmae"], m["timely"]) == (1.0, 0.0, 1.0)
        assert m["false_passages_per_hour"] == 0.0
        conflicts[day] = m["gate_conflicts"]
        if day == "02":
            sorting = (m["sorting_correct"], m["invasive_capture"], m["native_pass"])
            assert sorting == pytest.approx((0.989, 0.991, 0.986), abs=1e-3)  # the table gives 3 places
    assert conflicts == {"01": 8, "02": 13}


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


def _annotated(boxes: list[str], direction: str, before: int = 1500) -> list[str]:
    """A fish's boxes before frame `before`, annotated with `direction` whatever it did."""
    kept = [b for b in boxes if int(b.split('frame="')[1].split('"')[0]) < before]
    return [re.sub(r'name="direction">\w+<', f'name="direction">{direction}<', b) for b in kept]


def test_an_annotation_doubt_gives_no_gate_time_for_a_fish_not_swimming_on(tmp_path: Path) -> None:
    # annotated `none`, its boxes cross the line upstream, then it turns back and is lost
    # upstream of the line mid-frame: when (or whether) it reaches the gate is unknown
    heads = [8.0 * (f + 1) for f in range(60)] + [480.0 - 3 * f for f in range(1, 21)]
    boxes = [box_xml(f, (h - 100, 150, h, 180), attrs={"direction": "none"}) for f, h in enumerate(heads)]
    boxes.append(box_xml(len(heads), (320, 150, 420, 180), outside=True, attrs={"direction": "none"}))
    truth = tmp_path / "turned.xml"
    truth.write_text(
        cvat_document([(0, "atlantic_salmon", boxes)], size=1500, name="turned"), encoding="utf-8"
    )
    annotation = read_cvat(truth)
    result = evaluate_footage(annotation, ReplayLog((), tuple(perfect_gate(annotation, SITE))), SITE)
    [doubt] = result.doubts
    assert (doubt.annotated, doubt.crossed, doubt.head_at_gate_s) == ("none", "upstream", None)
    assert "reaches the gate" not in str(doubt)


def test_annotation_doubts_name_the_fish_whose_boxes_contradict_their_direction(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tracks = [
        (0, "atlantic_salmon", _annotated(swimming_fish(0), "none")),  # swims out upstream: doubt
        (1, "sea_trout", _annotated(swimming_fish(300), "none", before=330)),  # short of the line
        (2, "pink_salmon", _annotated(swimming_fish(1425), "none")),  # still in view at the end
        (3, "arctic_char", swimming_fish(600, direction="downstream")),
        (4, "sea_trout", _annotated(swimming_fish(900, direction="downstream"), "upstream")),  # doubt
    ]
    truth = tmp_path / "doubts.xml"
    truth.write_text(cvat_document(tracks, size=1500, name="doubts"), encoding="utf-8")
    annotation = read_cvat(truth)
    result = evaluate_footage(annotation, ReplayLog((), tuple(perfect_gate(annotation, SITE))), SITE)
    assert [(d.track_id, d.annotated, d.crossed) for d in result.doubts] == [
        (0, "none", "upstream"),
        (4, "upstream", "downstream"),
    ]
    # the head (8 px a frame from 8 px at frame 0) reaches the gate beyond the frame well
    # before the footage's 60 s end: the label, not the fish, is in doubt
    head_frame = SITE.geometry.gate_x_px(640) / 8 - 1
    assert result.doubts[0].head_at_gate_s == pytest.approx(head_frame / SITE.fps, abs=1e-6)
    assert result.doubts[0].footage_s == pytest.approx(1500 / SITE.fps)
    assert result.doubts[1].head_at_gate_s is None  # went downstream: no gate to reach
    log = write_log(tmp_path / "doubts.jsonl", [], gate_lines(perfect_gate(annotation, SITE)))
    assert main(["evaluate", str(truth), "--log", str(log), "--config", str(CHUTE_CONFIG), "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["passages"] == 0  # the JSON keeps its keys; the doubts go to stderr
    assert "annotation doubts: 2 fish" in err
    assert "doubts: fish 0 (atlantic_salmon) is annotated none, but its boxes cross upstream" in err
    assert f"its head reaches the gate at {head_frame / SITE.fps:.2f} s of the footage's 60.00 s" in err
