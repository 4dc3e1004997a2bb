"""Species crops from annotated footage (video + CVAT for video 1.1), for training.

A crop is skipped when the fish is cut by the frame edge, marked occluded, or
overlapped by another fish: such crops show part of a fish, or two, and teach the
model the wrong thing. Splits are per track so no fish is in both training and
validation.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fishgate.cvat import Annotation, TrackBox, read_cvat
from fishgate.errors import AnnotationError
from fishgate.sources.replay import ReplaySource
from fishgate.types import SPECIES
from fishgate.vision.crops import crop_fish

# Boxes narrower than this show too little of a fish to name it.
MIN_BOX_WIDTH_PX = 24
# A box sharing more than this fraction of its area with another fish is "overlapped".
MAX_OVERLAP = 0.05


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class SourceFile:
    name: str
    sha256: str


@dataclass(frozen=True)
class CropSet:
    """Crops with their labels and where each came from."""

    images: np.ndarray  # (N, H, W, 3) uint8, BGR as OpenCV reads video
    labels: np.ndarray  # (N,) int index into label_names
    label_names: tuple[str, ...]
    track_keys: np.ndarray  # (N,) str "clip:track_id": the unit of splitting and voting
    frames: np.ndarray  # (N,) int
    sources: tuple[SourceFile, ...] = field(default=())

    def __post_init__(self) -> None:
        n = len(self.images)
        if not (len(self.labels) == len(self.track_keys) == len(self.frames) == n):
            raise ValueError(
                f"CropSet: expected equal lengths, got images {n}, labels {len(self.labels)}, "
                f"track_keys {len(self.track_keys)}, frames {len(self.frames)}"
            )

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, mask: np.ndarray) -> CropSet:
        return CropSet(
            self.images[mask],
            self.labels[mask],
            self.label_names,
            self.track_keys[mask],
            self.frames[mask],
            self.sources,
        )

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.labels, minlength=len(self.label_names))
        return {name: int(c) for name, c in zip(self.label_names, counts, strict=True)}

    def save(self, path: Path) -> None:
        np.savez_compressed(
            path,
            images=self.images,
            labels=self.labels,
            track_keys=self.track_keys,
            frames=self.frames,
            meta=np.array(
                json.dumps({"labels": self.label_names, "sources": [s.__dict__ for s in self.sources]})
            ),
        )

    @classmethod
    def load(cls, path: Path) -> CropSet:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            return cls(
                data["images"],
                data["labels"],
                tuple(meta["labels"]),
                data["track_keys"],
                data["frames"],
                tuple(SourceFile(**s) for s in meta["sources"]),
            )


def concat(sets: Sequence[CropSet]) -> CropSet:
    if not sets:
        raise ValueError("concat: expected at least one CropSet")
    names = sets[0].label_names
    for s in sets[1:]:
        if s.label_names != names:
            raise ValueError(f"concat: label sets differ: {names} vs {s.label_names}")
    return CropSet(
        np.concatenate([s.images for s in sets]),
        np.concatenate([s.labels for s in sets]),
        names,
        np.concatenate([s.track_keys for s in sets]),
        np.concatenate([s.frames for s in sets]),
        tuple(src for s in sets for src in s.sources),
    )


def _usable(tb: TrackBox, others: Iterable[TrackBox], width: int, height: int) -> bool:
    box = tb.box
    if tb.occluded or box.width < MIN_BOX_WIDTH_PX or box.touches_edge(width, height):
        return False
    for other in others:
        ix = max(0.0, min(box.x2, other.box.x2) - max(box.x1, other.box.x1))
        iy = max(0.0, min(box.y2, other.box.y2) - max(box.y1, other.box.y1))
        if ix * iy > MAX_OVERLAP * box.area:
            return False
    return True


def _boxes_by_frame(annotation: Annotation) -> dict[int, list[tuple[int, TrackBox]]]:
    """frame -> [(track id, box)] of every visible fish."""
    by_frame: dict[int, list[tuple[int, TrackBox]]] = {}
    for track in annotation.tracks:
        for tb in track.boxes():
            by_frame.setdefault(tb.frame, []).append((track.id, tb))
    return by_frame


def clip_crops(
    video: Path,
    truth: Path,
    *,
    size: tuple[int, int],
    labels: Sequence[str] = SPECIES,
    stride: int = 1,
) -> CropSet:
    """Crops of every usable annotated fish box in one clip (every `stride`-th frame)."""
    annotation = read_cvat(truth)
    label_of = {t.id: t.label for t in annotation.tracks}
    unknown = sorted({lab for lab in label_of.values() if lab not in labels})
    if unknown:
        raise AnnotationError(f"{truth}: labels {unknown} are not among the model's labels {list(labels)}")
    by_frame = _boxes_by_frame(annotation)
    images, ys, keys, frames = [], [], [], []
    width, height = size
    with ReplaySource(video) as source:
        if annotation.width and (source.width, source.height) != (annotation.width, annotation.height):
            raise AnnotationError(
                f"{truth}: annotated for {annotation.width}x{annotation.height} "
                f"but {video} is {source.width}x{source.height}"
            )
        for frame in source:
            if frame.index % stride or frame.index not in by_frame:
                continue
            present = by_frame[frame.index]
            for track_id, tb in present:
                others = (o for tid, o in present if tid != track_id)
                if not _usable(tb, others, frame.width, frame.height):
                    continue
                images.append(crop_fish(frame.image, tb.box, width, height))
                ys.append(labels.index(label_of[track_id]))
                keys.append(f"{annotation.name}:{track_id}")
                frames.append(frame.index)
    return CropSet(
        np.stack(images) if images else np.zeros((0, height, width, 3), np.uint8),
        np.array(ys, dtype=np.int64),
        tuple(labels),
        np.array(keys, dtype=str),
        np.array(frames, dtype=np.int64),
        (SourceFile(video.name, sha256_of(video)), SourceFile(truth.name, sha256_of(truth))),
    )


def split_by_track(crops: CropSet, val_fraction: float, seed: int = 0) -> tuple[CropSet, CropSet]:
    """A train/validation split where each track falls wholly on one side.

    Tracks are ranked by a hash of their key and the seed, and the first
    `val_fraction` of them (at least one) are held out: random, but repeatable.
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction: expected 0 < f < 1, got {val_fraction}")
    keys = sorted(np.unique(crops.track_keys), key=lambda k: zlib.crc32(f"{seed}:{k}".encode()))
    val_keys = set(keys[: max(1, round(val_fraction * len(keys)))])
    is_val = np.array([k in val_keys for k in crops.track_keys], dtype=bool)
    return crops.subset(~is_val), crops.subset(is_val)
