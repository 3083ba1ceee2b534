"""Denoising score matching, the objective of every Gaussian-diffusion paper here (Vincent 2011), in one place.

With x_t = alpha_t x0 + sigma_t z, z ~ N(0, I), the perturbed score target is -z / sigma_t, and for any field
lambda(t) || s_theta(x_t, t) + z / sigma_t ||^2 = lambda(t) / sigma_t^2 || z - eps_theta(x_t, t) ||^2
with eps_theta = -sigma_t s_theta. The loss is written once in the noise form; the weightings are small objects:

    SigmaSquared        lambda = sigma^2: NCSN (Song & Ermon 2019, Eq. 6-7 with anneal_power 2), Score-SDE Sec. 3.3,
                        and DDPM's L_simple (Ho et al. 2020, Eq. 14) under noise prediction
    LikelihoodWeighting lambda = g(t)^2: Song, Durkan, Murray & Ermon (2021), Thm. 1
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor, nn

from shared.maths.precond import Precond
from shared.maths.processes.base import GaussianProcess
from shared.utils import randn_like

Loss = Callable[[nn.Module, Tensor, torch.Generator], Tensor]
"""A per-example objective: (net, x (B, *D), generator) -> (B,). The training loop averages it.

A loss may also define ``stats() -> dict[str, float]`` (e.g. the NFE of an ODE solve); the loop averages those
values over each logging interval and writes them as extra CSV columns."""

Reduce = Literal["mean", "sum"]


class Weighting(abc.ABC):
    """lambda(t) / sigma_t^2, the weight (B,) of || z - eps_theta ||^2 at times t (B,)."""

    @abc.abstractmethod
    def __call__(self, process: GaussianProcess, t: Tensor) -> Tensor: ...


class SigmaSquared(Weighting):
    """lambda(t) = sigma_t^2: || sigma_t s_theta + z ||^2 = || z - eps_theta ||^2 (weight 1)."""

    def __call__(self, process, t):
        return torch.ones_like(t)


class LikelihoodWeighting(Weighting):
    """lambda(t) = g(t)^2 (Song et al. 2021b, Thm. 1): weight g(t)^2 / sigma_t^2 (needs an SDE's diffusion g)."""

    def __call__(self, process, t):
        if not hasattr(process, "diffusion"):
            name = type(process).__name__
            raise TypeError(f"likelihood weighting needs an SDE with a diffusion g(t); {name} has none")
        return process.diffusion(t) ** 2 / process.sigma(t) ** 2


WEIGHTINGS = {"sigma2": SigmaSquared, "likelihood": LikelihoodWeighting}


class DSMLoss:
    """E_t lambda(t) || s_theta(x_t, t) + z / sigma_t ||^2 per example (B,), t from the process (Score-SDE Eq. 7).

    Args:
        process: the forward process: its kernel (alpha, sigma) and its training-time law ``sample_t``.
        precond: how the net becomes a field (any kind with an eps: noise prediction, sigma scaling, raw score).
        weighting: lambda(t) (``SigmaSquared`` or ``LikelihoodWeighting``).
        reduce: over dimensions, "mean" (DDPM, Score-SDE VP configs) or "sum", which is the official NCSN /
            score_sde ``0.5 * sum`` (``reduce_mean=False``).
    """

    def __init__(self, process: GaussianProcess, precond: Precond, weighting: Weighting, reduce: Reduce = "mean"):
        self.process, self.precond, self.weighting, self.reduce = process, precond, weighting, reduce

    def __call__(self, net: nn.Module, x0: Tensor, generator: torch.Generator) -> Tensor:
        """x0 (B, *D) -> per-example loss (B,)."""
        t = self.process.sample_t(x0.shape[0], generator, x0.device)
        z = randn_like(x0, generator)
        x_t = self.process.perturb(x0, t, z)
        eps = self.precond.field(net).eps(x_t, t)
        return self.weighting(self.process, t) * self.reduce_dims((z - eps) ** 2)

    def reduce_dims(self, sq: Tensor) -> Tensor:
        """(B, *D) -> (B,): mean over dims, or 0.5 * sum."""
        flat = sq.flatten(1)
        return flat.mean(1) if self.reduce == "mean" else 0.5 * flat.sum(1)


def l_simple(process: GaussianProcess, precond: Precond) -> DSMLoss:
    """DDPM's L_simple = E || eps - eps_theta(sqrt(abar) x0 + sqrt(1 - abar) eps, t) ||^2 (Ho et al. 2020, Eq. 14)."""
    return DSMLoss(process, precond, SigmaSquared(), reduce="mean")


__all__ = ["DSMLoss", "LikelihoodWeighting", "SigmaSquared", "WEIGHTINGS", "Weighting", "l_simple"]
