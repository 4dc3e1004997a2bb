"""Species crops for training: from annotated footage (video + CVAT for video 1.1), or
from an ImageFolder of pictures of single fish (`SPECIES/NAME.jpg`, as
`fishgate export-training` writes the store's reviewed snapshots).

A crop is skipped when the fish is cut by the frame edge, marked occluded, or
overlapped by another fish: such crops show part of a fish, or two, and teach the
model the wrong thing. Splits are per track so no fish is in both training and
validation; each picture of a folder is a track of its own.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from fishgate.cvat import Annotation, TrackBox, read_cvat
from fishgate.errors import AnnotationError
from fishgate.sources.replay import ReplaySource
from fishgate.types import NOT_FISH, SPECIES, UNKNOWN, Box
from fishgate.vision.crops import CROP_MARGIN, crop_fish
from fishgate.vision.snapshot import SNAPSHOT_MARGIN

# Boxes narrower than this show too little of a fish to name it.
MIN_BOX_WIDTH_PX = 24
# A box sharing more than this fraction of its area with another fish is "overlapped".
MAX_OVERLAP = 0.05
# Pictures an ImageFolder may hold (others, such as a manifest or notes, are passed over).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


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


def folder_digest(pictures: Iterable[tuple[str, str]]) -> str:
    """One sha256 for a folder of pictures: over the sorted lines "LABEL/FILE SHA256" of
    its (path relative to the folder, sha256) pairs. An export's manifest.csv lists the
    same pairs (columns file and sha256), so the figure can be checked against it."""
    digest = hashlib.sha256()
    for rel, sha in sorted(pictures):
        digest.update(f"{rel} {sha}\n".encode())
    return digest.hexdigest()


def recut(
    image: np.ndarray, size: tuple[int, int], margin: float, crop_margin: float = CROP_MARGIN
) -> np.ndarray:
    """The crop the classifier would cut from a picture of one fish that shows `margin` of
    the fish's box around it on every side (a snapshot: SNAPSHOT_MARGIN).

    The box is taken as the picture's centre, 1 / (1 + 2 margin) of its width and height,
    and cut with `crop_margin` and resized by `crop_fish`, as training and the trap cut
    theirs. A picture with no more margin than `crop_margin` is resized whole. Where a
    snapshot's margin met the frame edge the box is not centred, and the crop is off by up
    to that margin (at worst about a tenth of the fish cut off on that side).
    """
    width, height = size
    if margin <= crop_margin:
        return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    h, w = image.shape[:2]
    fx, fy = w * margin / (1 + 2 * margin), h * margin / (1 + 2 * margin)
    return crop_fish(image, Box(fx, fy, w - fx, h - fy), width, height, crop_margin)


def image_folder_crops(
    folder: Path,
    *,
    size: tuple[int, int],
    labels: Sequence[str] = SPECIES,
    margin: float = SNAPSHOT_MARGIN,
) -> CropSet:
    """Crops of every picture in an ImageFolder: FOLDER/LABEL/**/NAME.jpg (or .png, .bmp),
    one fish per picture, LABEL one of `labels`; re-cut as `recut` says. Each picture is a
    track of its own; the set's one source is the folder, with `folder_digest`."""
    if not folder.is_dir():
        raise AnnotationError(f"{folder}: no such folder of pictures (expected FOLDER/SPECIES/NAME.jpg)")
    if not 0 <= margin <= 0.5:
        raise AnnotationError(f"{folder}: margin must be in [0, 0.5], got {margin}")
    entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    loose = [p.name for p in entries if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if loose:
        raise AnnotationError(
            f"{folder}: pictures must lie in a folder named after their species, found {loose[0]} at the top"
        )
    classes = [p for p in entries if p.is_dir()]
    unknown = [p.name for p in classes if p.name not in labels]
    if unknown:
        hint = (
            f" ({UNKNOWN} and {NOT_FISH} cannot be trained on)" if {UNKNOWN, NOT_FISH} & set(unknown) else ""
        )
        raise AnnotationError(
            f"{folder}: folders {unknown} are not species of the model{hint}; "
            f"expected folders named {', '.join(labels)}"
        )
    images, ys, keys, pictures = [], [], [], []
    for label_dir in classes:
        files = sorted(p for p in label_dir.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        for path in files:
            parts = path.relative_to(folder).parts
            if any(part.startswith(".") for part in parts):
                continue
            rel = "/".join(parts)
            data = path.read_bytes()
            image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            if image is None:
                raise AnnotationError(f"{path}: cannot read this picture (not a JPEG/PNG/BMP file?)")
            images.append(recut(image, size, margin))
            ys.append(labels.index(label_dir.name))
            keys.append(f"{folder.resolve().name}:{rel}")
            pictures.append((rel, hashlib.sha256(data).hexdigest()))
    if not images:
        raise AnnotationError(f"{folder}: no pictures in FOLDER/SPECIES/ (expected .jpg, .png or .bmp)")
    return CropSet(
        np.stack(images),
        np.array(ys, dtype=np.int64),
        tuple(labels),
        np.array(keys, dtype=str),
        np.zeros(len(images), dtype=np.int64),
        (SourceFile(f"{folder.resolve().name}/", folder_digest(pictures)),),  # `--images .` too
    )
