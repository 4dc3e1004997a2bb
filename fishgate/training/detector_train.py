"""Training the fish detector on CPU: heat-map targets, augmentation, CenterNet losses.

Targets (at the model's output grid, `STRIDE` input px per cell): an elliptical
Gaussian around each fish's centre cell, as wide and as deep as the fish (so two fish
one above the other keep two separate peaks), and at the centre cell the box's log
width and height and the centre's offset inside the cell.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from fishgate.training import augment
from fishgate.training.detector_data import FrameSet
from fishgate.training.detector_model import STRIDE, FishCentreNet
from fishgate.training.train import seed_everything

# Normalisation written into the detector card; the runtime applies the same.
MEAN = 0.5
STD = 0.25
GAUSSIAN_SHARE = 0.54 / 6  # sigma = this share of the box's size in cells (TTFNet's alpha / 6)
MIN_SIGMA = 0.7  # cells: a small fish still gets a peak a cell or so wide
MIN_KEPT_PX = 3.0  # input px: a box cut down to less than this by a zoom is dropped
MAX_ZOOM = 1.25  # augmentation zooms in by up to this much


@dataclass(frozen=True)
class DetectorTrainSettings:
    epochs: int = 24
    batch_size: int = 48
    learning_rate: float = 4e-3
    weight_decay: float = 1e-4
    size_weight: float = 0.5  # of the log-size L1 loss against the centre focal loss
    offset_weight: float = 1.0
    seed: int = 0
    threads: int = 2
    frames_per_epoch: int = 6000  # drawn at random from the training frames


# -- augmentation ---------------------------------------------------------------


def zoom_and_mirror(
    image: np.ndarray, boxes: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Zoom into one frame (a random window, never padding) and maybe mirror it, with its
    boxes clipped to the window as an annotator clips a fish half out of the picture.

    Only zooming in: padding would put made-up water (or a mirrored half fish) beyond the
    border, and the model must learn that a fish's box ends exactly at the real border."""
    h, w = image.shape[:2]
    scale = rng.uniform(1.0, MAX_ZOOM)
    flip = rng.random() < 0.5
    # the window's top-left corner in the source frame
    x0, y0 = rng.uniform(0, w - w / scale), rng.uniform(0, h - h / scale)
    a = -scale if flip else scale
    tx = (w - 1 + scale * x0) if flip else -scale * x0  # x' = a x + tx
    ty = -scale * y0
    matrix = np.array([[a, 0, tx], [0, scale, ty]], np.float32)
    out = cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if len(boxes) == 0:
        return out, boxes
    # boxes are continuous coordinates (a pixel's centre at i + 0.5), the matrix maps pixel indices
    xs = boxes[:, [0, 2]] * a + tx + 0.5 * (1 - a)
    ys = boxes[:, [1, 3]] * scale + ty + 0.5 * (1 - scale)
    moved = np.stack([xs.min(1), ys.min(1), xs.max(1), ys.max(1)], 1)
    moved[:, [0, 2]] = moved[:, [0, 2]].clip(0, w)
    moved[:, [1, 3]] = moved[:, [1, 3]].clip(0, h)
    keep = (moved[:, 2] - moved[:, 0] >= MIN_KEPT_PX) & (moved[:, 3] - moved[:, 1] >= MIN_KEPT_PX)
    return out, moved[keep].astype(np.float32)


def photometric(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Water, light and camera (the species model's augmentations) on BGR 0..1 frames."""
    rgb = x.flip(1)
    rgb = augment.glare(rgb, g, p=0.3)
    rgb = augment.turbidity(rgb, g)
    rgb = augment.light(rgb, g)
    rgb = augment.infrared(rgb, g, p=0.2)
    rgb = augment.blur(rgb, g, p=0.2)
    return augment.noise(rgb, g).flip(1)


# -- targets --------------------------------------------------------------------


def targets(boxes: np.ndarray, grid: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One frame's boxes (K, 4) input px -> heat (gh, gw), regression (4, gh, gw), mask (gh, gw)."""
    gh, gw = grid
    heat = np.zeros((gh, gw), np.float32)
    reg = np.zeros((4, gh, gw), np.float32)
    mask = np.zeros((gh, gw), np.float32)
    ys, xs = np.mgrid[0:gh, 0:gw].astype(np.float32)
    # big fish first, so where two centres share a cell the smaller fish's size wins
    for x1, y1, x2, y2 in sorted(boxes.tolist(), key=lambda b: -(b[2] - b[0]) * (b[3] - b[1])):
        gx, gy = (x1 + x2) / 2 / STRIDE, (y1 + y2) / 2 / STRIDE
        col, row = min(gw - 1, int(gx)), min(gh - 1, int(gy))
        sx = max(MIN_SIGMA, GAUSSIAN_SHARE * (x2 - x1) / STRIDE)
        sy = max(MIN_SIGMA, GAUSSIAN_SHARE * (y2 - y1) / STRIDE)
        blob = np.exp(-((xs - col) ** 2) / (2 * sx**2) - ((ys - row) ** 2) / (2 * sy**2))
        np.maximum(heat, blob, out=heat)
        heat[row, col] = 1.0
        reg[:, row, col] = (math.log(x2 - x1), math.log(y2 - y1), gx - col, gy - row)
        mask[row, col] = 1.0
    return heat, reg, mask


def batch_tensors(
    frames: FrameSet, idx: np.ndarray, rng: np.random.Generator, g: torch.Generator, train: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    h, w = frames.images.shape[1:3]
    grid = (math.ceil(h / STRIDE), math.ceil(w / STRIDE))
    images, heats, regs, masks = [], [], [], []
    for i in idx:
        image, boxes = frames.images[i], frames.boxes[i]
        if train:
            image, boxes = zoom_and_mirror(image, boxes, rng)
        heat, reg, mask = targets(boxes, grid)
        images.append(image)
        heats.append(heat)
        regs.append(reg)
        masks.append(mask)
    x = torch.from_numpy(np.stack(images).transpose(0, 3, 1, 2).copy()).float() / 255.0
    if train:
        x = photometric(x, g)
    x = (x - MEAN) / STD
    return (
        x,
        torch.from_numpy(np.stack(heats)),
        torch.from_numpy(np.stack(regs)),
        torch.from_numpy(np.stack(masks)),
    )


# -- losses ---------------------------------------------------------------------


def centre_focal_loss(logits: torch.Tensor, heat: torch.Tensor) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss, per fish centre."""
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = heat.eq(1).float()
    pos_loss = -torch.log(p) * (1 - p) ** 2 * pos
    neg_loss = -torch.log(1 - p) * p**2 * (1 - heat) ** 4 * (1 - pos)
    return (pos_loss.sum() + neg_loss.sum()) / pos.sum().clamp(min=1)


def regression_loss(
    pred: torch.Tensor, reg: torch.Tensor, mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """L1 of log size and of offset at the fish centres."""
    m = mask.unsqueeze(1)
    n = mask.sum().clamp(min=1)
    diff = (pred - reg).abs() * m
    return diff[:, :2].sum() / n, diff[:, 2:].sum() / n


def train_detector(train_set: FrameSet, settings: DetectorTrainSettings, log: bool = True) -> FishCentreNet:
    torch.set_num_threads(settings.threads)
    g = seed_everything(settings.seed)
    rng = np.random.default_rng(settings.seed)
    model = FishCentreNet()
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay
    )
    per_epoch = max(1, settings.frames_per_epoch // settings.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, settings.learning_rate, total_steps=settings.epochs * per_epoch
    )
    # frames with fish drawn twice as often as empty chute frames
    weights = np.array([2.0 if len(b) else 1.0 for b in train_set.boxes])
    weights /= weights.sum()
    for epoch in range(1, settings.epochs + 1):
        model.train()
        start = time.perf_counter()
        sums = np.zeros(3)
        for _ in range(per_epoch):
            idx = rng.choice(len(train_set), settings.batch_size, p=weights)
            x, heat, reg, mask = batch_tensors(train_set, idx, rng, g, train=True)
            out = model(x)
            centre = centre_focal_loss(out[:, 0], heat)
            size, offset = regression_loss(out[:, 1:], reg, mask)
            loss = centre + settings.size_weight * size + settings.offset_weight * offset
            optimiser.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimiser.step()
            schedule.step()
            sums += (centre.item(), size.item(), offset.item())
        if log:
            c, s, o = sums / per_epoch
            print(
                f"epoch {epoch}/{settings.epochs}: centre {c:.4f} size {s:.4f} offset {o:.4f} "
                f"({time.perf_counter() - start:.0f} s)",
                flush=True,
            )
    model.eval()
    return model


@torch.no_grad()
def predict_maps(model: torch.nn.Module, frames: FrameSet, batch_size: int = 128) -> np.ndarray:
    """(N, 5, gh, gw) maps with centre probabilities, as the exported model gives them."""
    model.eval()
    out = []
    g = torch.Generator()
    rng = np.random.default_rng(0)
    for start in range(0, len(frames), batch_size):
        idx = np.arange(start, min(len(frames), start + batch_size))
        x, *_ = batch_tensors(frames, idx, rng, g, train=False)
        y = model(x)
        out.append(torch.cat([torch.sigmoid(y[:, :1]), y[:, 1:]], 1).numpy())
    return np.concatenate(out)
