"""Detections -> tracks: one track per fish, surviving short dropouts and holding still.

A plain object in the manner of norfair: `update(detections, frame_index, t)`, no
clock, no threads, ids per instance, `reset()`. Each track keeps its path, its speed
along the chute, its fork length and a confidence-weighted species vote that counts
only crops showing the whole fish alone (not cut by the frame edge, not merged with
another fish).
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from types import MappingProxyType

import numpy as np
from scipy.optimize import linear_sum_assignment

from fishgate.types import UNKNOWN, Box, Detection

# Observations over which a track's speed is measured.
SPEED_WINDOW = 8
# Recent whole views whose median width is the fish's length.
BODY_LENGTH_VIEWS = 60
# Association: a detection joins a track if their boxes overlap at least this much...
MIN_IOU = 0.1
# ...or its centre lies within this fraction of the predicted box's width.
MAX_CENTRE_JUMP = 0.5
# A detection lying this much inside a fish already followed is a piece of that fish
# (a tail or a snout the detector cut off), not a new fish: new fish come in at the borders.
FRAGMENT_INSIDE = 0.6
# ...and only if the two together are no bigger than the fish was when seen whole.
FRAGMENT_FIT = (1.15, 1.3, 0.85)  # length, depth; and "cut short": below this share of its length
# A lost fish whose predicted box lies this much inside another fish's detection is behind
# or beside it: both are in that blob.
SHARED_INSIDE = 0.5
# ...if it has been seen whole and alone this often (a cut-off piece of a fish never is).
MIN_CLEAN_TO_SHARE = 3
# ...and if at least this share of its length would still be in the picture.
MIN_SHARED_IN_VIEW = 0.3
# A fish leaving through a border at this speed (px/s) or faster, whose box there reaches
# back more than this share of its length behind where it was, shares it.
MIN_LEAVING_SPEED = 20.0
# ...and at least this share of its own length a second: a fish that fills the frame and
# creeps at a border is holding station, and may turn back into the picture.
MIN_LEAVING_LENGTHS_S = 0.3
# A box edge this close to a border (a share of the frame width, at least 1 px) is cut by
# it: boxes are noisy, and one 3 px short of the border still shows a fish cut there.
BORDER_SHARE = 0.01
# A fish no longer than this share of the frame width is small: it leaves through a border
# quickly and steadily (the close-up fish of a counting station are not).
SMALL_FISH_SHARE = 0.5
LEAVING_TOLERANCE = 0.03
# A box overlapping a fish's last box this much is that fish, even one half out through a
# border that it seems to leave: it turned there (fish that fill the frame often do).
SAME_FISH_IOU = 0.5
# A whole box this much longer than the fish (its median whole width) holds another fish
# too: where two fish of a size swim through each other the detector may draw one box.
OVERSIZED = 1.15
# A small fish last seen in a blob it shared (or lost since) takes no box, to follow or to
# share, whose centre can only lie this share of its depth or more above or below where
# its own can have been: that is another fish, at another depth (in crowded-01 a farmed
# salmon turned back in a crowd, and its track took an Atlantic salmon swimming on 0.5-0.67
# of its depth lower). Fish that fill the frame roll and mill up and down as they turn:
# not them. The depth is that of the fish's widest view alone.
CROWD_DEPTH_JUMP = 0.5


@dataclass(frozen=True, slots=True)
class Observation:
    frame: int
    t: float
    box: Box
    edge_cut: bool
    merged: bool
    label: str | None = None  # given with the detection (tracks-only replay)

    @property
    def clean(self) -> bool:
        """The fish whole and alone: neither cut by a border nor sharing its box."""
        return not self.edge_cut and not self.merged


@dataclass
class Track:
    """One fish as seen so far. Mutated only by its Tracker."""

    id: int
    path: list[Observation] = field(default_factory=list)
    misses: int = 0  # frames since last seen
    vote: dict[str, float] = field(default_factory=dict)  # label -> summed confidence-weighted probability
    votes: int = 0  # clean crops that have voted
    # From crops cut by the edge or shared with another fish: used only while no clean crop has voted.
    weak_vote: dict[str, float] = field(default_factory=dict)
    length_px: float = 0.0  # widest uncut box: the fish's length along the chute
    # widest box not cut by the frame, even one shared with another fish: the length to go by
    # for a fish never seen alone (its extent at the border must not shrink with its box)
    uncut_px: float = 0.0
    depth_px: float = 0.0  # height of that box
    clean: int = 0  # observations showing the fish whole and alone
    velocity_x: float = 0.0  # px per second, + = towards +x
    # recent widths of views not cut by the border: alone, and also those shared with another fish
    whole_widths: deque[float] = field(default_factory=lambda: deque(maxlen=BODY_LENGTH_VIEWS))
    uncut_widths: deque[float] = field(default_factory=lambda: deque(maxlen=BODY_LENGTH_VIEWS))
    # species -> true length / box width, for a detector whose boxes are biased for some
    # species (the detector card's length_scale); shared by every track of a Tracker
    length_scale: Mapping[str, float] = field(default_factory=dict, repr=False)
    _median: float = 0.0
    _median_of: int = -1  # path length when _median was taken

    @property
    def first(self) -> Observation:
        return self.path[0]

    @property
    def last(self) -> Observation:
        return self.path[-1]

    @property
    def box(self) -> Box:
        return self.last.box

    @property
    def current_vote(self) -> dict[str, float]:
        """The vote that counts: clean crops' once any has voted, else the weak one."""
        return self.vote if self.votes else self.weak_vote

    def species(self) -> tuple[str, float]:
        """The vote's leading label and its share of the whole vote (0 if no votes)."""
        vote = self.current_vote
        total = sum(vote.values())
        if total <= 0:
            return UNKNOWN, 0.0
        label = max(vote, key=lambda k: vote[k])
        return label, vote[label] / total

    @property
    def body_length_px(self) -> float:
        """The fish's length along the chute: the median width of its recent whole views
        (the widest one is biased long by every box the detector drew too big)."""
        widths = self.whole_widths or self.uncut_widths
        if not widths:
            return max(self.length_px or self.uncut_px, self.box.width)
        if self._median_of != len(self.path):
            self._median, self._median_of = statistics.median(widths), len(self.path)
        return self._median

    @property
    def fish_length_px(self) -> float:
        """The fish's true length: its length in the detector's boxes, corrected for the
        detector's bias on the species it is voted to be. The tracker matches boxes with
        boxes and uses body_length_px; where the head is and how long the fish is, this."""
        if not self.length_scale:
            return self.body_length_px
        return self.body_length_px * self.length_scale.get(self.species()[0], 1.0)

    def add_vote(self, probabilities: dict[str, float], weak: bool = False) -> None:
        """One crop's species probabilities, weighted by how sure the crop is."""
        vote = self.weak_vote if weak else self.vote
        weight = max(probabilities.values(), default=0.0)
        for label, p in probabilities.items():
            vote[label] = vote.get(label, 0.0) + weight * p
        if not weak:
            self.votes += 1

    def extent(self, frame_width: float) -> tuple[float, float]:
        """(x1, x2) of the whole fish, beyond the frame border if it is cut there."""
        box, length = self.box, max(self.length_px or self.uncut_px, self.box.width)
        edge = border_px(frame_width)
        if box.x1 <= edge and box.x2 < frame_width - edge:
            return box.x2 - length, box.x2
        if box.x2 >= frame_width - edge and box.x1 > edge:
            return box.x1, box.x1 + length
        return box.x1, box.x2

    def predict(self, t: float, frame_width: float, frame_height: float) -> Box:
        """Where the fish should be at time t, clipped to the frame as a detector would see it."""
        x1, x2 = self.extent(frame_width)
        dx = self.velocity_x * (t - self.last.t)
        b = self.box
        lo, hi = max(0.0, x1 + dx), min(frame_width, x2 + dx)
        if hi <= lo:  # predicted wholly outside: keep a sliver at the border
            lo, hi = (frame_width - 1, frame_width) if dx > 0 else (0.0, 1.0)
        return Box(lo, max(0.0, b.y1), hi, min(frame_height, b.y2))


def border_px(frame_width: float) -> float:
    """How close to a border a box edge must be to count as cut by it."""
    return max(1.0, BORDER_SHARE * frame_width)


def cut_upstream(box: Box, frame_width: float, upstream_sign: int) -> bool:
    """Whether the box's upstream edge is the frame's upstream border: the fish's head is
    beyond it (swimming out that way, or not yet wholly in)."""
    edge = border_px(frame_width)
    return box.x2 >= frame_width - edge if upstream_sign > 0 else box.x1 <= edge


def _edge_shift(a: Box, b: Box, frame_width: float, edge: float) -> float | None:
    """x displacement from box a to box b, from the edges no border cuts (a box cut by a
    border has its centre wherever the border puts it, but its other edge is the fish's
    head or tail); None when the two are cut at both ends. `edge`: border_px."""
    left_cut = a.x1 <= edge or b.x1 <= edge
    right_cut = a.x2 >= frame_width - edge or b.x2 >= frame_width - edge
    if left_cut and right_cut:
        return None
    if left_cut:
        return b.x2 - a.x2
    if right_cut:
        return b.x1 - a.x1
    return b.center[0] - a.center[0]


def _centres(box: Box, depth: float) -> tuple[float, float]:
    """The heights a fish `depth` px deep may have its centre at, seen as `box`: anywhere
    that leaves room for the fish in a box deeper than it (a blob); the box's own centre
    in a shallower one. The detector draws a fish whole, its hidden parts too (as the
    annotation it learnt from does: no occluded box of the sample footage is shallower than
    its fish), so a shallower box is a shallower fish, not part of this one."""
    low, high = box.y1 + depth / 2, box.y2 - depth / 2
    return (low, high) if low <= high else (box.center[1], box.center[1])


def _apart(a: tuple[float, float], b: tuple[float, float]) -> float:
    """The gap between two ranges of heights (0 where they overlap)."""
    return max(0.0, b[0] - a[1], a[0] - b[1])


class Tracker:
    """Associates detections frame by frame; ends tracks lost for `max_missing_s`."""

    def __init__(
        self,
        frame_width: int,
        frame_height: int,
        max_missing_s: float = 0.8,
        length_scale: Mapping[str, float] | None = None,
    ) -> None:
        self.frame_width = frame_width
        self.frame_height = frame_height
        self.border = border_px(frame_width)
        self.max_missing_s = max_missing_s
        self.length_scale = MappingProxyType(dict(length_scale or {}))
        self.reset()

    def reset(self) -> None:
        self.active: list[Track] = []
        self._next_id = 0

    def update(
        self, detections: Sequence[Detection], frame: int, t: float
    ) -> tuple[list[Track], list[Track]]:
        """Add one frame's detections; returns (tracks seen in this frame, tracks that ended)."""
        pairs, lonely = self._associate(detections, t)
        pairs, lonely = self._absorb_fragments(pairs, lonely, t)
        pairs = self._share_merged(pairs, t)
        pairs = [(track, self._leaving(track, det, t)) for track, det in pairs]
        seen = []
        for track, det in pairs:
            self._observe(track, det, frame, t)
            seen.append(track)
        for det in lonely:
            track = Track(self._next_id, length_scale=self.length_scale)
            self._next_id += 1
            self._observe(track, det, frame, t)
            self.active.append(track)
            seen.append(track)
        ended = []
        seen_ids = {id(tr) for tr in seen}
        for track in self.active:
            if id(track) not in seen_ids:
                track.misses += 1
                if t - track.last.t > self.max_missing_s or self._has_left(track, t):
                    ended.append(track)
        ended_ids = {id(tr) for tr in ended}
        self.active = [tr for tr in self.active if id(tr) not in ended_ids]
        return seen, ended

    def crowd_start(self, track: Track, before: int) -> int:
        """Index into the track's path where the run of views it shared with other fish,
        ending just before `before`, began: merged boxes, or boxes too long for the fish
        alone. A track that swapped fish did so within that run."""
        too_long = OVERSIZED * track.body_length_px
        i = before
        while i > 1:
            o = track.path[i - 1]
            if not (o.merged or (not o.edge_cut and o.box.width > too_long)):
                break
            i -= 1
        return i

    def split(self, track: Track, at: int) -> tuple[Track, Track]:
        """The track followed one fish up to path[at] and another from there (a swap in a
        crowd): (the track up to path[at], with its id and votes; a new track from path[at]
        on, with no votes, which takes its place among the active). The first is the
        caller's to end."""
        if not 0 < at < len(track.path):
            raise ValueError(f"split: index {at} outside track {track.id}'s path of {len(track.path)}")
        tail = self._rebuilt(self._next_id, track.path[at:])
        self._next_id += 1
        head = self._rebuilt(track.id, track.path[:at])
        head.vote, head.weak_vote, head.votes = track.vote, track.weak_vote, track.votes
        self.active = [tail if tr is track else tr for tr in self.active]
        return head, tail

    def followed_by_another(self, track: Track) -> bool:
        """Whether another track seen in the same frame is on the same fish."""
        frame = track.last.frame
        return any(
            other is not track and other.last.frame == frame and other.box.iou(track.box) >= SAME_FISH_IOU
            for other in self.active
        )

    def _rebuilt(self, track_id: int, path: Sequence[Observation]) -> Track:
        """A track that saw these observations, with the length and speed they give."""
        track = Track(track_id, length_scale=self.length_scale)
        for o in path:
            self._observe(track, Detection(o.box, 1.0, o.edge_cut, o.merged, o.label), o.frame, o.t)
        return track

    def finish(self) -> list[Track]:
        """End every track (the video is over)."""
        ended, self.active = self.active, []
        return ended

    def _has_left(self, track: Track, t: float) -> bool:
        """Lost at a border it was swimming out through: it left, no need to wait for it."""
        b = track.predict(t, self.frame_width, self.frame_height)
        return b.width <= 1.0

    def _associate(
        self, detections: Sequence[Detection], t: float
    ) -> tuple[list[tuple[Track, Detection]], list[Detection]]:
        if not self.active or not detections:
            return [], list(detections)
        predicted = [tr.predict(t, self.frame_width, self.frame_height) for tr in self.active]
        cost = np.full((len(self.active), len(detections)), 1e6)
        for i, p in enumerate(predicted):
            track = self.active[i]
            was = self._depth_after_crowd(track, p)
            for j, det in enumerate(detections):
                if self._through_border(track, p, det.box):
                    continue
                if was is not None and self._at_another_depth(track, was, det.box):
                    continue
                iou = p.iou(det.box)
                shift = _edge_shift(p, det.box, self.frame_width, self.border)
                dx = abs(shift if shift is not None else det.box.center[0] - p.center[0])
                dy = abs(p.center[1] - det.box.center[1])
                if iou >= MIN_IOU or dx + dy <= MAX_CENTRE_JUMP * max(p.width, det.box.width):
                    # each offset against the fish's size that way (the smaller box's: a
                    # long fish must not swallow a small one swimming beside it); fish at
                    # different depths in the water keep apart even when their boxes overlap
                    cost[i, j] = (
                        (1.0 - iou) + dx / max(1.0, min(p.width, det.box.width)) + dy / max(1.0, p.height)
                    )
        rows, cols = linear_sum_assignment(cost)
        pairs = [(self.active[r], detections[c]) for r, c in zip(rows, cols, strict=True) if cost[r, c] < 1e6]
        used = {c for r, c in zip(rows, cols, strict=True) if cost[r, c] < 1e6}
        return pairs, [d for j, d in enumerate(detections) if j not in used]

    def _depth_after_crowd(self, track: Track, predicted: Box) -> tuple[float, float] | None:
        """Where a small fish last seen in a blob it shared (or lost since) can have its
        centre, or None where CROWD_DEPTH_JUMP does not apply: a fish seen whole, one
        never seen whole (its depth unknown), a fish that fills the frame."""
        if not track.last.merged or track.depth_px <= 0:
            return None
        if track.body_length_px > SMALL_FISH_SHARE * self.frame_width:
            return None
        return _centres(predicted, track.depth_px)

    def _at_another_depth(self, track: Track, was: tuple[float, float], box: Box) -> bool:
        """Whether `box` lies too far above or below where the fish can have been (`was`,
        from _depth_after_crowd) to be that fish: another fish, at another depth."""
        return _apart(was, _centres(box, track.depth_px)) >= CROWD_DEPTH_JUMP * track.depth_px

    def _absorb_fragments(
        self, pairs: list[tuple[Track, Detection]], lonely: list[Detection], t: float
    ) -> tuple[list[tuple[Track, Detection]], list[Detection]]:
        """An unmatched detection inside the predicted box of a fish whose own detection is
        cut short joins that detection when the two together are no bigger than the fish and
        fit the prediction better (dropped if they fit worse). Anything else is a new fish."""
        if not pairs or not lonely:
            return pairs, lonely
        predicted = [track.predict(t, self.frame_width, self.frame_height) for track, _ in pairs]
        dets = [det for _, det in pairs]
        still_lonely = []
        for det in lonely:
            inside = [(det.box.share_inside(p), i) for i, p in enumerate(predicted)]
            share, i = max(inside)
            track = pairs[i][0]
            # only a fish seen whole before, and cut short in this frame, can have lost a piece
            cut_short = dets[i].box.width < FRAGMENT_FIT[2] * track.length_px
            if share < FRAGMENT_INSIDE or track.length_px <= 0 or not cut_short:
                still_lonely.append(det)
                continue
            joined = dets[i].box.union(det.box)
            fits = (
                joined.width <= FRAGMENT_FIT[0] * track.length_px
                and joined.height <= FRAGMENT_FIT[1] * track.depth_px
            )
            if not fits:
                still_lonely.append(det)
            elif joined.iou(predicted[i]) > dets[i].box.iou(predicted[i]):
                dets[i] = Detection(
                    joined,
                    max(dets[i].score, det.score),
                    dets[i].edge_cut or det.edge_cut,
                    dets[i].merged,
                    dets[i].label,
                )
        return [(track, det) for (track, _), det in zip(pairs, dets, strict=True)], still_lonely

    def _share_merged(self, pairs: list[tuple[Track, Detection]], t: float) -> list[tuple[Track, Detection]]:
        """A fish swimming over or beside another shows as one blob: each track whose
        predicted box lies mostly inside a matched detection observes its own predicted
        box within that blob (flagged merged), so it neither loses its place nor ends."""
        if not pairs:
            return pairs
        matched = {id(track) for track, _ in pairs}
        hidden = [tr for tr in self.active if id(tr) not in matched and tr.clean >= MIN_CLEAN_TO_SHARE]
        if not hidden:
            return pairs
        dets = [det for _, det in pairs]
        sharing: dict[int, list[Track]] = {}
        for track in hidden:
            pred = track.predict(t, self.frame_width, self.frame_height)
            if pred.width < MIN_SHARED_IN_VIEW * track.length_px:
                continue  # (nearly) out of the picture: it left, it is not hiding
            share, i = max((pred.share_inside(d.box), i) for i, d in enumerate(dets))
            was = self._depth_after_crowd(track, pred)
            if was is not None and self._at_another_depth(track, was, dets[i].box):
                continue  # refused in association, for the same reason: not its fish
            if share >= SHARED_INSIDE:
                sharing.setdefault(i, []).append(track)
        out = []
        for i, (track, det) in enumerate(pairs):
            if i not in sharing:
                out.append((track, det))
                continue
            for tr in [track, *sharing[i]]:
                out.append((tr, self._part_of(tr, det, t)))
        return out

    def _leaving(self, track: Track, det: Detection, t: float) -> Detection:
        """A fish swimming out through a border, whose box there reaches back into the
        picture, shares it with a fish coming in: it keeps its own predicted box."""
        if not det.edge_cut or not self._leaving_fast(track) or track.length_px <= 0:
            return det
        last, b = track.last.box, det.box
        tolerance = LEAVING_TOLERANCE * track.length_px
        edge = self.border
        out_right = track.velocity_x > 0 and b.x2 >= self.frame_width - edge and b.x1 < last.x1 - tolerance
        out_left = track.velocity_x < 0 and b.x1 <= edge and b.x2 > last.x2 + tolerance
        return self._part_of(track, det, t) if out_right or out_left else det

    def _part_of(self, track: Track, blob: Detection, t: float) -> Detection:
        """The track's predicted box, kept inside a blob it shares with another fish."""
        p, b = track.predict(t, self.frame_width, self.frame_height), blob.box
        x1, x2 = max(p.x1, b.x1), min(p.x2, b.x2)
        y1, y2 = max(p.y1, b.y1), min(p.y2, b.y2)
        if x2 - x1 < 1 or y2 - y1 < 1:
            x1, y1, x2, y2 = b.x1, b.y1, b.x2, b.y2
        box = Box(x1, y1, x2, y2)
        edge_cut = box.touches_edge(self.frame_width, self.frame_height)
        return Detection(box, blob.score, edge_cut, True, blob.label)

    def _through_border(self, track: Track, predicted: Box, box: Box) -> bool:
        """Whether a fish half out through a border would have to have come back whole into
        the picture to be this box: it cannot be, unless the box still overlaps the fish's
        last box by SAME_FISH_IOU (it turned at the border)."""
        w = self.frame_width
        if not self._leaving_fast(track) or box.iou(track.box) >= SAME_FISH_IOU:
            return False
        edge = self.border
        if track.velocity_x > 0 and track.box.x2 >= w - edge and predicted.x2 >= w - edge:
            return box.x2 < w - edge
        if track.velocity_x < 0 and track.box.x1 <= edge and predicted.x1 <= edge:
            return box.x1 > edge
        return False

    @staticmethod
    def _leaving_fast(track: Track) -> bool:
        """Swimming fast enough, for its size, to be taken as going out through a border."""
        floor = max(MIN_LEAVING_SPEED, MIN_LEAVING_LENGTHS_S * track.body_length_px)
        return abs(track.velocity_x) >= floor

    def _observe(self, track: Track, det: Detection, frame: int, t: float) -> None:
        obs = Observation(frame, t, det.box, det.edge_cut, det.merged, det.label)
        track.path.append(obs)
        track.misses = 0
        if not det.edge_cut:
            track.uncut_px = max(track.uncut_px, det.box.width)
            track.uncut_widths.append(det.box.width)
            if not det.merged:
                track.whole_widths.append(det.box.width)
        if not det.edge_cut and not det.merged:
            track.clean += 1
            if det.box.width > track.length_px:
                track.length_px, track.depth_px = det.box.width, det.box.height
        self._update_speed(track)

    def _update_speed(self, track: Track) -> None:
        recent = track.path[-SPEED_WINDOW - 1 :]
        pairs = list(pairwise(recent))
        # a box holding two fish moves oddly: use such boxes only when there is nothing else
        clean = [(a, b) for a, b in pairs if not (a.merged or b.merged)]
        box = track.last.box
        # Half out through a border only one end of the fish is seen: a box growing back into
        # the picture there is another fish coming in, not this one turning round. Not so for
        # a fish that fills much of the frame: it may hold at the border and turn back, and
        # its trailing edge shows how it moves.
        at_exit = (track.velocity_x > 0 and box.x2 >= self.frame_width - self.border) or (
            track.velocity_x < 0 and box.x1 <= self.border
        )
        if at_exit and track.body_length_px <= SMALL_FISH_SHARE * self.frame_width:
            return  # keep the speed measured while more of the fish was in view
        moved = elapsed = 0.0
        for a, b in clean or pairs:
            dx = _edge_shift(a.box, b.box, self.frame_width, self.border)
            if dx is None:
                continue
            moved += dx
            elapsed += b.t - a.t
        if elapsed > 0:
            track.velocity_x = moved / elapsed
