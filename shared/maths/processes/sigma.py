"""EDM's own path (Karras et al. 2022, Table 1, column "EDM"): sigma(t) = t, s(t) = 1, so x_t = x0 + t eps.

Time is the noise level itself: the data at t = 0, the prior N(0, sigma_max^2 I) at t = sigma_max, the last
nonzero level sigma_min (the samplers' cutoff ``t_cut``). Every column of Table 1 trains and samples on it once the
data are rescaled by s(t) (Sec. 2): the VP and VE columns differ only in their preconditioning, their training
levels and their loss weights (``shared.maths.precond.Denoiser``, ``shared.maths.losses.DenoiserLoss``). The
official code writes it this way for all three (NVlabs/edm training/loss.py and generate.py: y + sigma n).
"""

from __future__ import annotations

import torch
from torch import Tensor

from shared.maths.processes.base import GaussianProcess


class SigmaPath(GaussianProcess):
    """x_t = x0 + t eps for t in [0, sigma_max]: alpha = 1, sigma = t.

    Args:
        sigma_min: the smallest level a sampler evaluates the field at (EDM: 0.002, Sec. 5 / generate.py).
        sigma_max: the prior's level (EDM: 80).
    """

    def __init__(self, sigma_min: float = 0.002, sigma_max: float = 80.0):
        if not 0 < sigma_min < sigma_max:
            raise ValueError(f"SigmaPath: need 0 < sigma_min < sigma_max, got {sigma_min}, {sigma_max}")
        self.sigma_min, self.sigma_max = float(sigma_min), float(sigma_max)
        self.T, self.t_min = self.sigma_max, self.sigma_min

    def alpha(self, t: Tensor) -> Tensor:
        return torch.ones_like(t)

    def sigma(self, t: Tensor) -> Tensor:
        return t

    def d_alpha(self, t: Tensor) -> Tensor:
        return torch.zeros_like(t)

    def d_sigma(self, t: Tensor) -> Tensor:
        return torch.ones_like(t)

    @property
    def prior_std(self) -> float:
        return self.sigma_max

    def sample_t(self, n: int, generator: torch.Generator | None = None, device="cpu") -> Tensor:
        """Levels log-uniform on [sigma_min, sigma_max] (n,); EDM's losses draw their own (``NoiseLevels``)."""
        u = torch.rand(n, generator=generator, device=device)
        return self.sigma_min * (self.sigma_max / self.sigma_min) ** u

    def time_grid(self, n_steps: int | None = None, device="cpu") -> Tensor:
        """Eq. 5's rho = 7 levels from sigma_max to sigma_min, then 0 (``times_karras``): (n_steps + 1,)."""
        from shared.maths.samplers.edm import times_karras

        return times_karras(self, 18 if n_steps is None else n_steps).to(device)

    def __repr__(self) -> str:
        return f"SigmaPath(sigma_min={self.sigma_min:g}, sigma_max={self.sigma_max:g})"


__all__ = ["SigmaPath"]
