"""Dataset builder: crops from annotated footage, edge/occlusion filtering, per-track splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fishgate.cvat import read_cvat
from fishgate.errors import AnnotationError
from fishgate.synth import SceneSpec, write_clip
from fishgate.training.dataset import MAX_OVERLAP, CropSet, clip_crops, concat, split_by_track
from fishgate.types import SPECIES

SIZE = (96, 40)


@pytest.fixture(scope="module")
def crowded_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("synth")
    clip = write_clip(SceneSpec("crowded", seconds=20, seed=5), folder / "crowded")
    return clip.video, clip.annotations


def test_crops_skip_edge_cut_occluded_and_overlapped_fish(crowded_clip: tuple[Path, Path]) -> None:
    video, xml = crowded_clip
    crops = clip_crops(video, xml, size=SIZE)
    annotation = read_cvat(xml)
    assert len(crops) > 50
    assert crops.images.shape[1:] == (40, 96, 3) and crops.images.dtype == np.uint8
    boxes = {(f"{annotation.name}:{t.id}", b.frame): b for t in annotation.tracks for b in t.boxes()}
    every_frame: dict[int, list] = {}
    for (key, frame), b in boxes.items():
        every_frame.setdefault(frame, []).append((key, b))
    for key, frame in zip(crops.track_keys, crops.frames, strict=True):
        b = boxes[(str(key), int(frame))]
        assert not b.occluded
        assert not b.box.touches_edge(640, 360)
        for other_key, other in every_frame[int(frame)]:
            if other_key != key:
                ix = max(0.0, min(b.box.x2, other.box.x2) - max(b.box.x1, other.box.x1))
                iy = max(0.0, min(b.box.y2, other.box.y2) - max(b.box.y1, other.box.y1))
                assert ix * iy <= MAX_OVERLAP * b.box.area
    # and some boxes were indeed left out, or the filter is not being exercised
    assert len(crops) < len(boxes)
    labels = {f"{annotation.name}:{t.id}": t.label for t in annotation.tracks}
    assert all(
        crops.label_names[y] == labels[str(k)] for y, k in zip(crops.labels, crops.track_keys, strict=True)
    )


def test_stride_and_saved_sets_round_trip(crowded_clip: tuple[Path, Path], tmp_path: Path) -> None:
    video, xml = crowded_clip
    every_third = clip_crops(video, xml, size=SIZE, stride=3)
    assert set(every_third.frames % 3) == {0}
    path = tmp_path / "set.npz"
    every_third.save(path)
    loaded = CropSet.load(path)
    np.testing.assert_array_equal(loaded.images, every_third.images)
    assert loaded.label_names == SPECIES and loaded.sources == every_third.sources
    assert len(loaded.sources) == 2 and len(loaded.sources[0].sha256) == 64


@pytest.fixture(scope="module")
def calm_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    clip = write_clip(SceneSpec("calm", seconds=20, seed=2), tmp_path_factory.mktemp("synth") / "calm")
    return clip.video, clip.annotations


def test_split_keeps_every_track_on_one_side(calm_clip: tuple[Path, Path]) -> None:
    crops = clip_crops(*calm_clip, size=SIZE, stride=2)
    assert len(np.unique(crops.track_keys)) >= 3
    train, val = split_by_track(crops, 0.3, seed=1)
    assert len(train) + len(val) == len(crops)
    assert not set(train.track_keys) & set(val.track_keys)
    assert len(val) > 0 and len(train) > 0
    again, _ = split_by_track(crops, 0.3, seed=1)
    np.testing.assert_array_equal(again.frames, train.frames)  # same seed, same split
    combined = concat([train, val])
    assert combined.class_counts() == crops.class_counts()


def test_labels_outside_the_model_are_refused(crowded_clip: tuple[Path, Path], tmp_path: Path) -> None:
    video, xml = crowded_clip
    foreign = tmp_path / "foreign.xml"
    text = xml.read_text()
    first_label = read_cvat(xml).tracks[0].label
    foreign.write_text(text.replace(f'label="{first_label}"', 'label="pike"', 1))
    with pytest.raises(AnnotationError, match=r"\['pike'\] are not among the model's labels"):
        clip_crops(video, foreign, size=SIZE)
