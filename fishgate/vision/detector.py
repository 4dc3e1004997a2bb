"""Finding fish, and only fish, in one frame of the chute: background subtraction.

`FishDetector.detect(image, t)`:

1. Shrink the frame to half size (OpenCV's fast 2x area path, which also halves the
   sensor noise) and compare it with a background model of the empty chute, scaled
   by the global gain so that a cloud's light change is no difference.
2. Threshold two measures of change, each at a multiple of its own median (its noise
   level), so silty, noisy or glittering water sets its own thresholds: the colour
   difference, and its high-pass part, which keeps a fish's sharp outline but not
   the broad soft patches of sun caustics (those only raise the colour threshold).
3. Remove specks (bubbles) by opening, close small gaps (a fish's flank can match the
   water), take the outer contours and group those lying end to end (a tail fin the
   colour of the water comes apart from the body).
4. Refine each blob's box at full resolution inside the blob, so the box is as tight
   as an annotator draws it (the classifier crops these boxes).
5. Split blobs holding fish side by side: one above the other at the weakest row,
   nose to tail at the narrowest column, one ahead of and below the other at the
   step between them; a split stands only where both halves look like fish.
6. Keep what is a fish: at least most of `min_length_cm` long (leaves and bubbles are
   shorter); or growing in from the left or right border and deeper than a leaf; or
   as deep as a fish that was here within the last second (a fish turning end on, or
   leaving the picture). Flag `merged` what is shaped like no single fish or covers
   two fish of the frame before.
7. Learn the background fast where nothing changed, slowly under other changes (a
   slow leaf leaves no trail) and hardly at all under fish (a fish holding station
   is not absorbed).

Runs on one thread in about 1-2 ms a frame on a desktop CPU (tools/eval_detector.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from fishgate.types import NO_LENGTH_SCALE, Box, Detection
from fishgate.vision.motion import as_u8, median_u8, rate

__all__ = ["Detection", "FishDetector"]  # Detection is fishgate.types.Detection, the pipeline's

U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]
Mask = npt.NDArray[np.bool_]
Contour = npt.NDArray[np.int32]
Rect = tuple[int, int, int, int]  # x, y, width, height

SCALE = 2  # the background model runs at 1/SCALE of the frame size
BACKGROUND_TAU_S = 1.5  # time constant of the background where no fish is
MOVING_TAU_S = 10.0  # ... where something else changed: a slow leaf must leave no trail
FISH_TAU_S = 120.0  # ... and under a fish: a fish holding station must not fade away
MAX_RATE = 0.5  # cap on one update's learning rate after a long pause between calls
WARMUP_FRAMES = 3  # frames learnt at once, before any detection
NOISE_FACTOR = 7.0  # threshold = this times the median difference (the noise level)
MIN_THRESHOLD = 9.0  # grey levels: thresholds never drop below this
EDGE_WINDOW_PX = 9  # work px: box filter whose residual is the high-pass (edge) difference
GAIN_LIMITS = (0.5, 2.0)  # outside: not a cloud, compare unscaled
GAIN_STRIDE = 4  # work px between the samples the global gain is measured on
SLOW_LEARN_EVERY = 4  # frames between the slow background updates (under changes, fish)

FISH_ASPECT = 2.6  # box length / box height of a fish seen side on (2.2 .. 3)
LENGTH_SHARE = 0.85  # a whole fish's box is at least this share of min length long
BORDER_DEPTH_SHARE = 0.8  # a fish cut by the border: at least this share of a min fish's depth
BORDER_MIN_CM = 7.0  # ... and this much of it in the picture
FOLLOW_AREA_SHARE = 0.08  # where a fish was: at least this share of a min fish's box
FOLLOW_FRAMES = 25  # ... for at most this many frames after it last looked like a fish
FOLLOW_DEPTH = 0.6  # ... and at least this share of its depth then
FOLLOW_IOU = 0.2  # overlap with last frame's fish that counts as "where a fish was"
GROUP_GAP_PX = 3  # work px: blobs this close end to end are one fish come apart
GROUP_OVERLAP = 0.5  # ... if they overlap in height by this share of the lower one
MIN_BLOB_CM = 5.0  # blobs shorter than this are not looked at closely
DEEPEST_FISH = 0.6  # box depth / length above which a box cannot hold one fish side on
MERGED_DEEP = 0.5  # ... above which it probably holds fish one above the other
MERGED_LONG = 0.28  # ... below which it probably holds fish nose to tail
MAX_SPLITS = 2  # a blob is split into at most 2 ** MAX_SPLITS fish
SPLIT_FILL = 0.35  # each half of a split is at least this share foreground (fins are less)
STEP_AREA_SHARE = 0.75  # two offset boxes must cover at most this share of the one box
STEP_TOLERANCE_PX = 2  # a fish sticks out of another's rows by more than this
STEP_GAP_SHARE = 0.3  # ... along a stretch with gaps up to this share of a min fish's length
DEEP_VALLEY_SHARE = 0.4  # ... and at most this share of the highest peak
VALLEY_SHARE = 0.5  # a split row/column has at most this share of the weaker side's peak

ROI_MARGIN_PX = 6  # full-resolution margin around a blob where its box is refined
FREEZE_MARGIN_PX = 8  # full-resolution margin around a fish where the background is frozen
# Opening with it removes specks of a pixel or two; dilating grows a mask by a pixel.
_3X3 = cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3))
_GAP = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 3))


@dataclass(frozen=True, slots=True)
class _Change:
    """Where one frame differs from the background, at work resolution."""

    mask: U8
    refine_threshold: float  # for the colour difference at full resolution

    @staticmethod
    def measure(small: U8, reference: U8, noise_factor: float, min_threshold: float) -> _Change:
        colour = as_u8(cv2.cvtColor(cv2.absdiff(small, reference), cv2.COLOR_BGR2GRAY))
        grey, ref_grey = (cv2.cvtColor(im, cv2.COLOR_BGR2GRAY) for im in (small, reference))
        signed = cv2.subtract(grey, ref_grey, dtype=cv2.CV_16S)
        window = (EDGE_WINDOW_PX, EDGE_WINDOW_PX)
        edges = as_u8(cv2.convertScaleAbs(cv2.absdiff(signed, cv2.blur(signed, window))))
        colour_t = max(min_threshold, noise_factor * _noise(colour))
        edge_t = max(min_threshold, noise_factor * _noise(edges))
        _, colour_fg = cv2.threshold(colour, colour_t, 255, cv2.THRESH_BINARY)
        _, edge_fg = cv2.threshold(edges, edge_t, 255, cv2.THRESH_BINARY)
        # Opening first: bubbles and specks are a pixel or two across at work size.
        colour_fg = cv2.morphologyEx(colour_fg, cv2.MORPH_OPEN, _3X3)
        edge_fg = cv2.morphologyEx(edge_fg, cv2.MORPH_OPEN, _3X3)
        mask = as_u8(cv2.morphologyEx(cv2.bitwise_or(colour_fg, edge_fg), cv2.MORPH_CLOSE, _GAP))
        # The full-resolution edge of a fish: as low as the sensor noise allows, which
        # the edge measure's median tracks better than the colour's under caustics.
        return _Change(mask, max(min_threshold, min(colour_t, edge_t)))


@dataclass(frozen=True, slots=True)
class _Part:
    """A fish candidate at full resolution: its box and its foreground inside the box."""

    box: Box
    fg: Mask
    strength: float  # mean difference / threshold

    def sub(self, rows: slice, cols: slice) -> _Part | None:
        """The part of this candidate inside rows x cols (of `fg`), tightened."""
        fg = self.fg[rows, cols]
        ys, xs = np.flatnonzero(fg.any(axis=1)), np.flatnonzero(fg.any(axis=0))
        if ys.size == 0 or xs.size == 0:
            return None
        y0, x0 = (rows.start or 0) + int(ys[0]), (cols.start or 0) + int(xs[0])
        y1, x1 = (rows.start or 0) + int(ys[-1]) + 1, (cols.start or 0) + int(xs[-1]) + 1
        box = Box(self.box.x1 + x0, self.box.y1 + y0, self.box.x1 + x1, self.box.y1 + y1)
        return _Part(box, self.fg[y0:y1, x0:x1], self.strength)


class FishDetector:
    """`detect(image, t)` -> the fish in a BGR frame; keeps its own background model.

    `t` is the frame's time in seconds: learning rates follow time, not calls, so a
    detector that is skipped while nothing moves catches up on the next call.
    """

    # its boxes follow the fish's silhouette: nothing to correct (see pipeline.Detector)
    length_scale: Mapping[str, float] = NO_LENGTH_SCALE

    def __init__(
        self,
        frame_size: tuple[int, int] = (640, 360),
        px_per_cm: float = 2.6,
        min_length_cm: float = 30.0,
        *,
        background_tau_s: float = BACKGROUND_TAU_S,
        fish_tau_s: float = FISH_TAU_S,
        noise_factor: float = NOISE_FACTOR,
        min_threshold: float = MIN_THRESHOLD,
    ) -> None:
        width, height = frame_size
        if width < 64 or height < 64 or width % SCALE or height % SCALE:
            raise ValueError(f"frame_size: expected even sizes >= 64 px, got {frame_size}")
        if not (math.isfinite(px_per_cm) and px_per_cm > 0):
            raise ValueError(f"px_per_cm: expected a number > 0, got {px_per_cm!r}")
        if not (math.isfinite(min_length_cm) and min_length_cm > 0):
            raise ValueError(f"min_length_cm: expected a number > 0, got {min_length_cm!r}")
        if min(background_tau_s, fish_tau_s, noise_factor) <= 0:
            raise ValueError("background_tau_s, fish_tau_s, noise_factor: expected > 0")
        self.frame_size = frame_size
        self.px_per_cm = px_per_cm
        self.min_length_px = min_length_cm * px_per_cm
        self.background_tau_s = background_tau_s
        self.fish_tau_s = fish_tau_s
        self.noise_factor = noise_factor
        self.min_threshold = min_threshold
        self._work_size = (width // SCALE, height // SCALE)
        self.reset()

    def reset(self) -> None:
        """Forget the background and the last fish (e.g. after the camera moved)."""
        self._background: F32 | None = None
        self._frames_seen = 0
        self._last_t = 0.0
        self._still: U8 | None = None  # where the background learnt fast last frame (255), work size
        # Last frame's fish, each with how many frames ago it last looked like a fish on its own.
        self._previous: list[tuple[Box, int]] = []
        self._seen: list[Box] = []  # every candidate of last frame, fish or not
        self._slow_dt = 0.0  # time the slow background updates have not yet learnt
        self._slow_count = 0

    @property
    def min_depth_px(self) -> float:
        """Box height of the shortest fish reported, seen side on."""
        return self.min_length_px / FISH_ASPECT

    # -- the frame ------------------------------------------------------------

    def detect(self, image: np.ndarray, t: float) -> list[Detection]:
        width, height = self.frame_size
        if image.shape[:2] != (height, width) or image.dtype != np.uint8 or image.ndim not in (2, 3):
            raise ValueError(f"image: expected {width}x{height} BGR uint8, got {image.dtype} {image.shape}")
        if image.ndim == 2:  # a monochrome camera: Frame allows it
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        small = as_u8(cv2.resize(image, self._work_size, interpolation=cv2.INTER_AREA))
        if self._background is None or t < self._last_t or self._frames_seen < WARMUP_FRAMES:
            self._warm_up(small, t)
            return []
        dt, self._last_t = t - self._last_t, t
        reference = as_u8(cv2.convertScaleAbs(self._background, alpha=self._gain(small)))
        change = _Change.measure(small, reference, self.noise_factor, self.min_threshold)
        parts = []
        for blob in self._blobs(change.mask):
            part = self._refine(image, reference, blob, change.refine_threshold)
            if part is not None:
                parts += self._split(part)
        judged = [j for p in parts if (j := self._judge(p)) is not None]
        detections = [d for d, _ in judged]
        self._learn(small, change.mask, detections, dt)
        self._previous = [(d.box, age) for d, age in judged]
        self._seen = [p.box for p in parts]
        return detections

    def _warm_up(self, small: U8, t: float) -> None:
        if self._background is None or t < self._last_t:
            self._background = small.astype(np.float32)
            self._frames_seen = 0
        else:
            cv2.accumulateWeighted(small, self._background, 0.5)
        self._frames_seen += 1
        self._last_t = t
        self._still = None
        self._previous = []
        self._seen = []

    def _gain(self, small: U8) -> float:
        assert self._background is not None
        # Fish would brighten the frame's mean: measure the gain where nothing changed,
        # on a sparse grid (a cloud dims the whole picture alike).
        grid = (slice(None, None, GAIN_STRIDE), slice(None, None, GAIN_STRIDE))
        still = None if self._still is None else np.ascontiguousarray(self._still[grid])
        ref = sum(cv2.mean(np.ascontiguousarray(self._background[grid]), still)[:3])
        now = sum(cv2.mean(np.ascontiguousarray(small[grid]), still)[:3])
        gain = now / ref if ref > 0 else 1.0
        return gain if GAIN_LIMITS[0] <= gain <= GAIN_LIMITS[1] else 1.0

    # -- blobs ----------------------------------------------------------------

    def _blobs(self, mask: U8) -> list[list[Contour]]:
        """Outer contours of the changes, grouped where they lie end to end: a tail fin or
        a snout whose colour is close to the water's can come apart from the body."""
        found, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        contours = [np.asarray(c, np.int32) for c in found]
        shortest = MIN_BLOB_CM * self.px_per_cm / SCALE
        groups: list[list[Contour]] = []
        rects: list[Rect] = []
        for c in sorted(contours, key=lambda c: -cv2.contourArea(c)):
            x, y, w, h = cv2.boundingRect(c)
            rect = (x, y, w, h)
            near = next((i for i, r in enumerate(rects) if _end_to_end(r, rect)), None)
            if near is None:
                groups.append([c])
                rects.append(rect)
            else:
                groups[near].append(c)
                rects[near] = _union(rects[near], rect)
        return [g for g, r in zip(groups, rects, strict=True) if max(r[2], r[3]) >= shortest]

    def _refine(
        self, image: np.ndarray, reference: U8, blob: list[Contour], threshold: float
    ) -> _Part | None:
        """The blob's box at full resolution: colour difference inside the (slightly grown) blob."""
        width, height = self.frame_size
        s = SCALE
        bx, by, bw, bh = cv2.boundingRect(np.concatenate(blob))
        x1, y1 = max(0, bx * s - ROI_MARGIN_PX) // s * s, max(0, by * s - ROI_MARGIN_PX) // s * s
        x2 = min(width, (bx + bw) * s + ROI_MARGIN_PX + 1) // s * s
        y2 = min(height, (by + bh) * s + ROI_MARGIN_PX + 1) // s * s
        size = (x2 - x1, y2 - y1)
        ref = cv2.resize(reference[y1 // s : y2 // s, x1 // s : x2 // s], size)
        crop = image[y1:y2, x1:x2]
        # A 3x3 mean brings the full-resolution noise down to that of the work size.
        diff = cv2.blur(cv2.cvtColor(cv2.absdiff(crop, ref), cv2.COLOR_BGR2GRAY), (3, 3))
        inside = np.zeros((size[1] // s, size[0] // s), np.uint8)
        cv2.drawContours(inside, blob, -1, 255, -1, offset=(-x1 // s, -y1 // s))
        inside = as_u8(cv2.dilate(cv2.resize(inside, size, interpolation=cv2.INTER_NEAREST), _3X3))
        fg = (diff > threshold) & (inside > 0)
        strength = float(diff[fg].mean()) / threshold if fg.any() else 0.0
        return _Part(Box(x1, y1, x2, y2), fg, strength).sub(slice(None), slice(None))

    # -- splitting and judging ----------------------------------------------------

    def _split(self, part: _Part, depth: int = 0) -> list[_Part]:
        """Fish above one another split at the weakest row; fish nose to tail at the
        weakest column; fish one ahead of and beside the other at the step between them.
        A split stands only where both halves look like fish.

        Boxes cut by the frame border are left alone: their width is not the fish's length.
        """
        width, height = self.frame_size
        box = part.box
        if depth >= MAX_SPLITS or box.touches_edge(width, height):
            return [part]
        shortest = LENGTH_SHARE * self.min_length_px
        tries: list[Callable[[], tuple[_Part | None, _Part | None] | None]] = []
        if box.height > DEEPEST_FISH * box.width:
            tries.append(
                lambda: _split_at_valley(part, axis=1, min_size=BORDER_DEPTH_SHARE * self.min_depth_px)
            )
        if box.width >= 2 * shortest:
            tries.append(lambda: _split_at_valley(part, axis=0, min_size=shortest))
            tries.append(lambda: _split_at_step(part, min_size=shortest))
        for attempt in tries:
            halves = attempt()
            if halves is not None and all(h is not None and self._fish_like(h) for h in halves):
                return [q for h in halves if h is not None for q in self._split(h, depth + 1)]
        return [part]

    def _fish_like(self, part: _Part) -> bool:
        """Long, slender and solid enough to be a fish, not a band of fins or a tail."""
        box = part.box
        return (
            box.width >= LENGTH_SHARE * self.min_length_px
            and box.height <= DEEPEST_FISH * box.width
            and float(part.fg.mean()) >= SPLIT_FILL
        )

    def _judge(self, part: _Part) -> tuple[Detection, int] | None:
        """A Detection if the part is a fish (see the module doc), with the frames since it
        was last wholly in view; None if it is not a fish."""
        width, height = self.frame_size
        box = part.box
        whole = box.width >= LENGTH_SHARE * self.min_length_px
        # A fish turning end on or leaving the picture is short for a while, but as deep
        # as it was: follow it for FOLLOW_FRAMES after it was last wholly in view.
        ages = [
            a + 1
            for b, a in self._previous
            if box.iou(b) >= FOLLOW_IOU and box.height >= FOLLOW_DEPTH * b.height
        ]
        age = 0 if whole else min(ages, default=FOLLOW_FRAMES)
        big_enough = box.area >= FOLLOW_AREA_SHARE * self.min_length_px * self.min_depth_px
        followed = age < FOLLOW_FRAMES and big_enough
        if not (whole or followed or self._entering(box)):
            return None
        edge_cut = box.touches_edge(width, height)
        merged = not edge_cut and self._merged(box)
        score = min(1.0, max(0.0, (part.strength - 1.0) / 3.0))
        return Detection(box, score, edge_cut, merged), age

    def _merged(self, box: Box) -> bool:
        """Probably more than one fish: shaped like no single fish, or covering two of the
        fish of the frame before."""
        depth = box.height / max(box.width, 1.0)
        if depth > MERGED_DEEP or depth < MERGED_LONG:
            return True
        return sum(b.share_inside(box) >= 0.5 for b, _ in self._previous) >= 2

    def _entering(self, box: Box) -> bool:
        """Whether the box is the front of a fish coming in at the left or right border:
        deeper than a leaf, seen the frame before and not shrinking towards the border
        (a leaf drifting out of the picture was never a fish, so nothing follows it out)."""
        width = self.frame_size[0]
        at_side = box.x1 <= 1 or box.x2 >= width - 1
        if not at_side or box.height < BORDER_DEPTH_SHARE * self.min_depth_px:
            return False
        if max(box.width, box.height) < BORDER_MIN_CM * self.px_per_cm:
            return False
        before = [b.width for b in self._seen if box.iou(b) >= FOLLOW_IOU]
        return bool(before) and box.width >= max(before)

    # -- background -------------------------------------------------------------

    def _learn(self, small: U8, moving: U8, detections: list[Detection], dt: float) -> None:
        """Learn fast where nothing changed, slowly under anything that changed (so a slow
        leaf leaves no trail), hardly at all under fish (so a holding fish stays). The
        slow updates run every SLOW_LEARN_EVERY frames, for the time since the last."""
        assert self._background is not None
        fish = np.zeros((self._work_size[1], self._work_size[0]), np.uint8)
        m = FREEZE_MARGIN_PX
        for d in detections:
            b = d.box
            p1 = (int(b.x1 - m) // SCALE, int(b.y1 - m) // SCALE)
            p2 = (int(b.x2 + m) // SCALE, int(b.y2 + m) // SCALE)
            cv2.rectangle(fish, p1, p2, 255, -1)
        busy = cv2.bitwise_or(cv2.dilate(moving, _3X3), fish)
        still = as_u8(cv2.bitwise_not(busy))
        self._still = still
        cv2.accumulateWeighted(small, self._background, _capped_rate(dt, self.background_tau_s), still)
        self._slow_dt += dt
        self._slow_count += 1
        if self._slow_count < SLOW_LEARN_EVERY:
            return
        slow_dt, self._slow_dt, self._slow_count = self._slow_dt, 0.0, 0
        cv2.accumulateWeighted(
            small, self._background, _capped_rate(slow_dt, MOVING_TAU_S), cv2.bitwise_xor(busy, fish)
        )
        if detections:
            cv2.accumulateWeighted(small, self._background, _capped_rate(slow_dt, self.fish_tau_s), fish)


def _capped_rate(dt: float, tau_s: float) -> float:
    """The learning rate for `dt` seconds, capped: after a long pause between calls the
    frame may hold a fish that no detection protects yet."""
    return min(MAX_RATE, rate(dt, tau_s))


def _noise(diff: U8) -> float:
    """The noise level of a difference picture: its median, on every other row and column."""
    return median_u8(np.ascontiguousarray(diff[::2, ::2]))


def _end_to_end(a: Rect, b: Rect) -> bool:
    """Whether two rectangles (work px) lie side by side within GROUP_GAP_PX, overlapping
    in height by at least GROUP_OVERLAP of the lower one."""
    gap = max(a[0], b[0]) - min(a[0] + a[2], b[0] + b[2])
    overlap = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return gap <= GROUP_GAP_PX and overlap >= GROUP_OVERLAP * min(a[3], b[3])


def _union(a: Rect, b: Rect) -> Rect:
    x, y = min(a[0], b[0]), min(a[1], b[1])
    return x, y, max(a[0] + a[2], b[0] + b[2]) - x, max(a[1] + a[3], b[1] + b[3]) - y


def _split_at_step(part: _Part, min_size: float) -> tuple[_Part | None, _Part | None] | None:
    """Split two fish offset both along and across the chute (one ahead of and below the
    other): find the column where a box left of it and one right of it cover the
    foreground with the least area, if clearly less than the one box around both; then
    let each fish reach back over the other where it sticks out below or above it."""
    fg = part.fg
    filled = fg.any(axis=0)
    top = np.where(filled, np.argmax(fg, axis=0), fg.shape[0]).astype(np.int32)
    bottom = np.where(filled, fg.shape[0] - np.argmax(fg[::-1], axis=0), 0).astype(np.int32)
    # Rows spanned by columns [0, c) and by [c, w), for every c.
    left = np.maximum.accumulate(bottom) - np.minimum.accumulate(top)
    right = (np.maximum.accumulate(bottom[::-1]) - np.minimum.accumulate(top[::-1]))[::-1]
    w = len(top)
    lo, hi = math.ceil(min_size), w - math.ceil(min_size)
    if hi <= lo:
        return None
    cuts = np.arange(lo, hi)
    area = left[cuts - 1] * cuts + right[cuts] * (w - cuts)
    cut = int(cuts[int(np.argmin(area))])
    if float(area.min()) > STEP_AREA_SHARE * w * fg.shape[0]:
        return None
    lt, lb = int(top[:cut].min()), int(bottom[:cut].max())
    rt, rb = int(top[cut:].min()), int(bottom[cut:].max())
    # Columns where a fish sticks out of the other's rows are that fish's.
    right_sticks = (bottom > lb + STEP_TOLERANCE_PX) | (top < lt - STEP_TOLERANCE_PX)
    left_sticks = (bottom > rb + STEP_TOLERANCE_PX) | (top < rt - STEP_TOLERANCE_PX)
    max_gap = int(STEP_GAP_SHARE * min_size)
    start = cut - _reach(right_sticks[:cut][::-1], max_gap)
    end = cut + _reach(left_sticks[cut:], max_gap)
    return part.sub(slice(lt, lb), slice(0, end)), part.sub(slice(rt, rb), slice(start, w))


def _reach(flags: Mask, max_gap: int) -> int:
    """How far the True entries at the start of `flags` reach, bridging gaps of up to
    `max_gap` False entries (a fish's narrow wrist does not stick out)."""
    reach, gap = 0, 0
    for i, flag in enumerate(flags.tolist()):
        if flag:
            reach, gap = i + 1, 0
        else:
            gap += 1
            if gap > max_gap:
                break
    return reach


def _split_at_valley(part: _Part, axis: int, min_size: float) -> tuple[_Part | None, _Part | None] | None:
    """Split where the foreground profile has a clear valley with at least `min_size` px
    on either side; None where there is none.

    axis 1 (split between rows): foreground pixels per row, low between two fish one
    above the other. axis 0 (split between columns): the height spanned in each column,
    which holes in a fish's flank do not lower; low at a snout or a tail's wrist.
    """
    fg = part.fg
    if axis == 1:
        profile = fg.sum(axis=1).astype(np.float32)
    else:
        top = np.argmax(fg, axis=0)
        bottom = fg.shape[0] - np.argmax(fg[::-1], axis=0)
        profile = np.where(fg.any(axis=0), bottom - top, 0).astype(np.float32)
    lo, hi = math.ceil(min_size), len(profile) - math.ceil(min_size)
    if hi <= lo:
        return None
    smooth = np.convolve(profile, np.ones(3, np.float32) / 3, mode="same")
    cut = lo + int(np.argmin(smooth[lo:hi]))
    weaker_peak = min(float(smooth[:cut].max()), float(smooth[cut:].max()))
    if smooth[cut] > VALLEY_SHARE * weaker_peak or smooth[cut] > DEEP_VALLEY_SHARE * float(smooth.max()):
        return None
    if axis == 1:
        return part.sub(slice(0, cut), slice(None)), part.sub(slice(cut, None), slice(None))
    return part.sub(slice(None), slice(0, cut)), part.sub(slice(None), slice(cut, None))
