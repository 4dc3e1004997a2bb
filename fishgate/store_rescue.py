"""`fishgate store-rescue`: what can still be read from a damaged store, into a new one.

A torn page (a power cut on a card that lies about fsync, a failing card) makes
`quick_check` refuse the store at open. Rows are read here one at a time by rowid, so
one bad page loses the rows on it, not the season; every readable passage, review and
outbox message is written to a fresh store, and the snapshots folder is left as it is.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from fishgate.errors import ConfigError, StoreError
from fishgate.store import PassageStore

TABLES = ("passages", "reviews", "outbox", "meta")  # copied in this order (reviews refer to passages)


@dataclass
class Rescued:
    table: str
    copied: int = 0
    lost: int = 0  # rows on pages that could not be read


def rescue(damaged: Path, into: Path) -> list[Rescued]:
    if not damaged.is_file():
        raise ConfigError(f"--db: no store at {damaged}")
    if into.exists():
        raise ConfigError(f"--output: {into} exists; give a new file (the damaged store is never changed)")
    try:
        source = sqlite3.connect(f"file:{damaged.resolve()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise StoreError(f"{damaged}: cannot open at all ({exc})") from None
    with PassageStore(into):  # a new store of the current schema, empty
        pass
    target = sqlite3.connect(into)
    try:
        results = [_copy(source, target, table) for table in TABLES]
        target.commit()
    finally:
        target.close()
        source.close()
    return results


def _copy(source: sqlite3.Connection, target: sqlite3.Connection, table: str) -> Rescued:
    result = Rescued(table)
    try:
        columns = [row[1] for row in target.execute(f"PRAGMA table_info({table})")]
        top = source.execute(f"SELECT max(rowid) FROM {table}").fetchone()[0] or 0
    except sqlite3.DatabaseError:
        return result  # the table itself is unreadable (or an older schema without it)
    wanted = ", ".join(columns)
    marks = ", ".join("?" * len(columns))
    for rowid in range(1, top + 1):
        try:
            row = source.execute(f"SELECT {wanted} FROM {table} WHERE rowid = ?", (rowid,)).fetchone()
        except sqlite3.DatabaseError:
            result.lost += 1
            continue
        if row is None:
            continue  # deleted (an acknowledged outbox message), not lost
        try:
            target.execute(f"INSERT OR IGNORE INTO {table} ({wanted}) VALUES ({marks})", row)
            result.copied += 1
        except sqlite3.DatabaseError:
            result.lost += 1
    return result
