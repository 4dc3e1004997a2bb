"""Is anything moving in the chute? A cheap gate in front of the detection work.

The frame is shrunk to a small grey picture (160 x 90 for a 640 x 360 camera) and
compared with a slowly adapting reference of the empty chute. What would otherwise
make it fire on an empty chute, and what keeps it quiet:

- cloud light changes: the reference is scaled by the global gain (the ratio of the
  frame's mean to the reference's, where nothing changed) before comparing;
- sensor noise and silt: thresholds follow the measured noise level (the median
  difference) rather than a fixed number of grey levels;
- sun caustics: broad soft patches raise that brightness threshold out of reach;
  the high-pass part of the difference (edges) still shows a fish's sharp outline;
- specks, bubbles and leaves: a change must be fish-sized: longer than most of a
  fish of `min_length_cm`, except at the left and right borders, where fish come
  in and only their snout shows at first.

Where something changed, the reference learns far more slowly, so a fish holding
station stays "moving". After motion the gate keeps saying "moving" for `hold_s`.
When in doubt (the first frames, a jump back in time) it says "moving": a missed
fish costs far more than a wasted detection. The pipeline should also keep running
the detector while it still finds fish, whatever the gate says.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]

DEFAULT_SIZE = (160, 90)  # (width, height) of the compared picture, px
REFERENCE_TAU_S = 2.0  # time constant of the reference where nothing changed
CHANGED_TAU_S = 15.0  # ... and where something changed (a holding fish must not fade)
HOLD_S = 0.3  # keep saying "moving" this long after the last change
WARMUP_S = 1.0  # say "moving" until the reference has settled
NOISE_FACTOR = 8.0  # threshold = this times the median absolute difference
MIN_THRESHOLD = 6  # grey levels: the thresholds never drop below this
EDGE_WINDOW_PX = 5  # small px: box filter whose residual is the high-pass (edge) difference
FISH_SHARE = 0.7  # a change counts in mid-picture if at least this share of a min-length fish long
BORDER_MIN_CM = 5.0  # ... and at the left or right border if at least this long or high
BORDER_PX = 1  # small px: how close to the border a change must reach to count as entering
MIN_THICKNESS_PX = 2  # small px: a fish is never thinner than this, even end on
SOLIDITY = 0.25  # a change must fill at least this share of its bounding box
GAIN_LIMITS = (0.5, 2.0)  # a larger global change is not a cloud: compare unscaled
_CLOSE = cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3))


@dataclass(frozen=True, slots=True)
class MotionResult:
    """The gate's answer for one frame. `largest_px`: longest side of the largest change
    (small px); `threshold`: brightness threshold used (grey levels); `gain`: the global
    gain the reference was scaled by."""

    moving: bool
    largest_px: int
    threshold: float
    gain: float

    def __bool__(self) -> bool:
        return self.moving


def shrink_grey(image: np.ndarray, size: tuple[int, int]) -> U8:
    """`image` (BGR or grey, uint8) area-averaged down to `size` (width, height) in grey.

    Halving first takes OpenCV's fast 2x area path and makes the colour conversion
    a quarter of the work; area averaging also averages the sensor noise away.
    """
    h, w = image.shape[:2]
    if w >= 2 * size[0] and h >= 2 * size[1]:
        image = cv2.resize(image, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if (image.shape[1], image.shape[0]) != size:
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return np.asarray(image, np.uint8)


def as_u8(image: np.ndarray) -> U8:
    """An OpenCV result typed as the uint8 picture it is (no copy)."""
    return np.asarray(image, np.uint8)


def median_u8(values: U8) -> float:
    """Median of a uint8 picture, from its histogram (faster than sorting)."""
    hist = cv2.calcHist([values], [0], None, [256], [0, 256]).ravel()
    return float(np.searchsorted(np.cumsum(hist), values.size / 2))


def rate(dt: float, tau_s: float) -> float:
    """Learning rate of an exponential average with time constant `tau_s` over `dt` s."""
    return 1.0 - math.exp(-max(dt, 0.0) / tau_s)


class MotionGate:
    """`update(image, t)` -> MotionResult, truthy when something fish-sized moves (or may).

    `px_per_cm` and `min_length_cm` are those of the full frame, whatever its size.
    """

    def __init__(
        self,
        size: tuple[int, int] = DEFAULT_SIZE,
        *,
        px_per_cm: float = 2.6,
        min_length_cm: float = 30.0,
        reference_tau_s: float = REFERENCE_TAU_S,
        changed_tau_s: float = CHANGED_TAU_S,
        hold_s: float = HOLD_S,
        warmup_s: float = WARMUP_S,
        noise_factor: float = NOISE_FACTOR,
        min_threshold: float = MIN_THRESHOLD,
    ) -> None:
        if size[0] < 16 or size[1] < 16:
            raise ValueError(f"size: expected at least 16 x 16 px, got {size}")
        if min(reference_tau_s, changed_tau_s, px_per_cm, min_length_cm) <= 0:
            raise ValueError("time constants, px_per_cm and min_length_cm: expected > 0")
        if hold_s < 0 or warmup_s < 0:
            raise ValueError(f"hold_s, warmup_s: expected >= 0, got {hold_s}, {warmup_s}")
        self.size = size
        self.px_per_cm = px_per_cm
        self.min_length_cm = min_length_cm
        self.reference_tau_s = reference_tau_s
        self.changed_tau_s = changed_tau_s
        self.hold_s = hold_s
        self.warmup_s = warmup_s
        self.noise_factor = noise_factor
        self.min_threshold = min_threshold
        self.reset()

    def reset(self) -> None:
        """Forget the reference (e.g. after the camera moved)."""
        self._reference: F32 | None = None
        self._still: U8 | None = None  # where nothing changed last frame: the gain is measured there
        self._started_t = 0.0
        self._last_t = 0.0
        self._last_motion_t = -math.inf
        self._cm_per_small_px = 1.0

    def update(self, image: np.ndarray, t: float) -> MotionResult:
        small = shrink_grey(image, self.size)
        if self._reference is None or t < self._last_t:
            return self._restart(small, image.shape[1], t)
        dt, self._last_t = t - self._last_t, t
        gain = self._gain(small)
        reference = as_u8(cv2.convertScaleAbs(self._reference, alpha=gain))
        changed, threshold = self._changed(small, reference)
        largest, fish_sized = self._largest_change(changed)
        self._learn(small, changed, dt)
        if fish_sized:
            self._last_motion_t = t
        moving = t - self._started_t < self.warmup_s or t - self._last_motion_t <= self.hold_s
        return MotionResult(moving, largest, threshold, gain)

    def _restart(self, small: U8, frame_width: int, t: float) -> MotionResult:
        self._reference = small.astype(np.float32)
        self._still = None
        self._started_t = self._last_t = t
        self._last_motion_t = -math.inf
        self._cm_per_small_px = frame_width / self.size[0] / self.px_per_cm
        return MotionResult(True, 0, 0.0, 1.0)

    def _gain(self, small: U8) -> float:
        assert self._reference is not None
        # Fish would brighten the mean: measure where nothing changed last frame.
        ref_mean = float(cv2.mean(self._reference, self._still)[0])
        gain = float(cv2.mean(small, self._still)[0]) / ref_mean if ref_mean > 0 else 1.0
        return gain if GAIN_LIMITS[0] <= gain <= GAIN_LIMITS[1] else 1.0

    def _threshold(self, diff: U8) -> float:
        return max(self.min_threshold, self.noise_factor * median_u8(diff))

    def _changed(self, small: U8, reference: U8) -> tuple[U8, float]:
        """Pixels that changed in brightness or in edges; and the brightness threshold."""
        diff = as_u8(cv2.absdiff(small, reference))
        signed = cv2.subtract(small, reference, dtype=cv2.CV_16S)
        window = (EDGE_WINDOW_PX, EDGE_WINDOW_PX)
        edges = as_u8(cv2.convertScaleAbs(cv2.absdiff(signed, cv2.blur(signed, window))))
        threshold = self._threshold(diff)
        _, changed = cv2.threshold(diff, threshold, 255, cv2.THRESH_BINARY)
        _, edge_changed = cv2.threshold(edges, self._threshold(edges), 255, cv2.THRESH_BINARY)
        return as_u8(cv2.bitwise_or(changed, edge_changed)), threshold

    def _largest_change(self, changed: U8) -> tuple[int, bool]:
        """Longest side of the largest change (small px), and whether any change is fish-sized."""
        closed = cv2.morphologyEx(changed, cv2.MORPH_CLOSE, _CLOSE)
        contours, _ = cv2.findContours(closed, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        fish_px = FISH_SHARE * self.min_length_cm / self._cm_per_small_px
        border_px = BORDER_MIN_CM / self._cm_per_small_px
        width = changed.shape[1]
        largest, fish_sized = 0, False
        for contour in contours:
            x, _, w, h = cv2.boundingRect(contour)
            side = max(w, h)
            largest = max(largest, side)
            # Thin lines are edges of fixed structure (posts) under changing light.
            if min(w, h) < MIN_THICKNESS_PX or cv2.contourArea(contour) < SOLIDITY * w * h:
                continue
            at_border = x <= BORDER_PX or x + w >= width - BORDER_PX
            fish_sized = fish_sized or side >= fish_px or (at_border and side >= border_px)
        return largest, fish_sized

    def _learn(self, small: U8, changed: U8, dt: float) -> None:
        assert self._reference is not None
        still = as_u8(cv2.bitwise_not(changed))
        self._still = still
        cv2.accumulateWeighted(small, self._reference, rate(dt, self.reference_tau_s), still)
        cv2.accumulateWeighted(small, self._reference, rate(dt, self.changed_tau_s), changed)
