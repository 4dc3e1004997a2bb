"""The fish detector network: a small CenterNet-style heat-map model for one CPU core.

A frame shrunk to 160 x 90 goes down to 1/16 (the context of a whole fish) and back
up to 1/2, adding the finer features on the way (a tiny FPN), so two fish one above
the other give two peaks a few cells apart. Outputs at 1/2 of the input, per cell:
the probability that a fish's centre lies there, log width and log height of its
box (input px), and the centre's offset inside the cell. ~40 k parameters, about
0.4 ms a frame through ONNX Runtime on one desktop core.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

STRIDE = 2  # input px per output cell
OUTPUTS = ("centre", "log_w", "log_h", "offset_x", "offset_y")


def _conv_bn(cin: int, cout: int, stride: int = 1, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def _separable(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False),
        nn.BatchNorm2d(cin),
        nn.ReLU(inplace=True),
        _conv_bn(cin, cout, kernel=1),
    )


class FishCentreNet(nn.Module):
    """Frames (N, 3, H, W), normalised as the detector card says -> (N, 5, H/2, W/2) raw maps.

    Channel 0 is a logit (the exported graph applies the sigmoid)."""

    def __init__(self, widths: tuple[int, int, int, int] = (16, 32, 48, 64)) -> None:
        super().__init__()
        c2, c4, c8, c16 = widths
        self.down2 = _conv_bn(3, c2, stride=2)
        self.down4 = nn.Sequential(_separable(c2, c4, 2), _separable(c4, c4))
        self.down8 = nn.Sequential(_separable(c4, c8, 2), _separable(c8, c8))
        self.down16 = nn.Sequential(_separable(c8, c16, 2), _separable(c16, c16), _separable(c16, c16))
        self.lateral8 = _conv_bn(c16 + c8, c8, kernel=1)
        self.lateral4 = _conv_bn(c8 + c4, c4, kernel=1)
        self.lateral2 = _conv_bn(c4 + c2, c4, kernel=1)
        self.head = nn.Sequential(_separable(c4, c4), nn.Conv2d(c4, len(OUTPUTS), 1))
        # a low starting centre probability: most cells hold no fish (CenterNet's prior)
        last = self.head[-1]
        assert isinstance(last, nn.Conv2d) and last.bias is not None
        nn.init.constant_(last.bias, 0.0)
        with torch.no_grad():
            last.bias[0] = -4.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f2 = self.down2(x)
        f4 = self.down4(f2)
        f8 = self.down8(f4)
        f16 = self.down16(f8)
        up = self.lateral8(torch.cat([f8, _up(f16, f8)], 1))
        up = self.lateral4(torch.cat([f4, _up(up, f4)], 1))
        up = self.lateral2(torch.cat([f2, _up(up, f2)], 1))
        return self.head(up)  # type: ignore[no-any-return]


def _up(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Nearest upsampling to `like`'s grid (odd sizes: 12 -> 23 crops the last row)."""
    h, w = like.shape[-2:]
    return F.interpolate(x, scale_factor=2.0, mode="nearest")[..., :h, :w]


class WithDecodeMaps(nn.Module):
    """The exported graph: centre probabilities instead of logits, the rest unchanged."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.net(x)
        return torch.cat([torch.sigmoid(y[:, :1]), y[:, 1:]], 1)
