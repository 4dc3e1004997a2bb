"""ReplaySource: file timing, seeking, pacing, and every way a video file can be bad.

Guarantee for a truncated file (documented in fishgate/sources/replay.py): it never
raises anything but SourceError. Where the container can still be indexed (AVI) the
decodable frames are yielded, iteration ends normally, `truncated` is True and a
warning is logged; an MP4 cut short has lost its index and fails on open.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from fishgate.clock import FakeClock
from fishgate.errors import SourceError
from fishgate.sources import ReplaySource, SyntheticFish, SyntheticSource, write_video
from fishgate.types import Frame

WIDTH, HEIGHT, FPS, FRAMES = 160, 96, 25.0, 30
CODECS = {"mp4v": "clip.mp4", "MJPG": "clip.avi"}


def scene(frames: int = FRAMES) -> SyntheticSource:
    # Two fish so that frames differ from one another and a wrong seek shows.
    fish = [
        SyntheticFish(enter_frame=0, y=40.0, length_px=50.0, speed_px_per_frame=6.0),
        SyntheticFish(enter_frame=5, y=70.0, length_px=40.0, speed_px_per_frame=-4.0),
    ]
    return SyntheticSource(width=WIDTH, height=HEIGHT, fps=FPS, frames=frames, fish=fish)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path | str]:
    folder = tmp_path_factory.mktemp("replay")
    out: dict[str, Path | str] = {}
    for fourcc, name in CODECS.items():
        try:
            with scene() as source:
                out[fourcc] = write_video(source, folder / name, fourcc)
        except SourceError as exc:
            out[fourcc] = str(exc)
    return out


def clip(clips: dict[str, Path | str], fourcc: str) -> Path:
    found = clips[fourcc]
    if isinstance(found, str):
        pytest.skip(f"cannot write a {fourcc} clip here: {found}")
    return found


@pytest.fixture(params=list(CODECS))
def any_clip(request: pytest.FixtureRequest, clips: dict[str, Path | str]) -> Path:
    return clip(clips, request.param)


@pytest.fixture
def avi(clips: dict[str, Path | str]) -> Path:
    return clip(clips, "MJPG")


def read_all(source: ReplaySource) -> list[Frame]:
    with source:
        return list(source)


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def cut_in_half(path: Path, into: Path) -> Path:
    data = path.read_bytes()
    into.write_bytes(data[: len(data) // 2])
    return into


# -- timing ---------------------------------------------------------------------------


def test_t_is_exactly_index_over_fps(any_clip: Path) -> None:
    source = ReplaySource(any_clip)
    assert (source.fps, source.frame_count) == (FPS, FRAMES)
    frames = read_all(source)
    assert [f.index for f in frames] == list(range(FRAMES))
    assert all(f.t == f.index / FPS for f in frames)
    assert source.frames_read == FRAMES
    assert source.truncated is False


def test_fps_override_replaces_the_files_rate(avi: Path) -> None:
    source = ReplaySource(avi, fps=10.0)
    assert source.fps == 10.0
    frames = read_all(source)
    assert frames[5].t == 0.5
    assert frames[-1].t == (FRAMES - 1) / 10.0


@pytest.mark.parametrize("bad", [0.0, -5.0, float("nan")])
def test_unusable_fps_override_is_refused_naming_the_file(avi: Path, bad: float) -> None:
    with pytest.raises(SourceError, match=r"source\.fps") as caught:
        ReplaySource(avi, fps=bad)
    assert str(avi) in str(caught.value)


# -- seeking --------------------------------------------------------------------------


@pytest.mark.parametrize("k", [0, 7, 19, FRAMES - 1])
def test_seek_gives_the_frame_sequential_reading_gives(any_clip: Path, k: int) -> None:
    sequential = read_all(ReplaySource(any_clip))
    with ReplaySource(any_clip) as source:
        next(iter(source))
        source.seek(k)
        frame = next(iter(source))
    assert frame.index == k
    assert frame.t == k / FPS
    assert mean_abs_diff(frame.image, sequential[k].image) < 2.0
    # A wrong frame would differ by far more: the fish move several pixels per frame.
    other = sequential[(k + 3) % FRAMES].image
    assert mean_abs_diff(frame.image, other) > mean_abs_diff(frame.image, sequential[k].image)


def test_seek_during_iteration_continues_from_there(avi: Path) -> None:
    with ReplaySource(avi) as source:
        frames = iter(source)
        assert next(frames).index == 0
        source.seek(20)
        assert [next(frames).index for _ in range(3)] == [20, 21, 22]


def test_start_frame_starts_there(avi: Path) -> None:
    frames = read_all(ReplaySource(avi, start_frame=12))
    assert [f.index for f in frames] == list(range(12, FRAMES))


@pytest.mark.parametrize("k", [-1, FRAMES, FRAMES + 100])
def test_seek_out_of_range_raises_naming_the_file_and_keeps_the_position(avi: Path, k: int) -> None:
    with ReplaySource(avi) as source:
        frames = iter(source)
        next(frames)
        with pytest.raises(SourceError, match=rf"frame {k}") as caught:
            source.seek(k)
        assert str(avi) in str(caught.value)
        assert next(frames).index == 1


def test_start_frame_out_of_range_raises(avi: Path) -> None:
    with pytest.raises(SourceError, match=str(FRAMES + 5)):
        ReplaySource(avi, start_frame=FRAMES + 5)


# -- pacing ---------------------------------------------------------------------------


def test_pacing_spreads_frames_over_real_time(avi: Path) -> None:
    clock = FakeClock(start=100.0)
    due: list[float] = []
    with ReplaySource(avi, pace=True, clock=clock) as source:
        for frame in source:
            due.append(clock.now() - 100.0)
            assert frame.t == frame.index / FPS  # pacing never changes the timestamps
    assert clock.now() - 100.0 == pytest.approx((FRAMES - 1) / FPS)
    assert due == pytest.approx([i / FPS for i in range(FRAMES)])


def test_without_pacing_the_clock_is_not_touched(avi: Path) -> None:
    clock = FakeClock()
    read_all(ReplaySource(avi, clock=clock))
    assert clock.now() == 0.0


def test_pacing_does_not_sleep_when_the_consumer_is_late(avi: Path) -> None:
    clock = FakeClock()
    with ReplaySource(avi, pace=True, clock=clock) as source:
        for _ in source:
            clock.advance(1.0)  # a consumer far slower than 25 fps
    assert clock.now() == pytest.approx(FRAMES * 1.0)


def test_pacing_restarts_after_a_seek(avi: Path) -> None:
    clock = FakeClock()
    with ReplaySource(avi, pace=True, clock=clock) as source:
        frames = iter(source)
        for _ in range(5):
            next(frames)
        source.seek(25)
        for _ in range(5):
            next(frames)
    # 4 frame periods before the jump, 4 after; the jump itself costs no waiting.
    assert clock.now() == pytest.approx(8 / FPS)


# -- bad files --------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.mp4"
    with pytest.raises(SourceError, match="not found") as caught:
        ReplaySource(path)
    assert str(path) in str(caught.value)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    path.touch()
    with pytest.raises(SourceError, match="empty") as caught:
        ReplaySource(path)
    assert str(path) in str(caught.value)


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="directory") as caught:
        ReplaySource(tmp_path)
    assert str(tmp_path) in str(caught.value)


@pytest.mark.parametrize("name", ["notes.mp4", "notes.avi"])
def test_text_file_renamed_as_video(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("site: river-7\ncamera: usb0\n" * 20)
    with pytest.raises(SourceError, match="cannot open") as caught:
        ReplaySource(path)
    assert str(path) in str(caught.value)


def test_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "noise.mp4"
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 20_000, dtype=np.uint8).tobytes())
    with pytest.raises(SourceError) as caught:
        ReplaySource(path)
    assert str(path) in str(caught.value)


def test_video_without_frames(tmp_path: Path) -> None:
    # A well-formed AVI that holds no frame: it opens, but there is nothing to decode.
    path = tmp_path / "none.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), FPS, (WIDTH, HEIGHT))
    writer.release()
    if not path.is_file() or path.stat().st_size == 0:
        pytest.skip("this OpenCV writes no file for a video without frames")
    with pytest.raises(SourceError, match="no decodable frames") as caught:
        ReplaySource(path)
    assert str(path) in str(caught.value)


def test_truncated_avi_yields_what_it_can_then_ends_cleanly(
    avi: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = cut_in_half(avi, tmp_path / "cut.avi")
    source = ReplaySource(path)
    assert source.frame_count == FRAMES  # the header still claims the whole clip
    with caplog.at_level(logging.WARNING, logger="fishgate.sources.replay"):
        frames = read_all(source)
    assert 0 < len(frames) < FRAMES
    assert [f.index for f in frames] == list(range(len(frames)))
    assert source.frames_read == len(frames)
    assert source.truncated is True
    assert any(str(path) in r.getMessage() and "truncated" in r.getMessage() for r in caplog.records)


def test_seek_past_the_decodable_end_of_a_truncated_file(avi: Path, tmp_path: Path) -> None:
    path = cut_in_half(avi, tmp_path / "cut.avi")
    with ReplaySource(path) as source:
        with pytest.raises(SourceError, match="ends before") as caught:
            source.seek(FRAMES - 1)
        assert str(path) in str(caught.value)
        assert next(iter(source)).index == 0  # still where it was


def test_truncated_mp4_fails_on_open_naming_the_file(clips: dict[str, Path | str], tmp_path: Path) -> None:
    # OpenCV writes the MP4 index (moov) last, so half a file has none.
    path = cut_in_half(clip(clips, "mp4v"), tmp_path / "cut.mp4")
    with pytest.raises(SourceError, match="cannot open") as caught:
        ReplaySource(path)
    assert str(path) in str(caught.value)


def test_write_video_rejects_a_fourcc_that_is_not_four_characters(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="fourcc"):
        write_video(scene(frames=1), tmp_path / "x.avi", "MJPEG")
