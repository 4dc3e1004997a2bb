"""A season on a small disk: snapshot retention, a nearly full disk, a store that refuses writes."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest

from fishgate.config import StorageConfig
from fishgate.errors import StoreError
from fishgate.pipeline import StepResult
from fishgate.recorder import PassageRecorder
from fishgate.retention import MB, SnapshotKeeper
from fishgate.store import PassageStore
from tests.test_store import passage


def _picture(folder: Path, day: str, name: str, size: int) -> Path:
    path = folder / day / f"{name}.jpg"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    return path


def _storage(tmp_path: Path, **settings: float | None) -> StorageConfig:
    return StorageConfig(tmp_path / "store.db", tmp_path / "snapshots", **settings)  # type: ignore[arg-type]


def test_snapshots_older_than_keep_days_are_pruned_and_empty_days_removed(tmp_path: Path) -> None:
    storage = _storage(tmp_path, keep_snapshots_days=10, min_free_mb=0)
    old = _picture(storage.snapshots, "2026-08-01", "a", 100)
    edge = _picture(storage.snapshots, "2026-08-10", "b", 100)
    new = _picture(storage.snapshots, "2026-08-15", "c", 100)
    counted: Counter[str] = Counter()
    keeper = SnapshotKeeper(storage, lambda name, n: counted.update({name: n}))
    assert len(keeper) == 3 and keeper.total_bytes == 300
    assert keeper.prune_old(date(2026, 8, 20)) == 1  # oldest kept day: 2026-08-10
    assert not old.exists() and not old.parent.exists() and edge.exists() and new.exists()
    assert counted == {"snapshots_pruned": 1} and keeper.total_bytes == 200


def test_the_size_cap_prunes_the_oldest_first(tmp_path: Path) -> None:
    storage = _storage(tmp_path, max_snapshot_mb=0.0003, min_free_mb=0)  # 300 bytes
    first = _picture(storage.snapshots, "2026-08-01", "a", 100)
    second = _picture(storage.snapshots, "2026-08-02", "b", 100)
    keeper = SnapshotKeeper(storage)
    third = _picture(storage.snapshots, "2026-08-03", "c", 100)
    keeper.added("2026-08-03/c.jpg")
    assert first.exists() and keeper.total_bytes == 300  # at the cap, not over it
    _picture(storage.snapshots, "2026-08-03", "d", 150)
    keeper.added("2026-08-03/d.jpg")
    assert not first.exists() and not second.exists() and third.exists()
    assert keeper.total_bytes == 250


def test_a_nearly_full_disk_prunes_the_oldest_then_drops_new_snapshots(tmp_path: Path) -> None:
    storage = _storage(tmp_path, min_free_mb=1)
    pictures = [_picture(storage.snapshots, f"2026-08-0{d}", "p", 400_000) for d in (1, 2, 3)]
    used = sum(p.stat().st_size for p in pictures if p.exists())
    disk = {"free": 200_000}  # bytes free besides what the pictures use

    def free(folder: Path) -> int:
        return disk["free"] + 1_200_000 - sum(p.stat().st_size for p in pictures if p.exists())

    assert used == 1_200_000
    keeper = SnapshotKeeper(storage, free=free)
    assert keeper.room_for_snapshot()  # pruning the two oldest frees 800 kB: 1 MB free
    assert [p.exists() for p in pictures] == [False, False, True]
    disk["free"] = -1_000_000  # something else filled the disk
    assert not keeper.room_for_snapshot() and len(keeper) == 0


class _RefusingStore(PassageStore):
    """A real store whose writes fail while `full` is set, as SQLite does on a full disk."""

    full = False

    def record(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if self.full:
            raise StoreError(f"{self.path}: disk full, the passage was not stored; free space on that disk")
        return super().record(*args, **kwargs)


def test_passages_the_store_refuses_are_held_in_order_and_written_when_space_returns(tmp_path: Path) -> None:
    counted: Counter[str] = Counter()
    now = [0.0]
    with _RefusingStore(tmp_path / "store.db") as store:
        recorder = PassageRecorder(
            store, "river", "Europe/Oslo", "m1", count=lambda name, n: counted.update({name: n}),
            clock=lambda: now[0],
        )  # fmt: skip
        recorder.observe(StepResult(0, 0.0, [], [], passages=[passage("a")]))
        store.full = True
        for n, pid in enumerate(("b", "c", "d"), start=1):
            recorder.observe(
                StepResult(n, n / 25, [], [], passages=[passage(pid)])
            )  # never raises: sorting goes on
        assert [h.passage.id for h in recorder.held] == ["b", "c", "d"]
        assert counted == {"passages_held": 3}
        store.full = False
        now[0] = 1.0
        recorder.observe(StepResult(9, 0.4, [], []))  # too soon: retried every 2 s
        assert len(recorder.held) == 3
        now[0] = 2.5
        recorder.observe(StepResult(10, 0.5, [], []))
        assert not recorder.held
        assert [p.passage.id for p in store.passages()] == ["a", "b", "c", "d"]
        assert store.outbox_length() == 4  # each with its MQTT message
        store.full = True
        recorder.observe(StepResult(11, 0.6, [], [], passages=[passage("e")]))
        assert recorder.close() == 1  # still full at the end: lost, and counted
    assert counted == {"passages_held": 4, "passages_lost": 1}


def test_a_dropped_snapshot_is_counted_and_the_passage_still_stored(tmp_path: Path) -> None:
    counted: Counter[str] = Counter()
    storage = _storage(tmp_path, min_free_mb=1)
    keeper = SnapshotKeeper(storage, free=lambda folder: 10)  # 10 bytes free: nothing to prune
    with PassageStore(storage.path, storage.snapshots) as store:
        recorder = PassageRecorder(
            store, "river", "Europe/Oslo", "m1", keeper=keeper, count=lambda name, n: counted.update({name: n}),
            wall_clock=lambda: datetime(2026, 8, 12, 10, tzinfo=UTC),
        )  # fmt: skip
        image = np.full((40, 120, 3), 128, np.uint8)
        recorder.observe(StepResult(0, 0.0, [], [], passages=[passage("a")], snapshots={"a": image}))
        (stored,) = store.passages()
    assert stored.snapshot is None and counted == {"snapshots_dropped": 1}
    assert not storage.snapshots.exists() or not any(storage.snapshots.rglob("*.jpg"))


def test_the_storage_settings_are_checked(tmp_path: Path) -> None:
    from fishgate.config import parse_config
    from fishgate.errors import ConfigError
    from tests.test_config_fuzz import SAMPLE, _mutated

    data = _mutated("storage", "keep_snapshots_days", 0, False)
    with pytest.raises(ConfigError, match=r"storage\.keep_snapshots_days: must be >= 1"):
        parse_config(data, tmp_path)
    data = _mutated("storage", "max_snapshot_mb", 500, False)
    config = parse_config(data, tmp_path)
    assert config.storage.max_snapshot_mb == 500 and config.storage.min_free_mb == 100
    assert SAMPLE["storage"]  # the sample config has a [storage] table to mutate
    assert MB == 1_000_000


# -- the whole trap on a disk that fills up --------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A real 5 MB tmpfs (needs the right to mount, as root in CI has; skipped otherwise)."""
    import subprocess

    disk = tmp_path / "disk"
    disk.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=5m", "tmpfs", str(disk)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


class _FreesSpaceAt:
    """Wraps the detector: at one frame, the operator deletes the file that filled the disk."""

    def __init__(self, detector, frame: int, filler: Path) -> None:  # type: ignore[no-untyped-def]
        self.detector, self.frame, self.filler, self.frames = detector, frame, filler, 0
        self.length_scale = detector.length_scale

    def detect(self, image, t):  # type: ignore[no-untyped-def]
        self.frames += 1
        if self.frames == self.frame:
            self.filler.unlink()
        return self.detector.detect(image, t)


def _trap_run(site: Path, events: Path, free_at: tuple[int, Path] | None = None) -> dict:  # type: ignore[type-arg]
    import json

    from fishgate.app import build_parts, run_trap
    from fishgate.clock import MonotonicClock
    from fishgate.config import load_config
    from fishgate.replay import EventLog

    config = load_config(site)
    parts = build_parts(config, MonotonicClock())
    if free_at is not None:
        parts.detector = _FreesSpaceAt(parts.detector, *free_at)
    with events.open("w", encoding="utf-8") as log:
        run_trap(config, parts, EventLog(log))
    records = [json.loads(line) for line in events.read_text().splitlines()]
    with PassageStore(config.storage.path, config.storage.snapshots, read_only=True) as store:
        stored = [(p.passage.species, p.passage.direction, p.passage.route) for p in store.passages()]
    return {
        "gate": [(r["frame"], r["route"]) for r in records if r.get("event") == "gate"],
        "stored": sorted(stored, key=str),
        "status": json.loads((config.storage.path.parent / "status.json").read_text()),
        "snapshots": len(list(config.storage.snapshots.rglob("*.jpg"))),
    }


def test_a_disk_that_fills_mid_run_loses_no_fish_and_stops_nothing(small_disk: Path, tmp_path: Path) -> None:
    from fishgate.config import bundled_path
    from tests.helpers import site_config

    demo = bundled_path("demo/chute-demo.mp4")
    (tmp_path / "roomy").mkdir()
    roomy = _trap_run(site_config(tmp_path / "roomy", demo), tmp_path / "roomy.jsonl")
    site = site_config(small_disk, demo)
    site.write_text(site.read_text().replace("[storage]\n", "[storage]\nmin_free_mb = 0.04\n"))
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * (5 * 1024 * 1024 - 120 * 1024))  # 120 kB left: full after a few fish
    full = _trap_run(site, tmp_path / "full.jsonl", free_at=(600, filler))
    assert full["gate"] == roomy["gate"]  # every fish got its gate command, at the same frame
    assert full["stored"] == roomy["stored"] and len(roomy["stored"]) >= 6
    status = full["status"]
    assert status["passages_held"] > 0 and "passages_lost" not in status
    assert status.get("snapshots_dropped", 0) + status.get("snapshots_pruned", 0) > 0
    assert full["snapshots"] < roomy["snapshots"]
