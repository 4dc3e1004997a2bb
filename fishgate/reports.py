"""For biologists: counts per day x species x direction, and passages, as tables, CSV or JSON Lines.

Both read the local store only; counts are a query over passages, so the table here,
the CSV export and the retained MQTT counts can never disagree.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from fishgate.store import CountRow, StoredPassage

PASSAGE_COLUMNS = (
    "id", "time", "day", "species", "confidence", "direction", "route", "length_cm",
    "first_frame", "last_frame", "decision_frame", "flags", "model", "snapshot",
)  # fmt: skip


def count_table(rows: Sequence[CountRow]) -> list[tuple[str, str, int, int]]:
    """(period, species, upstream, downstream), one row per period and species."""
    pivot: dict[tuple[str, str], dict[str, int]] = {}
    for row in rows:
        pivot.setdefault((row.period, row.species), {})[row.direction] = row.count
    return [
        (period, species, c.get("upstream", 0), c.get("downstream", 0))
        for (period, species), c in sorted(pivot.items())
    ]


def format_counts(rows: Sequence[CountRow], by: str, start: date | None, end: date | None) -> str:
    table = count_table(rows)
    span = f"{start or 'first'} .. {end or 'last'}"
    if not table:
        return f"no passages stored for {span}"
    head = f"{by:<14}{'species':<18}{'upstream':>9}{'downstream':>11}{'total':>7}"
    lines = [head, "-" * len(head)]
    lines += [f"{p:<14}{s:<18}{u:>9}{d:>11}{u + d:>7}" for p, s, u, d in table]
    lines.append("-" * len(head))
    species = sorted({s for _, s, _, _ in table})
    for name in species:
        u = sum(r[2] for r in table if r[1] == name)
        d = sum(r[3] for r in table if r[1] == name)
        lines.append(f"{'total':<14}{name:<18}{u:>9}{d:>11}{u + d:>7}")
    u, d = sum(r[2] for r in table), sum(r[3] for r in table)
    lines.append(f"{'total':<14}{'all':<18}{u:>9}{d:>11}{u + d:>7}   ({span})")
    return "\n".join(lines)


def counts_csv(rows: Sequence[CountRow], by: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([by, "species", "upstream", "downstream"])
    writer.writerows(count_table(rows))
    return out.getvalue()


def passage_row(stored: StoredPassage, snapshots: Path) -> dict[str, object]:
    p, extra = stored.passage, dict(stored.passage.extra)
    return {
        "id": p.id,
        "time": stored.time.isoformat(timespec="seconds"),
        "day": stored.day.isoformat(),
        "species": p.species,
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


def format_passages(passages: Sequence[StoredPassage], snapshots: Path, fmt: str) -> str:
    rows = [passage_row(s, snapshots) for s in passages]
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
    head = f"{'time':<26}{'species':<17}{'conf':>5}  {'direction':<11}{'route':<6}{'cm':>4}  "
    head += f"{'id':<{width}}snapshot"
    lines = [head]
    for r in rows:
        cm = "-" if r["length_cm"] is None else f"{r['length_cm']:.0f}"
        lines.append(
            f"{r['time']!s:<26}{r['species']!s:<17}{r['confidence']:>5.2f}  {r['direction']!s:<11}"
            f"{r['route'] or '-':<6}{cm:>4}  {r['id']!s:<{width}}{r['snapshot'] or '-'}"
        )
    return "\n".join(lines) + f"\n{len(rows)} passages\n"
