"""`fishgate export-training`: a site's snapshots, labelled as its biologists reviewed
them, as training data for the next species model (`fishgate train --images DIR`).

The layout is an ImageFolder::

    DIR/<species>/<passage-id>.jpg   the passage's snapshot, its JPEG bytes as stored
    DIR/manifest.csv                 one row per picture (COLUMNS)

Which passages, and which label:

- `--reviewed`: only passages a biologist reviewed, labelled with their latest review.
- otherwise every passage, labelled with its latest review where there is one, else
  with the species the trap detected (unchecked labels: a model trained on them learns
  the old model's mistakes too).

Left out, and counted in the summary: passages labelled `unknown` or `not_fish` (no
species to learn), and passages whose snapshot file is missing (none was written, or
retention pruned it).

A snapshot is the fish's best view with SNAPSHOT_MARGIN of its box around it; `train`
re-cuts it to the classifier's crop margin (fishgate.training.dataset.recut).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import shutil
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fishgate.errors import ConfigError, ExitStatus
from fishgate.types import NOT_FISH, REVIEW_LABELS, UNKNOWN

if TYPE_CHECKING:
    from fishgate.store import PassageStore, Review, StoredPassage

MANIFEST = "manifest.csv"
COLUMNS = (
    "file",  # relative to DIR: <label>/<passage-id>.jpg
    "id",
    "label",  # what the picture is filed as
    "detected",  # the trap's species
    "confidence",  # the trap's confidence in it
    "reviewed_by",  # the latest review's reviewer ('' when never reviewed)
    "review_time",  # and its time, UTC ISO 8601
    "day",  # local day at the site
    "snapshot",  # the source, relative to the store's snapshot folder
    "sha256",  # of the picture's bytes (the same as the source's)
)
UNTRAINABLE = (UNKNOWN, NOT_FISH)


@dataclass
class ExportSummary:
    out: Path
    reviewed_only: bool
    passages: int = 0  # considered: in the day range (and reviewed, with reviewed_only)
    per_label: dict[str, int] = field(default_factory=dict)  # pictures written per label
    as_reviewed: dict[str, int] = field(default_factory=dict)  # of those, labelled by a review
    left_out: dict[str, int] = field(default_factory=dict)  # unknown / not_fish passages
    no_snapshot: int = 0

    @property
    def exported(self) -> int:
        return sum(self.per_label.values())

    def lines(self) -> list[str]:
        rule = (
            "reviewed passages only, labelled as reviewed"
            if self.reviewed_only
            else "every passage, labelled as reviewed where reviewed, else as detected"
        )
        of = f"{self.exported} pictures of {self.passages} passages"
        head = f"exported {of} to {self.out}" if self.exported else f"nothing exported to {self.out}: {of}"
        lines = [f"{head} ({rule})"]
        for label, count in sorted(self.per_label.items()):
            detail = "" if self.reviewed_only else f"  ({self.as_reviewed.get(label, 0)} as reviewed)"
            lines.append(f"  {label:<16}{count:>6}{detail}")
        if self.left_out:
            what = ", ".join(f"{n} {label}" for label, n in sorted(self.left_out.items()))
            lines.append(f"left out: {what} (no species to train on)")
        if self.no_snapshot:
            lines.append(f"left out: {self.no_snapshot} without a snapshot file (none written, or pruned)")
        return lines


@dataclass(frozen=True)
class _Picture:
    stored: StoredPassage
    label: str
    review: Review | None
    source: Path


def _file_name(passage_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in passage_id)


def _choose(
    store: PassageStore, start: date | None, end: date | None, reviewed_only: bool, summary: ExportSummary
) -> list[_Picture]:
    """The passages to export, with their labels; counts what is left out in `summary`."""
    latest = {r.passage_id: r for r in store.reviews()}  # oldest first: the last one stays
    pictures = []
    for stored in store.passages(start, end):
        review = latest.get(stored.passage.id)
        if reviewed_only and review is None:
            continue
        summary.passages += 1
        label = stored.label(reviewed=True)
        if label in UNTRAINABLE:
            summary.left_out[label] = summary.left_out.get(label, 0) + 1
            continue
        source = store.snapshots / stored.snapshot if stored.snapshot else None
        if source is None or not source.is_file():
            summary.no_snapshot += 1
            continue
        pictures.append(_Picture(stored, label, review, source))
    return pictures


def _prepare(out: Path, force: bool) -> None:
    """An empty or new DIR; with `force`, one an earlier export wrote, emptied."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"-o {out}: a file, not a folder; give a new or empty folder")
    entries = sorted(out.iterdir()) if out.is_dir() else []
    if entries and not force:
        raise ConfigError(
            f"-o {out}: the folder is not empty; give a new or empty one, "
            "or --force to replace an export there"
        )
    ours = [
        p for p in entries if (p.is_file() and p.name == MANIFEST) or (p.is_dir() and p.name in REVIEW_LABELS)
    ]
    strangers = [p.name for p in entries if p not in ours]
    if strangers:
        raise ConfigError(
            f"-o {out}: --force replaces only an earlier export (manifest.csv and species folders), "
            f"but the folder also holds {strangers[0]!r}; choose another folder"
        )
    for path in ours:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    out.mkdir(parents=True, exist_ok=True)


def export_training(
    store: PassageStore,
    out: Path,
    *,
    start: date | None = None,
    end: date | None = None,
    reviewed_only: bool = False,
    force: bool = False,
) -> ExportSummary:
    """Write the ImageFolder and its manifest (see the module's doc); nothing is written
    when there is nothing to export."""
    summary = ExportSummary(out, reviewed_only)
    pictures = _choose(store, start, end, reviewed_only, summary)
    if not pictures:
        return summary
    _prepare(out, force)
    rows: list[dict[str, Any]] = []
    taken: set[str] = set()
    for picture in pictures:
        p = picture.stored
        stem = _file_name(p.passage.id)
        name = f"{picture.label}/{stem}{picture.source.suffix or '.jpg'}"
        n = 1
        while name in taken:  # two ids that differ only in characters a file name cannot hold
            n += 1
            name = f"{picture.label}/{stem}-{n}{picture.source.suffix or '.jpg'}"
        taken.add(name)
        data = picture.source.read_bytes()
        (out / picture.label).mkdir(exist_ok=True)
        (out / name).write_bytes(data)
        review = picture.review
        rows.append(
            {
                "file": name,
                "id": p.passage.id,
                "label": picture.label,
                "detected": p.passage.species,
                "confidence": f"{p.passage.confidence:.4f}",
                "reviewed_by": review.reviewer if review else "",
                "review_time": review.time.isoformat() if review else "",
                "day": p.day.isoformat(),
                "snapshot": p.snapshot,
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )
        summary.per_label[picture.label] = summary.per_label.get(picture.label, 0) + 1
        if review is not None:
            summary.as_reviewed[picture.label] = summary.as_reviewed.get(picture.label, 0) + 1
    with (out / MANIFEST).open("w", encoding="utf-8", newline="") as f:  # last: a whole export has one
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return summary


def cmd_export_training(args: argparse.Namespace) -> int:
    from fishgate.cli import _store

    with _store(args) as store:
        summary = export_training(
            store, args.output, start=args.start, end=args.end, reviewed_only=args.reviewed, force=args.force
        )
    for line in summary.lines():
        print(line)
    return ExitStatus.OK if summary.exported else ExitStatus.ERROR


def register(sub: Any) -> None:
    from fishgate.cli import _add_report_args

    ex = sub.add_parser(
        "export-training",
        help="the store's snapshots as training pictures (DIR/SPECIES/ID.jpg + manifest.csv)",
        description="Copy the store's snapshots into an ImageFolder that `fishgate train --images DIR` "
        "reads: with --reviewed only passages a biologist reviewed, as reviewed; otherwise every "
        "passage, as reviewed where reviewed, else as detected. unknown and not_fish are left out, "
        "as are passages without a snapshot file (both counted). Exit 1 when nothing is exported.",
    )
    _add_report_args(ex, reviewed_help="only passages a biologist reviewed")
    ex.add_argument("--output", "-o", type=Path, required=True, metavar="DIR", help="a new or empty folder")
    ex.add_argument("--force", action="store_true", help="replace an earlier export in DIR")
    ex.set_defaults(func=cmd_export_training)
