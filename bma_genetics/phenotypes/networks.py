"""U-Nets for marrow segmentation: 2D/2.5D (per slice, CPU-friendly) and 3D, optional attention gates.

The architecture follows the original U-Net (Ronneberger 2015) with the nnU-Net habits
(3x3(x3) convolutions, instance normalisation, leaky ReLU, strided-conv-free max-pool
downsampling, transposed-conv upsampling) and, optionally, additive attention gates on the skip
connections (Oktay et al. 2018, "Attention U-Net"), as in the published UK Biobank BMFF
pipelines. ``forward`` returns **logits** of shape ``(batch, n_classes, *spatial)``; softmax and
argmax belong to the caller (losses, inference).

2.5D mode: a 2D network whose input channels are the water and fat images of the slice and of
``context`` slices either side (``in_channels = 2 * (2 * context + 1)``); it segments one slice
at a time, which trains in minutes on a CPU.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def _ops(dims: int):
    if dims == 2:
        return nn.Conv2d, nn.ConvTranspose2d, nn.InstanceNorm2d, nn.MaxPool2d
    if dims == 3:
        return nn.Conv3d, nn.ConvTranspose3d, nn.InstanceNorm3d, nn.MaxPool3d
    raise ValueError(f"UNet/spatial_dims: expected 2 or 3, found {dims!r}")


class ConvBlock(nn.Module):
    """Two (conv -> instance norm -> leaky ReLU) layers."""

    def __init__(self, dims: int, c_in: int, c_out: int) -> None:
        super().__init__()
        conv, _, norm, _ = _ops(dims)
        self.net = nn.Sequential(
            conv(c_in, c_out, 3, padding=1, bias=False),
            norm(c_out, affine=True),
            nn.LeakyReLU(0.01, inplace=True),
            conv(c_out, c_out, 3, padding=1, bias=False),
            norm(c_out, affine=True),
            nn.LeakyReLU(0.01, inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class AttentionGate(nn.Module):
    """Additive attention gate (Oktay 2018): weights a skip connection by a gating signal.

    ``alpha = sigmoid(psi(relu(W_x x + W_g g)))``, computed at the gating signal's resolution
    after bringing ``x`` there with a stride-2 1x1 convolution, then upsampled; returns
    ``x * alpha``.
    """

    def __init__(self, dims: int, c_skip: int, c_gate: int, c_inter: int) -> None:
        super().__init__()
        conv, _, _, _ = _ops(dims)
        self.w_x = conv(c_skip, c_inter, 1, stride=2, bias=False)
        self.w_g = conv(c_gate, c_inter, 1, bias=True)
        self.psi = conv(c_inter, 1, 1, bias=True)
        self.mode = "bilinear" if dims == 2 else "trilinear"

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        a = self.w_x(x)
        gg = self.w_g(g)
        if gg.shape[2:] != a.shape[2:]:
            gg = nn.functional.interpolate(gg, size=a.shape[2:], mode=self.mode, align_corners=False)
        alpha = torch.sigmoid(self.psi(torch.relu(a + gg)))
        alpha = nn.functional.interpolate(alpha, size=x.shape[2:], mode=self.mode, align_corners=False)
        return x * alpha


def _max_pool2x2(x: torch.Tensor) -> torch.Tensor:
    """2x2 max pooling (stride 2) of an even-sized ``(B, C, H, W)`` tensor as three element-wise maxima.

    Bit-identical to ``nn.MaxPool2d(2)`` (a maximum is exact) and several times faster on CPU,
    where ``max_pool2d`` also computes the argmax indices. Inference only: at a tie
    ``torch.maximum`` splits the gradient, unlike max pooling.
    """
    return torch.maximum(torch.maximum(x[..., 0::2, 0::2], x[..., 1::2, 0::2]),
                         torch.maximum(x[..., 0::2, 1::2], x[..., 1::2, 1::2]))


class UNet(nn.Module):
    """A U-Net with ``len(features)`` resolution levels.

    Parameters
    ----------
    spatial_dims : {2, 3}
        2 for the per-slice (2.5D) network, 3 for volumes.
    in_channels : int
        Input channels (2.5D: ``2 * (2 * context + 1)``; 3D: 2, water and fat).
    out_channels : int
        Classes, background included.
    features : sequence of int, default=(16, 32, 64, 128)
        Channels per level; spatial sizes must be divisible by ``2 ** (len(features) - 1)``.
    attention : bool, default=False
        Attention gates on the skip connections.

    Examples
    --------
    >>> net = UNet(2, 6, 5)
    >>> net(torch.zeros(1, 6, 64, 64)).shape
    torch.Size([1, 5, 64, 64])
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        out_channels: int,
        features: tuple[int, ...] = (16, 32, 64, 128),
        attention: bool = False,
    ) -> None:
        super().__init__()
        conv, up, _, pool = _ops(spatial_dims)
        self.config: dict[str, Any] = {
            "spatial_dims": spatial_dims,
            "in_channels": in_channels,
            "out_channels": out_channels,
            "features": list(features),
            "attention": attention,
        }
        self.down = nn.ModuleList()
        c = in_channels
        for f in features:
            self.down.append(ConvBlock(spatial_dims, c, f))
            c = f
        self.pool = pool(2)
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        self.gates = nn.ModuleList()
        for f_skip, f_deep in zip(reversed(features[:-1]), reversed(features[1:]), strict=True):
            self.up.append(up(f_deep, f_skip, 2, stride=2))
            self.dec.append(ConvBlock(spatial_dims, 2 * f_skip, f_skip))
            self.gates.append(AttentionGate(spatial_dims, f_skip, f_deep, max(f_skip // 2, 4)) if attention else nn.Identity())
        self.head = conv(features[0], out_channels, 1)

    @property
    def divisor(self) -> int:
        return 2 ** (len(self.down) - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            x = block(x)
            if i < len(self.down) - 1:
                skips.append(x)
                if x.ndim == 4 and not torch.is_grad_enabled() and x.shape[2] % 2 == 0 and x.shape[3] % 2 == 0:
                    x = _max_pool2x2(x)  # inference fast path, same values
                else:
                    x = self.pool(x)
        for up, dec, gate, skip in zip(self.up, self.dec, self.gates, reversed(skips), strict=True):
            g = x
            x = up(x)
            if isinstance(gate, AttentionGate):
                skip = gate(skip, g)
            x = dec(torch.cat([skip, x], dim=1))
        return self.head(x)


class UNet2D(UNet):
    """Per-slice (2.5D) U-Net: ``in_channels = 2 * (2 * context + 1)``."""

    def __init__(self, in_channels: int = 6, out_channels: int = 5, features: tuple[int, ...] = (16, 32, 64, 128), attention: bool = False) -> None:
        super().__init__(2, in_channels, out_channels, features, attention)


class UNet3D(UNet):
    """Volumetric U-Net (water, fat input), attention gates on by default (GPU use)."""

    def __init__(self, in_channels: int = 2, out_channels: int = 5, features: tuple[int, ...] = (16, 32, 64, 128), attention: bool = True) -> None:
        super().__init__(3, in_channels, out_channels, features, attention)


def build_network(config: dict[str, Any]) -> UNet:
    """Rebuild a network from its ``config`` (as stored in a checkpoint)."""
    return UNet(
        int(config["spatial_dims"]),
        int(config["in_channels"]),
        int(config["out_channels"]),
        tuple(config["features"]),
        bool(config.get("attention", False)),
    )


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
