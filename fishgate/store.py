"""The local store: one SQLite file that survives power cuts and holds every passage.

- WAL journal with `synchronous=FULL`: a committed passage is on disk before
  `record()` returns, and a power cut mid-write leaves the last committed state.
- A passage, its outbox messages and the name of its snapshot go in ONE
  transaction, so a passage is never stored without the message that publishes it.
- Counts are queries over passages (per local day or hour at the site), never
  separate counters that could drift.
- The schema is versioned with `PRAGMA user_version`; `MIGRATIONS[n]` brings a
  file from version n to n + 1, each in its own transaction.

One `PassageStore` per thread (sqlite3 connections stay in their thread): the
pipeline records, the MQTT publisher reads and deletes outbox rows.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from fishgate.errors import DuplicateRecord, StoreError
from fishgate.types import Passage

MIGRATIONS: tuple[str, ...] = (
    # 0 -> 1: passages, their outbox
    """
    CREATE TABLE passages (
        id TEXT PRIMARY KEY,
        site TEXT NOT NULL,
        time TEXT NOT NULL,                -- UTC, ISO 8601, when the passage was counted
        day TEXT NOT NULL,                 -- local date at the site: the biologist's day
        hour INTEGER NOT NULL,             -- local hour 0-23
        species TEXT NOT NULL,
        confidence REAL NOT NULL,
        direction TEXT NOT NULL CHECK (direction IN ('upstream', 'downstream')),
        route TEXT CHECK (route IS NULL OR route IN ('river', 'tank')),
        first_frame INTEGER NOT NULL,
        last_frame INTEGER NOT NULL,
        decision_frame INTEGER,
        length_cm REAL,
        model_version TEXT NOT NULL,
        snapshot TEXT,                     -- relative to the snapshot folder
        extra TEXT NOT NULL DEFAULT '{}'   -- flags, votes, decided_by, ... (JSON object)
    );
    CREATE INDEX passages_by_day ON passages (day, species, direction);
    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        topic TEXT NOT NULL,               -- below the site's topic root, e.g. 'passage'
        payload TEXT NOT NULL,
        retain INTEGER NOT NULL DEFAULT 0,
        created TEXT NOT NULL
    );
    """,
    # 1 -> 2: reviews. A correction is a new row, never an edit: the detected label stays
    # in passages, and a passage's reviewed label is its latest review's new_label.
    """
    CREATE TABLE reviews (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        passage_id TEXT NOT NULL REFERENCES passages (id),
        old_label TEXT NOT NULL,           -- the label the reviewer saw
        new_label TEXT NOT NULL,           -- a species, 'unknown' or 'not_fish'
        reviewer TEXT NOT NULL,
        time TEXT NOT NULL                 -- UTC, ISO 8601
    );
    CREATE INDEX reviews_by_passage ON reviews (passage_id, id);
    CREATE TABLE meta (                    -- what a reader of a copy needs: site, timezone
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
# a passage's label as reviewed: its latest review's, else what the trap detected
_LATEST_REVIEW = (
    "(SELECT new_label FROM reviews r WHERE r.passage_id = passages.id ORDER BY r.id DESC LIMIT 1)"
)
log = logging.getLogger(__name__)
SNAPSHOT_QUALITY = 90  # JPEG quality of the fish pictures biologists look at

_PASSAGE_COLUMNS = (
    "id, site, time, day, hour, species, confidence, direction, route, first_frame, last_frame, "
    "decision_frame, length_cm, model_version, snapshot, extra"
)


@dataclass(frozen=True)
class OutboxMessage:
    topic: str  # below the site's topic root
    payload: str
    retain: bool = False


@dataclass(frozen=True)
class OutboxRow:
    seq: int
    topic: str
    payload: str
    retain: bool


@dataclass(frozen=True)
class StoredPassage:
    """A passage as the store keeps it: the EVALUATION.md record plus where and when."""

    passage: Passage
    site: str
    time: datetime  # UTC
    day: date  # local at the site
    hour: int
    model_version: str
    snapshot: str | None  # relative to the snapshot folder
    reviewed_as: str | None = None  # the latest review's label; None: never reviewed

    def label(self, reviewed: bool) -> str:
        """The species as the trap detected it, or as reviewed (the detection if never reviewed)."""
        return self.reviewed_as if reviewed and self.reviewed_as is not None else self.passage.species

    def to_record(self) -> dict[str, Any]:
        record = self.passage.to_record()
        record.update(site=self.site, time=self.time.isoformat(), model=self.model_version)
        record["snapshot"] = self.snapshot
        return record


@dataclass(frozen=True)
class CountRow:
    period: str  # a day (YYYY-MM-DD) or an hour (YYYY-MM-DD HH)
    species: str
    direction: str
    count: int
    route: str | None = None  # upstream fish: where the gate sent them (river or tank)


@dataclass(frozen=True)
class Review:
    id: int
    passage_id: str
    old_label: str
    new_label: str
    reviewer: str
    time: datetime  # UTC


@dataclass(frozen=True)
class PassageFilter:
    """What a biologist narrows the passage list to (every field optional)."""

    species: str | None = None  # as detected, or as reviewed with `reviewed`
    direction: str | None = None
    flag: str | None = None  # passages carrying this flag
    below: float | None = None  # confidence below this
    unreviewed: bool = False
    reviewed: bool = False  # species means the reviewed label
    least_confident_first: bool = False
    limit: int | None = None
    offset: int = 0


class PassageStore:
    def __init__(
        self,
        path: Path,
        snapshots: Path | None = None,
        timeout_s: float = 10.0,
        create: bool = True,
        read_only: bool = False,
        quick_check: bool = True,
    ) -> None:
        """Open (or, unless `create` is False, make) a store. `read_only`: for readers
        (reports, a copy on a desk or a read-only card): never writes, never migrates."""
        self.path = Path(path)
        self.snapshots = Path(snapshots) if snapshots else self.path.parent / "snapshots"
        if (read_only or not create) and not self.path.is_file():
            raise StoreError(
                f"{self.path}: no store there (has the trap run yet? check storage.path or --db)"
            )
        self._db = self._connect(timeout_s, read_only)
        try:
            if not read_only:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")
            if quick_check:  # off only for a reader that checked once and opens again per request
                self._check_intact()
            if read_only:
                self._check_version()
            else:
                self._migrate()
        except StoreError:
            self._db.close()
            raise
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise StoreError(
                f"{self.path}: not a fishgate store or damaged ({exc}); "
                "move it aside (keep it: `fishgate store-rescue --db FILE -o NEW.db` rescues what is "
                "left) and fishgate starts a new one"
            ) from None

    def _connect(self, timeout_s: float, read_only: bool) -> sqlite3.Connection:
        try:
            if not read_only:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                return sqlite3.connect(self.path, timeout=timeout_s, isolation_level=None)
            uri = f"file:{self.path.resolve()}?mode=ro"
            db = sqlite3.connect(uri, uri=True, timeout=timeout_s, isolation_level=None)
            try:
                db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            except sqlite3.OperationalError:
                # a store on a read-only medium: WAL cannot make its shared-memory file there
                db.close()
                db = sqlite3.connect(f"{uri}&immutable=1", uri=True, isolation_level=None)
            return db
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"{self.path}: cannot open the store: {exc} (check storage.path)") from None

    def _check_intact(self) -> None:
        """SQLite's quick_check: a damaged file is refused at open, not at the first query."""
        problems = [row[0] for row in self._db.execute("PRAGMA quick_check(3)").fetchall()]
        if problems != ["ok"]:
            what = " ".join("; ".join(problems).split())[:200]  # one line
            raise StoreError(
                f"{self.path}: the store is damaged ({what}); move it aside, rescue what is left with "
                "`fishgate store-rescue --db FILE -o NEW.db` and put NEW.db in its place"
            )

    def _check_version(self) -> None:
        version = self.version
        if version == 0 and not self._db.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone():
            raise StoreError(f"{self.path}: an empty file, not a fishgate store (check --db)")
        if version != SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: store schema version {version}, this fishgate reads {SCHEMA_VERSION}; "
                "open it once with a writable `fishgate` of the same version, or upgrade fishgate"
            )

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> PassageStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        version = self.version
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: store schema version {version} is newer than this fishgate knows "
                f"({SCHEMA_VERSION}); upgrade fishgate"
            )
        for step in range(version, SCHEMA_VERSION):
            with self._transaction():
                if self.version != step:  # another process migrated it while we waited
                    continue
                # executescript would commit on its own; statements one by one stay in ours
                for statement in _statements(MIGRATIONS[step]):
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {step + 1}")

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                if self._db.in_transaction:  # SQLite itself rolls back on SQLITE_FULL
                    self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.IntegrityError as exc:
            raise DuplicateRecord(_explain(self.path, exc)) from None
        except sqlite3.Error as exc:
            raise StoreError(_explain(self.path, exc)) from None

    # -- writing -------------------------------------------------------------

    def record(
        self,
        passage: Passage,
        site: str,
        time: datetime,
        local: datetime,
        model_version: str,
        snapshot: np.ndarray | None = None,
        messages: Callable[[StoredPassage], Sequence[OutboxMessage]] = lambda stored: (),
    ) -> StoredPassage:
        """Store one passage, its snapshot and the outbox messages made of it; durable on return."""
        name = self._write_snapshot(passage.id, local.date(), snapshot) if snapshot is not None else None
        stored = StoredPassage(
            passage, site, time.astimezone(UTC), local.date(), local.hour, model_version, name
        )
        extra = {k: v for k, v in passage.extra if k != "model"}
        with self._transaction():
            self._db.execute(
                f"INSERT INTO passages ({_PASSAGE_COLUMNS}) VALUES ({', '.join('?' * 16)})",
                (
                    passage.id, site, stored.time.isoformat(), stored.day.isoformat(), stored.hour,
                    passage.species, passage.confidence, passage.direction, passage.route,
                    passage.first_frame, passage.last_frame, passage.decision_frame, passage.length_cm,
                    model_version, name, json.dumps(extra),
                ),
            )  # fmt: skip
            now = datetime.now(UTC).isoformat()
            self._db.executemany(
                "INSERT INTO outbox (topic, payload, retain, created) VALUES (?, ?, ?, ?)",
                [(m.topic, m.payload, int(m.retain), now) for m in messages(stored)],
            )
        return stored

    def _write_snapshot(self, passage_id: str, day: date, image: np.ndarray) -> str | None:
        """The JPEG of the fish, durable before its passage row is (an orphan picture is harmless).

        A picture that cannot be written (disk full, card failing) is logged and the
        passage stored without it: the count matters more than its picture.
        """
        name = f"{day.isoformat()}/{_safe_name(passage_id)}.jpg"
        path = self.snapshots / name
        ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, SNAPSHOT_QUALITY])
        if not ok:
            log.error("passage %s: the snapshot could not be encoded as JPEG", passage_id)
            return None
        tmp = path.with_suffix(".tmp")
        try:
            new_day = not path.parent.is_dir()
            path.parent.mkdir(parents=True, exist_ok=True)
            with tmp.open("wb") as f:
                f.write(jpeg.tobytes())
                f.flush()
                os.fsync(f.fileno())
            tmp.replace(path)
            _fsync_dir(path.parent)  # the rename, and a new day's folder, survive a power cut
            if new_day:
                _fsync_dir(self.snapshots)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            log.error("%s: snapshot not written (%s); passage %s stored without it", path, exc, passage_id)
            return None
        return name

    def review(
        self,
        passage_id: str,
        new_label: str,
        reviewer: str,
        time: datetime,
        messages: Callable[[Review, str], Sequence[OutboxMessage]] = lambda review, site: (),
    ) -> Review:
        """Store a reviewer's label for a passage (confirming is a review with the same
        label), and its outbox messages, in one transaction. Returns the review."""
        from fishgate.types import REVIEW_LABELS

        if new_label not in REVIEW_LABELS:
            raise ValueError(f"label: expected one of {', '.join(REVIEW_LABELS)}, got {new_label!r}")
        if not reviewer.strip():
            raise ValueError("reviewer: a name is needed (reviews are signed)")
        with self._transaction():
            row = self._db.execute(
                f"SELECT species, site, {_LATEST_REVIEW} FROM passages WHERE id = ?", (passage_id,)
            ).fetchone()
            if row is None:
                raise ValueError(f"no passage {passage_id!r} in {self.path}")
            old_label = row[2] if row[2] is not None else row[0]
            cursor = self._db.execute(
                "INSERT INTO reviews (passage_id, old_label, new_label, reviewer, time) "
                "VALUES (?, ?, ?, ?, ?)",
                (passage_id, old_label, new_label, reviewer.strip(), time.astimezone(UTC).isoformat()),
            )
            assert cursor.lastrowid is not None
            review = Review(cursor.lastrowid, passage_id, old_label, new_label, reviewer.strip(), time)
            now = datetime.now(UTC).isoformat()
            self._db.executemany(
                "INSERT INTO outbox (topic, payload, retain, created) VALUES (?, ?, ?, ?)",
                [(m.topic, m.payload, int(m.retain), now) for m in messages(review, row[1])],
            )
        return review

    def set_meta(self, **values: str) -> None:
        """Facts about the store's site (name, timezone), for readers of a copy without its config."""
        with self._transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                list(values.items()),
            )

    def passage_count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM passages").fetchone()[0])

    def meta(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT key, value FROM meta").fetchall())

    def reviews(self, passage_id: str | None = None) -> list[Review]:
        """Reviews, oldest first (of one passage, or all)."""
        sql = "SELECT id, passage_id, old_label, new_label, reviewer, time FROM reviews"
        params: tuple[Any, ...] = ()
        if passage_id is not None:
            sql, params = sql + " WHERE passage_id = ?", (passage_id,)
        rows = self._db.execute(sql + " ORDER BY id", params).fetchall()
        return [Review(i, p, o, n, r, datetime.fromisoformat(t)) for i, p, o, n, r, t in rows]

    def ack(self, seqs: Sequence[int]) -> None:
        """The broker has the messages: they leave the outbox."""
        if seqs:
            with self._transaction():
                self._db.executemany("DELETE FROM outbox WHERE seq = ?", [(s,) for s in seqs])

    # -- reading -------------------------------------------------------------

    def outbox(self, limit: int, after: int = 0) -> list[OutboxRow]:
        rows = self._db.execute(
            "SELECT seq, topic, payload, retain FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
            (after, limit),
        ).fetchall()
        return [OutboxRow(seq, topic, payload, bool(retain)) for seq, topic, payload, retain in rows]

    def outbox_length(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def passages(
        self,
        start: date | None = None,
        end: date | None = None,
        species: str | None = None,
        where: PassageFilter | None = None,
    ) -> list[StoredPassage]:
        """Passages of local days start..end (both included), oldest first (or as `where` says;
        `species` alone is the short form of a filter by the detected species)."""
        f = where or PassageFilter(species=species)
        clauses, params = _day_range(start, end)
        label = f"COALESCE({_LATEST_REVIEW}, species)" if f.reviewed else "species"
        for sql, value in (
            (f"{label} = ?", f.species),
            ("direction = ?", f.direction),
            ("confidence < ?", f.below),
            ("EXISTS (SELECT 1 FROM json_each(extra, '$.flags') WHERE value = ?)", f.flag),
        ):
            if value is not None:
                clauses.append(sql)
                params.append(value)
        if f.unreviewed:
            clauses.append("NOT EXISTS (SELECT 1 FROM reviews r WHERE r.passage_id = passages.id)")
        sql = f"SELECT {_PASSAGE_COLUMNS}, {_LATEST_REVIEW} FROM passages"
        sql += f" WHERE {' AND '.join(clauses)}" if clauses else ""
        sql += " ORDER BY confidence, time, rowid" if f.least_confident_first else " ORDER BY time, rowid"
        if f.limit is not None:
            sql += f" LIMIT {int(f.limit)} OFFSET {int(f.offset)}"
        return [_stored(row) for row in self._db.execute(sql, params).fetchall()]

    def passage(self, passage_id: str) -> StoredPassage | None:
        row = self._db.execute(
            f"SELECT {_PASSAGE_COLUMNS}, {_LATEST_REVIEW} FROM passages WHERE id = ?", (passage_id,)
        ).fetchone()
        return None if row is None else _stored(row)

    def counts(
        self, start: date | None = None, end: date | None = None, by: str = "day", reviewed: bool = False
    ) -> list[CountRow]:
        """Passages per day (or hour) x species x direction x route for local days start..end.
        `reviewed`: by the reviewed label, without what reviewers said is not a fish."""
        period = {"day": "day", "hour": "day || ' ' || printf('%02d', hour)"}[by]
        label = f"COALESCE({_LATEST_REVIEW}, species)" if reviewed else "species"
        clauses, params = _day_range(start, end)
        sql = f"SELECT period, label, direction, COUNT(*), route FROM (SELECT {period} AS period, "
        sql += f"{label} AS label, direction, route FROM passages"
        sql += f" WHERE {' AND '.join(clauses)}" if clauses else ""
        sql += ")" + (" WHERE label != 'not_fish'" if reviewed else "")
        sql += " GROUP BY period, label, direction, route ORDER BY period, label, direction, route"
        return [CountRow(*row) for row in self._db.execute(sql, params).fetchall()]

    def totals(self, start: date | None = None, end: date | None = None) -> dict[str, dict[str, int]]:
        """species -> direction -> passages over local days start..end."""
        totals: dict[str, dict[str, int]] = {}
        for row in self.counts(start, end):
            by_direction = totals.setdefault(row.species, {})
            by_direction[row.direction] = by_direction.get(row.direction, 0) + row.count
        return totals

    def integrity_check(self) -> str:
        return str(self._db.execute("PRAGMA integrity_check").fetchone()[0])


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _statements(script: str) -> list[str]:
    """Split a migration into statements. Simple on purpose: migrations must not use ';'
    or '--' inside string literals or triggers (write such a step as several statements)."""
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def _day_range(start: date | None, end: date | None) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    if start:
        where.append("day >= ?")
        params.append(start.isoformat())
    if end:
        where.append("day <= ?")
        params.append(end.isoformat())
    return where, params


def _stored(row: tuple[Any, ...]) -> StoredPassage:
    (pid, site, time, day, hour, species, confidence, direction, route, first, last, decided,
     length, model, snapshot, extra, reviewed_as) = row  # fmt: skip
    passage = Passage(
        id=pid,
        species=species,
        confidence=confidence,
        direction=direction,
        route=route,
        first_frame=first,
        last_frame=last,
        decision_frame=decided,
        length_cm=length,
        extra=tuple(json.loads(extra).items()),
    )
    return StoredPassage(
        passage,
        site,
        datetime.fromisoformat(time),
        date.fromisoformat(day),
        hour,
        model,
        snapshot,
        reviewed_as,
    )


def _safe_name(passage_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in passage_id)


class StoreLock:
    """One trap per store: an exclusive `flock` on STORE.lock, held while the trap runs.
    A second `fishgate run` on the same store (and so the same MQTT client id) is refused."""

    def __init__(self, store_path: Path) -> None:
        self.path = Path(str(store_path) + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise StoreError(
                f"{self.path.with_suffix('')}: another fishgate run (pid {holder}) is using this store; "
                "stop it first, or give this run its own storage.path"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the file releases the lock
            self._fd = None


def _explain(path: Path, exc: sqlite3.Error) -> str:
    text = str(exc)
    if isinstance(exc, sqlite3.IntegrityError):
        return f"{path}: refused to store a record ({text}); a passage id must be stored only once"
    if "full" in text:
        return f"{path}: disk full, the passage was not stored ({text}); free space on that disk"
    if "locked" in text:
        return f"{path}: the store is locked by another process ({text}); is a second fishgate running?"
    if "readonly" in text:
        return f"{path}: the store is read-only ({text}); check the file's permissions"
    return f"{path}: store write failed: {text}"
