"""A season at a glance: the numbers behind the charts of `fishgate report` and the review desk.

`season_data` is one JSON-serialisable dict that `renderSeason` (bundled/web/season.js)
draws; `season_tables` gives the rows behind every chart, for CSV.

Where the numbers come from, so they cannot disagree with `fishgate counts`:

- days, daily counts, hours and the tank/river split are the store's count query
  (`PassageStore.counts`, the one `fishgate counts` prints), pivoted by
  `reports.count_table`; days and hours are local at the site, as the trap stored them.
- lengths (and nothing else) come from the passages themselves, with the same filter.

What each chart counts:

- daily: passages per local day and species, upstream and downstream apart (the chart
  draws upstream above the axis and downstream below it; their sum is the day's total).
- cumulative (run timing): upstream passages only, as the share of the species'
  upstream total in the range reached by the end of each day (0..1, 4 decimals).
- hours: all passages (both directions) per local hour 0-23.
- lengths: all passages with a length, in fixed LENGTH_BIN_CM bins [lo, lo + 5) cm
  shared by every species; passages without a length are counted as unmeasured.
- routes: per species upstream = to_river + to_tank, and downstream; the counts table.

`reviewed=True`: species as reviewed (the detection where never reviewed), and the
passages reviewers called not_fish left out, as `fishgate counts --reviewed` does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fishgate.reports import count_table
from fishgate.store import PassageStore, StoredPassage
from fishgate.types import NOT_FISH, REVIEW_LABELS

LENGTH_BIN_CM = 5
ROUTE_COLUMNS = ("upstream", "to_river", "to_tank", "downstream", "total")


@dataclass(frozen=True)
class Table:
    """The rows behind one chart: a CSV file with a header."""

    name: str  # the CSV file's stem
    columns: tuple[str, ...]
    rows: list[tuple[object, ...]]


def species_order(labels: set[str]) -> list[str]:
    """Known labels in their usual order (REVIEW_LABELS), then any others alphabetically."""
    known = [label for label in REVIEW_LABELS if label in labels]
    return known + sorted(labels - set(REVIEW_LABELS))


def season_passages(
    store: PassageStore, start: date | None, end: date | None, reviewed: bool
) -> list[StoredPassage]:
    """The passages a season counts, oldest first: as reviewed, without not_fish."""
    return [s for s in store.passages(start, end) if not (reviewed and s.label(True) == NOT_FISH)]


def _days(first: date | None, last: date | None) -> list[date]:
    if first is None or last is None:
        return []
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def season_data(
    store: PassageStore,
    start: date | None,
    end: date | None,
    reviewed: bool,
    zone: ZoneInfo,
    site: str | None = None,
) -> dict[str, Any]:
    """What the five season charts draw, for local days start..end (both included; an
    open end is the first or last day with a passage). Every day of the range is there,
    with zeros where nothing passed. See the module's docstring for what each counts."""
    by_day = count_table(store.counts(start, end, by="day", reviewed=reviewed))
    by_hour = count_table(store.counts(start, end, by="hour", reviewed=reviewed))
    passages = season_passages(store, start, end, reviewed)
    seen = sorted({date.fromisoformat(period) for period, *_ in by_day})
    first = start or (seen[0] if seen else end)
    last = end or (seen[-1] if seen else start)
    days = _days(first, last)
    index = {day.isoformat(): n for n, day in enumerate(days)}
    species = species_order({row[1] for row in by_day})

    daily = {s: {"upstream": [0] * len(days), "downstream": [0] * len(days)} for s in species}
    routes = {s: dict.fromkeys(ROUTE_COLUMNS, 0) for s in species}
    for period, name, up, river, tank, down in by_day:
        daily[name]["upstream"][index[period]] += up
        daily[name]["downstream"][index[period]] += down
        for key, value in zip(ROUTE_COLUMNS, (up, river, tank, down, up + down), strict=True):
            routes[name][key] += value

    cumulative: dict[str, list[float]] = {}
    for name in species:
        total = routes[name]["upstream"]
        if total:
            running = 0
            shares = []
            for up in daily[name]["upstream"]:
                running += up
                shares.append(round(running / total, 4))
            cumulative[name] = shares

    hours = {s: [0] * 24 for s in species}
    for period, name, up, _river, _tank, down in by_hour:
        hours[name][int(period[-2:])] += up + down

    measured = [s for s in passages if s.passage.length_cm is not None]
    lows = [_bin(s) for s in measured]
    bins = list(range(min(lows), max(lows) + LENGTH_BIN_CM, LENGTH_BIN_CM)) if lows else []
    lengths = {s: [0] * len(bins) for s in species}
    for stored, low in zip(measured, lows, strict=True):
        lengths[stored.label(reviewed)][bins.index(low)] += 1
    unmeasured = dict.fromkeys(species, 0)
    for stored in passages:
        if stored.passage.length_cm is None:
            unmeasured[stored.label(reviewed)] += 1

    totals = {key: sum(r[key] for r in routes.values()) for key in ROUTE_COLUMNS}
    return {
        "site": site or store.meta().get("site") or (passages[0].site if passages else ""),
        "zone": zone.key,
        "reviewed": reviewed,
        "start": days[0].isoformat() if days else None,
        "end": days[-1].isoformat() if days else None,
        "days": [day.isoformat() for day in days],
        "species": species,
        "daily": daily,
        "cumulative": cumulative,
        "hours": hours,
        "lengths": {"bin_cm": LENGTH_BIN_CM, "bins": bins, "counts": lengths, "unmeasured": unmeasured},
        "routes": routes,
        "totals": totals,
    }


def _bin(stored: StoredPassage) -> int:
    length = stored.passage.length_cm
    assert length is not None
    return math.floor(length / LENGTH_BIN_CM) * LENGTH_BIN_CM


def season_tables(data: dict[str, Any]) -> list[Table]:
    """The rows behind every chart of `season_data(...)`, zero-filled (every day, hour and
    length bin for every species), for CSV files a spreadsheet opens."""
    days: list[str] = data["days"]
    species: list[str] = data["species"]
    daily = Table("daily", ("day", "species", "upstream", "downstream", "total"), [])
    cumulative = Table("run_timing", ("day", "species", "upstream", "cumulative", "share"), [])
    for name in species:
        up, down = data["daily"][name]["upstream"], data["daily"][name]["downstream"]
        running = 0
        for n, day in enumerate(days):
            daily.rows.append((day, name, up[n], down[n], up[n] + down[n]))
            running += up[n]
            if name in data["cumulative"]:
                cumulative.rows.append((day, name, up[n], running, data["cumulative"][name][n]))
    hours = Table("hours", ("hour", "species", "passages"), [])
    for name in species:
        hours.rows.extend((hour, name, count) for hour, count in enumerate(data["hours"][name]))
    lengths = Table("lengths", ("length_cm", "from_cm", "to_cm", "species", "passages"), [])
    width = data["lengths"]["bin_cm"]
    for name in species:
        for low, count in zip(data["lengths"]["bins"], data["lengths"]["counts"][name], strict=True):
            lengths.rows.append((f"{low}-{low + width}", low, low + width, name, count))
        lengths.rows.append(("unmeasured", "", "", name, data["lengths"]["unmeasured"][name]))
    routes = Table("counts", ("species", *ROUTE_COLUMNS), [])
    for name, counts in [*((s, data["routes"][s]) for s in species), ("all", data["totals"])]:
        routes.rows.append((name, *(counts[key] for key in ROUTE_COLUMNS)))
    return [daily, cumulative, hours, lengths, routes]
