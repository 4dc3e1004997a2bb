"""The detector behind the motion gate: a frame with nothing moving costs almost nothing.

The trap runs on solar power, and most frames of a season show an empty chute. The
MotionGate looks at a 160 x 90 grey picture; only when it sees something fish-sized
move (or is unsure) does the full detector run. While the detector still finds fish
it keeps running whatever the gate says: a fish holding station is not "moving".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from fishgate.config import SiteConfig
from fishgate.types import Detection
from fishgate.vision.detector import FishDetector
from fishgate.vision.learned import LearnedDetector
from fishgate.vision.motion import MotionGate


class FrameDetector(Protocol):
    def detect(self, image: np.ndarray, t: float) -> list[Detection]: ...


@dataclass
class GateCounts:
    frames: int = 0
    detected: int = 0  # frames the full detector ran on

    @property
    def skipped_share(self) -> float:
        return 1 - self.detected / self.frames if self.frames else 0.0


class MotionGatedDetector:
    """A Detector (the pipeline's protocol) that asks the motion gate first."""

    def __init__(self, detector: FrameDetector, motion: MotionGate) -> None:
        self.detector = detector
        self.motion = motion
        self.counts = GateCounts()
        self._had_fish = False

    def detect(self, image: np.ndarray, t: float) -> list[Detection]:
        self.counts.frames += 1
        moving = bool(self.motion.update(image, t))
        if not moving and not self._had_fish:
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
        detector, MotionGate(small, px_per_cm=px_per_cm, min_length_cm=d.min_length_cm)
    )
