"""Probability paths between noise x0 ~ N(0, I) at t = 0 and data x1 at t = 1, and the couplings that pair them.

Both papers' paths are affine in (x0, x1): x_t = alpha_t x1 + sigma_t x0, with the regression target
u_t = alpha'_t x1 + sigma'_t x0 (Lipman et al. 2023, Eq. 10-15 for Gaussian paths). A path overrides the four
coefficients; the loss, the sampler and reflow are the same for all of them.

    OTPath        alpha_t = t, sigma_t = 1 - (1 - sigma_min) t      Lipman et al. 2023, Eq. 20-23
    StraightPath  alpha_t = t, sigma_t = 1 - t                      Liu et al. 2023, Eq. 1 (rectified flow)

A coupling says which (x0, x1) a training batch regresses on: the independent one (noise drawn apart from the
data; Lipman's CFM and the 1-rectified flow) or the pairs (z0, z1) a trained flow made (reflow, Liu Sec. 2).
"""

from __future__ import annotations

import abc

import torch
from torch import Tensor

from shared.utils import append_dims, randn_like


class AffinePath(abc.ABC):
    """x_t = alpha_t x1 + sigma_t x0 on t in [0, 1]; every coefficient maps t (B,) -> (B,)."""

    @abc.abstractmethod
    def alpha(self, t: Tensor) -> Tensor: ...

    @abc.abstractmethod
    def sigma(self, t: Tensor) -> Tensor: ...

    @abc.abstractmethod
    def d_alpha(self, t: Tensor) -> Tensor: ...

    @abc.abstractmethod
    def d_sigma(self, t: Tensor) -> Tensor: ...

    def interpolate(self, x0: Tensor, x1: Tensor, t: Tensor) -> Tensor:
        """x_t = psi_t(x0 | x1) (B, *D) (Lipman Eq. 11)."""
        n = x1.ndim
        return append_dims(self.alpha(t), n) * x1 + append_dims(self.sigma(t), n) * x0

    def target(self, x0: Tensor, x1: Tensor, t: Tensor) -> Tensor:
        """u_t = d/dt psi_t(x0 | x1) (B, *D), the regression target (Lipman Eq. 13-15)."""
        n = x1.ndim
        return append_dims(self.d_alpha(t), n) * x1 + append_dims(self.d_sigma(t), n) * x0


class OTPath(AffinePath):
    """mu_t = t x1, sigma_t = 1 - (1 - sigma_min) t (Eq. 20): the OT displacement between N(0, I) and
    N(x1, sigma_min^2 I); target u_t = x1 - (1 - sigma_min) x0 (Eq. 23)."""

    def __init__(self, sigma_min: float = 1e-4):
        if not 0 <= sigma_min < 1:
            raise ValueError(f"OTPath: sigma_min must be in [0, 1), got {sigma_min}")
        self.sigma_min = float(sigma_min)

    def alpha(self, t):
        return t

    def sigma(self, t):
        return 1 - (1 - self.sigma_min) * t

    def d_alpha(self, t):
        return torch.ones_like(t)

    def d_sigma(self, t):
        return torch.full_like(t, -(1 - self.sigma_min))

    def __repr__(self) -> str:
        return f"OTPath(sigma_min={self.sigma_min:g})"


class StraightPath(AffinePath):
    """X_t = t X1 + (1 - t) X0, target X1 - X0 (Liu et al. 2023, Eq. 1)."""

    def alpha(self, t):
        return t

    def sigma(self, t):
        return 1 - t

    def d_alpha(self, t):
        return torch.ones_like(t)

    def d_sigma(self, t):
        return -torch.ones_like(t)

    def __repr__(self) -> str:
        return "StraightPath()"


class IndependentCoupling:
    """(x0, x1) = (N(0, I) noise drawn with ``generator``, the data batch): Lipman Eq. 23; Liu's 1-rectified flow."""

    def __call__(self, x: Tensor, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        """x (B, *D) -> (x0, x1), each (B, *D)."""
        return randn_like(x, generator), x


class PairedCoupling:
    """(x0, x1) = the pairs (z0, z1) a trained flow made, stacked as x (B, 2, *D) (reflow, Liu Sec. 2)."""

    def __call__(self, x: Tensor, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        """x (B, 2, *D) -> (z0, z1), each (B, *D)."""
        if x.ndim < 3 or x.shape[1] != 2:
            raise ValueError(f"PairedCoupling: expected stacked pairs (B, 2, *D), got {tuple(x.shape)}")
        return x[:, 0], x[:, 1]


Coupling = IndependentCoupling | PairedCoupling

__all__ = ["AffinePath", "Coupling", "IndependentCoupling", "OTPath", "PairedCoupling", "StraightPath"]
