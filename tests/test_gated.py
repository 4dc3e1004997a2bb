"""The motion gate in front of the detector: skip empty frames, never a fish."""

from __future__ import annotations

from dataclasses import replace

from fishgate.config import DetectionConfig, load_config
from fishgate.sources.synthetic import SyntheticFish, SyntheticSource
from fishgate.vision.detector import FishDetector
from fishgate.vision.gated import MotionGatedDetector, build_detector
from tests.helpers import CHUTE_CONFIG

# the background detector behind the gate (the sample chute's config asks for the learned
# one, whose gate is tested in test_learned_detector.py)
CONFIG = replace(load_config(CHUTE_CONFIG), detection=DetectionConfig(kind="background"))


def test_an_empty_chute_skips_the_detector_after_warm_up() -> None:
    detector = build_detector(CONFIG, (640, 360))
    assert isinstance(detector, MotionGatedDetector)
    for frame in SyntheticSource(frames=250, noise=2.0):
        assert detector.detect(frame.image, frame.t) == []
    # the first second is warm-up (the gate says "moving" while unsure); then nothing runs
    assert detector.counts.detected <= 30
    assert detector.counts.skipped_share > 0.85


def test_a_fish_is_found_with_the_gate_as_without_it() -> None:
    fish = [SyntheticFish(30, 150, 120, 6)]  # enters at frame 30, 6 px a frame
    gated = build_detector(CONFIG, (640, 360))
    plain = FishDetector((640, 360), CONFIG.geometry.px_per_cm)
    found_gated = found_plain = 0
    for frame in SyntheticSource(frames=200, fish=fish):
        found_gated += bool(gated.detect(frame.image, frame.t))
        found_plain += bool(plain.detect(frame.image, frame.t))
    assert found_plain > 60
    assert found_gated >= found_plain - 2


def test_config_can_turn_the_gate_off() -> None:
    config = replace(CONFIG, detection=DetectionConfig(min_length_cm=25.0, motion_gate=False))
    detector = build_detector(config, (640, 360))
    assert isinstance(detector, FishDetector)
    assert detector.min_length_px == 25.0 * CONFIG.geometry.px_per_cm
