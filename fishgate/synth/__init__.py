"""Synthetic, annotated footage of the trap chute: tests and training without real video.

    from fishgate.synth import SceneSpec, write_clip
    clip = write_clip(SceneSpec("calm", seconds=20, seed=1), "out/calm-synth")
    # out/calm-synth.mp4, .xml (CVAT for video 1.1), .json (manifest)

Needs only numpy and OpenCV. `render_scene` gives frames and per-frame fish states
directly, for tests that need no files.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2

from fishgate.synth.cvat_writer import (
    ManifestFish,
    SynthTrack,
    TrackBox,
    route_for,
    write_cvat,
    write_manifest,
)
from fishgate.synth.fish import FishLook, FishSprites, render_fish, sample_look
from fishgate.synth.scene import (
    BEHAVIOURS,
    SCENARIOS,
    FishPlan,
    FishState,
    SceneRenderer,
    SceneSpec,
    Trajectory,
    fish_trajectory,
    plan_fish,
    render_scene,
)
from fishgate.types import SPECIES

__all__ = [
    "BEHAVIOURS",
    "SCENARIOS",
    "SPECIES",
    "Clip",
    "FishLook",
    "FishPlan",
    "FishSprites",
    "FishState",
    "ManifestFish",
    "SceneRenderer",
    "SceneSpec",
    "SynthTrack",
    "TrackBox",
    "Trajectory",
    "collect_tracks",
    "fish_trajectory",
    "manifest_fish",
    "plan_fish",
    "render_fish",
    "render_scene",
    "sample_look",
    "write_clip",
    "write_cvat",
    "write_manifest",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Clip:
    """The files of one written clip and what is in them."""

    video: Path
    annotations: Path
    manifest: Path
    plans: tuple[FishPlan, ...]
    tracks: tuple[SynthTrack, ...]
    h264: bool  # whether the video was re-encoded with ffmpeg


class _Collector:
    """Gathers per-frame fish states into one track per fish (visible frames only)."""

    def __init__(self) -> None:
        self.boxes: dict[int, list[TrackBox]] = {}
        self.meta: dict[int, tuple[str, str]] = {}

    def add(self, index: int, states: Iterable[FishState]) -> None:
        for s in states:
            if s.box is None:
                continue
            self.boxes.setdefault(s.track_id, []).append(TrackBox(index, s.box, s.occluded))
            self.meta[s.track_id] = (s.species, s.direction)

    def tracks(self) -> list[SynthTrack]:
        return [
            SynthTrack(tid, self.meta[tid][0], self.meta[tid][1], tuple(boxes))
            for tid, boxes in sorted(self.boxes.items())
        ]


def collect_tracks(frames: Iterable[tuple[int, Iterable[FishState]]]) -> list[SynthTrack]:
    """Tracks from (frame index, states) pairs.

    E.g. `collect_tracks(enumerate(states for _, states in render_scene(spec)))`.
    """
    collector = _Collector()
    for index, states in frames:
        collector.add(index, states)
    return collector.tracks()


def manifest_fish(
    spec: SceneSpec, plans: Iterable[FishPlan], tracks: Iterable[SynthTrack]
) -> list[ManifestFish]:
    """The manifest's per-fish entries: plans joined with the frames each fish was seen in."""
    seen = {t.track_id: t for t in tracks}
    out = []
    for plan in plans:
        track = seen.get(plan.track_id)
        if track is None:
            continue  # never in the picture
        arrival = fish_trajectory(plan, spec).gate_arrival_s
        out.append(
            ManifestFish(
                track_id=plan.track_id,
                species=plan.species,
                direction=plan.direction,
                route=route_for(plan.species, plan.direction),
                first_frame=track.first_frame,
                last_frame=track.last_frame,
                length_cm=plan.length_cm,
                behaviour=plan.behaviour,
                gate_arrival_s=None if arrival is None else round(arrival, 3),
            )
        )
    return out


def _reencode_h264(video: Path) -> bool:
    """Re-encode with ffmpeg/libx264 where ffmpeg is installed; False where it is not or fails."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        log.warning("ffmpeg not found: %s stays MPEG-4 Part 2 (mp4v)", video)
        return False
    tmp = video.with_name(video.stem + ".h264.mp4")
    cmd = [
        ffmpeg,
        "-y",
        "-loglevel",
        "error",
        "-i",
        str(video),
        "-c:v",
        "libx264",
        "-crf",
        "28",
        "-pix_fmt",
        "yuv420p",
        str(tmp),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        log.warning("ffmpeg failed, %s stays mp4v: %s", video, result.stderr.strip()[-300:])
        tmp.unlink(missing_ok=True)
        return False
    tmp.replace(video)
    return True


def write_clip(
    spec: SceneSpec,
    stem: str | Path,
    *,
    h264: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Clip:
    """Render `spec` to STEM.mp4, STEM.xml and STEM.json (the folder must exist)."""
    stem = Path(stem)
    video, xml, manifest = (stem.with_name(stem.name + ext) for ext in (".mp4", ".xml", ".json"))
    renderer = SceneRenderer(spec)
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"mp4v"), spec.fps, (spec.width, spec.height))
    if not writer.isOpened():
        raise OSError(f"{video}: OpenCV cannot open an mp4v video writer there")
    collector = _Collector()
    try:
        for index in range(spec.frames):
            image, states = renderer.render(index)
            writer.write(image)
            collector.add(index, states)
            if progress is not None:
                progress(index + 1, spec.frames)
    finally:
        writer.release()
    encoded = _reencode_h264(video) if h264 else False
    tracks = collector.tracks()
    write_cvat(xml, stem.name, spec.frames, spec.width, spec.height, tracks)
    write_manifest(
        manifest,
        video=video.name,
        annotations=xml.name,
        fps=spec.fps,
        width=spec.width,
        height=spec.height,
        frames=spec.frames,
        px_per_cm=spec.px_per_cm,
        scenario=spec.scenario,
        ir=spec.style.ir,
        fish=manifest_fish(spec, renderer.plans, tracks),
        counting_line_x=spec.counting_line_x,
        gate_distance_cm=spec.gate_distance_cm,
    )
    return Clip(video, xml, manifest, tuple(renderer.plans), tuple(tracks), encoded)
