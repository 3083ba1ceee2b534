"""A conditioned MLP for low-dimensional data (the 2-D toys): net(x, c) with x (B, D), c (B,)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from shared.nets.embeddings import timestep_embedding


@dataclass(frozen=True)
class MLPConfig:
    """Width and depth of ``TimeMLP``."""

    kind: Literal["mlp"] = "mlp"
    hidden: int = 128
    depth: int = 3  # hidden layers
    emb_dim: int = 64  # sinusoidal embedding width of the condition

    def __post_init__(self):
        if self.hidden < 1 or self.depth < 1 or self.emb_dim < 2 or self.emb_dim % 2:
            raise ValueError("net: hidden and depth must be >= 1 and emb_dim an even number >= 2")


class TimeMLP(nn.Module):
    """MLP on [x, emb(c)] with SiLU activations; the embedding is re-injected into every hidden layer."""

    def __init__(self, cfg: MLPConfig, dim: int, out_dim: int | None = None):
        super().__init__()
        self.emb_dim = cfg.emb_dim
        self.inp = nn.Linear(dim, cfg.hidden)
        self.emb = nn.ModuleList(nn.Linear(cfg.emb_dim, cfg.hidden) for _ in range(cfg.depth))
        self.hidden = nn.ModuleList(nn.Linear(cfg.hidden, cfg.hidden) for _ in range(cfg.depth - 1))
        self.out = nn.Linear(cfg.hidden, out_dim or dim)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        """x (B, D), c (B,) -> (B, out_dim)."""
        e = timestep_embedding(c, self.emb_dim).to(x.dtype)
        h = torch.nn.functional.silu(self.inp(x) + self.emb[0](e))
        for layer, emb in zip(self.hidden, self.emb[1:]):
            h = torch.nn.functional.silu(layer(h) + emb(e))
        return self.out(h)
