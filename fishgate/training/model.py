"""The species network: a small MobileNet-style CNN for a Raspberry Pi-class CPU.

Depthwise-separable blocks keep it at ~60 k parameters and a few MFLOPs per crop,
so one crop costs well under a millisecond on one ARM core and INT8 weights fit in
a few hundred kB.
"""

from __future__ import annotations

import torch
from torch import nn


def _conv_bn(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


def _separable(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False),
        nn.BatchNorm2d(cin),
        nn.ReLU(inplace=True),
        nn.Conv2d(cin, cout, 1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


# (output channels, stride) of each depthwise-separable block after the stem
BLOCKS = ((24, 2), (32, 1), (48, 2), (64, 1), (96, 2), (128, 1))


class SpeciesNet(nn.Module):
    """Crops (N, 3, H, W), normalised as the model card says -> logits (N, classes)."""

    def __init__(self, classes: int, stem: int = 16, dropout: float = 0.2) -> None:
        super().__init__()
        layers: list[nn.Module] = [_conv_bn(3, stem, 2)]
        cin = stem
        for cout, stride in BLOCKS:
            layers.append(_separable(cin, cout, stride))
            cin = cout
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(cin, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.features(x)))  # type: ignore[no-any-return]
