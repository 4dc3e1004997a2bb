"""`fishgate evaluate-footage`: replay every annotated clip of a folder and score them all.

A maintainer's one command for "how well does this version sort": each `NAME.xml`
(CVAT for video 1.1) with its video beside it is replayed through the whole pipeline
(or, tracks-only, through tracker, counter, decision and gate timing on the annotated
boxes), and the clips are scored per clip and pooled exactly as `fishgate evaluate`
scores passage logs.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from fishgate.config import SiteConfig
from fishgate.cvat import read_cvat
from fishgate.errors import SourceError
from fishgate.evaluate import EvaluationSite, FootageResult, evaluate_footage, evaluation_json, format_metrics
from fishgate.replay import EventLog, ReplayStats, replay_log
from fishgate.replay_job import replay_annotation, replay_video

VIDEO_SUFFIXES = (".mp4", ".mkv", ".avi", ".mov")


@dataclass(frozen=True)
class BatchPlan:
    folder: Path
    pattern: str = "*"  # clip names to take, e.g. "*-02"
    tracks_only: bool = False
    jitter_px: float = 0.0
    drop: float = 0.0
    seed: int = 0
    logs: Path | None = None  # keep each clip's passage log here as NAME.jsonl


def annotated_clips(folder: Path, pattern: str = "*") -> list[Path]:
    """The CVAT files of a folder whose names match `pattern`, sorted."""
    if not folder.is_dir():
        raise SourceError(f"{folder}: not a folder of annotated footage (NAME.xml beside NAME.mp4)")
    clips = sorted(p for p in folder.glob(f"{pattern}.xml") if p.is_file())
    if not clips:
        raise SourceError(f"{folder}: no annotated clips match {pattern}.xml")
    return clips


def video_of(truth: Path) -> Path:
    for suffix in VIDEO_SUFFIXES:
        video = truth.with_suffix(suffix)
        if video.is_file():
            return video
    raise SourceError(
        f"{truth}: no video beside it ({', '.join(truth.stem + s for s in VIDEO_SUFFIXES)}); "
        "pass --tracks-only to replay the annotated boxes alone"
    )


def replay_clip(config: SiteConfig, truth: Path, plan: BatchPlan) -> tuple[ReplayStats, float]:
    with ExitStack() as stack:
        log = None
        if plan.logs is not None:
            plan.logs.mkdir(parents=True, exist_ok=True)
            log = EventLog(
                stack.enter_context((plan.logs / f"{truth.stem}.jsonl").open("w", encoding="utf-8"))
            )
        if plan.tracks_only:
            return replay_annotation(
                config, truth, log, jitter_px=plan.jitter_px, drop=plan.drop, seed=plan.seed, progress=False
            )
        return replay_video(config, video_of(truth), log, progress=False)


def evaluate_clips(
    config: SiteConfig, plan: BatchPlan, progress: bool = True
) -> tuple[list[FootageResult], EvaluationSite]:
    clips = annotated_clips(plan.folder, plan.pattern)
    results = []
    site: EvaluationSite | None = None
    with tqdm(clips, unit="clip", disable=not progress, dynamic_ncols=True) as bar:
        for truth in bar:
            bar.set_postfix_str(truth.stem)
            stats, fps = replay_clip(config, truth, plan)
            site = EvaluationSite.from_config(config, fps=fps)
            results.append(evaluate_footage(read_cvat(truth), replay_log(stats), site))
    assert site is not None  # at least one clip
    return results, site


def report(results: list[FootageResult], site: EvaluationSite, as_json: bool) -> str:
    if as_json:
        return json.dumps(evaluation_json(results, site, per_clip=True))
    return format_metrics(results, site, per_clip=True)
