"""The season charts and `fishgate report`: numbers checked by hand, the page opened in real
headless Chromium from file:// (charts drawn, no errors, no network, counts equal to
`fishgate counts --csv`), the CSV tables, and --reviewed."""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import pytest

from fishgate.cli import main
from fishgate.report_html import script_json, thumbnail
from fishgate.season import season_data, season_tables
from fishgate.store import PassageStore
from tests.browser import chromium, severe_console_errors
from tests.test_store import passage, record

OSLO = ZoneInfo("Europe/Oslo")  # CEST in August: local = UTC + 2
SITE = "Tana <b>bru</b> & co"  # a site name that must be escaped everywhere
FIRST, LAST = date(2026, 8, 10), date(2026, 8, 13)
RANGE = ["--from", "2026-08-10", "--to", "2026-08-13"]
WHEN = datetime(2026, 8, 20, 12, 0, tzinfo=UTC)  # when reviews are made
CHARTS = ("chart-daily", "chart-cumulative", "chart-hours", "chart-lengths", "chart-routes")
# the only URLs in a page: the licence comments Chart.js's MIT licence asks to keep
LICENCE_URLS = {"https://www.chartjs.org", "https://github.com/kurkle/color#readme"}


def _utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 8, day, hour, minute, tzinfo=UTC)


def _picture(width: int, height: int) -> np.ndarray:
    image = np.zeros((height, width, 3), np.uint8)
    image[:] = np.linspace(30, 220, width, dtype=np.uint8)[None, :, None]
    return image


def _store(path: Path) -> Path:
    """Eleven passages; nine in 10..13 August (local days at Oslo), none on the 12th.

    id   species          dir   route  local time         length  picture
    p1   pink_salmon      up    tank   10 Aug 06:10       52.0    400x150
    p2   pink_salmon      up    tank   10 Aug 07:20       57.5
    p3   atlantic_salmon  up    river  10 Aug 23:50       78.0    100x40
    p4   atlantic_salmon  up    river  11 Aug 00:30 (22:30 UTC on the 10th)  81.0
    p5   pink_salmon      up    river  11 Aug 08:00       54.9
    p6   sea_trout        down  -      11 Aug 08:30       45.0    (file lost)
    p7   sea_trout        up    river  13 Aug 12:00       -
    p8   pink_salmon      up    tank   13 Aug 06:00       55.0    300x300
    p9   pink_salmon      down  -      13 Aug 13:00       60.0
    p0   atlantic_salmon  up    river   9 Aug 22:00 (before the range)
    p10  pink_salmon      up    tank   14 Aug 10:00 (after it)
    """
    up, down = "upstream", "downstream"
    rows: list[tuple[str, str, str, str | None, datetime, float | None, np.ndarray | None]] = [
        ("p0", "atlantic_salmon", up, "river", _utc(9, 20), 70.0, None),
        ("p1", "pink_salmon", up, "tank", _utc(10, 4, 10), 52.0, _picture(400, 150)),
        ("p2", "pink_salmon", up, "tank", _utc(10, 5, 20), 57.5, None),
        ("p3", "atlantic_salmon", up, "river", _utc(10, 21, 50), 78.0, _picture(100, 40)),
        ("p4", "atlantic_salmon", up, "river", _utc(10, 22, 30), 81.0, None),
        ("p5", "pink_salmon", up, "river", _utc(11, 6, 0), 54.9, None),
        ("p6", "sea_trout", down, None, _utc(11, 6, 30), 45.0, _picture(200, 80)),
        ("p7", "sea_trout", up, "river", _utc(13, 10, 0), None, None),
        ("p8", "pink_salmon", up, "tank", _utc(13, 4, 0), 55.0, _picture(300, 300)),
        ("p9", "pink_salmon", down, None, _utc(13, 11, 0), 60.0, None),
        ("p10", "pink_salmon", up, "tank", _utc(14, 8, 0), 50.0, None),
    ]
    with PassageStore(path) as store:
        store.set_meta(site=SITE, timezone="Europe/Oslo")
        for pid, species, direction, route, when, length, image in rows:
            p = replace(passage(pid, species, direction), route=route, length_cm=length)
            stored = record(store, p, when, image)
            if pid == "p6":  # pruned on a small disk: the passage stays, its picture is gone
                assert stored.snapshot is not None
                (store.snapshots / stored.snapshot).unlink()
    return path


def _hours(**at: int) -> list[int]:
    counts = [0] * 24
    for hour, n in at.items():
        counts[int(hour[1:])] = n
    return counts


DAYS = ["2026-08-10", "2026-08-11", "2026-08-12", "2026-08-13"]
DETECTED: dict[str, Any] = {
    "site": SITE,
    "zone": "Europe/Oslo",
    "reviewed": False,
    "start": "2026-08-10",
    "end": "2026-08-13",
    "days": DAYS,
    "species": ["atlantic_salmon", "sea_trout", "pink_salmon"],
    "daily": {
        "atlantic_salmon": {"upstream": [1, 1, 0, 0], "downstream": [0, 0, 0, 0]},
        "sea_trout": {"upstream": [0, 0, 0, 1], "downstream": [0, 1, 0, 0]},
        "pink_salmon": {"upstream": [2, 1, 0, 1], "downstream": [0, 0, 0, 1]},
    },
    "cumulative": {
        "atlantic_salmon": [0.5, 1.0, 1.0, 1.0],
        "sea_trout": [0.0, 0.0, 0.0, 1.0],
        "pink_salmon": [0.5, 0.75, 0.75, 1.0],
    },
    "hours": {
        "atlantic_salmon": _hours(h0=1, h23=1),
        "sea_trout": _hours(h8=1, h12=1),
        "pink_salmon": _hours(h6=2, h7=1, h8=1, h13=1),
    },
    "lengths": {
        "bin_cm": 5,
        "bins": [45, 50, 55, 60, 65, 70, 75, 80],
        "counts": {
            "atlantic_salmon": [0, 0, 0, 0, 0, 0, 1, 1],  # 78, 81
            "sea_trout": [1, 0, 0, 0, 0, 0, 0, 0],  # 45 (and p7 unmeasured)
            "pink_salmon": [0, 2, 2, 1, 0, 0, 0, 0],  # 52, 54.9 | 57.5, 55.0 | 60
        },
        "unmeasured": {"atlantic_salmon": 0, "sea_trout": 1, "pink_salmon": 0},
    },
    "routes": {
        "atlantic_salmon": {"upstream": 2, "to_river": 2, "to_tank": 0, "downstream": 0, "total": 2},
        "sea_trout": {"upstream": 1, "to_river": 1, "to_tank": 0, "downstream": 1, "total": 2},
        "pink_salmon": {"upstream": 4, "to_river": 1, "to_tank": 3, "downstream": 1, "total": 5},
    },
    "totals": {"upstream": 7, "to_river": 4, "to_tank": 3, "downstream": 2, "total": 9},
}


def _review(db: Path) -> None:
    """p5 (a pink salmon let through) was a sea trout; p9 was a stick; p1 confirmed."""
    with PassageStore(db) as store:
        store.review("p5", "sea_trout", "Kari", WHEN)
        store.review("p9", "not_fish", "Kari", WHEN)
        store.review("p1", "pink_salmon", "Kari", WHEN)


def test_season_data_as_detected_by_hand(tmp_path: Path) -> None:
    with PassageStore(_store(tmp_path / "s.db"), read_only=True) as store:
        data = season_data(store, FIRST, LAST, reviewed=False, zone=OSLO)
    assert data == DETECTED
    assert json.loads(json.dumps(data)) == data  # JSON as it stands


def test_season_data_as_reviewed_by_hand(tmp_path: Path) -> None:
    db = _store(tmp_path / "s.db")
    _review(db)
    with PassageStore(db, read_only=True) as store:
        assert season_data(store, FIRST, LAST, reviewed=False, zone=OSLO) == DETECTED  # unchanged
        data = season_data(store, FIRST, LAST, reviewed=True, zone=OSLO)
    assert data["reviewed"] is True and data["species"] == ["atlantic_salmon", "sea_trout", "pink_salmon"]
    assert data["daily"]["sea_trout"] == {"upstream": [0, 1, 0, 1], "downstream": [0, 1, 0, 0]}
    assert data["daily"]["pink_salmon"] == {"upstream": [2, 0, 0, 1], "downstream": [0, 0, 0, 0]}
    assert data["cumulative"]["sea_trout"] == [0.0, 0.5, 0.5, 1.0]
    assert data["cumulative"]["pink_salmon"] == [0.6667, 0.6667, 0.6667, 1.0]
    assert data["hours"]["sea_trout"] == _hours(h8=2, h12=1)
    assert data["hours"]["pink_salmon"] == _hours(h6=2, h7=1)
    assert data["lengths"]["bins"] == [45, 50, 55, 60, 65, 70, 75, 80]
    assert data["lengths"]["counts"]["sea_trout"] == [1, 1, 0, 0, 0, 0, 0, 0]
    assert data["lengths"]["counts"]["pink_salmon"] == [0, 1, 2, 0, 0, 0, 0, 0]
    assert data["routes"]["sea_trout"] == {
        "upstream": 2, "to_river": 2, "to_tank": 0, "downstream": 1, "total": 3
    }  # fmt: skip
    assert data["routes"]["pink_salmon"] == {
        "upstream": 3, "to_river": 0, "to_tank": 3, "downstream": 0, "total": 3
    }  # fmt: skip
    assert data["totals"] == {"upstream": 7, "to_river": 4, "to_tank": 3, "downstream": 1, "total": 8}
    assert "not_fish" not in json.dumps(data)


def test_open_ends_and_empty_ranges(tmp_path: Path) -> None:
    with PassageStore(_store(tmp_path / "s.db"), read_only=True) as store:
        everything = season_data(store, None, None, reviewed=False, zone=OSLO)
        assert everything["days"][0] == "2026-08-09" and everything["days"][-1] == "2026-08-14"
        assert len(everything["days"]) == 6 and everything["totals"]["total"] == 11
        from_only = season_data(store, date(2026, 8, 13), None, reviewed=False, zone=OSLO)
        assert from_only["days"] == ["2026-08-13", "2026-08-14"]
        quiet = season_data(store, date(2026, 9, 1), date(2026, 9, 3), reviewed=False, zone=OSLO)
    assert quiet["days"] == ["2026-09-01", "2026-09-02", "2026-09-03"]  # zero-filled, no species
    assert quiet["species"] == [] and quiet["lengths"]["bins"] == [] and quiet["totals"]["total"] == 0


def test_tables_behind_the_charts(tmp_path: Path) -> None:
    tables = {t.name: t for t in season_tables(DETECTED)}
    assert list(tables) == ["daily", "run_timing", "hours", "lengths", "counts"]
    daily = tables["daily"]
    assert daily.columns == ("day", "species", "upstream", "downstream", "total")
    assert len(daily.rows) == 3 * 4  # every day for every species
    assert ("2026-08-12", "pink_salmon", 0, 0, 0) in daily.rows
    assert ("2026-08-13", "pink_salmon", 1, 1, 2) in daily.rows
    assert [r[3:] for r in tables["run_timing"].rows if r[1] == "pink_salmon"] == [
        (2, 0.5), (3, 0.75), (3, 0.75), (4, 1.0)
    ]  # fmt: skip
    assert len(tables["hours"].rows) == 3 * 24 and (6, "pink_salmon", 2) in tables["hours"].rows
    lengths = tables["lengths"].rows
    assert ("50-55", 50, 55, "pink_salmon", 2) in lengths
    assert ("unmeasured", "", "", "sea_trout", 1) in lengths
    assert tables["counts"].rows == [
        ("atlantic_salmon", 2, 2, 0, 0, 2), ("sea_trout", 1, 1, 0, 1, 2),
        ("pink_salmon", 4, 1, 3, 1, 5), ("all", 7, 4, 3, 2, 9),
    ]  # fmt: skip


def test_thumbnails_are_scaled_down_never_up(tmp_path: Path) -> None:
    for size, expected in (((400, 150), (160, 60)), ((100, 40), (100, 40)), ((300, 300), (160, 160))):
        path = tmp_path / f"{size[0]}x{size[1]}.jpg"
        cv2.imwrite(str(path), _picture(*size))
        picture = thumbnail(path)
        assert picture is not None and (picture.width, picture.height) == expected
        jpeg = base64.b64decode(picture.uri.removeprefix("data:image/jpeg;base64,"))
        decoded = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert decoded.shape[1::-1] == expected
    assert thumbnail(tmp_path / "gone.jpg") is None


def test_script_json_cannot_end_its_script() -> None:
    text = script_json({"site": "</script><script>alert(1)</script> & <!--"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"site": "</script><script>alert(1)</script> & <!--"}


def _counts_csv(db: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, list[str]]:
    """`fishgate counts --csv` over the range, summed per species: the page's counts table."""
    assert main(["counts", "--db", str(db), "--csv", *RANGE, *extra]) == 0
    totals: dict[str, list[int]] = {}
    for row in csv.DictReader(io.StringIO(capsys.readouterr().out)):
        sums = totals.setdefault(row["species"], [0, 0, 0, 0])
        for n, key in enumerate(("upstream", "to_river", "to_tank", "downstream")):
            sums[n] += int(row[key])
    return {s: [str(v) for v in (*c, c[0] + c[3])] for s, c in totals.items()}


def _report(db: Path, out: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    assert main(["report", "--db", str(db), *RANGE, "-o", str(out), *extra]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    return out.read_text(encoding="utf-8")


def test_the_page_is_one_file_that_fetches_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = _store(tmp_path / "s.db")
    html = _report(db, tmp_path / "season.html", capsys, "--csv", str(tmp_path / "csv"))
    assert not re.search(r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//""", html, re.I)
    assert not re.search(r"""url\(\s*["']?\s*(?:https?:)?//|@import""", html, re.I)
    assert set(re.findall(r"https?://[^\s\"'<>)*]*", html)) <= LICENCE_URLS  # comments only
    assert "default-src 'none'" in html  # the browser is told to fetch nothing
    assert "Chart.js v4.6.1" in html and "function renderSeason" in html
    # the pictures: p1, p3 and p8 (p6's file is gone), inline, scaled to at most 160 px
    sizes = re.findall(
        r'<img src="data:image/jpeg;base64,[A-Za-z0-9+/=]+" width="(\d+)" height="(\d+)"', html
    )
    assert sorted(sizes) == [("100", "40"), ("160", "160"), ("160", "60")]
    assert html.count("<img") == 3
    # escaped wherever the site name goes; the JSON cannot end its script
    assert "Tana &lt;b&gt;bru&lt;/b&gt; &amp; co" in html and SITE not in html
    assert '"site":"Tana \\u003cb\\u003ebru\\u003c/b\\u003e \\u0026 co"' in html
    assert "2026-08-11 00:30:00 CEST" in html  # p4: local time with its zone
    # --csv: the tables behind the charts, as season_tables gives them
    for table in season_tables(DETECTED):
        with (tmp_path / "csv" / f"{table.name}.csv").open(encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f))
        assert rows[0] == list(table.columns)
        assert rows[1:] == [[str(v) for v in row] for row in table.rows]


def test_a_report_from_the_site_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--config: the config's store, site name and zone (UTC here: local days move)."""
    from fishgate.config import bundled_path

    db = _store(tmp_path / "s.db")
    demo = bundled_path("demo/chute-demo.toml").read_text(encoding="utf-8")
    config = tmp_path / "site.toml"
    config.write_text(
        demo.replace('name = "demo"', 'name = "Storelva"\ntimezone = "UTC"')
        .replace('path = "chute-demo.mp4"', f'path = "{bundled_path("demo/chute-demo.mp4")}"')
        .replace('path = "fishgate-demo/fishgate.db"', f'path = "{db}"'),
        encoding="utf-8",
    )
    out = tmp_path / "season.html"
    assert main(["report", "--config", str(config), *RANGE, "-o", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    assert "<title>Fish passages at Storelva, 2026-08-10 to 2026-08-13, as detected</title>" in html
    assert "2026-08-10 22:30:00 UTC" in html  # p4 in the config's zone (its day is as stored)
    assert '"zone":"UTC"' in html


@pytest.mark.parametrize(
    ("args", "status", "phrase"),
    [
        (["--from", "2026-08-13", "--to", "2026-08-10"], 2, "--from 2026-08-13 is after --to 2026-08-10"),
        (["--db", "{tmp}/nope.db"], 1, "no store there"),
        ([], 2, "give --config SITE.toml (its storage.path) or --db FILE"),
        (["--db", "{tmp}/s.db", "-o", "{tmp}/s.db/season.html"], 2, "--output: cannot write"),
    ],
)
def test_report_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], status: int, phrase: str
) -> None:
    _store(tmp_path / "s.db")
    if "--db" not in args and "--from" in args:
        args = [*args, "--db", "{tmp}/s.db"]
    argv = ["report", *(a.replace("{tmp}", str(tmp_path)) for a in args)]
    if "-o" not in argv:
        argv += ["-o", str(tmp_path / "out.html")]
    assert main(argv) == status
    err = capsys.readouterr().err
    assert phrase in err and err.count("\n") == 1
    assert not (tmp_path / "out.html").exists()


# -- in a real browser ---------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's headless Chromium through its chromedriver (selenium downloads nothing)."""
    yield from chromium(window="1280,1800")


def _open(driver: Any, page: Path) -> None:
    driver.get_log("browser")  # what earlier pages logged
    driver.get(page.resolve().as_uri())
    assert driver.current_url.startswith("file:///")


def _no_errors(driver: Any) -> None:
    assert severe_console_errors(driver) == []


PIXELS_JS = """
const [id, r, g, b] = arguments;
const canvas = document.getElementById(id);
if (!canvas) return null;
const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
let drawn = 0, coloured = 0;
for (let i = 0; i < pixels.length; i += 4) {
  if (pixels[i + 3] > 0) drawn++;
  if (pixels[i] === r && pixels[i + 1] === g && pixels[i + 2] === b && pixels[i + 3] === 255) coloured++;
}
return [canvas.width * canvas.height, drawn, coloured];
"""
PINK, TANK = (0xD6, 0x33, 0x8A), (0xC0, 0x39, 0x2B)  # season.js: pink_salmon, to the tank


def _table(driver: Any, table_id: str) -> list[list[str]]:
    return driver.execute_script(  # type: ignore[no-any-return]
        "return [...document.querySelectorAll(`#${arguments[0]} tr`)]"
        ".map(tr => [...tr.cells].map(td => td.textContent.trim()))",
        table_id,
    )


def test_the_page_in_chromium_draws_five_charts_and_the_counts_of_fishgate_counts(
    browser: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = _store(tmp_path / "s.db")
    page = tmp_path / "season.html"
    _report(db, page, capsys)
    _open(browser, page)
    _no_errors(browser)
    assert browser.title == f"Fish passages at {SITE}, 2026-08-10 to 2026-08-13, as detected"
    for chart in CHARTS:
        area, drawn, _ = browser.execute_script(PIXELS_JS, chart, 0, 0, 0)
        assert area > 10_000 and drawn > 500, chart  # axes, grid and bars, not a blank canvas
    assert browser.execute_script(PIXELS_JS, "chart-daily", *PINK)[2] > 100  # pink salmon's bars
    assert browser.execute_script(PIXELS_JS, "chart-routes", *TANK)[2] > 100  # the tank's bars
    # what Chart.js holds is what season_data said
    daily = browser.execute_script(
        "return Chart.getChart('chart-daily').data.datasets.map(d => [d.species, d.direction, d.data])"
    )
    expected = [
        [s, d, [v if d == "upstream" else -v for v in DETECTED["daily"][s][d]]]
        for s in DETECTED["species"]
        for d in ("upstream", "downstream")
    ]
    assert daily == expected
    cumulative = browser.execute_script(
        "return Chart.getChart('chart-cumulative').data.datasets.map(d => d.data)"
    )
    assert cumulative == [[50, 100, 100, 100], [0, 0, 0, 100], [50, 75, 75, 100]]
    lengths = browser.execute_script("return Chart.getChart('chart-lengths').data.labels")
    assert lengths == [f"{low}\u2013{low + 5}" for low in range(45, 85, 5)]  # en dash
    # the counts table is `fishgate counts --csv` over the same days, per species
    rows = _table(browser, "counts")
    assert rows[0] == ["species", "upstream", "to river", "to tank", "downstream", "total"]
    assert {r[0]: r[1:] for r in rows[1:-1]} == _counts_csv(db, capsys)
    assert rows[-1] == ["all", "7", "4", "3", "2", "9"]
    passages = _table(browser, "passages")
    assert len(passages) == 1 + 9
    assert passages[4][:8] == [
        "2026-08-11 00:30:00 CEST", "atlantic_salmon", "0.97", "upstream", "river", "81", "conflict", "p4"
    ]  # fmt: skip
    shown = browser.execute_script(
        "return [...document.images].map(i => [i.complete, i.naturalWidth, i.naturalHeight])"
    )
    assert sorted(shown) == [[True, 100, 40], [True, 160, 60], [True, 160, 160]]
    if os.environ.get("FISHGATE_SCREENSHOTS"):  # for the README's pictures
        browser.save_screenshot(str(Path(os.environ["FISHGATE_SCREENSHOTS"]) / "season-report.png"))
    fetched = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name).filter(n => !n.startsWith('data:'))"
    )
    assert fetched == []  # nothing fetched, not even a favicon
    _no_errors(browser)


def test_the_page_as_reviewed_in_chromium(
    browser: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = _store(tmp_path / "s.db")
    before = _counts_csv(db, capsys, "--reviewed")
    _review(db)
    after = _counts_csv(db, capsys, "--reviewed")
    assert (before["sea_trout"][0], after["sea_trout"][0]) == ("1", "2")  # p5 counted as a sea trout
    page = tmp_path / "reviewed.html"
    html = _report(db, page, capsys, "--reviewed")
    assert "8 passages." in html and "1 passages reviewers called not a fish are left out" in html
    _open(browser, page)
    _no_errors(browser)
    assert browser.title.endswith(", as reviewed")
    rows = _table(browser, "counts")
    assert {r[0]: r[1:] for r in rows[1:-1]} == after
    assert rows[-1] == ["all", "7", "4", "3", "1", "8"]
    passages = {r[7]: r for r in _table(browser, "passages")[1:]}
    assert "p9" not in passages  # not a fish
    assert passages["p5"][1] == "sea_trout (detected pink_salmon)"
    assert passages["p1"][1] == "pink_salmon"  # confirmed: no note
    routes = browser.execute_script(
        "return Chart.getChart('chart-routes').data.datasets.map(d => [d.label, d.data])"
    )
    assert routes == [
        ["upstream, to the tank", [0, 0, 3]],
        ["upstream, to the river", [2, 2, 0]],
        ["downstream", [0, 1, 0]],
    ]


def test_render_season_stands_alone(browser: Any, tmp_path: Path) -> None:
    """The review desk's use: the two bundled scripts and an empty element; drawing twice
    replaces the charts."""
    from fishgate.config import bundled_path

    web = bundled_path("web")
    page = tmp_path / "desk.html"
    page.write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'></head><body><div id='desk'></div>"
        f"<script src='{(web / 'chart.umd.min.js').as_uri()}'></script>"
        f"<script src='{(web / 'season.js').as_uri()}'></script></body></html>",
        encoding="utf-8",
    )
    _open(browser, page)
    drawn = browser.execute_script(
        "const root = document.getElementById('desk');"
        "renderSeason(arguments[0], root);"
        "const charts = renderSeason(arguments[0], root);"
        "return [[...root.querySelectorAll('canvas')].map(c => c.id),"
        " Object.keys(charts), Object.values(charts).every(c => Chart.getChart(c.canvas) === c)]",
        DETECTED,
    )
    assert drawn == [list(CHARTS), ["daily", "cumulative", "hours", "lengths", "routes"], True]
    for chart in CHARTS:
        assert browser.execute_script(PIXELS_JS, chart, 0, 0, 0)[1] > 500, chart
    _no_errors(browser)
