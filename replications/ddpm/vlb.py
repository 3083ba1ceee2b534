"""DDPM's variational bound L = L_T + sum_{t>1} L_{t-1} + L_0 (Ho et al. 2020, Eq. 5), for NLL evaluation.

L_0 uses the discretized Gaussian decoder of Eq. 13 for 8-bit images (a bound on -log P of the discrete data)
and a plain Gaussian decoder for continuous 2-D data (a bound on the density's NLL).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn

from shared.maths.likelihood import NLL
from shared.maths.precond import Precond
from shared.maths.processes import DiscreteVP
from shared.utils import append_dims, randn_like


def gaussian_kl(mean_q: Tensor, var_q: Tensor, mean_p: Tensor, var_p: Tensor) -> Tensor:
    """KL(N(mean_q, var_q I) || N(mean_p, var_p I)) summed over dims: means (B, *D), variances (B,) -> (B,)."""
    d = mean_q[0].numel()
    sq = (mean_q - mean_p).pow(2).flatten(1).sum(1)
    return 0.5 * (d * (torch.log(var_p / var_q) + var_q / var_p - 1) + sq / var_p)


def discretized_gaussian_log_prob(
    x: Tensor, mean: Tensor, std: Tensor, half_bin: float, lo: float, hi: float
) -> Tensor:
    """log P(x) of 8-bit data under N(mean, std^2) integrated over x's bin, edge bins open (Eq. 13): -> (B,)."""
    s = append_dims(std, x.ndim)
    upper = torch.where(x >= hi - 1e-6, torch.full_like(x, math.inf), (x + half_bin - mean) / s)
    lower = torch.where(x <= lo + 1e-6, torch.full_like(x, -math.inf), (x - half_bin - mean) / s)
    # log(Phi(b) - Phi(a)), evaluated in whichever tail keeps it accurate
    upper_tail = (upper + lower) > 0
    b = torch.where(upper_tail, -lower, upper)
    a = torch.where(upper_tail, -upper, lower)
    log_b, log_a = torch.special.log_ndtr(b), torch.special.log_ndtr(a)
    log_p = log_b + torch.log1p(-torch.exp(log_a - log_b).clamp(max=1 - 1e-12))
    return log_p.flatten(1).sum(1)


class VariationalBound:
    """Per-example bound on -log p(x0) in nats, summing all T terms with fresh noise per term."""

    def __init__(
        self,
        chain: DiscreteVP,
        precond: Precond,
        *,
        variance: Literal["forward", "posterior"],
        clip_x0: tuple[float, float] | None,
        data_range: tuple[float, float] | None,
    ):
        self.chain, self.precond = chain, precond
        self.variance, self.clip_x0 = variance, clip_x0
        self.data_range = data_range  # None: continuous data (Gaussian decoder); else 8-bit images in this range

    def _x0_hat(self, net: nn.Module, x_t: Tensor, t: Tensor) -> Tensor:
        x0 = self.precond.field(net).x0(x_t, t)
        return x0.clamp(*self.clip_x0) if self.clip_x0 is not None else x0

    def __call__(self, net: nn.Module, x0: Tensor, generator: torch.Generator) -> NLL:
        """x0 (B, *D) in model space -> NLL (B,) in nats (discrete for images)."""
        chain, n = self.chain, self.chain.n_steps
        b = x0.shape[0]

        def at(i: int) -> Tensor:
            return torch.full((b,), i / n, device=x0.device, dtype=x0.dtype)

        mean_T, std_T = chain.marginal(x0, at(n))
        total = gaussian_kl(mean_T, std_T**2, torch.zeros_like(x0), torch.ones_like(std_T))  # L_T
        for i in range(n, 1, -1):  # L_{t-1}, t = T..2
            t, s = at(i), at(i - 1)
            x_t = chain.perturb(x0, t, randn_like(x0, generator))
            mean_q, var_q = chain.posterior(x0, x_t, t, s)
            mean_p, _ = chain.posterior(self._x0_hat(net, x_t, t), x_t, t, s)
            var_p = chain.transition(t, s)[1] if self.variance == "forward" else var_q
            total = total + gaussian_kl(mean_q, var_q, mean_p, var_p)
        # L_0: decoder at t = 1; the official code clips its variance to beta_tilde_2 for both variance choices
        t1 = at(1)
        x_1 = chain.perturb(x0, t1, randn_like(x0, generator))
        mean_0 = self._x0_hat(net, x_1, t1)
        std_0 = chain.posterior(x0, x_1, at(min(2, n)), t1)[1].sqrt() if n > 1 else chain.sigma(t1)
        if self.data_range is None:
            d = x0[0].numel()
            sq = ((x0 - mean_0) / append_dims(std_0, x0.ndim)).pow(2).flatten(1).sum(1)
            log_dec = -0.5 * sq - d * torch.log(std_0) - 0.5 * d * math.log(2 * math.pi)
            return NLL(total - log_dec, discrete=False, bound=True)
        lo, hi = self.data_range
        log_dec = discretized_gaussian_log_prob(x0, mean_0, std_0, (hi - lo) / 255 / 2, lo, hi)
        return NLL(total - log_dec, discrete=True, bound=True)
