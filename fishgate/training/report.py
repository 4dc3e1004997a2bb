"""Validation figures of a species model: per crop, per track (majority vote), per class."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
from scipy.stats import beta

from fishgate.training.dataset import CropSet


def accuracy_floor(claimed: float, samples: int, confidence: float = 0.95) -> float:
    """The lowest accuracy that still agrees with `claimed`, measured on `samples` independent
    fish: the one-sided Clopper-Pearson lower bound at `confidence`.

    A card's figure is itself a measurement on a finite sample, and another CPU or runtime
    build flips the odd borderline fish; 184 of 184 tracks right is consistent with a
    true accuracy down to 0.984, so a re-measurement above that keeps the card's promise.
    """
    if not 0.0 <= claimed <= 1.0 or samples <= 0:
        raise ValueError(
            f"accuracy_floor: expected 0 <= claimed <= 1 and samples > 0, got {claimed}, {samples}"
        )
    right = claimed * samples
    if right <= 0:
        return 0.0
    return float(beta.ppf(1.0 - confidence, right, samples - right + 1.0))


def track_votes(predicted: np.ndarray, probs: np.ndarray, track_keys: np.ndarray) -> dict[str, int]:
    """Majority label of each track's crops; a tie goes to the higher summed probability."""
    members: dict[str, list[int]] = defaultdict(list)
    for i, key in enumerate(track_keys):
        members[str(key)].append(i)
    votes = {}
    for key, idx in members.items():
        counts = np.bincount(predicted[idx], minlength=probs.shape[1])
        tied = np.flatnonzero(counts == counts.max())
        votes[key] = int(tied[np.argmax(probs[idx][:, tied].sum(0))])
    return votes


def validation_report(probs: np.ndarray, crops: CropSet) -> dict[str, Any]:
    """Accuracy per crop and per track, overall and per class, and the confusion matrix."""
    names = crops.label_names
    predicted = probs.argmax(1)
    truth = crops.labels
    confusion = np.zeros((len(names), len(names)), dtype=int)
    np.add.at(confusion, (truth, predicted), 1)
    votes = track_votes(predicted, probs, crops.track_keys)
    track_truth = {str(k): int(t) for k, t in zip(crops.track_keys, truth, strict=True)}
    per_class: dict[str, dict[str, float | int | None]] = {}
    for c, name in enumerate(names):
        mine = truth == c
        tracks = [k for k, t in track_truth.items() if t == c]
        per_class[name] = {
            "crops": int(mine.sum()),
            "crop_accuracy": float((predicted[mine] == c).mean()) if mine.any() else None,
            "tracks": len(tracks),
            "track_accuracy": float(np.mean([votes[k] == c for k in tracks])) if tracks else None,
        }
    return {
        "crops": len(crops),
        "tracks": len(track_truth),
        "crop_accuracy": float((predicted == truth).mean()) if len(truth) else None,
        "track_accuracy": float(np.mean([votes[k] == t for k, t in track_truth.items()]))
        if track_truth
        else None,
        "per_class": per_class,
        "confusion": {"labels": list(names), "rows_truth_columns_predicted": confusion.tolist()},
    }


def format_report(report: dict[str, Any]) -> str:
    names = report["confusion"]["labels"]
    lines = [
        f"{'class':<16}{'crops':>7}{'crop acc':>10}{'tracks':>8}{'track acc':>11}",
    ]
    for name in names:
        c = report["per_class"][name]
        lines.append(
            f"{name:<16}{c['crops']:>7}{_pct(c['crop_accuracy']):>10}{c['tracks']:>8}{_pct(c['track_accuracy']):>11}"
        )
    lines.append(
        f"{'ALL':<16}{report['crops']:>7}{_pct(report['crop_accuracy']):>10}"
        f"{report['tracks']:>8}{_pct(report['track_accuracy']):>11}"
    )
    lines.append("confusion (rows: truth, columns: predicted)")
    short = [n[:8] for n in names]
    lines.append(" " * 16 + "".join(f"{s:>9}" for s in short))
    for name, row in zip(names, report["confusion"]["rows_truth_columns_predicted"], strict=True):
        lines.append(f"{name:<16}" + "".join(f"{v:>9}" for v in row))
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}%"
