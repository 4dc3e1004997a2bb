"""For biologists: counts per day x species x direction, and passages, as tables, CSV or JSON Lines.

Both read the local store only; counts are a query over passages, so the table here,
the CSV export and the retained MQTT counts can never disagree.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import UTC, date
from pathlib import Path
from zoneinfo import ZoneInfo

from fishgate.store import CountRow, StoredPassage

PASSAGE_COLUMNS = (
    "id", "time", "local_time", "day", "species", "detected", "reviewed", "confidence", "direction",
    "route", "length_cm", "first_frame", "last_frame", "decision_frame", "flags", "model", "snapshot",
)  # fmt: skip


COUNT_COLUMNS = ("species", "upstream", "to_river", "to_tank", "downstream")


Counts = tuple[int, int, int, int]  # upstream, to_river, to_tank, downstream
CountLine = tuple[str, str, int, int, int, int]  # period, species, then Counts


def count_table(rows: Sequence[CountRow]) -> list[CountLine]:
    """(period, species, upstream, to_river, to_tank, downstream), one row per period and
    species: of the fish that swam upstream, those passed on to the river and those the
    gate removed to the tank (a fish with no gate command counts as passed on)."""
    pivot: dict[tuple[str, str], dict[str, int]] = {}
    for row in rows:
        cell = pivot.setdefault((row.period, row.species), {})
        key = row.direction if row.direction == "downstream" else f"to_{row.route or 'river'}"
        cell[key] = cell.get(key, 0) + row.count
    return [
        (period, species, c.get("to_river", 0) + c.get("to_tank", 0), c.get("to_river", 0),
         c.get("to_tank", 0), c.get("downstream", 0))
        for (period, species), c in sorted(pivot.items())
    ]  # fmt: skip


def species_totals(
    table: Sequence[tuple[str, str, int, int, int, int]],
) -> dict[str, tuple[int, int, int, int]]:
    """species -> (upstream, to_river, to_tank, downstream) summed over a count_table's periods."""
    totals: dict[str, tuple[int, int, int, int]] = {}
    for _, species, *counts in table:
        held = totals.get(species, (0, 0, 0, 0))
        totals[species] = (held[0] + counts[0], held[1] + counts[1], held[2] + counts[2], held[3] + counts[3])
    return totals


def format_counts(
    rows: Sequence[CountRow], by: str, start: date | None, end: date | None, reviewed: bool = False
) -> str:
    table = count_table(rows)
    span = f"{start or 'first'} .. {end or 'last'}, {'as reviewed' if reviewed else 'as detected'}"
    if not table:
        return f"no passages stored for {span}"
    head = f"{by:<14}{'species':<18}{'upstream':>9}{'to river':>9}{'to tank':>9}{'downstream':>11}"
    head += f"{'total':>7}"
    lines = [head, "-" * len(head)]

    def line(period: str, species: str, counts: Sequence[int]) -> str:
        u, river, tank, d = counts
        return f"{period:<14}{species:<18}{u:>9}{river:>9}{tank:>9}{d:>11}{u + d:>7}"

    lines += [line(p, s, (u, river, tank, d)) for p, s, u, river, tank, d in table]
    lines.append("-" * len(head))
    totals = species_totals(table)
    for name in sorted(totals):
        lines.append(line("total", name, totals[name]))
    overall = [sum(t[i] for t in totals.values()) for i in range(4)]
    lines.append(line("total", "all", overall) + f"   ({span})")
    return "\n".join(lines)


def counts_csv(rows: Sequence[CountRow], by: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([by, *COUNT_COLUMNS])
    writer.writerows(count_table(rows))
    return out.getvalue()


def passage_row(
    stored: StoredPassage, snapshots: Path, zone: ZoneInfo | None = None, reviewed: bool = False
) -> dict[str, object]:
    """A passage for export: `time` in UTC, `local_time` at the site (with its offset)."""
    p, extra = stored.passage, dict(stored.passage.extra)
    return {
        "id": p.id,
        "time": stored.time.isoformat(timespec="seconds"),
        "local_time": stored.time.astimezone(zone).isoformat(timespec="seconds") if zone else None,
        "day": stored.day.isoformat(),
        "species": stored.label(reviewed),
        "detected": p.species,
        "reviewed": stored.reviewed_as,
        "confidence": p.confidence,
        "direction": p.direction,
        "route": p.route,
        "length_cm": p.length_cm,
        "first_frame": p.first_frame,
        "last_frame": p.last_frame,
        "decision_frame": p.decision_frame,
        "flags": ",".join(extra.get("flags") or []),
        "model": stored.model_version,
        "snapshot": str(snapshots / stored.snapshot) if stored.snapshot else None,
    }


def format_passages(
    passages: Sequence[StoredPassage],
    snapshots: Path,
    fmt: str,
    zone: ZoneInfo | None = None,
    reviewed: bool = False,
) -> str:
    """Table (local times with the zone, as counts use local days), CSV or JSON Lines (UTC
    `time`, and `local_time` with its offset)."""
    rows = [passage_row(s, snapshots, zone, reviewed) for s in passages]
    if fmt == "jsonl":
        return "".join(json.dumps(r) + "\n" for r in rows)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=PASSAGE_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue()
    if not rows:
        return "no passages stored for that range\n"
    width = max(len(str(r["id"])) for r in rows) + 2
    head = f"{'local time':<26}{'species':<17}{'conf':>5}  {'direction':<11}{'route':<6}{'cm':>4}  "
    head += f"{'id':<{width}}snapshot"
    lines = [head]
    for stored, r in zip(passages, rows, strict=True):
        cm = "-" if r["length_cm"] is None else f"{r['length_cm']:.0f}"
        when = stored.time.astimezone(zone or UTC).strftime("%Y-%m-%d %H:%M:%S %Z")
        mark = "*" if reviewed and stored.reviewed_as is not None else ""  # a reviewer's label
        species = f"{r['species']}{mark}"
        lines.append(
            f"{when:<26}{species:<17}{r['confidence']:>5.2f}  {r['direction']!s:<11}"
            f"{r['route'] or '-':<6}{cm:>4}  {r['id']!s:<{width}}{r['snapshot'] or '-'}"
        )
    return "\n".join(lines) + f"\n{len(rows)} passages\n"
