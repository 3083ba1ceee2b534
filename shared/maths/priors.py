"""Priors: where every sampler starts and where every likelihood ends (``sample`` and ``log_prob``, one ABC).

The Gaussian priors of the diffusion processes, FFJORD's standard normal and PFGM's hemisphere prior are all
``Prior``s. Sampling draws only through ``shared.utils.randn``, so per-sample seeds give batch-independent shards.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Sequence

import torch
from torch import Tensor

from shared.utils import Generator, randn


class Prior(abc.ABC):
    """A distribution over examples of any shape (B, *D).

    Example:
        >>> prior = GaussianPrior(std=50.0)                  # the VE SDE's N(0, sigma_max^2 I)
        >>> x = prior.sample((16, 2))                       # (16, 2)
        >>> prior.log_prob(x).shape                         # (16,) nats
    """

    @abc.abstractmethod
    def sample(
        self, shape: Sequence[int], generator: Generator = None, device: torch.device | str = "cpu", dtype=torch.float32
    ) -> Tensor:
        """Draws of ``shape`` (B, *D)."""

    @abc.abstractmethod
    def log_prob(self, x: Tensor) -> Tensor:
        """Log-density (B,) in nats of x (B, *D)."""


class GaussianPrior(Prior):
    """N(0, std^2 I): the prior of every Gaussian process (std 1 for VP/DDPM/FFJORD, sigma_max for VE/NCSN)."""

    def __init__(self, std: float = 1.0):
        if not std > 0:
            raise ValueError(f"GaussianPrior: std must be > 0, got {std}")
        self.std = float(std)

    def sample(self, shape, generator=None, device="cpu", dtype=torch.float32) -> Tensor:
        return self.std * randn(shape, generator, device=device, dtype=dtype)

    def log_prob(self, x: Tensor) -> Tensor:
        d = x[0].numel()
        sq = x.reshape(x.shape[0], -1).pow(2).sum(1)
        return -0.5 * d * math.log(2 * math.pi * self.std**2) - sq / (2 * self.std**2)

    def __repr__(self) -> str:
        return f"GaussianPrior(std={self.std:g})"


class UniformPrior(Prior):
    """U[low, high]^D: NCSN's start of annealed Langevin dynamics (U[0, 1] for images in [0, 1], Alg. 1)."""

    def __init__(self, low: float = 0.0, high: float = 1.0):
        if not high > low:
            raise ValueError(f"UniformPrior: need high > low, got [{low}, {high}]")
        self.low, self.high = float(low), float(high)

    def sample(self, shape, generator=None, device="cpu", dtype=torch.float32) -> Tensor:
        # the normal CDF of a normal draw is uniform: keeps per-sample seeds (PerSampleGenerator draws normals only)
        u = torch.special.ndtr(randn(shape, generator, device=device, dtype=torch.float64))
        return (self.low + (self.high - self.low) * u).to(dtype)

    def log_prob(self, x: Tensor) -> Tensor:
        flat = x.reshape(x.shape[0], -1)
        inside = ((flat >= self.low) & (flat <= self.high)).all(1)
        log_volume = flat.shape[1] * math.log(self.high - self.low)
        logp = torch.full((x.shape[0],), -log_volume, dtype=x.dtype, device=x.device)
        return torch.where(inside, logp, torch.full_like(logp, -math.inf))

    def __repr__(self) -> str:
        return f"UniformPrior({self.low:g}, {self.high:g})"


__all__ = ["Prior", "GaussianPrior", "UniformPrior"]
