"""Networks, all called ``net(x, c)`` with x (B, *D) and a per-example conditioning scalar c (B,)."""

from __future__ import annotations

from torch import nn

from shared.nets.mlp import MLPConfig, TimeMLP
from shared.nets.unet import UNet, UNetConfig

NetConfig = MLPConfig | UNetConfig


def build_net(cfg: NetConfig, shape: tuple[int, ...], out_channels: int | None = None) -> nn.Module:
    """The configured network for examples of ``shape``: (D,) vectors take an MLP, (C, H, W) images a U-Net."""
    if isinstance(cfg, MLPConfig):
        if len(shape) != 1:
            raise ValueError(f"net.kind 'mlp' needs vector data, got examples of shape {shape}; use kind: unet")
        return TimeMLP(cfg, shape[0], out_channels)
    if len(shape) != 3 or shape[1] != shape[2]:
        raise ValueError(f"net.kind 'unet' needs square images (C, H, W), got examples of shape {shape}")
    return UNet(cfg, in_channels=shape[0], resolution=shape[1], out_channels=out_channels)


__all__ = ["MLPConfig", "UNetConfig", "NetConfig", "TimeMLP", "UNet", "build_net"]
