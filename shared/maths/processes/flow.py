"""Flow matching's affine Gaussian paths, in the flows' own time: noise at t = 0, data at t = 1.

x_t = alpha_t x1 + sigma_t x0 between noise x0 ~ N(0, I) and data x1, with the regression target
u_t = alpha'_t x1 + sigma'_t x0 (Lipman et al. 2023, Eq. 10-15 for Gaussian paths). In the core's terms
(``GaussianProcess``) alpha_t scales the data and sigma_t the noise, so these are Gaussian paths like the diffusions'
whose time runs the other way (``t_noise = 0``, ``t_data = 1``): DDIM, DPM-Solver++ and EDM's Heun sample them as
they sample the SDEs, through the conversions of ``shared.maths.fields``.

    OTPath        alpha_t = t, sigma_t = 1 - (1 - sigma_min) t      Lipman et al. 2023, Eq. 20-23
    StraightPath  alpha_t = t, sigma_t = 1 - t                      Liu et al. 2023, Eq. 1 (rectified flow)

Example:
    >>> path = OTPath(sigma_min=1e-4)
    >>> x_t = path.interpolate(noise, data, t)       # (B, *D)
    >>> u_t = path.target(noise, data, t)            # d x_t / dt, (B, *D)
"""

from __future__ import annotations

import torch
from torch import Tensor

from shared.maths.processes.base import GaussianProcess

# The noise-level grids (EDM's, DPM-Solver's) stop this far from either end: sigma_t / alpha_t is infinite at the
# noise end (alpha_0 = 0) and 0 at the straight path's data end, so the ladder runs between t = CUT and 1 - CUT
# (noise-to-signal about 1e3 and 1e-3, EDM's 80 and 0.002 in spirit); the grid still starts at t = 0 exactly.
CUT = 1e-3


class AffinePath(GaussianProcess):
    """x_t = alpha_t x1 + sigma_t x0 on t in [0, 1], noise at 0 and data at 1; every coefficient maps (B,) -> (B,)."""

    T = 1.0

    @property
    def t_noise(self) -> float:
        return 0.0

    @property
    def t_data(self) -> float:
        return 1.0

    @property
    def t_cut(self) -> float:
        return 1.0 - CUT

    @property
    def t_top(self) -> float:
        return CUT

    @property
    def prior_std(self) -> float:
        return 1.0  # x0 ~ N(0, I) (Lipman Sec. 4.1; Liu Sec. 4: pi_0 = N(0, I))

    def sample_t(self, n: int, generator: torch.Generator | None = None, device="cpu") -> Tensor:
        """t ~ U[0, 1] (Lipman Eq. 23; Liu Eq. 1)."""
        return torch.rand(n, generator=generator, device=device)

    def time_grid(self, n_steps: int | None = None, device="cpu") -> Tensor:
        """Uniform grid from the noise (t = 0) to the data (t = 1) in ``n_steps`` steps (default 100)."""
        return torch.linspace(self.t_noise, self.t_data, (n_steps or 100) + 1, device=device)

    def interpolate(self, noise: Tensor, data: Tensor, t: Tensor) -> Tensor:
        """x_t = psi_t(x0 | x1) = alpha_t x1 + sigma_t x0 (Lipman Eq. 11): the Gaussian kernel, (B, *D)."""
        return self.perturb(data, t, noise)

    def target(self, noise: Tensor, data: Tensor, t: Tensor) -> Tensor:
        """u_t = d/dt psi_t(x0 | x1) = alpha'_t x1 + sigma'_t x0 (B, *D), the regression target (Lipman Eq. 13-15)."""
        return self.conditional_velocity(data, t, noise)


class OTPath(AffinePath):
    """mu_t = t x1, sigma_t = 1 - (1 - sigma_min) t (Eq. 20): the OT displacement between N(0, I) and
    N(x1, sigma_min^2 I); target u_t = x1 - (1 - sigma_min) x0 (Eq. 23)."""

    def __init__(self, sigma_min: float = 1e-4):
        if not 0 <= sigma_min < 1:
            raise ValueError(f"OTPath: sigma_min must be in [0, 1), got {sigma_min}")
        self.sigma_min = float(sigma_min)

    def alpha(self, t: Tensor) -> Tensor:
        return t

    def sigma(self, t: Tensor) -> Tensor:
        return 1 - (1 - self.sigma_min) * t

    def d_alpha(self, t: Tensor) -> Tensor:
        return torch.ones_like(t)

    def d_sigma(self, t: Tensor) -> Tensor:
        return torch.full_like(t, -(1 - self.sigma_min))

    def __repr__(self) -> str:
        return f"OTPath(sigma_min={self.sigma_min:g})"


class StraightPath(AffinePath):
    """X_t = t X1 + (1 - t) X0, target X1 - X0 (Liu et al. 2023, Eq. 1)."""

    def alpha(self, t: Tensor) -> Tensor:
        return t

    def sigma(self, t: Tensor) -> Tensor:
        return 1 - t

    def d_alpha(self, t: Tensor) -> Tensor:
        return torch.ones_like(t)

    def d_sigma(self, t: Tensor) -> Tensor:
        return -torch.ones_like(t)

    def __repr__(self) -> str:
        return "StraightPath()"


__all__ = ["AffinePath", "CUT", "OTPath", "StraightPath"]
