"""Writers for the ground truth of a synthetic clip: CVAT for video 1.1 XML and the
JSON manifest, in the shape operators hand over with real footage.

XML: one `<track>` per fish, labelled with its species; a keyframe box for every
frame it is in the picture, then one `outside="1"` box the frame after it leaves
(unless the clip ends first); each box carries the track's `direction` attribute.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from fishgate.types import INVASIVE, SPECIES, Box

DIRECTION_VALUES = ("upstream", "downstream", "none")


@dataclass(frozen=True, slots=True)
class TrackBox:
    frame: int
    box: Box
    occluded: bool = False


@dataclass(frozen=True, slots=True)
class SynthTrack:
    """One fish's boxes, in frame order, over the frames it is in the picture."""

    track_id: int
    label: str
    direction: str  # upstream, downstream or none
    boxes: tuple[TrackBox, ...]

    def __post_init__(self) -> None:
        if self.direction not in DIRECTION_VALUES:
            raise ValueError(
                f"SynthTrack.direction: expected one of {DIRECTION_VALUES}, got {self.direction!r}"
            )
        if not self.boxes:
            raise ValueError(f"SynthTrack {self.track_id}: expected at least one box")

    @property
    def first_frame(self) -> int:
        return self.boxes[0].frame

    @property
    def last_frame(self) -> int:
        return self.boxes[-1].frame


@dataclass(frozen=True, slots=True)
class ManifestFish:
    """One fish in the manifest's `fish` list."""

    track_id: int
    species: str
    direction: str
    route: str | None  # tank or river for upstream fish, else None
    first_frame: int
    last_frame: int
    length_cm: float
    behaviour: str
    gate_arrival_s: float | None


def route_for(species: str, direction: str) -> str | None:
    """Where the gate sends an upstream fish by default: invasive ones to the tank."""
    if direction != "upstream":
        return None
    return "tank" if species in INVASIVE else "river"


def _label_xml(name: str) -> str:
    values = "\n".join(DIRECTION_VALUES)
    return (
        "        <label>\n"
        f"          <name>{escape(name)}</name>\n"
        "          <type>rectangle</type>\n"
        "          <attributes>\n"
        "            <attribute><name>direction</name><mutable>False</mutable><input_type>select</input_type>"
        f"<default_value>none</default_value><values>{values}</values></attribute>\n"
        "          </attributes>\n"
        "        </label>\n"
    )


def _box_xml(frame: int, box: Box, direction: str, *, outside: bool, occluded: bool) -> str:
    return (
        f'    <box frame="{frame}" outside="{int(outside)}" occluded="{int(occluded)}" keyframe="1" '
        f'xtl="{box.x1:.2f}" ytl="{box.y1:.2f}" xbr="{box.x2:.2f}" ybr="{box.y2:.2f}" z_order="0">'
        f'<attribute name="direction">{escape(direction)}</attribute></box>\n'
    )


def _track_xml(track: SynthTrack, frames: int) -> str:
    parts = [f'  <track id="{track.track_id}" label={quoteattr(track.label)} source="manual">\n']
    for tb in track.boxes:
        parts.append(_box_xml(tb.frame, tb.box, track.direction, outside=False, occluded=tb.occluded))
    if track.last_frame + 1 < frames:
        last = track.boxes[-1].box
        parts.append(_box_xml(track.last_frame + 1, last, track.direction, outside=True, occluded=False))
    parts.append("  </track>\n")
    return "".join(parts)


def cvat_xml(
    name: str,
    frames: int,
    width: int,
    height: int,
    tracks: Sequence[SynthTrack],
    labels: Sequence[str] = SPECIES,
) -> str:
    """The CVAT for video 1.1 document as text."""
    head = (
        '<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n  <version>1.1</version>\n'
        "  <meta>\n    <task>\n"
        f"      <name>{escape(name)}</name>\n      <size>{frames}</size>\n      <mode>interpolation</mode>\n"
        f"      <original_size><width>{width}</width><height>{height}</height></original_size>\n"
        "      <labels>\n" + "".join(_label_xml(n) for n in labels) + "      </labels>\n"
        "    </task>\n  </meta>\n"
    )
    body = "".join(_track_xml(t, frames) for t in sorted(tracks, key=lambda t: t.track_id))
    return head + body + "</annotations>\n"


def write_cvat(
    path: str | Path, name: str, frames: int, width: int, height: int, tracks: Sequence[SynthTrack]
) -> Path:
    """Write `tracks` of a `frames`-frame clip as CVAT for video 1.1 XML; returns the path."""
    path = Path(path)
    path.write_text(cvat_xml(name, frames, width, height, tracks), encoding="utf-8")
    return path


def write_manifest(
    path: str | Path,
    *,
    video: str,
    annotations: str,
    fps: float,
    width: int,
    height: int,
    frames: int,
    px_per_cm: float,
    scenario: str,
    ir: bool,
    fish: Sequence[ManifestFish],
    counting_line_x: int = 352,
    gate_distance_cm: float = 80.0,
    gate_actuation_s: float = 0.3,
) -> Path:
    """Write the JSON manifest: site geometry and one entry per fish. Returns the path."""
    data = {
        "video": video,
        "annotations": annotations,
        "fps": fps,
        "width": width,
        "height": height,
        "frames": frames,
        "px_per_cm": px_per_cm,
        "counting_line_x": counting_line_x,
        "upstream": "+x",
        "gate_distance_cm_from_right_edge": gate_distance_cm,
        "gate_actuation_s": gate_actuation_s,
        "ir": ir,
        "scenario": scenario,
        "fish": [asdict(f) for f in sorted(fish, key=lambda f: f.track_id)],
    }
    path = Path(path)
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return path
