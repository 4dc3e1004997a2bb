"""Helpers shared by tests: where the sample footage is, and perfect passage logs."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from fishgate.config import ServoConfig
from fishgate.cvat import Annotation
from fishgate.evaluate import EvaluationSite, GateRecord, ReplayLog, gate_conflicts, truth_fish
from fishgate.types import Passage

REPO = Path(__file__).resolve().parents[1]
SERVO = ServoConfig(pin=18, river_angle=-45.0, tank_angle=45.0)
# duty cycle of SERVO's 50 Hz pulse: 1.5 ms +/- 0.5 ms * angle / 90
SERVO_DUTY = {"river": (1.5 - 0.25) / 20, "tank": (1.5 + 0.25) / 20}
FOOTAGE = REPO.parent / "shared" / "footage"
CHUTE_CONFIG = REPO / "firmware_config" / "chute-sample.toml"


def site_config(folder: Path, video: Path, extra: str = "", pace: bool = False) -> Path:
    """The sample chute's config replaying `video` (at real time with `pace`), its store in
    `folder`, plus `extra` TOML at the end."""
    text = CHUTE_CONFIG.read_text().replace('path = "bundled:demo/chute-demo.mp4"', f'path = "{video}"')
    if pace:
        text = text.replace(f'path = "{video}"', f'path = "{video}"\npace = true')
    text = text.replace('path = "fishgate-data/fishgate.db"', f'path = "{folder / "store.db"}"')
    site = folder / "site.toml"
    site.write_text(text + extra)
    return site


def until(condition: Callable[[], object], timeout: float = 10.0) -> bool:
    """Poll `condition` until it holds (True) or `timeout` seconds have passed (False)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def footage_dir() -> Path:
    """The annotated sample footage, or a clean skip where it is absent."""
    if not FOOTAGE.is_dir() or not any(FOOTAGE.glob("*.xml")):
        pytest.skip(f"sample footage not found at {FOOTAGE} (it lives beside the clone in CI)")
    return FOOTAGE


def passages_from_truth(annotation: Annotation, site: EvaluationSite) -> list[Passage]:
    """The passage log a perfect fishgate would write: every fish that crossed, decided at entry."""
    passages = []
    for fish in truth_fish(annotation, site):
        if fish.direction not in ("upstream", "downstream"):
            continue
        route = None
        if fish.direction == "upstream":
            route = "tank" if fish.species in site.tank_species else "river"
        passages.append(
            Passage(
                id=f"{annotation.name}-{fish.track_id}",
                species=fish.species,
                confidence=1.0,
                direction=fish.direction,  # type: ignore[arg-type]
                route=route,  # type: ignore[arg-type]
                first_frame=fish.first_frame,
                last_frame=fish.last_frame,
                decision_frame=fish.first_frame,
                length_cm=None,
            )
        )
    return passages


def perfect_gate(annotation: Annotation, site: EvaluationSite, start: str = "river") -> list[GateRecord]:
    """The gate log of a schedule that knows every true arrival: each fish's right route
    (the safe route for a gate conflict) set one travel time plus a frame before its head."""
    upstream = [f for f in truth_fish(annotation, site) if f.gate_arrival_s is not None]
    clashing = gate_conflicts(upstream, site)
    records = [GateRecord(0, start)]
    for fish in sorted(upstream, key=lambda f: f.gate_arrival_s or 0.0):
        route = site.safe_route if fish.track_id in clashing else site.route_of(fish.species)
        frame = int((fish.gate_arrival_s or 0.0) * site.fps - site.actuation_s * site.fps) - 1
        records.append(GateRecord(max(0, frame), route))
    return records


def perfect_log(annotation: Annotation, site: EvaluationSite) -> ReplayLog:
    return ReplayLog(tuple(passages_from_truth(annotation, site)), tuple(perfect_gate(annotation, site)))


def gate_lines(records: Sequence[GateRecord]) -> list[str]:
    return [json.dumps({"event": "gate", "frame": r.frame, "route": r.route}) for r in records]


def write_log(path: Path, passages: Sequence[Passage], extra_lines: Sequence[str] = ()) -> Path:
    lines = [json.dumps(p.to_record()) for p in passages]
    path.write_text("\n".join([*extra_lines, *lines]) + "\n", encoding="utf-8")
    return path


def box_xml(
    frame: int,
    box: tuple[float, float, float, float],
    *,
    outside: bool = False,
    occluded: bool = False,
    keyframe: bool = True,
    attrs: dict[str, str] | None = None,
) -> str:
    x1, y1, x2, y2 = box
    inner = "".join(f'<attribute name="{k}">{v}</attribute>' for k, v in (attrs or {}).items())
    return (
        f'<box frame="{frame}" outside="{int(outside)}" occluded="{int(occluded)}" '
        f'keyframe="{int(keyframe)}" xtl="{x1:.2f}" ytl="{y1:.2f}" xbr="{x2:.2f}" ybr="{y2:.2f}" '
        f'z_order="0">{inner}</box>'
    )


def cvat_document(
    tracks: Sequence[tuple[int, str, Sequence[str]]],
    *,
    size: int = 1500,
    width: int = 640,
    height: int = 360,
    name: str = "hand-made",
) -> str:
    """A CVAT for video 1.1 document; each track is (id, label, [box_xml, ...])."""
    body = "\n".join(
        f'  <track id="{tid}" label="{label}" source="manual">\n    ' + "\n    ".join(boxes) + "\n  </track>"
        for tid, label, boxes in tracks
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n  <version>1.1</version>\n'
        f"  <meta><task><name>{name}</name><size>{size}</size><mode>interpolation</mode>"
        f"<original_size><width>{width}</width><height>{height}</height></original_size>"
        "</task></meta>\n" + body + "\n</annotations>\n"
    )


def swimming_fish(
    enter: int,
    *,
    length: float = 100.0,
    speed: float = 8.0,
    y: float = 150.0,
    direction: str = "upstream",
    width: int = 640,
) -> list[str]:
    """Boxes of a fish swimming straight across a `width` px frame at `speed` px/frame.

    Upstream fish go left to right (+x); the head enters at frame `enter`.
    """
    boxes = []
    frame = enter
    while True:
        travelled = speed * (frame - enter + 1)
        if direction == "downstream":
            head = width - travelled
            x1, x2 = max(0.0, head), min(float(width), head + length)
        else:
            head = travelled
            x1, x2 = max(0.0, head - length), min(float(width), head)
        if x2 - x1 <= 0:
            boxes.append(
                box_xml(frame, (x1, y, x1 + 1, y + 30), outside=True, attrs={"direction": direction})
            )
            return boxes
        boxes.append(box_xml(frame, (x1, y, x2, y + 30), attrs={"direction": direction}))
        frame += 1
