"""Processes with a Gaussian perturbation kernel x_t = alpha(t) x0 + sigma(t) eps (Song et al. 2021, Eq. 29-33).

Every process of the Score-SDE family (VP, sub-VP, VE) and its discrete chains (DDPM, NCSN) is one of these;
samplers and losses only use this interface, so they work for all of them and for any data shape.
"""

from __future__ import annotations

import abc

import torch
from torch import Tensor

from shared.priors import GaussianPrior
from shared.utils import VectorField, append_dims


class GaussianProcess(abc.ABC):
    """A forward process on [0, T] with marginal x_t | x0 ~ N(alpha(t) x0, sigma(t)^2 I) and prior N(0, prior_std^2 I).

    Example:
        >>> p = VPSDE(beta_min=0.1, beta_max=20.0)
        >>> x0 = torch.randn(4, 2); t = torch.full((4,), 0.5)
        >>> mean, std = p.marginal(x0, t)          # (4, 2), (4,)
        >>> x_prior = p.prior.sample((4, 2))       # (4, 2)
    """

    T: float = 1.0
    t_min: float = 0.0

    @abc.abstractmethod
    def alpha(self, t: Tensor) -> Tensor:
        """Mean scale of the kernel: (B,) -> (B,)."""

    @abc.abstractmethod
    def sigma(self, t: Tensor) -> Tensor:
        """Standard deviation of the kernel: (B,) -> (B,)."""

    @property
    @abc.abstractmethod
    def prior_std(self) -> float:
        """Standard deviation of the isotropic Gaussian prior at t = T."""

    @abc.abstractmethod
    def sample_t(self, n: int, generator: torch.Generator | None = None, device="cpu") -> Tensor:
        """Training times (n,) drawn from the process's own time distribution."""

    @abc.abstractmethod
    def time_grid(self, n_steps: int | None = None, device="cpu") -> Tensor:
        """A decreasing sampling grid (n_steps + 1,) from T down to the end time of sampling (t = 0 is clean data)."""

    def marginal(self, x0: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Mean (B, *D) and std (B,) of x_t given x0."""
        return append_dims(self.alpha(t), x0.ndim) * x0, self.sigma(t)

    def perturb(self, x0: Tensor, t: Tensor, eps: Tensor) -> Tensor:
        """x_t = alpha(t) x0 + sigma(t) eps, all (B, *D)."""
        return append_dims(self.alpha(t), x0.ndim) * x0 + append_dims(self.sigma(t), x0.ndim) * eps

    def denoise(self, x: Tensor, t: Tensor, score: VectorField) -> Tensor:
        """Tweedie's posterior mean E[x0 | x_t] = (x + sigma^2 score) / alpha (Efron 2011), shapes (B, *D)."""
        a, s = append_dims(self.alpha(t), x.ndim), append_dims(self.sigma(t), x.ndim)
        return (x + s**2 * score(x, t)) / a

    def transition(self, t: Tensor, s: Tensor) -> tuple[Tensor, Tensor]:
        """Kernel from time s to t > s: x_t | x_s ~ N(a x_s, v I); returns a (B,) and v (B,).

        Valid for any linear SDE started at a fixed x0 (Kingma et al. 2021, Eq. 10-11).
        """
        a = self.alpha(t) / self.alpha(s)
        return a, (self.sigma(t) ** 2 - a**2 * self.sigma(s) ** 2).clamp_min(0.0)

    def posterior(self, x0: Tensor, x_t: Tensor, t: Tensor, s: Tensor) -> tuple[Tensor, Tensor]:
        """q(x_s | x_t, x0) for s < t (DDPM Eq. 6-7 between any two times): mean (B, *D) and variance (B,)."""
        a_ts, v_ts = self.transition(t, s)
        a_s, var_s, var_t = self.alpha(s), self.sigma(s) ** 2, self.sigma(t) ** 2
        d = x0.ndim
        mean = append_dims(a_ts * var_s / var_t, d) * x_t + append_dims(a_s * v_ts / var_t, d) * x0
        return mean, v_ts * var_s / var_t

    @property
    def prior(self) -> GaussianPrior:
        """The prior at t = T, N(0, prior_std^2 I) (``shared.priors``)."""
        return GaussianPrior(self.prior_std)
