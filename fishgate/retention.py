"""A season on a small disk: snapshots are pruned so that passages always have room.

Snapshots live in one folder per local day (`snapshots/YYYY-MM-DD/ID.jpg`). The
keeper knows every file and its size (one walk at start, then kept up to date), so
each check is arithmetic, not a walk of a season's pictures. Order of sacrifice:
the oldest snapshots first (by age limit, by size cap, then whatever a nearly full
disk needs), then new snapshots are not written at all; passage rows come last and
are never deleted here.
"""

from __future__ import annotations

import logging
import shutil
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from fishgate.config import StorageConfig

log = logging.getLogger(__name__)
MB = 1_000_000


@dataclass(frozen=True)
class _Picture:
    day: str  # the folder name, YYYY-MM-DD: sorts oldest first
    path: Path
    size: int


def free_bytes(folder: Path) -> int | None:
    """Free space on the disk that holds `folder` (its nearest existing parent), or None."""
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            try:
                return shutil.disk_usage(candidate).free
            except OSError:
                return None
    return None


class SnapshotKeeper:
    """Prunes the snapshot folder to the storage settings and keeps room on the disk.

    `count(name, n)` is told what was pruned or refused (the trap's stats counters)."""

    def __init__(
        self,
        storage: StorageConfig,
        count: Callable[[str, int], None] = lambda name, n: None,
        free: Callable[[Path], int | None] = free_bytes,
    ) -> None:
        self.folder = storage.snapshots
        self.keep_days = storage.keep_snapshots_days
        self.max_bytes = None if storage.max_snapshot_mb is None else int(storage.max_snapshot_mb * MB)
        self.min_free = int(storage.min_free_mb * MB)
        self.count = count
        self.free = free
        self._pictures: deque[_Picture] = deque(sorted(self._walk(), key=lambda p: (p.day, p.path.name)))
        self.total_bytes = sum(p.size for p in self._pictures)
        self._short = False  # the disk was nearly full at the last look (warned once per episode)

    def _walk(self) -> list[_Picture]:
        if not self.folder.is_dir():
            return []
        found = []
        for day in self.folder.iterdir():
            if day.is_dir():
                for f in day.glob("*.jpg"):
                    try:
                        found.append(_Picture(day.name, f, f.stat().st_size))
                    except OSError:
                        continue
        return found

    def __len__(self) -> int:
        return len(self._pictures)

    def added(self, name: str) -> None:
        """A snapshot was written (NAME relative to the folder, as the store names it)."""
        path = self.folder / name
        try:
            size = path.stat().st_size
        except OSError:
            return
        self._pictures.append(_Picture(path.parent.name, path, size))
        self.total_bytes += size
        if self.max_bytes is not None and self.total_bytes > self.max_bytes:
            self._prune_while(lambda: self.total_bytes > self.max_bytes, "max_snapshot_mb")  # type: ignore[operator]

    def prune_old(self, today: date) -> int:
        """Delete snapshots of days older than keep_snapshots_days; how many went."""
        if self.keep_days is None:
            return 0
        oldest_kept = (today - timedelta(days=self.keep_days)).isoformat()
        return self._prune_while(lambda: self._pictures[0].day < oldest_kept, "keep_snapshots_days")

    def room_for_snapshot(self) -> bool:
        """Whether a new snapshot may be written: makes room by pruning the oldest if the
        disk is nearly full; False (the snapshot is dropped) when even that is not enough."""
        if self._enough_free():
            if self._short:
                log.warning("disk: space is back; snapshots are written again")
                self._short = False
            return True
        self.make_room()
        if self._enough_free():
            return True
        if not self._short:
            log.error(
                "disk: nearly full (under storage.min_free_mb = %.0f MB) and no snapshot left to prune; "
                "new snapshots are dropped, passages are still stored",
                self.min_free / MB,
            )
            self._short = True
        return False

    def make_room(self) -> int:
        """Prune the oldest snapshots until the disk has min_free_mb free again."""
        pruned = self._prune_while(lambda: not self._enough_free(), "disk nearly full")
        if pruned:
            log.warning("disk: nearly full; pruned the %d oldest snapshots", pruned)
        return pruned

    def _enough_free(self) -> bool:
        free = self.free(self.folder)
        return free is None or free >= self.min_free

    def _prune_while(self, condition: Callable[[], bool], why: str) -> int:
        pruned = 0
        while self._pictures and condition():
            picture = self._pictures.popleft()
            try:
                picture.path.unlink(missing_ok=True)
            except OSError as exc:
                log.error("%s: cannot prune snapshot (%s)", picture.path, exc)
                continue
            self.total_bytes -= picture.size
            pruned += 1
            if not any(picture.path.parent.iterdir()):
                picture.path.parent.rmdir()
        if pruned:
            self.count("snapshots_pruned", pruned)
            log.info("pruned %d snapshots (%s)", pruned, why)
        return pruned
