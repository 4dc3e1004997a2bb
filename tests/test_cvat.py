"""CVAT for video 1.1 reader: CVAT's interpolation, its exports, the sample footage, bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fishgate.cvat import read_cvat
from fishgate.errors import AnnotationError
from fishgate.types import Box
from tests.helpers import box_xml, cvat_document, footage_dir

UP = {"direction": "upstream"}


def _write(tmp_path: Path, text: str, name: str = "truth.xml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_keyframes_only_are_interpolated_linearly(tmp_path: Path) -> None:
    boxes = [
        box_xml(10, (0, 100, 40, 120), attrs=UP),
        box_xml(20, (100, 110, 160, 140), occluded=True, attrs=UP),
        box_xml(24, (140, 110, 200, 140), attrs=UP),
        box_xml(25, (140, 110, 200, 140), outside=True, attrs=UP),
    ]
    ann = read_cvat(_write(tmp_path, cvat_document([(3, "sea_trout", boxes)], size=100)))
    (track,) = ann.tracks
    visible = track.boxes()
    assert [b.frame for b in visible] == list(range(10, 25))
    at15 = visible[5]
    assert at15.box == Box(50, 105, 100, 130)  # halfway between frames 10 and 20
    assert not at15.keyframe and not at15.occluded  # occluded comes from the earlier keyframe
    assert visible[12].occluded  # frame 22 follows the occluded keyframe at 20
    assert (track.first_frame, track.last_frame, track.label, track.direction) == (
        10,
        24,
        "sea_trout",
        "upstream",
    )


def test_outside_keyframe_hides_the_fish_until_the_next_keyframe(tmp_path: Path) -> None:
    boxes = [
        box_xml(0, (10, 10, 50, 30)),
        box_xml(3, (10, 10, 50, 30), outside=True),
        box_xml(8, (60, 10, 100, 30)),
        box_xml(9, (60, 10, 100, 30), outside=True),
    ]
    (track,) = read_cvat(_write(tmp_path, cvat_document([(0, "arctic_char", boxes)]))).tracks
    assert [b.frame for b in track.boxes()] == [0, 1, 2, 8]


def test_a_visible_last_keyframe_lasts_until_the_end_of_the_task(tmp_path: Path) -> None:
    (track,) = read_cvat(
        _write(tmp_path, cvat_document([(0, "pink_salmon", [box_xml(95, (1, 1, 9, 9))])], size=100))
    ).tracks
    assert track.last_frame == 99
    assert track.direction == "none"  # no attribute: the CVAT default


def test_cvat_export_with_interpolated_boxes_is_read_as_written(tmp_path: Path) -> None:
    # CVAT writes every frame; in-betweens have keyframe="0" and may deviate from a straight line
    # only if CVAT put them there, so they are taken as written.
    boxes = [
        box_xml(0, (0, 0, 10, 10)),
        box_xml(1, (2, 0, 12, 10), keyframe=False),
        box_xml(2, (5, 0, 15, 10), keyframe=False),
        box_xml(3, (6, 0, 16, 10)),
        box_xml(4, (6, 0, 16, 10), outside=True),
    ]
    (track,) = read_cvat(_write(tmp_path, cvat_document([(0, "farmed_salmon", boxes)]))).tracks
    assert [b.box.x1 for b in track.boxes()] == [0, 2, 5, 6]


def test_meta_and_labels(tmp_path: Path) -> None:
    ann = read_cvat(
        _write(
            tmp_path,
            cvat_document(
                [(1, "pike", [box_xml(0, (0, 0, 5, 5))])], size=42, width=320, height=240, name="t"
            ),
        )
    )
    assert (ann.name, ann.frames, ann.width, ann.height) == ("t", 42, 320, 240)
    assert ann.tracks[0].label == "pike"  # labels pass through, even foreign ones


@pytest.mark.parametrize(
    ("text", "line", "phrase"),
    [
        ("<annotations>\n<track id='0' label='x'>\n<box frame='1'\n</track>", 4, "not well-formed"),
        ("<annotations>\n<track label='x'></track></annotations>", 2, "no 'id' attribute"),
        (
            "<annotations>\n<track id='0' label='x'>\n<box frame='a' xtl='0' ytl='0' xbr='1' ybr='1'/></track></annotations>",
            3,
            "frame='a' is not an integer",
        ),
        (
            "<annotations>\n<track id='0' label='x'>\n\n<box frame='1' xtl='0' ytl='0' xbr='one' ybr='1'/></track></annotations>",
            4,
            "xbr='one' is not a number",
        ),
        (
            "<annotations>\n<track id='0' label='x'>\n<box frame='1' xtl='5' ytl='0' xbr='1' ybr='1'/></track></annotations>",
            3,
            "xbr < xtl",
        ),
        (
            "<annotations>\n<track id='0' label='x'>\n<box frame='1' outside='yes' xtl='0' ytl='0' xbr='1' ybr='1'/></track></annotations>",
            3,
            "must be 0 or 1",
        ),
        ("<annotations>\n<image id='0' name='a.jpg'></image></annotations>", 2, "CVAT for images"),
        ("<html>\n</html>", 1, "expected a CVAT <annotations> document"),
    ],
)
def test_malformed_xml_names_file_and_line(tmp_path: Path, text: str, line: int, phrase: str) -> None:
    path = _write(tmp_path, text, "broken.xml")
    with pytest.raises(AnnotationError) as info:
        read_cvat(path)
    message = str(info.value)
    assert message.startswith(f"{path}, line {line}:"), message
    assert phrase in message
    assert "\n" not in message


def test_duplicate_track_ids_are_refused(tmp_path: Path) -> None:
    doc = cvat_document([(1, "a", [box_xml(0, (0, 0, 1, 1))]), (1, "b", [box_xml(0, (0, 0, 1, 1))])])
    with pytest.raises(AnnotationError, match="track id 1 used twice"):
        read_cvat(_write(tmp_path, doc))


def test_empty_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(AnnotationError, match=r"not well-formed|empty"):
        read_cvat(_write(tmp_path, ""))
    with pytest.raises(AnnotationError, match="cannot read annotation file"):
        read_cvat(tmp_path / "absent.xml")


@pytest.mark.footage
def test_reads_every_sample_clip_like_its_manifest() -> None:
    for xml in sorted(footage_dir().glob("*.xml")):
        ann = read_cvat(xml)
        manifest = json.loads(xml.with_suffix(".json").read_text())
        assert (ann.width, ann.height, ann.frames) == (
            manifest["width"],
            manifest["height"],
            manifest["frames"],
        )
        got = [(t.id, t.label, t.direction, t.first_frame, t.last_frame) for t in ann.tracks]
        want = [
            (f["track_id"], f["species"], f["direction"], f["first_frame"], f["last_frame"])
            for f in manifest["fish"]
        ]
        assert got == want, xml.name
        occluded = sum(b.occluded for t in ann.tracks for b in t.boxes())
        if xml.stem.startswith("crowded"):
            assert occluded > 0  # fish in twos and threes hide each other
