"""Recognition and sorting metrics on recorded footage, exactly as EVALUATION.md defines.

Truth comes from CVAT annotations, results from a passage log. For each footage file,
truth fish that went upstream or downstream are matched one-to-one to passages of
the same direction by the Hungarian assignment on frame-interval IoU (>= 0.3). The
metrics pool all files: every upstream fish counts once, wherever it swam.
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
from fishgate.errors import ConfigError, PassageLogError
from fishgate.types import DIRECTIONS, INVASIVE, ROUTES, Passage

MIN_MATCH_IOU = 0.3
# Frames over which the speed of a fish leaving the picture is measured.
EXIT_SPEED_FRAMES = 10
# A box edge this close to the frame border is taken as cut by it.
EDGE_PX = 1.0

METRIC_KEYS = (
    "sorting_correct",
    "invasive_capture",
    "native_pass",
    "species_accuracy",
    "count_nmae",
    "false_passages_per_hour",
    "timely",
)
COUNT_KEYS = ("fish_upstream", "fish_downstream", "passages", "hours")


@dataclass(frozen=True)
class EvaluationSite:
    """What evaluation needs of the site: timing and geometry."""

    fps: float
    geometry: Geometry
    actuation_s: float
    tank_species: frozenset[str] = INVASIVE

    @classmethod
    def from_config(cls, config: SiteConfig, fps: float | None = None) -> EvaluationSite:
        fps = fps if fps is not None else config.source.fps
        if fps is None:
            raise ConfigError("source.fps: is required to evaluate footage (or pass --fps)")
        return cls(fps, config.geometry, config.gate.travel_s, config.decision.tank_species)


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


def gate_arrival_s(track: AnnotatedTrack, geometry: Geometry, frame_width: int, fps: float) -> float:
    """When the fish's head reaches the gate, from its speed as it leaves the frame.

    The head is the box's leading edge; once that edge is cut by the frame border the
    head is the trailing edge plus the fish's length (its widest uncut box). A line
    fitted to the head over the last frames gives position and speed at the last frame.
    """
    sign = geometry.upstream_sign
    boxes = track.boxes()
    inside = [b.box.width for b in boxes if b.box.x1 > EDGE_PX and b.box.x2 < frame_width - EDGE_PX]
    length = max(inside) if inside else max(b.box.width for b in boxes)
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
        # Not moving upstream as it left (should not happen for an upstream fish):
        # it reaches the gate no earlier than the last frame; report that.
        return last / fps
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


def read_passage_log(path: str | Path) -> list[Passage]:
    """Passages of a JSON Lines log; other record types are skipped, repeated ids kept once."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise PassageLogError(f"{path}: cannot read passage log: {exc}") from None
    passages: dict[str, Passage] = {}
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
        if record.get("event") != "passage":
            continue
        passage = passage_from_record(record, where)
        passages.setdefault(passage.id, passage)  # republished after a reconnect: same id
    return list(passages.values())


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


def evaluate_footage(
    annotation: Annotation, passages: Sequence[Passage], site: EvaluationSite, frames: int | None = None
) -> FootageResult:
    truth = tuple(truth_fish(annotation, site))
    frames = frames if frames is not None else annotation.frames
    if frames is None:
        last = max((f.last_frame for f in truth), default=0)
        frames = last + 1
    return FootageResult(
        name=annotation.name,
        truth=truth,
        passages=tuple(passages),
        matches=tuple(match(truth, passages)),
        hours=frames / site.fps / 3600.0,
    )


def in_time(passage: Passage, fish: TruthFish, site: EvaluationSite) -> bool:
    if passage.decision_frame is None or fish.gate_arrival_s is None:
        return False
    return passage.decision_frame / site.fps <= fish.gate_arrival_s - site.actuation_s


def fate(fish: TruthFish, passage: Passage | None, site: EvaluationSite) -> str:
    """`tank` or `river` if that route was commanded in time, else `wrong`."""
    if passage is None or passage.route is None or not in_time(passage, fish, site):
        return "wrong"
    return passage.route


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def compute_metrics(results: Iterable[FootageResult], site: EvaluationSite) -> dict[str, Any]:
    """The metrics of EVALUATION.md over all files; a ratio with no fish to count is None."""
    results = list(results)
    upstream = [f for r in results for f in r.truth if f.direction == "upstream"]
    matched = {id(f): p for r in results for f, p in r.matches}
    fates = [(f, fate(f, matched.get(id(f)), site)) for f in upstream]
    invasive = [(f, x) for f, x in fates if f.species in site.tank_species]
    native = [(f, x) for f, x in fates if f.species not in site.tank_species]
    pairs = [pair for r in results for pair in r.matches]
    up_pairs = [(f, p) for f, p in pairs if f.direction == "upstream"]
    passages = [p for r in results for p in r.passages]
    hours = sum(r.hours for r in results)
    return {
        "sorting_correct": _ratio(sum(x == _expected(f, site) for f, x in fates), len(fates)),
        "invasive_capture": _ratio(sum(x == "tank" for _, x in invasive), len(invasive)),
        "native_pass": _ratio(sum(x == "river" for _, x in native), len(native)),
        "species_accuracy": _ratio(sum(p.species == f.species for f, p in pairs), len(pairs)),
        "count_nmae": count_nmae(results),
        "false_passages_per_hour": (len(passages) - len(pairs)) / hours if hours > 0 else None,
        "timely": _ratio(sum(in_time(p, f, site) for f, p in up_pairs), len(up_pairs)),
        "fish_upstream": len(upstream),
        "fish_downstream": sum(f.direction == "downstream" for r in results for f in r.truth),
        "passages": len(passages),
        "hours": hours,
    }


def _expected(fish: TruthFish, site: EvaluationSite) -> str:
    return "tank" if fish.species in site.tank_species else "river"


def count_nmae(results: Sequence[FootageResult]) -> float | None:
    """Mean over species x direction cells with a true passage of |counted - true| / true."""
    true: Counter[tuple[str, str]] = Counter(
        (f.species, f.direction) for r in results for f in r.truth if f.direction in DIRECTIONS
    )
    counted: Counter[tuple[str, str]] = Counter((p.species, p.direction) for r in results for p in r.passages)
    errors = [abs(counted[cell] - n) / max(1, n) for cell, n in true.items() if n > 0]
    return sum(errors) / len(errors) if errors else None


def format_metrics(per_file: Sequence[tuple[str, dict[str, Any]]], overall: dict[str, Any]) -> str:
    """A plain-text table: one row per footage file and one for all of them."""
    columns = (*METRIC_KEYS, "fish_upstream", "fish_downstream", "passages")
    short = {
        "sorting_correct": "sorting",
        "invasive_capture": "invasive",
        "native_pass": "native",
        "species_accuracy": "species",
        "count_nmae": "count_nmae",
        "false_passages_per_hour": "false/h",
        "timely": "timely",
        "fish_upstream": "up",
        "fish_downstream": "down",
        "passages": "passages",
    }
    rows = [*per_file, ("ALL", overall)] if len(per_file) > 1 else [("ALL", overall)]
    name_w = max(len(name) for name, _ in rows)
    header = "footage".ljust(name_w) + "".join(f"{short[c]:>11}" for c in columns)
    lines = [header, "-" * len(header)]
    for name, m in rows:
        lines.append(name.ljust(name_w) + "".join(f"{_cell(m[c]):>11}" for c in columns))
    lines.append(f"hours of footage: {overall['hours']:.4f}")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return "inf" if math.isinf(value) else f"{value:.4f}"
    return str(value)
