"""Recognition and sorting metrics on recorded footage, exactly as EVALUATION.md defines.

Truth comes from CVAT annotations, results from a passage log. For each footage file,
truth fish that went upstream or downstream are matched one-to-one to passages of
the same direction by the Hungarian assignment on frame-interval IoU (>= 0.3). The
metrics pool all files: every upstream fish counts once, wherever it swam.

A fish's fate is physical: where the gate stands, by its own command log, when the
fish's head reaches it (or *wrong* while the gate moves). Two fish of different
routes whose heads arrive less than one gate travel apart are a gate conflict, decided
from the truth: the safe route is the right fate for both.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from fishgate.config import Geometry, SiteConfig
from fishgate.cvat import AnnotatedTrack, Annotation
from fishgate.decision.timeline import TIME_EPS, WRONG, GateTimeline
from fishgate.errors import ConfigError, PassageLogError
from fishgate.types import DIRECTIONS, INVASIVE, ROUTES, Box, Passage
from fishgate.vision.counting import CountingLine

MIN_MATCH_IOU = 0.3
# Frames over which the speed of a fish leaving the picture is measured. 20 frames
# (0.8 s at 25 fps) puts the sample footage's arrivals within 0.046 s of its manifests
# (10 frames: 0.056 s) and gives the 8 and 13 gate-conflict fish EVALUATION.md states.
EXIT_SPEED_FRAMES = 20
# A box edge this close to the frame border is taken as cut by it.
EDGE_PX = 1.0


METRIC_KEYS = (
    "sorting_correct",
    "invasive_capture",
    "native_pass",
    "gate_conflicts",
    "species_accuracy",
    "count_nmae",
    "false_passages_per_hour",
    "timely",
    "route_agreement",
)
COUNT_KEYS = ("fish_upstream", "fish_downstream", "passages", "hours")


@dataclass(frozen=True)
class EvaluationSite:
    """What evaluation needs of the site: timing and geometry."""

    fps: float
    geometry: Geometry
    actuation_s: float
    tank_species: frozenset[str] = INVASIVE
    safe_route: str = "tank"  # the right fate of both fish in a gate conflict

    @classmethod
    def from_config(cls, config: SiteConfig, fps: float | None = None) -> EvaluationSite:
        fps = fps if fps is not None else config.source.fps
        if fps is None:
            raise ConfigError("source.fps: is required to evaluate footage (or pass --fps)")
        return cls(
            fps,
            config.geometry,
            config.gate.travel_s,
            config.decision.tank_species,
            config.decision.safe_route,
        )

    def route_of(self, species: str) -> str:
        return "tank" if species in self.tank_species else "river"


@dataclass(frozen=True)
class TruthFish:
    track_id: int
    species: str
    direction: str  # upstream, downstream or none
    first_frame: int
    last_frame: int
    gate_arrival_s: float | None  # upstream fish only


def _frame_width(annotation: Annotation, geometry: Geometry) -> int:
    width = geometry.frame_width or annotation.width
    if width is None:
        raise ConfigError(
            f"geometry.frame_width: is required, {annotation.path} does not give the frame size"
        )
    return width


def inside_frame(box: Box, frame_width: int) -> bool:
    """Whether an annotated box shows the whole fish: neither end cut by a border."""
    return box.x1 > EDGE_PX and box.x2 < frame_width - EDGE_PX


def annotated_length(boxes: Sequence[Box], frame_width: int) -> float:
    """A fish's length along the chute from its annotated boxes: its widest box wholly
    inside the frame (its widest box at all if it never was)."""
    inside = [b.width for b in boxes if inside_frame(b, frame_width)]
    return max(inside) if inside else max(b.width for b in boxes)


def gate_arrival_s(track: AnnotatedTrack, geometry: Geometry, frame_width: int, fps: float) -> float:
    """When the fish's head reaches the gate (`exit_arrival_s`). A fish not moving upstream
    as it left (should not happen for an upstream fish) reaches it no earlier than its
    last frame: that is reported."""
    arrival = exit_arrival_s(track, geometry, frame_width, fps)
    return arrival if arrival is not None else track.boxes()[-1].frame / fps


def exit_arrival_s(track: AnnotatedTrack, geometry: Geometry, frame_width: int, fps: float) -> float | None:
    """When the fish's head reaches the gate, from its speed as it leaves the frame; None
    if it was not moving upstream then.

    The head is the box's leading edge; once that edge is cut by the frame border the
    head is the trailing edge plus the fish's length (its widest uncut box). A line
    fitted to the head over the last frames gives position and speed at the last frame.
    """
    sign = geometry.upstream_sign
    boxes = track.boxes()
    length = annotated_length([b.box for b in boxes], frame_width)
    frames, heads = [], []
    for b in boxes[-EXIT_SPEED_FRAMES:]:
        lead, trail = (b.box.x2, b.box.x1) if sign > 0 else (b.box.x1, b.box.x2)
        cut = lead >= frame_width - EDGE_PX if sign > 0 else lead <= EDGE_PX
        frames.append(b.frame)
        heads.append(trail + sign * length if cut else lead)
    last = frames[-1]
    if len(frames) >= 2:
        speed, offset = np.polyfit(np.array(frames, float), np.array(heads, float), 1)
        head = float(speed * last + offset)
    else:
        speed, head = 0.0, heads[-1]
    speed_along = float(speed) * sign
    if speed_along <= 0:
        return None
    # Negative for a fish longer than the gap to the gate: its head got there before
    # its tail left the picture.
    remaining = (geometry.gate_x_px(frame_width) - head) * sign
    return (last + remaining / speed_along) / fps


def truth_fish(annotation: Annotation, site: EvaluationSite) -> list[TruthFish]:
    width = _frame_width(annotation, site.geometry)
    fish = []
    for track in annotation.visible_tracks():
        arrival = (
            gate_arrival_s(track, site.geometry, width, site.fps) if track.direction == "upstream" else None
        )
        fish.append(
            TruthFish(track.id, track.label, track.direction, track.first_frame, track.last_frame, arrival)
        )
    return fish


@dataclass(frozen=True)
class AnnotationDoubt:
    """An annotated fish whose own boxes cross the counting line otherwise than its
    `direction` says, by the rule fishgate counts with (vision/counting.py). A passage
    found for it counts as false, or one missed as missed, by the truth's word alone."""

    footage: str
    track_id: int
    label: str
    annotated: str  # upstream, downstream or none
    crossed: str | None  # by its boxes: upstream, downstream or None
    last_frame: int
    frames: int | None  # the footage's length in frames, if the annotation gives it
    # when its boxes bring its head to the gate, for a fish they take upstream (seconds)
    head_at_gate_s: float | None = None
    footage_s: float | None = None  # the footage's length, if the annotation gives it

    def __str__(self) -> str:
        boxes = "never cross" if self.crossed is None else f"cross {self.crossed}"
        seen = f"last seen at frame {self.last_frame}" + (f" of {self.frames}" if self.frames else "")
        text = (
            f"{self.footage}: fish {self.track_id} ({self.label}) is annotated {self.annotated}, "
            f"but its boxes {boxes} over the counting line ({seen})"
        )
        if self.head_at_gate_s is not None:
            text += f"; by them its head reaches the gate at {self.head_at_gate_s:.2f} s"
            if self.footage_s is not None:
                text += f" of the footage's {self.footage_s:.2f} s"
        return text


def annotation_doubts(annotation: Annotation, site: EvaluationSite) -> list[AnnotationDoubt]:
    """Annotated fish whose direction their own boxes contradict (say, `none` on a fish
    that swims out through the upstream border a few frames before the footage ends).
    A fish still in the picture in the footage's last frame has not finished passing:
    no doubt there (fishgate does not count it either)."""
    width = _frame_width(annotation, site.geometry)
    line = CountingLine(site.geometry.counting_line_x, site.geometry.upstream_sign, width)
    doubts = []
    for track in annotation.visible_tracks():
        if track.end_frame is not None and track.last_frame >= track.end_frame:
            continue
        crossed = line.crossing([b.box for b in track.boxes()])
        annotated = track.direction if track.direction in DIRECTIONS else None
        if crossed != annotated:
            # a maintainer checks the label against when the fish got to the gate (unknown
            # for one that held or turned as the footage ended)
            head_at_gate = (
                exit_arrival_s(track, site.geometry, width, site.fps) if crossed == "upstream" else None
            )
            doubt = AnnotationDoubt(
                annotation.name,
                track.id,
                track.label,
                track.direction,
                crossed,
                track.last_frame,
                annotation.frames,
                head_at_gate,
                annotation.frames / site.fps if annotation.frames else None,
            )
            doubts.append(doubt)
    return doubts


def format_doubts(results: Iterable[FootageResult]) -> str:
    """The annotation doubts of all footage, for a maintainer to check ("" if none)."""
    doubts = [d for r in results for d in r.doubts]
    if not doubts:
        return ""
    lines = [
        f"annotation doubts: {len(doubts)} fish whose direction their own boxes contradict "
        "(scored by the truth's word: a passage for such a fish counts as false):"
    ]
    return "\n".join([*lines, *(f"  {d}" for d in doubts)])


def _field(record: dict[str, Any], name: str, where: str, kinds: tuple[type, ...]) -> Any:
    if name not in record:
        raise PassageLogError(f"{where}: passage has no {name!r} field")
    value = record[name]
    if isinstance(value, bool) and bool not in kinds:
        raise PassageLogError(f"{where}: {name!r} must be {kinds[0].__name__}, got {value!r}")
    if not isinstance(value, kinds):
        names = " or ".join("null" if k is type(None) else k.__name__ for k in kinds)
        raise PassageLogError(f"{where}: {name!r} must be {names}, got {value!r}")
    return value


def passage_from_record(record: dict[str, Any], where: str) -> Passage:
    """A Passage from one passage-log object; `where` names file and line for errors."""
    none = type(None)
    fields = {
        "id": _field(record, "id", where, (str,)),
        "species": _field(record, "species", where, (str,)),
        "confidence": float(_field(record, "confidence", where, (int, float))),
        "direction": _field(record, "direction", where, (str,)),
        "route": _field(record, "route", where, (str, none)),
        "first_frame": _field(record, "first_frame", where, (int,)),
        "last_frame": _field(record, "last_frame", where, (int,)),
        "decision_frame": _field(record, "decision_frame", where, (int, none)),
        "length_cm": _field(record, "length_cm", where, (int, float, none)),
    }
    if fields["direction"] not in DIRECTIONS:
        raise PassageLogError(
            f"{where}: 'direction' must be upstream or downstream, got {fields['direction']!r}"
        )
    if fields["route"] is not None and fields["route"] not in ROUTES:
        raise PassageLogError(f"{where}: 'route' must be tank, river or null, got {fields['route']!r}")
    try:
        return Passage(**fields)
    except ValueError as exc:
        raise PassageLogError(f"{where}: {exc}") from None


@dataclass(frozen=True)
class GateRecord:
    """One command sent to the gate: the frame whose processing produced it, and the route."""

    frame: int
    route: str


@dataclass(frozen=True)
class ReplayLog:
    passages: tuple[Passage, ...]
    gate: tuple[GateRecord, ...]  # in the order sent; the first says where the gate starts


def gate_record_from(record: dict[str, Any], where: str) -> GateRecord:
    frame = record.get("frame")
    if not isinstance(frame, int) or isinstance(frame, bool) or frame < 0:
        raise PassageLogError(f"{where}: gate record 'frame' must be an int >= 0, got {frame!r}")
    route = record.get("route")
    if route not in ROUTES:
        raise PassageLogError(f"{where}: gate record 'route' must be tank or river, got {route!r}")
    return GateRecord(frame, route)


def read_passage_log(path: str | Path) -> list[Passage]:
    """Passages of a JSON Lines log; other record types are skipped, repeated ids kept once."""
    return list(read_replay_log(path).passages)


def read_replay_log(path: str | Path) -> ReplayLog:
    """Passages and gate records of a JSON Lines log; other record types are skipped,
    repeated passage ids kept once."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise PassageLogError(f"{path}: cannot read passage log: {exc}") from None
    passages: dict[str, Passage] = {}
    gate: list[GateRecord] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}, line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise PassageLogError(f"{where}: not valid JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise PassageLogError(f"{where}: expected a JSON object, got {type(record).__name__}")
        if record.get("event") == "gate":
            gate.append(gate_record_from(record, where))
        if record.get("event") != "passage":
            continue
        passage = passage_from_record(record, where)
        passages.setdefault(passage.id, passage)  # republished after a reconnect: same id
    return ReplayLog(tuple(passages.values()), tuple(gate))


def gate_timeline(records: Sequence[GateRecord], fps: float, actuation_s: float) -> GateTimeline:
    """The gate's physical timeline from its command log: the first record says where it
    starts; the rest are commands on the clock `frame / fps`."""
    if not records:
        raise ValueError("gate_timeline: expected at least the record of where the gate starts")
    start, *commands = records
    return GateTimeline(
        start.route,  # type: ignore[arg-type]
        actuation_s,
        ((r.frame / fps, r.route) for r in commands),  # type: ignore[misc]
    )


def interval_iou(a: tuple[int, int], b: tuple[int, int]) -> float:
    """IoU of two inclusive frame intervals."""
    overlap = min(a[1], b[1]) - max(a[0], b[0]) + 1
    if overlap <= 0:
        return 0.0
    union = (a[1] - a[0] + 1) + (b[1] - b[0] + 1) - overlap
    return overlap / union


def match(truth: Sequence[TruthFish], passages: Sequence[Passage]) -> list[tuple[TruthFish, Passage]]:
    """One-to-one matches of the same direction with the largest total interval IoU."""
    pairs: list[tuple[TruthFish, Passage]] = []
    for direction in DIRECTIONS:
        fish = [f for f in truth if f.direction == direction]
        cands = [p for p in passages if p.direction == direction]
        if not fish or not cands:
            continue
        iou = np.array(
            [
                [interval_iou((f.first_frame, f.last_frame), (p.first_frame, p.last_frame)) for p in cands]
                for f in fish
            ]
        )
        iou[iou < MIN_MATCH_IOU] = 0.0  # below the threshold a pair must not use up a fish
        rows, cols = linear_sum_assignment(iou, maximize=True)
        pairs.extend((fish[r], cands[c]) for r, c in zip(rows, cols, strict=True) if iou[r, c] > 0)
    return pairs


@dataclass(frozen=True)
class FootageResult:
    """One footage file: its truth, its passages and how they matched."""

    name: str
    truth: tuple[TruthFish, ...]
    passages: tuple[Passage, ...]
    matches: tuple[tuple[TruthFish, Passage], ...]
    hours: float
    fates: dict[int, str]  # upstream truth fish (track id) -> tank, river or wrong
    conflicts: frozenset[int]  # upstream truth fish (track ids) in a gate conflict
    doubts: tuple[AnnotationDoubt, ...] = ()  # truth that its own boxes contradict


def evaluate_footage(
    annotation: Annotation,
    log: ReplayLog,
    site: EvaluationSite,
    frames: int | None = None,
) -> FootageResult:
    truth = tuple(truth_fish(annotation, site))
    frames = frames if frames is not None else annotation.frames
    if frames is None:
        last = max((f.last_frame for f in truth), default=0)
        frames = last + 1
    upstream = [f for f in truth if f.gate_arrival_s is not None]
    if upstream and not log.gate:
        raise PassageLogError(
            f"{annotation.name}: the passage log has no gate records, so no fish's fate can be read "
            "(EVALUATION.md); replay the footage with this fishgate, which logs every gate command"
        )
    fates: dict[int, str] = {}
    if upstream:
        timeline = gate_timeline(log.gate, site.fps, site.actuation_s)
        fates = {f.track_id: timeline.route_at(f.gate_arrival_s or 0.0) for f in upstream}
    return FootageResult(
        name=annotation.name,
        truth=truth,
        passages=log.passages,
        matches=tuple(match(truth, log.passages)),
        hours=frames / site.fps / 3600.0,
        fates=fates,
        conflicts=gate_conflicts(upstream, site),
        doubts=tuple(annotation_doubts(annotation, site)),
    )


def gate_conflicts(upstream: Sequence[TruthFish], site: EvaluationSite) -> frozenset[int]:
    """Track ids of fish whose head arrives less than one gate travel from the head of a fish
    of the other route: one gate cannot serve both."""
    timed = sorted(upstream, key=lambda f: f.gate_arrival_s or 0.0)
    clashing: set[int] = set()
    for i, a in enumerate(timed):
        for b in timed[i + 1 :]:
            if (b.gate_arrival_s or 0.0) - (a.gate_arrival_s or 0.0) >= site.actuation_s - TIME_EPS:
                break
            if site.route_of(a.species) != site.route_of(b.species):
                clashing.update((a.track_id, b.track_id))
    return frozenset(clashing)


def in_time(passage: Passage, fish: TruthFish, site: EvaluationSite) -> bool:
    if passage.decision_frame is None or fish.gate_arrival_s is None:
        return False
    return passage.decision_frame / site.fps <= fish.gate_arrival_s - site.actuation_s + TIME_EPS


def right_fate(fish: TruthFish, result: FootageResult, site: EvaluationSite) -> str:
    """The safe route for a fish in a gate conflict, else its species' route."""
    return site.safe_route if fish.track_id in result.conflicts else site.route_of(fish.species)


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def compute_metrics(results: Iterable[FootageResult], site: EvaluationSite) -> dict[str, Any]:
    """The metrics of EVALUATION.md over all files; a ratio with nothing to count is None."""
    results = list(results)
    # (fish, its fate, its right fate, in a conflict) for every upstream fish of every file
    upstream = [
        (f, r.fates[f.track_id], right_fate(f, r, site), f.track_id in r.conflicts)
        for r in results
        for f in r.truth
        if f.direction == "upstream"
    ]
    invasive = [fate for f, fate, _, _ in upstream if f.species in site.tank_species]
    native = [fate for f, fate, _, clash in upstream if f.species not in site.tank_species and not clash]
    pairs = [pair for r in results for pair in r.matches]
    up_pairs = [(r, f, p) for r in results for f, p in r.matches if f.direction == "upstream"]
    passages = [p for r in results for p in r.passages]
    hours = sum(r.hours for r in results)
    return {
        "sorting_correct": _ratio(sum(fate == right for _, fate, right, _ in upstream), len(upstream)),
        "invasive_capture": _ratio(invasive.count("tank"), len(invasive)),
        "native_pass": _ratio(native.count("river"), len(native)),
        "gate_conflicts": sum(clash for *_, clash in upstream),
        "species_accuracy": _ratio(sum(p.species == f.species for f, p in pairs), len(pairs)),
        "count_nmae": count_nmae(results),
        "false_passages_per_hour": (len(passages) - len(pairs)) / hours if hours > 0 else None,
        "timely": _ratio(sum(in_time(p, f, site) for _, f, p in up_pairs), len(up_pairs)),
        "route_agreement": _ratio(sum(p.route == r.fates[f.track_id] for r, f, p in up_pairs), len(up_pairs)),
        "fish_upstream": len(upstream),
        "fish_downstream": sum(f.direction == "downstream" for r in results for f in r.truth),
        "passages": len(passages),
        "hours": hours,
    }


def gate_moving_at_arrival(results: Iterable[FootageResult]) -> int:
    """Upstream fish whose head met a moving gate (a diagnostic, not an EVALUATION.md metric)."""
    return sum(fate == WRONG for r in results for fate in r.fates.values())


def count_nmae(results: Sequence[FootageResult]) -> float | None:
    """Mean over species x direction cells with a true passage of |counted - true| / true."""
    true: Counter[tuple[str, str]] = Counter(
        (f.species, f.direction) for r in results for f in r.truth if f.direction in DIRECTIONS
    )
    counted: Counter[tuple[str, str]] = Counter((p.species, p.direction) for r in results for p in r.passages)
    errors = [abs(counted[cell] - n) / max(1, n) for cell, n in true.items() if n > 0]
    return sum(errors) / len(errors) if errors else None


def count_exact(result: FootageResult) -> bool:
    """Whether a clip's up and down counts both equal the truth's, whatever the species."""
    counted = Counter(p.direction for p in result.passages)
    true = Counter(f.direction for f in result.truth if f.direction in DIRECTIONS)
    return all(counted[d] == true[d] for d in ("upstream", "downstream"))


def count_exact_rate(results: Sequence[FootageResult]) -> float | None:
    """The share of clips counted exactly (both directions)."""
    return _ratio(sum(count_exact(r) for r in results), len(results))


def diagnostics(results: Sequence[FootageResult]) -> dict[str, Any]:
    """Figures beside the metrics that help find a loss (not in EVALUATION.md): fish whose
    head met a moving gate, and the share of clips counted exactly."""
    return {"gate_moving": gate_moving_at_arrival(results), "count_exact": count_exact_rate(results)}


def scored(results: Sequence[FootageResult], site: EvaluationSite) -> dict[str, Any]:
    """The metrics and the diagnostics of some files together: one table row."""
    return {**compute_metrics(results, site), **diagnostics(results)}


def evaluation_json(
    results: Sequence[FootageResult], site: EvaluationSite, per_clip: bool = False
) -> dict[str, Any]:
    """The pooled metrics, keyed exactly as EVALUATION.md; with `per_clip`,
    ``{"clips": {NAME: metrics, ...}, "all": metrics, "count_exact": share of clips,
    "gate_moving": upstream fish whose head met a moving gate}``."""
    overall = compute_metrics(results, site)
    if not per_clip:
        return overall
    return {
        "clips": {r.name: compute_metrics([r], site) for r in results},
        "all": overall,
        "count_exact": count_exact_rate(results),  # share of clips with both counts right
        "gate_moving": gate_moving_at_arrival(results),
    }


_SHORT = {
    "sorting_correct": "sorting",
    "invasive_capture": "invasive",
    "native_pass": "native",
    "gate_conflicts": "conflicts",
    "species_accuracy": "species",
    "count_nmae": "count_nmae",
    "false_passages_per_hour": "false/h",
    "timely": "timely",
    "route_agreement": "route_agr",
    "gate_moving": "moving",
    "count_exact": "exact",
    "fish_upstream": "up",
    "fish_downstream": "down",
    "passages": "passages",
}


def format_metrics(results: Sequence[FootageResult], site: EvaluationSite, per_clip: bool = False) -> str:
    """A plain-text table: with `per_clip` one row per footage file, and one for all of them.

    `moving` counts upstream fish whose head met a moving gate; `exact` is the share of
    clips whose up and down counts are both right.
    """
    overall = scored(results, site)
    rows = [(r.name, scored([r], site)) for r in results] if per_clip else []
    rows.append(("ALL", overall))
    name_w = max(7, *(len(name) for name, _ in rows))
    header = "footage".ljust(name_w) + "".join(f"{_SHORT[c]:>11}" for c in _SHORT)
    lines = [header, "-" * len(header)]
    for name, m in rows:
        lines.append(name.ljust(name_w) + "".join(f"{_cell(m[c]):>11}" for c in _SHORT))
    lines.append(f"hours of footage: {overall['hours']:.4f}")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return "inf" if math.isinf(value) else f"{value:.4f}"
    return str(value)
