"""`fishgate report`: one self-contained HTML page of a season, for a biologist to open or mail.

Everything is inside the one file: Chart.js and season.js (bundled/web), the CSS, the
season's numbers as JSON, and every fish's picture as a small JPEG data URI (scaled to
at most THUMB_PX wide and high). Nothing is fetched: the page names no URL and its
Content-Security-Policy forbids fetching anything, so it opens the same offline.

The counts table is `fishgate counts` over the same days (the same query, summed per
species); `--csv DIR` writes the tables behind every chart (see fishgate.season).
`register(sub)` adds the command to the `fishgate` parser.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import csv
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fishgate import __version__
from fishgate.cli import _add_report_args, _site_zone, _store
from fishgate.config import bundled_path, load_config
from fishgate.errors import ExitStatus, FishgateError
from fishgate.season import season_data, season_passages, season_tables
from fishgate.store import StoredPassage

THUMB_PX = 160  # a picture in the page is at most this wide and high
THUMB_QUALITY = 70  # JPEG quality of the pictures in the page (small files to mail)
WEB = "web"  # the bundled folder of Chart.js, season.js and the page's template


@dataclass(frozen=True)
class Picture:
    uri: str  # data:image/jpeg;base64,...
    width: int
    height: int


def thumbnail(path: Path, size: int = THUMB_PX) -> Picture | None:
    """A passage's snapshot scaled down (never up) to fit size x size, as a JPEG data URI;
    None where the file is missing or unreadable (pruned on a small disk, or never written)."""
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR) if path.is_file() else None
    if image is None:
        return None
    h, w = image.shape[:2]
    scale = min(1.0, size / w, size / h)
    if scale < 1.0:
        w, h = max(1, round(w * scale)), max(1, round(h * scale))
        image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
    ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, THUMB_QUALITY])
    if not ok:
        return None
    return Picture("data:image/jpeg;base64," + base64.b64encode(jpeg.tobytes()).decode("ascii"), w, h)


def _inline_script(name: str) -> str:
    """A bundled script's text, checked to be safe inside <script>...</script>."""
    path = bundled_path(f"{WEB}/{name}")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FishgateError(
            f"{path}: the bundled file is missing ({exc.strerror}); reinstall fishgate"
        ) from None
    if "</script" in text.lower() or "<!--" in text:
        raise FishgateError(f"{path}: cannot be inlined in a page (contains '</script' or '<!--')")
    return text


def script_json(data: object) -> str:
    """JSON safe inside <script type="application/json">: no '<', '>' or '&' as such."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _passage_view(
    stored: StoredPassage, snapshots: Path, zone: ZoneInfo, reviewed: bool, pictures: bool
) -> dict[str, Any]:
    p = stored.passage
    species = stored.label(reviewed)
    picture = thumbnail(snapshots / stored.snapshot) if pictures and stored.snapshot else None
    return {
        "id": p.id,
        "when": stored.time.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z"),
        "species": species,
        "detected": p.species if species != p.species else None,
        "confidence": f"{p.confidence:.2f}",
        "direction": p.direction,
        "route": p.route or "-",
        "length": "-" if p.length_cm is None else f"{p.length_cm:.0f}",
        "flags": ", ".join(str(f) for f in dict(p.extra).get("flags") or []),
        "picture": picture,
    }


def render_report(
    data: dict[str, Any],
    passages: list[StoredPassage],
    snapshots: Path,
    zone: ZoneInfo,
    source: str = "",
    pictures: bool = True,
    left_out: int = 0,
) -> str:
    """The page: `data` from season_data, `passages` from season_passages (same range)."""
    from jinja2 import Environment, StrictUndefined
    from markupsafe import Markup

    template_path = bundled_path(f"{WEB}/report.html.j2")
    env = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    template = env.from_string(template_path.read_text(encoding="utf-8"))
    reviewed = bool(data["reviewed"])
    span = f"{data['start']} to {data['end']}" if data["days"] else "no days"
    how = "as reviewed" if reviewed else "as detected"
    return template.render(
        title=f"Fish passages at {data['site'] or 'the trap'}, {span}, {how}",
        version=__version__,
        generated=datetime.now(UTC).astimezone(zone).strftime("%Y-%m-%d %H:%M %Z"),
        source=source,
        start=data["start"],
        end=data["end"],
        zone=data["zone"],
        reviewed=reviewed,
        left_out=left_out,
        counts=[{"species": name, **data["routes"][name]} for name in data["species"]],
        totals=data["totals"],
        passages=[_passage_view(s, snapshots, zone, reviewed, pictures) for s in passages],
        # safe to inline: checked by _inline_script and escaped by script_json
        chartjs=Markup(_inline_script("chart.umd.min.js")),
        seasonjs=Markup(_inline_script("season.js")),
        data_json=Markup(script_json(data)),
    )


def write_tables(data: dict[str, Any], folder: Path) -> list[Path]:
    """The tables behind every chart as DIR/NAME.csv (see season_tables)."""
    written = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for table in season_tables(data):
            path = folder / f"{table.name}.csv"
            with path.open("w", encoding="utf-8", newline="") as f:
                writer = csv.writer(f, lineterminator="\n")
                writer.writerow(table.columns)
                writer.writerows(table.rows)
            written.append(path)
    except OSError as exc:
        raise FishgateError(f"--csv: cannot write to {folder}: {exc.strerror or exc}") from None
    return written


def _write(path: Path, text: str) -> None:
    """Whole or not at all: a half-written page is never left where the last one was."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise FishgateError(f"--output: cannot write {path}: {exc.strerror or exc}") from None


def cmd_report(args: argparse.Namespace) -> int:
    with _store(args) as store:
        zone = _site_zone(args, store)
        site = load_config(args.config).site.name if args.config is not None else None
        data = season_data(store, args.start, args.end, args.reviewed, zone, site=site)
        passages = season_passages(store, args.start, args.end, args.reviewed)
        left_out = len(store.passages(args.start, args.end)) - len(passages) if args.reviewed else 0
        page = render_report(
            data,
            passages,
            store.snapshots,
            zone,
            source=store.path.name,
            pictures=not args.no_pictures,
            left_out=left_out,
        )
    _write(args.output, page)
    span = f"{data['start']} .. {data['end']}" if data["days"] else "no days"
    print(f"wrote {args.output} ({len(page.encode()) / 1024:.0f} kB): {len(passages)} passages, {span}")
    if args.csv is not None:
        for path in write_tables(data, args.csv):
            print(f"wrote {path}")
    return ExitStatus.OK


def register(sub: Any) -> None:
    rp = sub.add_parser(
        "report",
        help="one HTML page of the season (charts, counts, passages with pictures) to open or mail",
        description="Write a self-contained HTML page for local days --from..--to: charts of daily "
        "passages, run timing, hour of day, lengths and tank vs river, the counts table (the numbers of "
        "`fishgate counts`) and every passage with its picture. It opens offline in any browser.",
    )
    _add_report_args(rp)
    rp.add_argument(
        "--output",
        "-o",
        type=Path,
        default=Path("season.html"),
        metavar="FILE.html",
        help="the page to write (default season.html)",
    )
    rp.add_argument("--csv", type=Path, metavar="DIR", help="also write the tables behind the charts as CSV")
    rp.add_argument(
        "--no-pictures",
        action="store_true",
        help="leave the fish pictures out (a smaller file for a long season)",
    )
    rp.set_defaults(func=cmd_report)
