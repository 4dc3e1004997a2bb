"""Close-up counting footage, annotations only: fish that fill the frame, linger, mill and turn.

Real fish-counting cameras look at a window a fish may be longer than: the fish enters
cut by one border and leaves cut by the other, holds station across the counting line
for many seconds, drifts back and surges on, or turns back. People annotate such footage
at about 10 frames per second, drawing a box every few frames and letting CVAT
interpolate between them, and label the fish with their own species names. This
module writes such annotations (CVAT for video 1.1, keyframes only) and a manifest with
the true up and down counts, to measure counting in tracks-only replay:

    from fishgate.synth.closeup import CloseupSpec, write_closeup
    write_closeup(CloseupSpec(seed=7), "out/closeup-0007")   # .xml and .json

No video is rendered: tracks-only replay needs only the boxes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from fishgate.types import Box

BEHAVIOURS = ("pass", "hold", "mill", "turn")
# Labels as a Pacific counting station writes them: none of them is one of our species.
LABELS = ("Pink", "Coho", "Sockeye", "Chum", "Chinook", "Steelhead")
ATTRIBUTES = ("direction", "sex", "quality")  # `sex` and `quality` are there to be ignored


@dataclass(frozen=True)
class CloseupSpec:
    seed: int
    fish: int = 6  # fish in the clip
    fps: float = 10.0
    width: int = 1920
    height: int = 1080
    max_at_once: int = 4
    length_share: tuple[float, float] = (0.4, 1.2)  # fish length as a share of the frame width
    hold_s: tuple[float, float] = (2.0, 20.0)
    keyframe_every: tuple[int, int] = (2, 5)
    name: str = ""

    @property
    def line_x(self) -> float:
        return self.width / 2


@dataclass
class CloseupFish:
    track_id: int
    label: str
    behaviour: str
    heading: int  # +1: swims towards +x (upstream); -1: towards -x
    length: float  # px
    depth: float
    y: float  # box centre
    enter_frame: int
    # (frame, head progress in px along the heading, from the entry border)
    path: list[tuple[int, float]] = field(default_factory=list)
    direction: str = "none"  # what a person counts: upstream, downstream or none

    def box(self, progress: float, width: float) -> Box | None:
        """The visible box at a head progress, or None if wholly outside the picture."""
        if self.heading > 0:
            x1, x2 = progress - self.length, progress
        else:
            x1, x2 = width - progress, width - progress + self.length
        x1, x2 = max(0.0, x1), min(width, x2)
        if x2 - x1 < 1:
            return None
        return Box(x1, self.y - self.depth / 2, x2, self.y + self.depth / 2)


def _speed(rng: np.random.Generator, width: float) -> float:
    """Cruising speed in px/s: 0.15 to 1 frame widths a second."""
    return float(rng.uniform(0.15, 1.0) * width)


def plan_motion(fish: CloseupFish, spec: CloseupSpec, rng: np.random.Generator) -> None:
    """Fill `fish.path` (head progress per frame) and `fish.direction` from its behaviour."""
    w, dt = float(spec.width), 1.0 / spec.fps
    line = w / 2  # the counting line in progress coordinates too (symmetric frame)
    through = w + fish.length  # progress at which the tail has left by the far border
    v = _speed(rng, w)
    p, frame = 0.0, fish.enter_frame
    path = fish.path

    def swim_to(target: float, speed: float) -> None:
        nonlocal p, frame
        step = math.copysign(speed * dt, target - p)
        while (target - p) * step > 0:
            p += step * float(rng.uniform(0.8, 1.2))
            frame += 1
            path.append((frame, p))

    def linger(seconds: float, centre: float, amplitude: float) -> None:
        nonlocal p, frame
        phase, period = float(rng.uniform(0, 2 * math.pi)), float(rng.uniform(2.0, 6.0))
        for i in range(round(seconds * spec.fps)):
            p = centre + amplitude * math.sin(phase + 2 * math.pi * i * dt / period)
            frame += 1
            path.append((frame, p))

    path.append((frame, p))
    across = line + fish.length * float(rng.uniform(0.2, 0.8))  # the fish straddles the line
    if fish.behaviour == "pass":
        swim_to(through, v)
        fish.direction = "upstream" if fish.heading > 0 else "downstream"
    elif fish.behaviour == "hold":
        swim_to(across, v)
        linger(float(rng.uniform(*spec.hold_s)), across, w * float(rng.uniform(0.02, 0.08)))
        swim_to(through, v)
        fish.direction = "upstream" if fish.heading > 0 else "downstream"
    elif fish.behaviour == "mill":
        for _ in range(int(rng.integers(1, 4))):
            swim_to(across, v)
            swim_to(across - w * float(rng.uniform(0.1, 0.3)), v * 0.5)  # drifts back
        swim_to(through, v * 1.3)  # and surges through
        fish.direction = "upstream" if fish.heading > 0 else "downstream"
    else:  # turn: the head crosses the line, the fish holds a while, then goes back out
        swim_to(line + w * float(rng.uniform(0.05, 0.4)), v)
        linger(float(rng.uniform(0.0, 5.0)), p, w * 0.02)
        swim_to(-1.0, v)
        fish.direction = "none"


def plan_clip(spec: CloseupSpec) -> list[CloseupFish]:
    """The fish of a clip, entering one after another, never more than `max_at_once` in view."""
    rng = np.random.default_rng(spec.seed)
    fish: list[CloseupFish] = []
    start = 0
    for track_id in range(spec.fish):
        length = spec.width * float(rng.uniform(*spec.length_share))
        depth = min(0.9 * spec.height, length * float(rng.uniform(0.18, 0.28)))
        y = float(rng.uniform(depth / 2, spec.height - depth / 2))
        candidate = CloseupFish(
            track_id,
            str(rng.choice(LABELS)),
            str(rng.choice(BEHAVIOURS, p=(0.4, 0.25, 0.15, 0.2))),
            1 if rng.random() < 0.75 else -1,
            length,
            depth,
            y,
            enter_frame=start,
        )
        plan_motion(candidate, spec, rng)
        while _crowded(candidate, fish, spec.max_at_once):  # wait until there is room
            shift = 5
            candidate.enter_frame += shift
            candidate.path = [(f + shift, p) for f, p in candidate.path]
        fish.append(candidate)
        start = candidate.enter_frame + int(rng.integers(0, round(4 * spec.fps)))
    return fish


def _span(f: CloseupFish) -> tuple[int, int]:
    return f.path[0][0], f.path[-1][0]


def _crowded(new: CloseupFish, others: list[CloseupFish], limit: int) -> bool:
    a, b = _span(new)
    frames = range(a, b + 1)
    return any(sum(1 for o in others if _span(o)[0] <= f <= _span(o)[1]) >= limit for f in frames[::5])


def keyframes(fish: CloseupFish, spec: CloseupSpec, rng: np.random.Generator) -> list[tuple[int, Box]]:
    """The boxes a person would draw: the first and last visible frame and every 2-5 frames."""
    visible = [(f, b) for f, p in fish.path if (b := fish.box(p, spec.width)) is not None]
    if not visible:
        return []
    keys = [visible[0]]
    i = 0
    while i < len(visible) - 1:
        i = min(len(visible) - 1, i + int(rng.integers(spec.keyframe_every[0], spec.keyframe_every[1] + 1)))
        keys.append(visible[i])
    return keys


def _box_xml(frame: int, box: Box, attrs: dict[str, str], outside: bool, occluded: bool) -> str:
    inner = "".join(f"<attribute name={quoteattr(k)}>{escape(v)}</attribute>" for k, v in attrs.items())
    return (
        f'    <box frame="{frame}" outside="{int(outside)}" occluded="{int(occluded)}" keyframe="1" '
        f'xtl="{box.x1:.2f}" ytl="{box.y1:.2f}" xbr="{box.x2:.2f}" ybr="{box.y2:.2f}" z_order="0">'
        f"{inner}</box>\n"
    )


def write_closeup(spec: CloseupSpec, stem: str | Path) -> tuple[Path, Path]:
    """Write STEM.xml (CVAT for video 1.1) and STEM.json (manifest with the true counts)."""
    stem = Path(stem)
    name = spec.name or stem.name
    rng = np.random.default_rng(spec.seed + 1_000_003)
    fish = plan_clip(spec)
    frames = max(_span(f)[1] for f in fish) + round(spec.fps)
    tracks, summary = [], []
    for f in fish:
        keys = keyframes(f, spec, rng)
        if not keys:
            continue
        attrs = {
            "direction": f.direction,
            "sex": str(rng.choice(("male", "female", "unknown"))),
            "quality": "ok",
        }
        occluded = {frame for frame, box in keys if _hidden(f, box, frame, fish, spec)}
        body = "".join(_box_xml(fr, box, attrs, False, fr in occluded) for fr, box in keys)
        body += _box_xml(keys[-1][0] + 1, keys[-1][1], attrs, True, False)
        tracks.append(
            f'  <track id="{f.track_id}" label={quoteattr(f.label)} source="manual">\n{body}  </track>\n'
        )
        summary.append(
            {
                "track_id": f.track_id,
                "label": f.label,
                "direction": f.direction,
                "behaviour": f.behaviour,
                "length_share": round(f.length / spec.width, 3),
                "first_frame": keys[0][0],
                "last_frame": keys[-1][0],
            }
        )
    labels = "".join(
        f"        <label><name>{escape(n)}</name><type>rectangle</type><attributes>"
        + "".join(f"<attribute><name>{a}</name><mutable>False</mutable></attribute>" for a in ATTRIBUTES)
        + "</attributes></label>\n"
        for n in LABELS
    )
    xml = (
        '<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n  <version>1.1</version>\n'
        f"  <meta>\n    <task>\n      <name>{escape(name)}</name>\n      <size>{frames}</size>\n"
        "      <mode>interpolation</mode>\n"
        f"      <original_size><width>{spec.width}</width><height>{spec.height}</height></original_size>\n"
        f"      <labels>\n{labels}      </labels>\n    </task>\n  </meta>\n"
        + "".join(tracks)
        + "</annotations>\n"
    )
    xml_path, manifest_path = stem.with_suffix(".xml"), stem.with_suffix(".json")
    xml_path.write_text(xml, encoding="utf-8")
    counts = {d: sum(s["direction"] == d for s in summary) for d in ("upstream", "downstream")}
    manifest = {
        "annotations": xml_path.name,
        "scenario": "closeup",
        "seed": spec.seed,
        "fps": spec.fps,
        "width": spec.width,
        "height": spec.height,
        "frames": frames,
        "counting_line_x": spec.line_x,
        "upstream": "+x",
        "counts": counts,
        "fish": summary,
    }
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return xml_path, manifest_path


def _hidden(f: CloseupFish, box: Box, frame: int, fish: list[CloseupFish], spec: CloseupSpec) -> bool:
    """Marked occluded where a fish nearer the camera (a lower track id) covers 40 % of it."""
    for other in fish:
        if other.track_id >= f.track_id:
            continue
        progress = dict(other.path).get(frame)
        theirs = other.box(progress, spec.width) if progress is not None else None
        if theirs is not None and box.share_inside(theirs) >= 0.4:
            return True
    return False
