"""Augmentations for what rivers do to a picture of a fish.

All work on a batch tensor (N, 3, H, W) of RGB values in 0..1, on the CPU, a few
vectorised operations per batch so augmentation costs little next to training.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _per_sample(n: int, low: float, high: float, g: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=g)


def _chance(n: int, p: float, g: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=g) < p


def geometry(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Box jitter (scale, shift, slight tilt) and mirror: a detector's box is never the annotator's."""
    n = x.shape[0]
    sx = _per_sample(n, 0.85, 1.15, g)
    sy = _per_sample(n, 0.85, 1.15, g)
    flip = torch.where(_chance(n, 0.5, g), -1.0, 1.0)  # fish going downstream face left
    angle = _per_sample(n, -0.08, 0.08, g)
    tx, ty = _per_sample(n, -0.08, 0.08, g), _per_sample(n, -0.1, 0.1, g)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack(
        [torch.stack([flip * sx * cos, -sin * sy, tx], 1), torch.stack([flip * sx * sin, sy * cos, ty], 1)], 1
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, padding_mode="border", align_corners=False)


def partial_view(x: torch.Tensor, g: torch.Generator, p: float = 0.2) -> torch.Tensor:
    """Hide one end of some crops, as a fish half behind another or half out of frame."""
    n, _, _, w = x.shape
    hide = _chance(n, p, g)
    if not hide.any():
        return x
    x = x.clone()
    fill = x.mean(dim=(2, 3), keepdim=True)
    for i in torch.nonzero(hide).flatten().tolist():
        cut = int(w * float(_per_sample(1, 0.1, 0.3, g)))
        cols = slice(0, cut) if float(torch.rand(1, generator=g)) < 0.5 else slice(w - cut, w)
        x[i, :, :, cols] = fill[i]
    return x


def light(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Brightness, contrast, gamma and colour cast: sun, cloud, dusk, water colour."""
    n = x.shape[0]
    shape = (n, 1, 1, 1)
    gain = _per_sample(n, 0.6, 1.4, g).view(shape)
    contrast = _per_sample(n, 0.6, 1.3, g).view(shape)
    gamma = _per_sample(n, 0.7, 1.4, g).view(shape)
    cast = _per_sample(3 * n, 0.85, 1.15, g).view(n, 3, 1, 1)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * contrast + mean
    x = (x * gain * cast).clamp(0, 1)
    return x.pow(gamma)


def infrared(x: torch.Tensor, g: torch.Generator, p: float = 0.25) -> torch.Tensor:
    """Monochrome, as an IR night camera sees: colour cues gone, spots remain."""
    grey = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]).expand_as(x)
    return torch.where(_chance(x.shape[0], p, g).view(-1, 1, 1, 1), grey, x)


def turbidity(x: torch.Tensor, g: torch.Generator, p: float = 0.35) -> torch.Tensor:
    """Silty water: a veil of murky colour over the fish."""
    n = x.shape[0]
    haze = torch.stack(
        [_per_sample(n, 0.3, 0.6, g), _per_sample(n, 0.4, 0.7, g), _per_sample(n, 0.3, 0.6, g)], 1
    )
    alpha = (_per_sample(n, 0.0, 0.5, g) * _chance(n, p, g)).view(n, 1, 1, 1)
    return x * (1 - alpha) + haze.view(n, 3, 1, 1) * alpha


def glare(x: torch.Tensor, g: torch.Generator, p: float = 0.2) -> torch.Tensor:
    """Sun caustics: smooth bright blotches drifting over the picture."""
    n, _, h, w = x.shape
    blotches = F.interpolate(
        torch.rand(n, 1, 4, 8, generator=g), size=(h, w), mode="bilinear", align_corners=False
    )
    strength = (_per_sample(n, 0.1, 0.35, g) * _chance(n, p, g)).view(n, 1, 1, 1)
    return (x + strength * blotches.pow(3)).clamp(0, 1)


def blur(x: torch.Tensor, g: torch.Generator, p: float = 0.3) -> torch.Tensor:
    """Motion and focus blur, one Gaussian per batch (cheap), applied to some crops."""
    sigma = float(_per_sample(1, 0.5, 1.5, g))
    radius = max(1, math.ceil(2 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    c = x.shape[1]
    blurred = F.conv2d(
        F.pad(x, (radius, radius, 0, 0), mode="replicate"), k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c
    )
    blurred = F.conv2d(
        F.pad(blurred, (0, 0, radius, radius), mode="replicate"),
        k.view(1, 1, -1, 1).repeat(c, 1, 1, 1),
        groups=c,
    )
    return torch.where(_chance(x.shape[0], p, g).view(-1, 1, 1, 1), blurred, x)


def noise(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Sensor noise, stronger at night."""
    sigma = _per_sample(x.shape[0], 0.0, 0.05, g).view(-1, 1, 1, 1)
    return (x + sigma * torch.randn(x.shape, generator=g)).clamp(0, 1)


def river(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """The whole chain, in the order a picture is degraded: scene, water, camera."""
    x = geometry(x, g)
    x = partial_view(x, g)
    x = glare(x, g)
    x = turbidity(x, g)
    x = light(x, g)
    x = infrared(x, g)
    x = blur(x, g)
    return noise(x, g)
