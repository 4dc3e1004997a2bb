"""Training the species network on CPU: seeded, class-balanced, with river augmentation."""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from fishgate.training.augment import river
from fishgate.training.dataset import CropSet
from fishgate.training.model import SpeciesNet

# Normalisation written into the model card; the runtime applies the same.
MEAN = (0.5, 0.5, 0.5)
STD = (0.25, 0.25, 0.25)


@dataclass(frozen=True)
class TrainSettings:
    epochs: int = 24
    batch_size: int = 96
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    label_smoothing: float = 0.05
    seed: int = 0
    threads: int = 2


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def to_unit_rgb(images: np.ndarray) -> torch.Tensor:
    """BGR uint8 (N, H, W, 3) -> RGB float (N, 3, H, W) in 0..1."""
    return torch.from_numpy(np.ascontiguousarray(images[..., ::-1].transpose(0, 3, 1, 2))).float() / 255.0


def normalise(x: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (x - mean) / std


def _balanced_order(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One epoch of indices where every class is drawn equally often (rare species too)."""
    classes = np.unique(labels)
    per_class = len(labels) // len(classes)
    picks = [rng.choice(np.flatnonzero(labels == c), per_class, replace=True) for c in classes]
    order = np.concatenate(picks)
    rng.shuffle(order)
    return order


@torch.no_grad()
def predict(model: nn.Module, images: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Probabilities (N, classes) for BGR uint8 crops."""
    model.eval()
    out = []
    for start in range(0, len(images), batch_size):
        x = normalise(to_unit_rgb(images[start : start + batch_size]))
        out.append(F.softmax(model(x), dim=1).numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def train(
    train_set: CropSet, settings: TrainSettings, val_set: CropSet | None = None, progress: bool = True
) -> SpeciesNet:
    """Train from scratch; prints per-epoch loss and accuracy (and validation accuracy if given)."""
    torch.set_num_threads(settings.threads)
    g = seed_everything(settings.seed)
    rng = np.random.default_rng(settings.seed)
    model = SpeciesNet(len(train_set.label_names))
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay
    )
    steps = settings.epochs * max(1, len(train_set) // settings.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, settings.learning_rate, total_steps=max(1, steps)
    )
    labels = torch.from_numpy(train_set.labels)
    for epoch in range(1, settings.epochs + 1):
        model.train()
        order = _balanced_order(train_set.labels, rng)
        # whole batches only (a last small batch would skew batch norm), but at least one
        batches = range(0, max(1, len(order) - settings.batch_size + 1), settings.batch_size)
        bar = tqdm(
            batches, desc=f"epoch {epoch}/{settings.epochs}", disable=not progress, leave=True, unit="batch"
        )
        seen = correct = 0
        total_loss = 0.0
        for start in bar:
            idx = order[start : start + settings.batch_size]
            x = normalise(river(to_unit_rgb(train_set.images[idx]), g))
            y = labels[idx]
            logits = model(x)
            loss = F.cross_entropy(logits, y, label_smoothing=settings.label_smoothing)
            optimiser.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimiser.step()
            schedule.step()
            seen += len(idx)
            correct += int((logits.argmax(1) == y).sum())
            total_loss += loss.item() * len(idx)
            bar.set_postfix(loss=f"{total_loss / seen:.3f}", acc=f"{correct / seen:.3f}")
        if val_set is not None and len(val_set):
            accuracy = float((predict(model, val_set.images).argmax(1) == val_set.labels).mean())
            mean_loss, train_accuracy = total_loss / seen, correct / seen
            bar.write(
                f"epoch {epoch}: loss {mean_loss:.4f} train acc {train_accuracy:.4f} val acc {accuracy:.4f}"
            )
    model.eval()
    return model
