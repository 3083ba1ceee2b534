"""Gaussian paths: a kernel x_t = alpha(t) x0 + sigma(t) eps between the data x0 and N(0, prior_std^2 I) noise.

Every process of the Score-SDE family (VP, sub-VP, VE; Song et al. 2021, Eq. 29-33), its discrete chains (DDPM,
NCSN) and flow matching's affine paths (``shared.maths.processes.flow``) is one of these; samplers and losses only use
this interface, so they work for all of them and for any data shape.

The time direction is explicit: the diffusions run from the data at ``t_data = 0`` to the noise at ``t_noise = T``;
flow matching's paths the other way (noise at 0, data at 1; Lipman et al. 2023, Liu et al. 2023). A sampler walks a
grid from ``t_noise`` to ``t_data``, so nothing else needs to know which way that is. ``d_alpha`` and ``d_sigma``
(the kernel's time derivatives) give the velocity of the deterministic flow that keeps the kernel's marginals,
v = alpha'(t) x0 + sigma'(t) eps: the conversions between score, eps, x0 and velocity in ``shared.maths.fields`` use
them; a discrete chain, known only on its grid, has none.
"""

from __future__ import annotations

import abc

import torch
from torch import Tensor

from shared.maths.priors import GaussianPrior
from shared.utils import VectorField, append_dims


class GaussianProcess(abc.ABC):
    """A Gaussian path x_t | x0 ~ N(alpha(t) x0, sigma(t)^2 I) from the data (t_data) to the prior N(0, prior_std^2 I)
    (t_noise).

    Example:
        >>> p = VPSDE(beta_min=0.1, beta_max=20.0)
        >>> x0 = torch.randn(4, 2); t = torch.full((4,), 0.5)
        >>> mean, std = p.marginal(x0, t)          # (4, 2), (4,)
        >>> x_prior = p.prior.sample((4, 2))       # (4, 2)
    """

    T: float = 1.0
    t_min: float = 0.0

    @property
    def t_noise(self) -> float:
        """The prior's end of the path (T for the diffusions, 0 for flow matching)."""
        return self.T

    @property
    def t_data(self) -> float:
        """The data's end of the path (0 for the diffusions, 1 for flow matching)."""
        return 0.0

    @property
    def t_cut(self) -> float:
        """The time nearest the data at which a noise-level grid (EDM's, DPM-Solver's) still evaluates the field,
        before its last step to ``t_data``: the diffusions' time cutoff epsilon (Song et al. 2021, App. C)."""
        return self.t_min

    @property
    def t_top(self) -> float:
        """The time of a noise-level grid's top level sigma_t / alpha_t; ``t_noise`` where that is finite."""
        return self.t_noise

    def d_alpha(self, t: Tensor) -> Tensor:
        """d alpha / dt: (B,) -> (B,); a discrete chain has none."""
        raise TypeError(f"{type(self).__name__} is known on its grid only: it has no time derivative")

    def d_sigma(self, t: Tensor) -> Tensor:
        """d sigma / dt: (B,) -> (B,); a discrete chain has none."""
        raise TypeError(f"{type(self).__name__} is known on its grid only: it has no time derivative")

    def probability_flow(self, score: VectorField) -> VectorField:
        """The velocity of the deterministic flow with this path's marginals, from a score:
        v = alpha' x0_hat + sigma' eps_hat = (alpha' / alpha) x - sigma (sigma' - alpha' sigma / alpha) score
        (Tweedie's x0_hat, eps_hat = -sigma score; for an SDE this is Eq. 13, f - g^2 score / 2)."""

        def velocity(x: Tensor, t: Tensor) -> Tensor:
            a, s = append_dims(self.alpha(t), x.ndim), append_dims(self.sigma(t), x.ndim)
            da, ds = append_dims(self.d_alpha(t), x.ndim), append_dims(self.d_sigma(t), x.ndim)
            return da / a * x - s * (ds - da * s / a) * score(x, t)

        return velocity

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
        """A sampling grid (n_steps + 1,) from ``t_noise`` to the end time of sampling, near or at ``t_data``."""

    def marginal(self, x0: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Mean (B, *D) and std (B,) of x_t given x0."""
        return append_dims(self.alpha(t), x0.ndim) * x0, self.sigma(t)

    def perturb(self, x0: Tensor, t: Tensor, eps: Tensor) -> Tensor:
        """x_t = alpha(t) x0 + sigma(t) eps, all (B, *D)."""
        return append_dims(self.alpha(t), x0.ndim) * x0 + append_dims(self.sigma(t), x0.ndim) * eps

    def conditional_velocity(self, x0: Tensor, t: Tensor, eps: Tensor) -> Tensor:
        """d x_t / dt along the kernel for fixed (x0, eps): alpha'(t) x0 + sigma'(t) eps, all (B, *D) (flow
        matching's regression target, Lipman et al. 2023, Eq. 13-15)."""
        return append_dims(self.d_alpha(t), x0.ndim) * x0 + append_dims(self.d_sigma(t), x0.ndim) * eps

    def denoise(self, x: Tensor, t: Tensor, score: VectorField) -> Tensor:
        """Tweedie's posterior mean E[x0 | x_t] = (x + sigma^2 score) / alpha (Efron 2011), shapes (B, *D)."""
        a, s = append_dims(self.alpha(t), x.ndim), append_dims(self.sigma(t), x.ndim)
        return (x + s**2 * score(x, t)) / a

    def transition(self, t: Tensor, s: Tensor) -> tuple[Tensor, Tensor]:
        """Kernel from time s to a time t nearer the noise: x_t | x_s ~ N(a x_s, v I); returns a (B,) and v (B,).

        Valid for any linear SDE started at a fixed x0 (Kingma et al. 2021, Eq. 10-11), and for any Gaussian path
        whose sigma / alpha grows toward the noise (the Markov process with the path's marginals).
        """
        a = self.alpha(t) / self.alpha(s)
        return a, (self.sigma(t) ** 2 - a**2 * self.sigma(s) ** 2).clamp_min(0.0)

    def posterior(self, x0: Tensor, x_t: Tensor, t: Tensor, s: Tensor) -> tuple[Tensor, Tensor]:
        """q(x_s | x_t, x0) for s nearer the data than t (DDPM Eq. 6-7 between any two times): mean (B, *D) and
        variance (B,)."""
        a_ts, v_ts = self.transition(t, s)
        a_s, var_s, var_t = self.alpha(s), self.sigma(s) ** 2, self.sigma(t) ** 2
        d = x0.ndim
        mean = append_dims(a_ts * var_s / var_t, d) * x_t + append_dims(a_s * v_ts / var_t, d) * x0
        return mean, v_ts * var_s / var_t

    @property
    def prior(self) -> GaussianPrior:
        """The prior at ``t_noise``, N(0, prior_std^2 I) (``shared.maths.priors``)."""
        return GaussianPrior(self.prior_std)
