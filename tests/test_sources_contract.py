"""The FrameSource contract, checked once for every source this machine can build.

The contract (see fishgate/sources/base.py): BGR uint8 frames of the declared size,
indices 0, 1, 2, ..., t never going back, close() idempotent, a context manager, and
asking a closed source for frames raises SourceError (it never silently yields
nothing).

A video file stands in for a camera for OpenCVSource (cv2.VideoCapture opens files
too); PicameraSource runs only where picamera2 is installed.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from itertools import islice, pairwise
from pathlib import Path

import numpy as np
import pytest

from fishgate.clock import FakeClock
from fishgate.errors import SourceError
from fishgate.sources import (
    FrameSource,
    OpenCVSource,
    PicameraSource,
    ReplaySource,
    SyntheticFish,
    SyntheticSource,
    mask_uri,
    write_video,
)
from fishgate.types import Frame

WIDTH, HEIGHT, FPS, FRAMES = 160, 96, 25.0, 30
TAKE = 10  # frames read per contract check; fewer than FRAMES so live-style sources never end


def small_scene() -> SyntheticSource:
    fish = [SyntheticFish(enter_frame=0, y=48.0, length_px=60.0, speed_px_per_frame=5.0)]
    return SyntheticSource(width=WIDTH, height=HEIGHT, fps=FPS, frames=FRAMES, fish=fish)


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path | str]:
    """Small clips by codec; a codec this OpenCV cannot write maps to the reason."""
    folder = tmp_path_factory.mktemp("videos")
    out: dict[str, Path | str] = {}
    for fourcc, name in (("mp4v", "clip.mp4"), ("MJPG", "clip.avi")):
        try:
            with small_scene() as scene:
                out[fourcc] = write_video(scene, folder / name, fourcc)
        except SourceError as exc:
            out[fourcc] = str(exc)
    return out


def video(videos: dict[str, Path | str], fourcc: str) -> Path:
    found = videos[fourcc]
    if isinstance(found, str):
        pytest.skip(f"cannot write a {fourcc} test clip here: {found}")
    return found


def make_picamera(_: dict[str, Path | str]) -> FrameSource:
    try:
        import picamera2  # noqa: F401
    except ImportError:
        pytest.skip("picamera2 is not installed (it exists only on Raspberry Pi OS)")
    return PicameraSource(width=WIDTH, height=HEIGHT, fps=FPS)


Factory = Callable[[dict[str, Path | str]], FrameSource]

FACTORIES: dict[str, Factory] = {
    "synthetic": lambda _: small_scene(),
    "replay-mp4v": lambda v: ReplaySource(video(v, "mp4v")),
    "replay-mjpg": lambda v: ReplaySource(video(v, "MJPG")),
    "opencv-on-file": lambda v: OpenCVSource(str(video(v, "MJPG"))),
    "picamera": make_picamera,
}


@pytest.fixture(params=list(FACTORIES))
def make(request: pytest.FixtureRequest, videos: dict[str, Path | str]) -> Callable[[], FrameSource]:
    factory = FACTORIES[request.param]
    return lambda: factory(videos)


def test_is_a_frame_source_with_sane_declarations(make: Callable[[], FrameSource]) -> None:
    with make() as source:
        assert isinstance(source, FrameSource)
        assert (source.width, source.height) == (WIDTH, HEIGHT)
        assert source.fps == pytest.approx(FPS)
        assert source.frame_count is None or source.frame_count == FRAMES


def test_frames_are_bgr_uint8_of_the_declared_size(make: Callable[[], FrameSource]) -> None:
    with make() as source:
        frames = list(islice(source, TAKE))
        assert len(frames) == TAKE
        for frame in frames:
            assert isinstance(frame, Frame)
            assert frame.image.dtype == np.uint8
            assert frame.image.shape == (source.height, source.width, 3)


def test_indices_count_from_zero_and_time_never_goes_back(
    make: Callable[[], FrameSource],
) -> None:
    with make() as source:
        frames = list(islice(source, TAKE))
        fps, live = source.fps, source.frame_count is None
    assert [f.index for f in frames] == list(range(TAKE))
    times = [f.t for f in frames]
    if live:  # a camera (or a file that does not say its length): seconds since it opened
        assert 0.0 <= times[0] < 5.0
    else:  # a file or a rendered scene: the frame's place in it
        assert times == [i / fps for i in range(TAKE)]
    assert all(a <= b for a, b in pairwise(times))


def test_close_is_idempotent(make: Callable[[], FrameSource]) -> None:
    source = make()
    next(iter(source))
    source.close()
    source.close()


def test_context_manager_returns_itself_and_closes(make: Callable[[], FrameSource]) -> None:
    source = make()
    with source as entered:
        assert entered is source
        next(iter(entered))
    with pytest.raises(SourceError, match="closed"):
        iter(source)


def test_iterating_a_closed_source_raises(make: Callable[[], FrameSource]) -> None:
    source = make()
    source.close()
    with pytest.raises(SourceError, match="closed"):
        next(iter(source))


def test_closing_during_iteration_stops_the_next_frame(make: Callable[[], FrameSource]) -> None:
    source = make()
    frames = iter(source)
    next(frames)
    source.close()
    with pytest.raises(SourceError, match="closed"):
        next(frames)


# -- Live-source error paths (beyond the shared contract) -------------------------------


def test_camera_that_stops_delivering_raises_after_the_timeout(
    videos: dict[str, Path | str],
) -> None:
    clock = FakeClock()
    path = str(video(videos, "MJPG"))
    with OpenCVSource(path, clock=clock, read_timeout_frames=5) as camera:
        delivered = 0
        # The file ends after FRAMES frames: to OpenCVSource that is a camera gone quiet.
        with pytest.raises(SourceError, match=r"stopped delivering frames") as caught:
            for _ in camera:
                delivered += 1
    assert delivered == FRAMES
    assert path in str(caught.value)
    # It waited one frame period per failed read (a timeout in time, not a burst of reads).
    assert clock.now() == pytest.approx(5 / FPS)


def test_camera_that_cannot_be_opened_is_named_without_its_password() -> None:
    # Port 1 on loopback refuses at once, so this needs no network and no waiting.
    with pytest.raises(SourceError) as caught:
        OpenCVSource("rtsp://admin:s3cret@127.0.0.1:1/stream")
    message = str(caught.value)
    assert "rtsp://admin:***@127.0.0.1:1/stream" in message
    assert "s3cret" not in message


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("rtsp://user:pw@cam.local:554/h264", "rtsp://user:***@cam.local:554/h264"),
        ("http://a:b:c@10.0.0.2/video", "http://a:***@10.0.0.2/video"),
        ("rtsp://cam.local/h264", "rtsp://cam.local/h264"),
        ("rtsp://user@cam.local/h264", "rtsp://user@cam.local/h264"),
        (0, "0"),
    ],
)
def test_mask_uri_hides_only_the_password(uri: int | str, shown: str) -> None:
    assert mask_uri(uri) == shown


def test_picamera_without_picamera2_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "picamera2", None)  # makes `import picamera2` fail
    with pytest.raises(SourceError, match=r"sudo apt install python3-picamera2"):
        PicameraSource()


def test_importing_the_package_does_not_import_picamera2() -> None:
    # A fresh interpreter where picamera2 cannot be imported at all.
    code = "import sys; sys.modules['picamera2'] = None; import fishgate.sources"
    repo = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
