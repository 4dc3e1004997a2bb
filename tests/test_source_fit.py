"""A video that does not fit the site's geometry is refused before a fish is counted wrongly."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from fishgate.cli import main
from tests.helpers import CHUTE_CONFIG, site_config


def _video(path: Path, width: int, height: int, fps: float, frames: int = 10) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (width, height))
    assert writer.isOpened()
    for _ in range(frames):
        writer.write(np.full((height, width, 3), 90, np.uint8))
    writer.release()
    return path


@pytest.mark.parametrize(
    ("size", "fps", "phrase"),
    [
        ((320, 180), 25.0, "the picture is 320 px wide but geometry.frame_width is 640"),
        ((1280, 720), 25.0, "the picture is 1280 px wide"),
        ((640, 360), 10.0, "the video says 10 frames a second but source.fps is 25"),
    ],
)
def test_replay_and_run_refuse_a_video_that_does_not_fit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], size: tuple[int, int], fps: float, phrase: str
) -> None:
    video = _video(tmp_path / "other.mp4", *size, fps)
    assert main(["replay", str(video), "-c", str(CHUTE_CONFIG), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert phrase in err and err.count("\n") == 1
    events = tmp_path / "run.jsonl"
    assert main(["run", "-c", str(site_config(tmp_path, video)), "--events", str(events)]) == 2
    assert phrase in capsys.readouterr().err
    assert not events.exists() or "passage" not in events.read_text()


def test_a_video_that_fits_is_replayed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    video = _video(tmp_path / "same.mp4", 640, 360, 25.0)
    assert main(["replay", str(video), "-c", str(CHUTE_CONFIG), "--no-progress"]) == 0
    assert "10 frames, 0 passages" in capsys.readouterr().err
