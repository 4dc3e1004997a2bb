"""The counting rule: which way a fish crossed, from its extent and the borders."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from fishgate.cli import main
from fishgate.cvat import read_cvat
from fishgate.synth.closeup import CloseupSpec, write_closeup
from fishgate.types import Box
from fishgate.vision.counting import CountingLine, MidlineCounter
from tests.helpers import REPO, box_xml, cvat_document

W = 1920.0
LINE = CountingLine(960, +1, W)
CLOSEUP_CONFIG = REPO / "firmware_config" / "closeup-1080p.toml"


def boxes(*spans: tuple[float, float]) -> list[Box]:
    return [Box(x1, 300, x2, 600) for x1, x2 in spans]


def test_a_fish_longer_than_the_frame_passing_upstream_and_downstream() -> None:
    # 2300 px long: it enters cut by the left border, fills the frame, leaves cut by the right
    upstream = boxes((0, 200), (0, 1200), (0, W), (300, W), (1500, W))
    assert LINE.crossing(upstream) == "upstream"
    assert LINE.crossing(upstream[::-1]) == "downstream"
    # with the upstream edge on the left (-x) the same boxes are the other way round
    assert CountingLine(960, -1, W).crossing(upstream) == "downstream"


def test_a_fish_that_holds_across_the_line_then_passes_counts_once() -> None:
    holding = [(100 + d, 1300 + d) for d in (0, 40, -30, 20, -10, 30) * 10]  # 60 views across the line
    path = boxes((0, 400), *holding, (900, W), (1700, W))
    assert LINE.crossing(path) == "upstream"


def test_a_fish_that_turns_back_after_its_head_crossed_the_line_is_not_counted() -> None:
    path = boxes((0, 300), (200, 1100), (500, 1400), (200, 1100), (0, 500))
    assert LINE.crossing(path) is None
    # the centre rule agrees here; it is fooled when a track starts late, straddling the line
    assert MidlineCounter(960, +1).crossing(path) is None


def test_what_a_border_says_where_the_box_alone_cannot() -> None:
    # first seen already straddling a line at x = 700, cut by the left border: it came from
    # downstream, although its box centre (750) was already past the line
    path = boxes((0, 1500), (900, W))
    assert CountingLine(700, +1, W).crossing(path) == "upstream"
    assert MidlineCounter(700, +1).crossing(path) is None
    # touching both borders all along: nothing says which way it went
    assert LINE.crossing(boxes((0, W), (0, W))) is None
    # a box 5 px short of the border is still cut by it (1 % of the width)
    assert LINE.crossing(boxes((5, 1500), (700, W - 8))) == "upstream"


def test_the_line_must_lie_in_the_frame() -> None:
    with pytest.raises(ValueError, match="inside the frame"):
        CountingLine(2000, +1, W)


def _fish(
    track: int, label: str, spans: list[tuple[int, float, float, float]], direction: str
) -> tuple[int, str, list[str]]:
    rows = [box_xml(f, (x1, y, x2, y + 300), attrs={"direction": direction}) for f, x1, x2, y in spans]
    f, x1, x2, y = spans[-1]
    rows.append(box_xml(f + 1, (x1, y, x2, y + 300), outside=True, attrs={"direction": direction}))
    return track, label, rows


def test_two_fish_overlapping_as_they_cross_count_as_two(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tracks-only on a 1920x1080 clip: a Coho and a Chinook, one above the other, their
    boxes overlapping by half as they cross together; neither label is one of ours."""
    step = 120.0
    coho = [(f, max(0.0, step * f - 1100), min(W, step * f), 200.0) for f in range(1, 25)]
    chinook = [(f, max(0.0, step * (f - 3) - 1000), min(W, step * (f - 3)), 350.0) for f in range(4, 27)]
    xml = tmp_path / "pair.xml"
    xml.write_text(
        cvat_document(
            [_fish(0, "Coho", coho, "upstream"), _fish(1, "Chinook", chinook, "upstream")],
            size=40,
            width=1920,
            height=1080,
            name="pair",
        ),
        encoding="utf-8",
    )
    events = tmp_path / "pair.jsonl"
    argv = [
        "replay",
        "--detections",
        str(xml),
        "-c",
        str(CLOSEUP_CONFIG),
        "--events",
        str(events),
        "--no-progress",
    ]
    assert main(argv) == 0
    passages = [json.loads(line) for line in events.read_text().splitlines() if '"passage"' in line]
    assert sorted((p["species"], p["direction"]) for p in passages) == [
        ("Chinook", "upstream"),
        ("Coho", "upstream"),
    ]
    # a label that is none of our species keeps its name and goes the site's safe route, flagged
    assert all(p["route"] == "tank" and "foreign_species" in p["flags"] for p in passages)


def test_the_closeup_generator_writes_what_its_manifest_counts(tmp_path: Path) -> None:
    xml, manifest = write_closeup(CloseupSpec(seed=3, fish=8), tmp_path / "closeup-3")
    data = json.loads(manifest.read_text())
    annotation = read_cvat(xml)
    assert (annotation.width, annotation.height, data["fps"]) == (1920, 1080, 10.0)
    tracks = annotation.visible_tracks()
    directions = [t.direction for t in tracks]
    assert data["counts"] == {d: directions.count(d) for d in ("upstream", "downstream")}
    # each fish's length as the manifest gives it is what its boxes show: never more, nearly
    # all of it at its widest (all the frame for a fish longer than the picture is wide)
    boxes = {t.id: [kb.box for kb in t.keyboxes if not kb.outside] for t in annotation.tracks}
    for fish in data["fish"]:
        widest = max(b.x2 - b.x1 for b in boxes[fish["track_id"]]) / annotation.width
        whole = min(fish["length_share"], 1.0)
        assert 0.8 * whole < widest <= whole + 0.001, (fish, widest)
    assert any(f["length_share"] > 1.0 for f in data["fish"]), (
        "the seed should give a fish longer than the frame"
    )
    assert {t.label for t in tracks} <= {"Pink", "Coho", "Sockeye", "Chum", "Chinook", "Steelhead"}
    # boxes are drawn every 2-5 frames and interpolated between
    gaps = [
        b.frame - a.frame
        for t in tracks
        for a, b in itertools.pairwise(kb for kb in t.keyboxes if not kb.outside)
    ]
    assert max(gaps) <= 5 and sum(g >= 2 for g in gaps) > 0.8 * len(gaps)


def test_tracks_only_counts_a_closeup_set(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for seed in range(7000, 7006):
        write_closeup(CloseupSpec(seed=seed), tmp_path / f"closeup-{seed}")
    argv = [
        "evaluate-footage",
        str(tmp_path),
        "-c",
        str(CLOSEUP_CONFIG),
        "--tracks-only",
        "--json",
        "--no-progress",
    ]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["count_exact"] >= 5 / 6  # measured 40 clips at a time in the README


def test_a_tracks_only_site_needs_no_species_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from fishgate.config import load_config

    assert load_config(CLOSEUP_CONFIG).model is None
    image = tmp_path / "fish.png"
    image.write_bytes(b"")  # never read: the missing model is found first
    assert main(["classify", str(image), "--config", str(CLOSEUP_CONFIG)]) == 2
    err = capsys.readouterr().err
    assert "model: this needs a species model" in err and err.count("\n") == 1
