"""Reader for CVAT for video 1.1 XML: the ground truth operators annotate in CVAT.

One ``<track>`` is one fish. Its ``<box>`` elements are either keyframes (drawn by a
person) or, in CVAT's own exports, the interpolated boxes between them. Where a frame
has no box, it is interpolated as CVAT does: linearly between the two keyframes around
it, ``occluded`` and attributes taken from the earlier one; a keyframe with
``outside="1"`` hides the fish until the next keyframe; after the last keyframe a
visible fish stays where it was until the end of the task.

Parsed with expat directly so every error can name the file and line.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any
from xml.parsers import expat

from fishgate.errors import AnnotationError
from fishgate.types import Box

log = logging.getLogger(__name__)

_BOX_COORDS = ("xtl", "ytl", "xbr", "ybr")


@dataclass(frozen=True, slots=True)
class TrackBox:
    """The box of one track at one frame."""

    frame: int
    box: Box
    outside: bool = False
    occluded: bool = False
    keyframe: bool = True
    attributes: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class AnnotatedTrack:
    """One annotated fish."""

    id: int
    label: str
    keyboxes: tuple[TrackBox, ...]  # as written in the file, sorted by frame
    end_frame: int | None = None  # last frame of the task: a visible track lasts until here

    @property
    def attributes(self) -> Mapping[str, str]:
        """Track-level attributes: those of the first box inside the frame."""
        for kb in self.keyboxes:
            if not kb.outside:
                return kb.attributes
        return self.keyboxes[0].attributes if self.keyboxes else MappingProxyType({})

    @property
    def direction(self) -> str:
        return self.attributes.get("direction", "none")

    def boxes(self) -> list[TrackBox]:
        """Every frame in which the fish is inside the picture, interpolated where needed."""
        return list(self._iter_visible())

    def _iter_visible(self) -> Iterator[TrackBox]:
        kbs = self.keyboxes
        for i, kb in enumerate(kbs):
            nxt = kbs[i + 1] if i + 1 < len(kbs) else None
            if kb.outside:
                continue
            yield kb
            if nxt is None:
                stop = self.end_frame if self.end_frame is not None else kb.frame
                for f in range(kb.frame + 1, stop + 1):
                    yield TrackBox(f, kb.box, False, kb.occluded, False, kb.attributes)
                continue
            # CVAT's exports write every in-between box already; hand-made files may
            # write keyframes only. Filling gaps linearly between written boxes gives
            # CVAT's interpolation either way, since written in-betweens lie on it.
            span = nxt.frame - kb.frame
            for f in range(kb.frame + 1, nxt.frame):
                box = kb.box if nxt.outside else kb.box.interpolate(nxt.box, (f - kb.frame) / span)
                yield TrackBox(f, box, False, kb.occluded, False, kb.attributes)

    @property
    def first_frame(self) -> int:
        return next(self._iter_visible()).frame

    @property
    def last_frame(self) -> int:
        last = None
        for last in self._iter_visible():  # noqa: B007 — we want the final element
            pass
        if last is None:
            raise ValueError(f"track {self.id} is never inside the frame")
        return last.frame


@dataclass(frozen=True)
class Annotation:
    """A whole annotation file: task meta and its tracks."""

    path: Path
    name: str
    frames: int | None  # task size
    width: int | None
    height: int | None
    labels: tuple[str, ...]
    tracks: tuple[AnnotatedTrack, ...]

    def visible_tracks(self) -> list[AnnotatedTrack]:
        return [t for t in self.tracks if any(not kb.outside for kb in t.keyboxes)]


class _Builder:
    """expat callbacks that collect the parts of the document we need."""

    def __init__(self, path: Path, parser: Any) -> None:
        self.path = path
        self.parser = parser
        self.stack: list[str] = []
        self.text: list[str] = []
        self.meta: dict[str, str] = {}
        self.labels: list[str] = []
        self.tracks: list[tuple[int, str, list[TrackBox], int]] = []
        self.box: dict[str, Any] | None = None
        self.attribute_name: str | None = None
        self.saw_root = False

    def error(self, problem: str) -> AnnotationError:
        line = self.parser.CurrentLineNumber
        return AnnotationError(f"{self.path}, line {line}: {problem}")

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        if not self.stack:
            if tag != "annotations":
                raise self.error(f"expected a CVAT <annotations> document, got <{tag}>")
            self.saw_root = True
        self.stack.append(tag)
        self.text = []
        if tag == "track":
            self._start_track(attrs)
        elif tag in ("box", "polygon", "polyline", "points", "ellipse", "skeleton", "mask", "cuboid"):
            self._start_shape(tag, attrs)
        elif tag == "attribute" and self.box is not None:
            self.attribute_name = self._require(attrs, "name", tag)
        elif tag == "image" and len(self.stack) == 2:
            raise self.error(
                "this is a CVAT for images file (<image> elements); export the task as 'CVAT for video 1.1'"
            )

    def _start_track(self, attrs: dict[str, str]) -> None:
        track_id = self._integer(attrs, "id", "track")
        label = self._require(attrs, "label", "track")
        self.tracks.append((track_id, label, [], self.parser.CurrentLineNumber))

    def _start_shape(self, tag: str, attrs: dict[str, str]) -> None:
        if "track" not in self.stack[:-1]:
            return  # a shape outside any track (annotation mode): not a fish track
        if tag != "box":
            log.warning(
                "%s: line %d: <%s> in a track ignored, only boxes are read",
                self.path,
                self.parser.CurrentLineNumber,
                tag,
            )
            return
        frame = self._integer(attrs, "frame", "box")
        coords = [self._number(attrs, k) for k in _BOX_COORDS]
        try:
            box = Box(*coords)
        except ValueError:
            raise self.error(f"<box frame={frame}> has xbr < xtl or ybr < ytl: {coords}") from None
        self.box = {
            "frame": frame,
            "box": box,
            "outside": self._flag(attrs, "outside"),
            "occluded": self._flag(attrs, "occluded"),
            "keyframe": self._flag(attrs, "keyframe", default=True),
            "attributes": {},
        }

    def end(self, tag: str) -> None:
        text = "".join(self.text).strip()
        self.stack.pop()
        parent = self.stack[-1] if self.stack else ""
        if tag == "attribute" and self.box is not None and self.attribute_name is not None:
            self.box["attributes"][self.attribute_name] = text
            self.attribute_name = None
        elif tag == "box" and self.box is not None:
            b = self.box
            b["attributes"] = MappingProxyType(b["attributes"])
            self.tracks[-1][2].append(TrackBox(**b))
            self.box = None
        elif tag == "name" and parent == "label":
            self.labels.append(text)
        elif tag in ("size", "stop_frame", "width", "height") and "meta" in self.stack:
            self.meta[tag] = text
        elif tag == "name" and parent == "task":
            self.meta["name"] = text

    def chars(self, data: str) -> None:
        self.text.append(data)

    def _require(self, attrs: dict[str, str], key: str, tag: str) -> str:
        if key not in attrs:
            raise self.error(f"<{tag}> has no {key!r} attribute")
        return attrs[key]

    def _integer(self, attrs: dict[str, str], key: str, tag: str) -> int:
        raw = self._require(attrs, key, tag)
        try:
            value = int(raw)
        except ValueError:
            raise self.error(f"<{tag}> {key}={raw!r} is not an integer") from None
        if value < 0:
            raise self.error(f"<{tag}> {key}={raw!r} must be >= 0")
        return value

    def _number(self, attrs: dict[str, str], key: str) -> float:
        raw = self._require(attrs, key, "box")
        try:
            return float(raw)
        except ValueError:
            raise self.error(f"<box> {key}={raw!r} is not a number") from None

    def _flag(self, attrs: dict[str, str], key: str, default: bool = False) -> bool:
        raw = attrs.get(key)
        if raw is None:
            return default
        if raw not in ("0", "1"):
            raise self.error(f"<box> {key}={raw!r} must be 0 or 1")
        return raw == "1"


def _meta_int(meta: Mapping[str, str], key: str) -> int | None:
    try:
        return int(meta[key]) if key in meta else None
    except ValueError:
        return None


def read_cvat(path: str | Path) -> Annotation:
    """Read a CVAT for video 1.1 file. Raises AnnotationError naming file and line."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise AnnotationError(f"{path}: cannot read annotation file: {exc.strerror or exc}") from None
    parser = expat.ParserCreate()
    builder = _Builder(path, parser)
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.chars
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise AnnotationError(
            f"{path}, line {exc.lineno}: not well-formed XML ({expat.ErrorString(exc.code)}, "
            f"column {exc.offset + 1})"
        ) from None
    if not builder.saw_root:
        raise AnnotationError(f"{path}: empty file, expected a CVAT for video 1.1 XML export")
    return _assemble(path, builder)


def _assemble(path: Path, b: _Builder) -> Annotation:
    size = _meta_int(b.meta, "size")
    stop = _meta_int(b.meta, "stop_frame")
    end_frame = stop if stop is not None else (size - 1 if size else None)
    tracks = []
    seen: dict[int, int] = {}
    for track_id, label, boxes, line in b.tracks:
        if track_id in seen:
            raise AnnotationError(
                f"{path}, line {line}: track id {track_id} used twice (first at line {seen[track_id]})"
            )
        seen[track_id] = line
        if not boxes:
            log.warning("%s, line %d: track %d has no boxes, ignored", path, line, track_id)
            continue
        boxes.sort(key=lambda kb: kb.frame)
        frames = [kb.frame for kb in boxes]
        if len(set(frames)) != len(frames):
            dup = next(f for f in frames if frames.count(f) > 1)
            raise AnnotationError(f"{path}, line {line}: track {track_id} has two boxes for frame {dup}")
        tracks.append(AnnotatedTrack(track_id, label, tuple(boxes), end_frame))
    return Annotation(
        path=path,
        name=b.meta.get("name", path.stem),
        frames=size,
        width=_meta_int(b.meta, "width"),
        height=_meta_int(b.meta, "height"),
        labels=tuple(b.labels),
        tracks=tuple(tracks),
    )
