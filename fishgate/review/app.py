"""`fishgate review`: the biologist's desk, a small Flask application over one store.

It reads the store through read-only connections opened per request (SQLite WAL lets
them run beside a live trap that is writing), and writes only reviews, each with its
MQTT message in the outbox, through a short-lived writing connection. On a read-only
copy (a write-protected card, a backup) everything can be looked at and nothing saved.
"""

from __future__ import annotations

import hmac
import os
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import cv2
from flask import Flask, Response, abort, jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from fishgate.config import bundled_path
from fishgate.store import PassageFilter, PassageStore, StoredPassage
from fishgate.telemetry.messages import review_messages
from fishgate.types import NOT_FISH, REVIEW_LABELS, SPECIES, UNKNOWN

PAGE = 100  # passages per list page
THUMB_WIDTH = 160
THUMBS_KEPT = 2000  # encoded thumbnails kept in memory (a season's worth at ~6 kB each)
# keys 1-5 name the species in SPECIES order; u unknown, n not a fish
KEYS = {**{str(i + 1): s for i, s in enumerate(SPECIES)}, "u": UNKNOWN, "n": NOT_FISH}


@dataclass(frozen=True)
class Desk:
    """What the application serves: one store, its site's zone, and who may write."""

    store: Path
    snapshots: Path
    zone: ZoneInfo
    site: str
    password: str | None = None  # required (HTTP Basic) when not bound to localhost
    reviewer: str = ""  # the default reviewer name (a cookie remembers the one typed)

    @property
    def writable(self) -> bool:
        return os.access(self.store, os.W_OK) and os.access(self.store.parent, os.W_OK)


class _Thumbnails:
    """Small JPEGs of snapshots, made once and kept (the list page asks for 100 at a time)."""

    def __init__(self) -> None:
        self._kept: OrderedDict[Path, bytes] = OrderedDict()

    def get(self, path: Path) -> bytes | None:
        if path in self._kept:
            self._kept.move_to_end(path)
            return self._kept[path]
        image = cv2.imread(str(path))
        if image is None:
            return None
        h, w = image.shape[:2]
        if w > THUMB_WIDTH:
            image = cv2.resize(
                image, (THUMB_WIDTH, max(1, round(h * THUMB_WIDTH / w))), interpolation=cv2.INTER_AREA
            )
        ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])
        if not ok:
            return None
        self._kept[path] = data = jpeg.tobytes()
        if len(self._kept) > THUMBS_KEPT:
            self._kept.popitem(last=False)
        return data


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        abort(400, f"not a day (YYYY-MM-DD): {text!r}")


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        abort(400, f"not a number: {text!r}")


@dataclass(frozen=True)
class ListQuery:
    """The passage list's filters, read from the query string (and written back into links)."""

    start: date | None
    end: date | None
    where: PassageFilter
    page: int

    @classmethod
    def from_request(cls) -> ListQuery:
        a = request.args
        species = a.get("species") or None
        if species is not None and species not in REVIEW_LABELS:
            abort(400, f"unknown species {species!r}; known: {', '.join(REVIEW_LABELS)}")
        direction = a.get("direction") or None
        if direction not in (None, "upstream", "downstream"):
            abort(400, "direction: upstream or downstream")
        start, end = _day(a.get("from")), _day(a.get("to"))
        if start and end and start > end:
            abort(400, f"from {start} is after to {end}")
        page = max(0, int(_number(a.get("page")) or 0))
        where = PassageFilter(
            species=species,
            direction=direction,
            flag=a.get("flag") or None,
            below=_number(a.get("below")),
            unreviewed=a.get("unreviewed") == "1",
            reviewed=a.get("view") == "reviewed",
            least_confident_first=a.get("order") == "confidence",
            limit=PAGE + 1,  # one more tells whether there is a next page
            offset=page * PAGE,
        )
        return cls(start, end, where, page)

    def args(self, **changes: Any) -> str:
        kept = {k: v for k, v in request.args.items() if v and k not in changes}
        kept.update({k: v for k, v in changes.items() if v not in (None, "")})
        return urlencode(kept)


def create_app(desk: Desk) -> Flask:
    app = Flask(__name__)
    thumbs = _Thumbnails()

    @contextmanager
    def reading() -> Iterator[PassageStore]:
        # a fresh read-only connection per request: cheap, and it never blocks the trap
        store = PassageStore(desk.store, desk.snapshots, read_only=True, quick_check=False)
        try:
            yield store
        finally:
            store.close()

    @app.before_request
    def authenticate() -> WerkzeugResponse | None:
        if desk.password is None:
            return None
        auth = request.authorization
        given = auth.password if auth is not None and auth.password is not None else ""
        if hmac.compare_digest(given.encode(), desk.password.encode()):
            return None
        return Response("a password is needed", 401, {"WWW-Authenticate": 'Basic realm="fishgate review"'})

    @app.context_processor
    def common() -> dict[str, Any]:
        return {
            "site": desk.site,
            "zone": desk.zone.key,
            "writable": desk.writable,
            "reviewer": request.cookies.get("reviewer", desk.reviewer),
            "labels": REVIEW_LABELS,
            "keys": KEYS,
            "local": lambda when: when.astimezone(desk.zone).strftime("%Y-%m-%d %H:%M:%S %Z"),
        }

    @app.get("/")
    def index() -> WerkzeugResponse:
        return redirect(url_for("passages"))

    @app.get("/passages")
    def passages() -> str:
        query = ListQuery.from_request()
        with reading() as store:
            rows = store.passages(query.start, query.end, where=query.where)
            detected = _totals(store, query.start, query.end, reviewed=False)
            reviewed = _totals(store, query.start, query.end, reviewed=True)
        return render_template(
            "passages.html",
            rows=rows[:PAGE],
            more=len(rows) > PAGE,
            query=query,
            detected=detected,
            reviewed=reviewed,
            species_in_counts=sorted(set(detected) | set(reviewed)),
        )

    @app.get("/passage/<passage_id>")
    def passage(passage_id: str) -> str:
        with reading() as store:
            stored = store.passage(passage_id)
            if stored is None:
                abort(404, f"no passage {passage_id!r}")
            history = store.reviews(passage_id)
        return render_template(
            "passage.html", p=stored, extra=dict(stored.passage.extra), history=history, back=request.args
        )

    @app.post("/passage/<passage_id>/review")
    def review(passage_id: str) -> WerkzeugResponse:
        if not desk.writable:
            abort(403, "this store is read-only here: reviews cannot be saved (open a writable copy)")
        label = request.form.get("label", "")
        reviewer = request.form.get("reviewer", "").strip()
        if label not in REVIEW_LABELS:
            abort(400, f"label: one of {', '.join(REVIEW_LABELS)}")
        if not reviewer:
            abort(400, "reviewer: type your name first (reviews are signed)")
        with PassageStore(desk.store, desk.snapshots, create=False, quick_check=False) as store:
            try:
                store.review(passage_id, label, reviewer, datetime.now(UTC), messages=review_messages)
            except ValueError as exc:
                abort(404, str(exc))
        target = request.form.get("next") or url_for("passage", passage_id=passage_id)
        if not target.startswith("/"):  # only our own pages
            target = url_for("passage", passage_id=passage_id)
        response = redirect(target)
        response.set_cookie("reviewer", reviewer, max_age=365 * 86400, samesite="Strict")
        return response

    @app.get("/snapshot/<passage_id>")
    def snapshot(passage_id: str) -> Response:
        with reading() as store:
            stored = store.passage(passage_id)
        path = _snapshot_path(desk, stored)
        if path is None:
            abort(404, "no snapshot (pruned, or the disk was full)")
        if request.args.get("thumb"):
            data = thumbs.get(path)
            if data is None:
                abort(404, "snapshot unreadable")
            return Response(data, mimetype="image/jpeg", headers={"Cache-Control": "max-age=86400"})
        return Response(path.read_bytes(), mimetype="image/jpeg", headers={"Cache-Control": "max-age=86400"})

    @app.get("/season")
    def season() -> str:
        return render_template("season.html", args=request.args)

    @app.get("/api/season")
    def season_json() -> Response:
        from fishgate.season import season_data

        start, end = _day(request.args.get("from")), _day(request.args.get("to"))
        with reading() as store:
            data = season_data(store, start, end, request.args.get("view") == "reviewed", desk.zone)
        return jsonify(data)

    @app.get("/web/<name>")
    def web_asset(name: str) -> Response:
        if name not in ("chart.umd.min.js", "season.js"):
            abort(404)
        path = bundled_path(f"web/{name}")
        return Response(
            path.read_bytes(), mimetype="text/javascript", headers={"Cache-Control": "max-age=3600"}
        )

    return app


def _totals(
    store: PassageStore, start: date | None, end: date | None, reviewed: bool
) -> dict[str, tuple[int, int, int, int]]:
    """species -> (upstream, to river, to tank, downstream) over the range (as `fishgate counts`)."""
    from fishgate.reports import count_table, species_totals

    return species_totals(count_table(store.counts(start, end, reviewed=reviewed)))


def _snapshot_path(desk: Desk, stored: StoredPassage | None) -> Path | None:
    if stored is None or not stored.snapshot:
        return None
    path = (desk.snapshots / stored.snapshot).resolve()
    if not path.is_relative_to(desk.snapshots.resolve()) or not path.is_file():
        return None
    return path
