"""Sinusoidal embedding of a scalar condition (Vaswani et al. 2017, Sec. 3.5; DDPM App. B)."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def timestep_embedding(c: Tensor, dim: int, max_period: float = 10_000.0) -> Tensor:
    """Embed a per-example scalar into ``dim`` sinusoidal features (sin half, then cos half).

    Args:
        c: (B,) conditioning value (a step index, t * 1000, log sigma, ...), any float.
        dim: embedding width (even).
        max_period: longest wavelength.

    Returns:
        (B, dim) embedding.
    """
    if dim % 2:
        raise ValueError(f"embedding dim must be even, got {dim}")
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=c.device, dtype=torch.float32) / (half - 1))
    args = c.float()[:, None] * freqs[None, :]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)
