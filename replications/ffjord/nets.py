"""Dynamics networks of FFJORD (Grathwohl et al. 2019): ConcatSquash MLPs for 2-D data, concat-conv nets for images.

Every net is a vector field f(x, t): x (B, *D), t (B,) -> (B, *D).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

_ACT = {"tanh": nn.Tanh, "softplus": nn.Softplus}


class ConcatSquashLinear(nn.Module):
    """(W x + b) * sigmoid(a t + c) + d t: the layer of the toy experiments (official ConcatSquashLinear)."""

    def __init__(self, dim_in: int, dim_out: int):
        super().__init__()
        self.layer = nn.Linear(dim_in, dim_out)
        self.gate = nn.Linear(1, dim_out)
        self.bias = nn.Linear(1, dim_out, bias=False)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        """x (B, dim_in), t (B,) -> (B, dim_out)."""
        tt = t.to(x.dtype)[:, None]
        return self.layer(x) * torch.sigmoid(self.gate(tt)) + self.bias(tt)


class _LayerStack(nn.Module):
    """widths[0] -> ... -> widths[-1] time-conditioned layers with an activation between them (none after the last)."""

    def __init__(self, layers: list[nn.Module], activation: str):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.act = _ACT[activation]()

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        """x (B, *D), t (B,) -> dx/dt (B, *D)."""
        for i, layer in enumerate(self.layers):
            x = layer(x, t)
            if i < len(self.layers) - 1:
                x = self.act(x)
        return x


class ConcatSquashMLP(_LayerStack):
    """dim -> hidden... -> dim with ConcatSquash layers: the toy dynamics, x (B, D), t (B,) -> (B, D)."""

    def __init__(self, dim: int, hidden: tuple[int, ...], activation: str):
        widths = (dim, *hidden, dim)
        super().__init__([ConcatSquashLinear(a, b) for a, b in zip(widths[:-1], widths[1:])], activation)


class ConcatConv2d(nn.Module):
    """3x3 convolution of [t, x]: time enters as a constant extra channel (the paper's image layers, 'concat')."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv = nn.Conv2d(c_in + 1, c_out, kernel_size=3, padding=1)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        """x (B, C, H, W), t (B,) -> (B, c_out, H, W)."""
        tt = t.to(x.dtype)[:, None, None, None].expand(x.shape[0], 1, *x.shape[2:])
        return self.conv(torch.cat([tt, x], dim=1))


class ConcatConvNet(_LayerStack):
    """C -> hidden... -> C concat-conv layers (App. B.1: 64-64-64, softplus), x (B, C, H, W), t (B,) -> same shape."""

    def __init__(self, channels: int, hidden: tuple[int, ...], activation: str):
        widths = (channels, *hidden, channels)
        super().__init__([ConcatConv2d(a, b) for a, b in zip(widths[:-1], widths[1:])], activation)
