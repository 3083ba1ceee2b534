"""Continuous-time denoising score matching of Song et al. (2021), Eq. 7, with two choices of lambda(t)."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from replications.score_sde.precond import NoisePrecond, SigmaScalePrecond
from shared.processes import SDE
from shared.utils import append_dims, randn_like


class DSMLoss:
    """lambda = sigma_t^2 (Sec. 3.3): E || sigma_t s_theta(x_t, t) + z ||^2, t ~ U[eps, 1], x_t = alpha x0 + sigma z."""

    def __init__(
        self, process: SDE, precond: NoisePrecond | SigmaScalePrecond, reduce: Literal["mean", "sum"] = "mean"
    ):
        self.process, self.precond, self.reduce = process, precond, reduce

    def __call__(self, net: nn.Module, x0: Tensor, generator: torch.Generator) -> Tensor:
        """x0 (B, *D) -> per-example loss (B,)."""
        t = self.process.sample_t(x0.shape[0], generator, x0.device)  # t ~ U[eps, 1] (Eq. 7, App. C)
        z = randn_like(x0, generator)
        score = self.precond.score(net)(self.process.perturb(x0, t, z), t)
        sigma = append_dims(self.process.sigma(t), x0.ndim)
        return self.weighted(score, z, sigma, t)

    def weighted(self, score: Tensor, z: Tensor, sigma: Tensor, t: Tensor) -> Tensor:
        """sigma^2 || s + z / sigma ||^2 = || sigma s + z ||^2, reduced over dims: (B,)."""
        return self.reduce_dims((sigma * score + z) ** 2)

    def reduce_dims(self, sq: Tensor) -> Tensor:
        """(B, *D) -> (B,): mean over dims, or the official code's 0.5 * sum (``reduce_mean=False``)."""
        flat = sq.flatten(1)
        return flat.mean(1) if self.reduce == "mean" else 0.5 * flat.sum(1)


class LikelihoodDSMLoss(DSMLoss):
    """lambda(t) = g(t)^2 (Song et al. 2021b, Thm. 1): E g(t)^2 || s_theta(x_t, t) + z / sigma_t ||^2."""

    def weighted(self, score: Tensor, z: Tensor, sigma: Tensor, t: Tensor) -> Tensor:
        """g(t)^2 || s + z / sigma ||^2, reduced over dims: (B,)."""
        return self.process.diffusion(t) ** 2 * self.reduce_dims((score + z / sigma) ** 2)
