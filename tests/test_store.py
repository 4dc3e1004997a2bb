"""The local store: passages with snapshots and outbox rows, counts by local day, migrations, errors."""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import pytest

from fishgate.errors import StoreError
from fishgate.store import SCHEMA_VERSION, OutboxMessage, PassageStore, StoredPassage
from fishgate.types import Passage

OSLO = ZoneInfo("Europe/Oslo")


def passage(pid: str, species: str = "pink_salmon", direction: str = "upstream") -> Passage:
    return Passage(
        id=pid,
        species=species,
        confidence=0.97,
        direction=direction,  # type: ignore[arg-type]
        route="tank" if direction == "upstream" else None,
        first_frame=10,
        last_frame=60,
        decision_frame=30 if direction == "upstream" else None,
        length_cm=55.5,
        extra=(("flags", ["conflict"]), ("votes", 12), ("model", "m1")),
    )


def record(store: PassageStore, p: Passage, when: datetime, image: np.ndarray | None = None) -> StoredPassage:
    return store.record(
        p,
        site="river",
        time=when,
        local=when.astimezone(OSLO),
        model_version="m1",
        snapshot=image,
        messages=lambda s: [OutboxMessage("passage", f'{{"id": "{s.passage.id}"}}')],
    )


def test_a_passage_is_stored_with_its_snapshot_and_outbox_row(tmp_path: Path) -> None:
    picture = np.full((40, 100, 3), (20, 120, 200), np.uint8)
    with PassageStore(tmp_path / "s.db") as store:
        stored = record(store, passage("run-1"), datetime(2026, 8, 1, 10, 0, tzinfo=UTC), picture)
        assert stored.snapshot == "2026-08-01/run-1.jpg"
        [back] = store.passages()
        assert _fields(back.passage) | {"extra": ()} == _fields(passage("run-1")) | {"extra": ()}
        assert dict(back.passage.extra) == {"flags": ["conflict"], "votes": 12}
        assert back.time == datetime(2026, 8, 1, 10, 0, tzinfo=UTC) and back.day == date(2026, 8, 1)
        assert back.hour == 12  # Oslo summer time
        [row] = store.outbox(10)
        assert row.topic == "passage" and '"run-1"' in row.payload
    jpeg = cv2.imread(str(tmp_path / "snapshots" / stored.snapshot))
    assert jpeg.shape == picture.shape and abs(int(jpeg[20, 50, 2]) - 200) < 8


def _fields(p: Passage) -> dict:  # type: ignore[type-arg]
    return {f: getattr(p, f) for f in p.__dataclass_fields__}


def test_counts_group_by_the_sites_local_day_and_hour(tmp_path: Path) -> None:
    with PassageStore(tmp_path / "s.db") as store:
        # 22:30 UTC on 1 August is 00:30 on 2 August in Oslo
        record(store, passage("a"), datetime(2026, 8, 1, 22, 30, tzinfo=UTC))
        record(store, passage("b"), datetime(2026, 8, 1, 21, 30, tzinfo=UTC))
        record(store, passage("c", "atlantic_salmon"), datetime(2026, 8, 1, 21, 40, tzinfo=UTC))
        record(store, passage("d", direction="downstream"), datetime(2026, 8, 3, 9, 0, tzinfo=UTC))
        days = [(r.period, r.species, r.direction, r.count) for r in store.counts()]
        assert days == [
            ("2026-08-01", "atlantic_salmon", "upstream", 1),
            ("2026-08-01", "pink_salmon", "upstream", 1),
            ("2026-08-02", "pink_salmon", "upstream", 1),
            ("2026-08-03", "pink_salmon", "downstream", 1),
        ]
        hours = [(r.period, r.count) for r in store.counts(date(2026, 8, 2), date(2026, 8, 2), by="hour")]
        assert hours == [("2026-08-02 00", 1)]
        assert store.totals(date(2026, 8, 1), date(2026, 8, 2)) == {
            "atlantic_salmon": {"upstream": 1},
            "pink_salmon": {"upstream": 2},
        }
        assert [s.passage.id for s in store.passages(date(2026, 8, 2))] == ["a", "d"]
        assert [s.passage.id for s in store.passages(species="atlantic_salmon")] == ["c"]


def test_acknowledged_outbox_rows_leave_and_the_rest_stay_in_order(tmp_path: Path) -> None:
    with PassageStore(tmp_path / "s.db") as store:
        for n in range(5):
            record(store, passage(f"p{n}"), datetime(2026, 8, 1, 10, n, tzinfo=UTC))
        rows = store.outbox(10)
        store.ack([rows[1].seq, rows[3].seq])
        assert [r.seq for r in store.outbox(10)] == [rows[0].seq, rows[2].seq, rows[4].seq]
        assert [r.seq for r in store.outbox(10, after=rows[2].seq)] == [rows[4].seq]
        assert store.outbox_length() == 3


def test_a_passage_survives_reopening_and_the_schema_is_migrated_once(tmp_path: Path) -> None:
    with PassageStore(tmp_path / "s.db") as store:
        assert store.version == SCHEMA_VERSION
        record(store, passage("kept"), datetime(2026, 8, 1, tzinfo=UTC))
    with PassageStore(tmp_path / "s.db") as store:
        assert [s.passage.id for s in store.passages()] == ["kept"]
        assert store.integrity_check() == "ok"
        mode = store._db.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"


def test_a_store_from_a_newer_fishgate_is_refused(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "s.db")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StoreError, match=r"newer than this fishgate knows.*upgrade fishgate"):
        PassageStore(tmp_path / "s.db")


def test_a_file_that_is_not_a_store_is_named_with_the_fix(tmp_path: Path) -> None:
    (tmp_path / "s.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match=r"not a fishgate store or damaged.*move it aside"):
        PassageStore(tmp_path / "s.db")


def test_the_same_passage_twice_is_refused_and_the_first_kept(tmp_path: Path) -> None:
    with PassageStore(tmp_path / "s.db") as store:
        record(store, passage("once"), datetime(2026, 8, 1, tzinfo=UTC))
        with pytest.raises(StoreError, match="stored only once"):
            record(store, passage("once"), datetime(2026, 8, 2, tzinfo=UTC))
        assert len(store.passages()) == 1 and store.outbox_length() == 1


def test_a_full_disk_is_reported_and_loses_nothing_already_stored(tmp_path: Path) -> None:
    with PassageStore(tmp_path / "s.db") as store:
        record(store, passage("before"), datetime(2026, 8, 1, tzinfo=UTC))
        # SQLite reports a database that may not grow exactly as a full disk (SQLITE_FULL)
        pages = store._db.execute("PRAGMA page_count").fetchone()[0]
        store._db.execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(StoreError, match=r"disk full.*free space"):
            for n in range(200):
                record(store, passage(f"more-{n}"), datetime(2026, 8, 1, tzinfo=UTC))
    with PassageStore(tmp_path / "s.db") as store:
        ids = [s.passage.id for s in store.passages()]
        assert ids[0] == "before" and store.integrity_check() == "ok"
        assert len(ids) == store.outbox_length()  # each stored passage has its message, no more


def test_a_snapshot_that_cannot_be_written_leaves_the_passage_stored_without_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "pictures").write_text("a file where the snapshot folder should be")
    with PassageStore(tmp_path / "s.db", tmp_path / "pictures") as store:
        stored = record(
            store, passage("no-pic"), datetime(2026, 8, 1, tzinfo=UTC), np.zeros((9, 9, 3), np.uint8)
        )
        assert stored.snapshot is None
        assert [s.snapshot for s in store.passages()] == [None] and store.outbox_length() == 1
    assert "snapshot not written" in caplog.text


def _torn_store(path: Path, passages: int = 400) -> None:
    with PassageStore(path) as store:
        for i in range(passages):
            record(store, passage(f"p{i}"), datetime(2026, 8, 1, tzinfo=UTC))
        store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        leaves = store._db.execute(
            "SELECT pageno FROM dbstat WHERE name = 'passages' AND pagetype = 'leaf' ORDER BY pageno"
        ).fetchall()
    torn = leaves[len(leaves) // 2][0] - 1  # a page of passage rows in the middle of the season
    data = bytearray(path.read_bytes())
    page = 4096
    data[torn * page : torn * page + 200] = b"\xff" * 200
    path.write_bytes(bytes(data))


def test_a_damaged_store_is_noticed_at_open_with_the_way_out(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    _torn_store(path)
    with pytest.raises(StoreError, match=r"damaged.*fishgate store-rescue --db FILE -o NEW\.db") as info:
        PassageStore(path, read_only=True)
    assert "\n" not in str(info.value)


def test_store_rescue_copies_every_readable_row_into_a_new_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from fishgate.cli import main

    path = tmp_path / "s.db"
    _torn_store(path)
    before = path.read_bytes()
    assert main(["store-rescue", "--db", str(path), "-o", str(tmp_path / "new.db")]) == 1  # rows were lost
    out = capsys.readouterr().out
    assert path.read_bytes() == before  # the damaged store is never changed
    with PassageStore(tmp_path / "new.db", read_only=True) as rescued:  # passes quick_check
        ids = {s.passage.id for s in rescued.passages()}
        outbox = rescued.outbox_length()
    lost = 400 - len(ids)
    assert 0 < lost < 100 and f"passages  {len(ids):>7} rows copied, {lost} unreadable (lost)" in out
    assert outbox >= len(ids) - 100  # their messages, less those on the torn page
    assert main(["store-rescue", "--db", str(path), "-o", str(tmp_path / "new.db")]) == 2  # never overwrites
    assert "exists" in capsys.readouterr().err


def test_reports_open_a_store_read_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from fishgate.cli import main

    with PassageStore(tmp_path / "s.db") as store:
        record(store, passage("a"), datetime(2026, 8, 1, 12, tzinfo=UTC))
    assert main(["passages", "--db", str(tmp_path / "s.db"), "--format", "jsonl"]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == "a"
    with PassageStore(tmp_path / "s.db", read_only=True) as reader:
        assert [s.passage.id for s in reader.passages()] == ["a"]
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reader._db.execute("DELETE FROM passages")
    # an old or foreign file is not migrated by a reader: it says what to do
    db = sqlite3.connect(tmp_path / "old.db")
    db.execute("CREATE TABLE x (y)")
    db.close()
    with pytest.raises(StoreError, match=r"schema version 0, this fishgate reads"):
        PassageStore(tmp_path / "old.db", read_only=True)


def test_only_one_trap_uses_a_store(tmp_path: Path) -> None:
    from fishgate.store import StoreLock

    first, second = StoreLock(tmp_path / "s.db"), StoreLock(tmp_path / "s.db")
    first.acquire()
    try:
        with pytest.raises(StoreError, match=rf"another fishgate run \(pid {os.getpid()}\)"):
            second.acquire()
    finally:
        first.release()
    second.acquire()  # free again once the first has stopped
    second.release()
