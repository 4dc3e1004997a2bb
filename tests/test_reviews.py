"""Reviews: a biologist's labels are stored beside the trap's, never over them; counts and
exports come as detected or as reviewed; report arguments that cannot mean anything are errors."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fishgate.cli import main
from fishgate.store import PassageFilter, PassageStore
from fishgate.telemetry.messages import review_messages
from tests.test_store import passage, record

WHEN = datetime(2026, 8, 12, 7, 30, tzinfo=UTC)  # 09:30 in Oslo (CEST)


def _store(path: Path) -> Path:
    """Four fish on 12 August: two pink salmon (one sent to the tank, one let through by
    mistake), a sea trout upstream and one downstream."""
    with PassageStore(path) as store:
        store.set_meta(site="river", timezone="Europe/Oslo")
        record(store, replace(passage("pink-tank"), confidence=0.95), WHEN)
        record(store, replace(passage("pink-river"), route="river", confidence=0.55), WHEN)
        record(store, replace(passage("trout-up", "sea_trout"), route="river", confidence=0.7), WHEN)
        record(store, passage("trout-down", "sea_trout", "downstream"), WHEN)
    return path


def test_a_review_is_a_new_row_and_the_detection_stays(tmp_path: Path) -> None:
    with PassageStore(_store(tmp_path / "s.db")) as store:
        first = store.review("pink-river", "sea_trout", "Kari", WHEN, messages=review_messages)
        second = store.review("pink-river", "atlantic_salmon", "Ola", WHEN)
        assert (first.old_label, first.new_label) == ("pink_salmon", "sea_trout")
        assert (second.old_label, second.new_label) == ("sea_trout", "atlantic_salmon")  # what Ola saw
        stored = store.passage("pink-river")
        assert stored is not None and stored.passage.species == "pink_salmon"  # never overwritten
        assert stored.reviewed_as == "atlantic_salmon" and stored.label(reviewed=True) == "atlantic_salmon"
        assert [r.reviewer for r in store.reviews("pink-river")] == ["Kari", "Ola"]
        payload = json.loads(store.outbox(10)[-1].payload)  # the review went out with the outbox
        assert payload == {
            "v": 1, "event": "review", "review": first.id, "passage": "pink-river", "old": "pink_salmon",
            "new": "sea_trout", "reviewer": "Kari", "site": "river", "time": "2026-08-12T07:30:00+00:00",
        }  # fmt: skip
        with pytest.raises(ValueError, match="expected one of atlantic_salmon"):
            store.review("pink-river", "pike", "Kari", WHEN)
        with pytest.raises(ValueError, match="no passage 'nope'"):
            store.review("nope", "sea_trout", "Kari", WHEN)
        with pytest.raises(ValueError, match="a name is needed"):
            store.review("pink-river", "sea_trout", " ", WHEN)


def test_counts_as_detected_and_as_reviewed_split_tank_from_river(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = _store(tmp_path / "s.db")
    with PassageStore(db) as store:
        store.review("trout-up", "not_fish", "Kari", WHEN)  # a stick, not a trout
        store.review("pink-tank", "pink_salmon", "Kari", WHEN)  # confirmed
    assert main(["counts", "--db", str(db), "--csv"]) == 0
    detected = {r["species"]: r for r in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    assert detected["pink_salmon"] | {"day": ""} == {
        "day": "", "species": "pink_salmon", "upstream": "2", "to_river": "1", "to_tank": "1", "downstream": "0"
    }  # fmt: skip
    assert (detected["sea_trout"]["upstream"], detected["sea_trout"]["downstream"]) == ("1", "1")
    assert main(["counts", "--db", str(db), "--csv", "--reviewed"]) == 0
    reviewed = {r["species"]: r for r in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    assert (reviewed["sea_trout"]["upstream"], reviewed["sea_trout"]["downstream"]) == ("0", "1")
    assert "not_fish" not in reviewed
    assert main(["counts", "--db", str(db), "--reviewed"]) == 0
    table = capsys.readouterr().out
    assert "to tank" in table and "as reviewed" in table


def test_passage_filters(tmp_path: Path) -> None:
    with PassageStore(_store(tmp_path / "s.db")) as store:
        store.review("pink-tank", "pink_salmon", "Kari", WHEN)

        def ids(**f: object) -> list[str]:
            return [s.passage.id for s in store.passages(where=PassageFilter(**f))]  # type: ignore[arg-type]

        assert ids(below=0.8, least_confident_first=True) == ["pink-river", "trout-up"]
        assert ids(unreviewed=True, direction="upstream") == ["pink-river", "trout-up"]
        assert ids(flag="conflict") == ["pink-tank", "pink-river", "trout-up", "trout-down"]
        assert ids(flag="override") == []
        assert ids(species="sea_trout", limit=1, offset=1) == ["trout-down"]


def test_the_passages_table_is_in_local_time_and_json_in_utc(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = _store(tmp_path / "s.db")
    assert main(["passages", "--db", str(db)]) == 0
    table = capsys.readouterr().out
    assert "2026-08-12 09:30:00 CEST" in table  # the zone the trap noted in the store
    assert main(["passages", "--db", str(db), "--format", "jsonl"]) == 0
    first = json.loads(capsys.readouterr().out.splitlines()[0])
    assert first["time"] == "2026-08-12T07:30:00+00:00" and first["local_time"] == "2026-08-12T09:30:00+02:00"


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        (["passages", "--species", "pink"], "unknown species 'pink'; known: atlantic_salmon, sea_trout"),
        (
            ["counts", "--from", "2026-08-31", "--to", "2026-08-01"],
            "--from 2026-08-31 is after --to 2026-08-01",
        ),
    ],
)
def test_report_arguments_that_cannot_mean_anything_are_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], phrase: str
) -> None:
    db = _store(tmp_path / "s.db")
    assert main([*args, "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert phrase in err and err.count("\n") == 1


def test_a_read_only_copy_of_a_store_is_read_read_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A copy on a read-only medium (a write-protected card, a mounted backup): reports work."""
    db = _store(tmp_path / "src" / "s.db")
    medium = tmp_path / "medium"
    medium.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(medium)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        for f in db.parent.iterdir():
            (medium / f.name).write_bytes(f.read_bytes())  # the store with its -wal file, as copied
        subprocess.run(["mount", "-o", "remount,ro", str(medium)], check=True)
        assert main(["counts", "--db", str(medium / "s.db"), "--csv"]) == 0
        rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
        assert sum(int(r["upstream"]) + int(r["downstream"]) for r in rows) == 4
    finally:
        subprocess.run(["umount", "-l", str(medium)], check=False)
