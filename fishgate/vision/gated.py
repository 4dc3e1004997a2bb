"""The detector behind the motion gate: a frame with nothing moving costs almost nothing.

The trap runs on solar power, and most frames of a season show an empty chute. The
MotionGate looks at a 160 x 90 grey picture; only when it sees something fish-sized
move (or is unsure) does the full detector run. While the detector still finds fish
it keeps running whatever the gate says: a fish holding station is not "moving".
The learned detector, which looks at one frame at a time, then runs only every fifth
still frame: a fish holding station is still seen every 0.2 s (the tracker waits 0.8 s
for a lost fish), and something fish-like on a still chute costs a fifth as much.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from fishgate.config import SiteConfig
from fishgate.types import Detection
from fishgate.vision.detector import FishDetector
from fishgate.vision.learned import LearnedDetector
from fishgate.vision.motion import MotionGate


class FrameDetector(Protocol):
    @property
    def length_scale(self) -> Mapping[str, float]: ...

    def detect(self, image: np.ndarray, t: float) -> list[Detection]: ...


@dataclass
class GateCounts:
    frames: int = 0
    detected: int = 0  # frames the full detector ran on

    @property
    def skipped_share(self) -> float:
        return 1 - self.detected / self.frames if self.frames else 0.0


# While nothing moves but fish were found, the learned detector runs on every Nth frame.
LEARNED_STILL_EVERY = 5


class MotionGatedDetector:
    """A Detector (the pipeline's protocol) that asks the motion gate first.

    `still_every`: while nothing moves but the detector found fish when it last ran, run
    it on every `still_every`-th frame only (1: every frame; the background detector
    needs every frame to keep its background model and its memory of fish)."""

    def __init__(self, detector: FrameDetector, motion: MotionGate, still_every: int = 1) -> None:
        if still_every < 1:
            raise ValueError(f"still_every: expected an int >= 1, got {still_every!r}")
        self.detector = detector
        self.motion = motion
        self.still_every = still_every
        self.counts = GateCounts()
        self._had_fish = False
        self._still_frames = 0

    @property
    def length_scale(self) -> Mapping[str, float]:
        """The wrapped detector's length calibration."""
        return self.detector.length_scale

    def detect(self, image: np.ndarray, t: float) -> list[Detection]:
        self.counts.frames += 1
        moving = bool(self.motion.update(image, t))
        if moving:
            self._still_frames = 0
        elif not self._had_fish:
            return []
        else:
            self._still_frames += 1
            if self._still_frames % self.still_every:
                return []
        self.counts.detected += 1
        detections = self.detector.detect(image, t)
        self._had_fish = bool(detections)
        return detections


def build_detector(
    config: SiteConfig, frame_size: tuple[int, int]
) -> FishDetector | LearnedDetector | MotionGatedDetector:
    """The detector a site config asks for, sized for its camera."""
    d, px_per_cm = config.detection, config.geometry.px_per_cm
    detector: FishDetector | LearnedDetector
    if d.kind == "learned":
        detector = LearnedDetector(
            d.model, d.card_path, frame_size=frame_size, threads=d.threads, score_threshold=d.score_threshold
        )
    else:
        detector = FishDetector(frame_size=frame_size, px_per_cm=px_per_cm, min_length_cm=d.min_length_cm)
    if not d.motion_gate:
        return detector
    width, height = frame_size
    # a quarter of the frame's width, same aspect; the gate's own px_per_cm is the frame's
    small = (max(16, width // 4), max(16, height // 4))
    return MotionGatedDetector(
        detector,
        MotionGate(small, px_per_cm=px_per_cm, min_length_cm=d.min_length_cm),
        still_every=LEARNED_STILL_EVERY if d.kind == "learned" else 1,
    )
