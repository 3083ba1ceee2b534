"""Discrete-time chains of the SDE family: DDPM (Ho et al. 2020) as discrete VP, NCSN/SMLD as discrete VE.

Time stays in [0, 1]: step i = 1..N sits at t = i / N and t = 0 is clean data, so the same samplers, losses
and nets serve the chains and their SDE limits (Song et al. 2021, Sec. 3.4 and App. B).
"""

from __future__ import annotations

import torch
from torch import Tensor

from shared.maths.processes.base import GaussianProcess


class _GridProcess(GaussianProcess):
    """A Gaussian process known on the grid t_i = i / N, i = 0..N, through alpha_i and sigma_i (float64 tables)."""

    def __init__(self, alphas: Tensor, sigmas: Tensor):
        if alphas.shape != sigmas.shape or alphas.ndim != 1:
            raise ValueError("alphas and sigmas must be 1-D tables of equal length N + 1")
        self.n_steps = alphas.numel() - 1
        self._alphas, self._sigmas = alphas.double(), sigmas.double()

    @property
    def t_cut(self) -> float:
        """The chain's first step t = 1 / N: the last time a noise-level grid (EDM's, DPM-Solver's) evaluates the
        field before t = 0, where sigma_0 = 0. Such a grid's times fall between the chain's steps and are read at the
        nearest one (``index``), so it needs far fewer steps than N (two times on one step would repeat it)."""
        return 1.0 / self.n_steps

    def index(self, t: Tensor) -> Tensor:
        """Grid index i = round(t N) of times on the grid: (B,) long."""
        return torch.round(t.double() * self.n_steps).long().clamp(0, self.n_steps)

    def _lookup(self, table: Tensor, t: Tensor) -> Tensor:
        return table.to(t.device)[self.index(t).to(t.device)].to(t.dtype)

    def alpha(self, t: Tensor) -> Tensor:
        return self._lookup(self._alphas, t)

    def sigma(self, t: Tensor) -> Tensor:
        return self._lookup(self._sigmas, t)

    def sample_t(self, n: int, generator: torch.Generator | None = None, device="cpu") -> Tensor:
        """t = i / N with i ~ U{1, ..., N} (DDPM Algorithm 1, line 3)."""
        i = torch.randint(1, self.n_steps + 1, (n,), generator=generator, device=device)
        return i.float() / self.n_steps

    def time_grid(self, n_steps: int | None = None, device="cpu") -> Tensor:
        """Decreasing grid from t = 1 to t = 0 on the chain's own steps; fewer steps take an even stride."""
        n = n_steps or self.n_steps
        if not 1 <= n <= self.n_steps:
            raise ValueError(f"sampling steps must be in [1, {self.n_steps}], got {n}")
        idx = torch.round(torch.linspace(self.n_steps, 0, n + 1, dtype=torch.float64)).long()
        return (idx.double() / self.n_steps).float().to(device)


class DiscreteVP(_GridProcess):
    """DDPM's forward chain q(x_i | x_{i-1}) = N(sqrt(1 - beta_i) x_{i-1}, beta_i I) (Eq. 2), prior N(0, I).

    Example:
        >>> chain = DiscreteVP.linear(1e-4, 0.02, 1000)       # DDPM Sec. 4
        >>> chain.alpha(torch.tensor([1.0]))                  # sqrt(alpha_bar_N), about 6e-3
    """

    def __init__(self, betas: Tensor):
        self.betas = betas.double()
        alpha_bar = torch.cumprod(1 - self.betas, 0)
        alpha_bar = torch.cat([torch.ones(1, dtype=torch.float64), alpha_bar])
        super().__init__(alpha_bar.sqrt(), (1 - alpha_bar).sqrt())

    @classmethod
    def linear(cls, beta_1: float, beta_N: float, n_steps: int) -> DiscreteVP:
        """Linear schedule beta_1 .. beta_N (DDPM Sec. 4: 1e-4 to 0.02, N = 1000)."""
        return cls(torch.linspace(beta_1, beta_N, n_steps, dtype=torch.float64))

    @property
    def prior_std(self) -> float:
        return 1.0


class DiscreteVE(_GridProcess):
    """NCSN's noise ladder as a chain: x_i = x0 + sigma_i z with sigma_1 < ... < sigma_N (SMLD, Eq. 1 of the SDE paper).

    Prior N(0, sigma_N^2 I).
    """

    def __init__(self, sigmas: Tensor):
        sigmas = sigmas.double()
        if not torch.all(sigmas[1:] > sigmas[:-1]):
            raise ValueError("sigmas must increase: sigma_1 < ... < sigma_N")
        super().__init__(torch.ones(sigmas.numel() + 1, dtype=torch.float64), torch.cat([sigmas.new_zeros(1), sigmas]))

    @property
    def prior_std(self) -> float:
        return float(self._sigmas[-1])
