"""DDPM's simplified objective L_simple (Ho et al. 2020, Eq. 14; Algorithm 1)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from replications.ddpm.precond import EpsPrecond
from shared.processes import DiscreteVP
from shared.utils import randn_like


class DDPMLoss:
    """|| eps - eps_theta(sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps, t) ||^2, t ~ U{1..T}, mean over dims."""

    def __init__(self, chain: DiscreteVP, precond: EpsPrecond):
        self.chain, self.precond = chain, precond

    def __call__(self, net: nn.Module, x0: Tensor, generator: torch.Generator) -> Tensor:
        """x0 (B, *D) -> per-example loss (B,)."""
        t = self.chain.sample_t(x0.shape[0], generator, x0.device)  # Algorithm 1, line 3
        eps = randn_like(x0, generator)  # line 4
        x_t = self.chain.perturb(x0, t, eps)
        return (eps - self.precond.eps(net, x_t, t)).pow(2).flatten(1).mean(1)  # line 5
