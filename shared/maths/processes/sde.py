"""The SDE family of Song et al. (2021), 'Score-Based Generative Modeling through SDEs': VP, sub-VP, VE.

All are shape-agnostic (x: (B, *D), t: (B,)). ``reverse`` and ``probability_flow`` turn a score into the
reverse-time SDE (Eq. 6) and the probability-flow ODE (Eq. 13): the vector fields samplers integrate.
"""

from __future__ import annotations

import abc
import math

import torch
from torch import Tensor

from shared.maths.processes.base import GaussianProcess
from shared.utils import VectorField, append_dims


class SDE(GaussianProcess):
    """dx = f(x, t) dt + g(t) dw on [0, T] with a Gaussian kernel (Eq. 5).

    Example:
        >>> sde = VESDE(sigma_min=0.01, sigma_max=50.0)
        >>> score = lambda x, t: -x / (1 + sde.sigma(t)[:, None] ** 2)    # exact for N(0, I) data
        >>> f = sde.probability_flow(score)                               # VectorField for an ODE solver
        >>> x = sde.prior.sample((8, 2)); dx = f(x, torch.ones(8))
    """

    def __init__(self, n_steps: int = 1000, t_min: float = 1e-5):
        self.n_steps = n_steps  # N of the discretisation (Sec. 3.4 / App. B)
        self.t_min = t_min  # time cutoff epsilon for training and sampling (App. C)

    @abc.abstractmethod
    def drift(self, x: Tensor, t: Tensor) -> Tensor:
        """f(x, t): (B, *D)."""

    @abc.abstractmethod
    def diffusion(self, t: Tensor) -> Tensor:
        """g(t): (B,)."""

    def sde(self, x: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Drift (B, *D) and diffusion (B,)."""
        return self.drift(x, t), self.diffusion(t)

    def sample_t(self, n: int, generator: torch.Generator | None = None, device="cpu") -> Tensor:
        """t ~ U[t_min, T] (Eq. 7)."""
        u = torch.rand(n, generator=generator, device=device)
        return self.t_min + (self.T - self.t_min) * u

    def time_grid(self, n_steps: int | None = None, device="cpu", t_end: float | None = None) -> Tensor:
        """Uniform grid T -> ``t_end`` with ``n_steps`` steps (default the process's N); ``t_end`` defaults to the
        training cutoff t_min (Score-SDE samples VP / sub-VP to 1e-3 although it trains from 1e-5, App. C)."""
        t_end = self.t_min if t_end is None else t_end
        if not 0 <= t_end < self.T:
            raise ValueError(f"the end time of sampling must be in [0, T = {self.T}), got {t_end}")
        return torch.linspace(self.T, t_end, (n_steps or self.n_steps) + 1, device=device)

    def reverse(self, score: VectorField) -> ReverseSDE:
        """The reverse-time SDE dx = [f - g^2 score] dt + g dw_bar (Eq. 6)."""
        return ReverseSDE(self, score)

    def probability_flow(self, score: VectorField) -> VectorField:
        """The probability-flow ODE's velocity dx/dt = f - g^2 score / 2 (Eq. 13): the Gaussian path's flow
        (``GaussianProcess.probability_flow``) in the SDE's own drift and diffusion."""

        def velocity(x: Tensor, t: Tensor) -> Tensor:
            f, g = self.sde(x, t)
            return f - 0.5 * append_dims(g**2, x.ndim) * score(x, t)

        return velocity


class ReverseSDE:
    """Reverse-time SDE of a forward SDE and a score (Eq. 6); integrated with decreasing t."""

    def __init__(self, forward: SDE, score: VectorField):
        self.forward, self.score = forward, score

    def sde(self, x: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Drift f - g^2 score (B, *D) and diffusion g (B,), for dt < 0."""
        f, g = self.forward.sde(x, t)
        return f - append_dims(g**2, x.ndim) * self.score(x, t), g


class VPSDE(SDE):
    """Variance preserving SDE dx = -beta(t) x / 2 dt + sqrt(beta(t)) dw, beta linear (Eq. 11); DDPM's limit."""

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0, n_steps: int = 1000, t_min: float = 1e-5):
        super().__init__(n_steps, t_min)
        self.beta_min, self.beta_max = beta_min, beta_max  # beta_bar_min/max = N * DDPM's 1e-4 / 0.02 (App. B)

    def beta(self, t: Tensor) -> Tensor:
        """beta(t) = beta_min + t (beta_max - beta_min): (B,)."""
        return self.beta_min + t * (self.beta_max - self.beta_min)

    def log_alpha(self, t: Tensor) -> Tensor:
        """log of the mean scale, -int_0^t beta / 2 (Eq. 29)."""
        return -0.25 * t**2 * (self.beta_max - self.beta_min) - 0.5 * t * self.beta_min

    def alpha(self, t: Tensor) -> Tensor:
        return torch.exp(self.log_alpha(t))

    def sigma(self, t: Tensor) -> Tensor:
        return torch.sqrt(-torch.expm1(2 * self.log_alpha(t)))

    def d_alpha(self, t: Tensor) -> Tensor:
        """alpha' = -beta(t) alpha / 2."""
        return -0.5 * self.beta(t) * self.alpha(t)

    def d_sigma(self, t: Tensor) -> Tensor:
        """sigma^2 = 1 - alpha^2, so sigma' = -alpha alpha' / sigma."""
        return -self.alpha(t) * self.d_alpha(t) / self.sigma(t)

    @property
    def prior_std(self) -> float:
        return 1.0

    def drift(self, x: Tensor, t: Tensor) -> Tensor:
        return -0.5 * append_dims(self.beta(t), x.ndim) * x

    def diffusion(self, t: Tensor) -> Tensor:
        return torch.sqrt(self.beta(t))

    def discrete_betas(self) -> Tensor:
        """DDPM's chain beta_i = beta_bar_i / N, i = 1..N (App. B): linear 1e-4 -> 0.02 for the defaults."""
        n = self.n_steps
        return torch.linspace(self.beta_min / n, self.beta_max / n, n, dtype=torch.float64)


class SubVPSDE(VPSDE):
    """sub-VP SDE dx = -beta x / 2 dt + sqrt(beta (1 - exp(-2 int_0^t beta))) dw (Eq. 12); variance below VP's."""

    def sigma(self, t: Tensor) -> Tensor:
        return -torch.expm1(2 * self.log_alpha(t))

    def d_sigma(self, t: Tensor) -> Tensor:
        """sigma = 1 - alpha^2, so sigma' = -2 alpha alpha'."""
        return -2 * self.alpha(t) * self.d_alpha(t)

    def diffusion(self, t: Tensor) -> Tensor:
        return torch.sqrt(self.beta(t) * -torch.expm1(4 * self.log_alpha(t)))


class VESDE(SDE):
    """Variance exploding SDE dx = sqrt(d sigma^2 / dt) dw, sigma(t) = sigma_min (sigma_max/sigma_min)^t (Eq. 9, 30).

    As in the paper, the kernel std is sigma(t) itself: x(0) is the data already perturbed with sigma_min noise.
    """

    def __init__(self, sigma_min: float = 0.01, sigma_max: float = 50.0, n_steps: int = 1000, t_min: float = 1e-5):
        super().__init__(n_steps, t_min)
        self.sigma_min, self.sigma_max = sigma_min, sigma_max  # CIFAR-10 values of App. C.1

    def alpha(self, t: Tensor) -> Tensor:
        return torch.ones_like(t)

    def sigma(self, t: Tensor) -> Tensor:
        return self.sigma_min * (self.sigma_max / self.sigma_min) ** t

    def d_alpha(self, t: Tensor) -> Tensor:
        return torch.zeros_like(t)

    def d_sigma(self, t: Tensor) -> Tensor:
        """sigma' = sigma log(sigma_max / sigma_min)."""
        return self.sigma(t) * math.log(self.sigma_max / self.sigma_min)

    @property
    def prior_std(self) -> float:
        return self.sigma_max

    def drift(self, x: Tensor, t: Tensor) -> Tensor:
        return torch.zeros_like(x)

    def diffusion(self, t: Tensor) -> Tensor:
        return self.sigma(t) * math.sqrt(2 * math.log(self.sigma_max / self.sigma_min))
