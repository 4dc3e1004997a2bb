"""ReplaySource on the real sample footage (H.264), skipped where it is absent."""

from __future__ import annotations

from itertools import islice
from pathlib import Path

import numpy as np
import pytest

from fishgate.sources import ReplaySource

pytestmark = pytest.mark.footage

FOOTAGE = Path(__file__).resolve().parents[1].parent / "shared" / "footage"
CALM = FOOTAGE / "calm-01.mp4"


@pytest.fixture
def calm() -> Path:
    if not CALM.is_file():
        pytest.skip(f"sample footage not found at {CALM}")
    return CALM


def test_calm_clip_declares_the_site_geometry(calm: Path) -> None:
    with ReplaySource(calm) as source:
        assert (source.width, source.height) == (640, 360)
        assert source.fps == 25.0
        assert source.frame_count == 1500


def test_first_frames_read_in_order(calm: Path) -> None:
    with ReplaySource(calm) as source:
        frames = list(islice(source, 50))
    assert [f.index for f in frames] == list(range(50))
    assert all(f.image.shape == (360, 640, 3) and f.image.dtype == np.uint8 for f in frames)
    assert frames[49].t == 49 / 25.0
    assert not np.array_equal(frames[0].image, frames[49].image)  # real, changing footage


def test_seek_into_the_clip(calm: Path) -> None:
    with ReplaySource(calm) as source:
        source.seek(1000)
        frame = next(iter(source))
    assert frame.index == 1000
    assert frame.t == 40.0
