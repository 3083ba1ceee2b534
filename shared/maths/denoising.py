"""EDM's training objective (Karras et al. 2022, Eq. 8 and Table 1): E_{sigma, y, n} lambda(sigma) || D(y + n; sigma) -
y ||^2, with its three pieces as small objects the loss does not look inside:

    NoiseLevels   p_train(sigma)    LogNormalLevels (EDM: ln sigma ~ N(P_mean, P_std^2)), LogUniformLevels (VE),
                                    VPLevels (t ~ U(eps_t, 1) through the VP schedule)
    weighting     lambda(sigma)     EDMWeight (sigma^2 + sigma_data^2) / (sigma sigma_data)^2, InverseSigma2 1 / sigma^2
    Kernel        n | sigma         GaussianKernel n = sigma eps (the diffusions); PFGM++ passes its own heavy-tailed
                                    kernel (Xu et al. 2023, Sec. 4: the same objective with p_r(x | y) in place)

Official code: NVlabs/edm training/loss.py (VPLoss, VELoss, EDMLoss); the loss is summed over dimensions there
(``loss.sum()`` in training/training_loop.py), which ``reduce="sum"`` follows.
"""

from __future__ import annotations

import abc
from typing import Literal

import torch
from torch import Tensor, nn

from shared.maths.precond import Precond, VPScalings
from shared.maths.processes.sigma import SigmaPath
from shared.utils import append_dims, randn, randn_like


class NoiseLevels(abc.ABC):
    """p_train(sigma): ``levels(n, generator, device)`` -> sigma (n,)."""

    @abc.abstractmethod
    def __call__(self, n: int, generator: torch.Generator | None, device) -> Tensor: ...


class LogNormalLevels(NoiseLevels):
    """ln sigma ~ N(P_mean, P_std^2) (Table 1 "EDM"; official EDMLoss: P_mean -1.2, P_std 1.2)."""

    def __init__(self, p_mean: float = -1.2, p_std: float = 1.2):
        self.p_mean, self.p_std = p_mean, p_std

    def __call__(self, n, generator, device):
        return (randn((n,), generator, device=device) * self.p_std + self.p_mean).exp()


class LogUniformLevels(NoiseLevels):
    """ln sigma ~ U(ln sigma_min, ln sigma_max) (Table 1 "VE"; official VELoss: 0.02, 100)."""

    def __init__(self, sigma_min: float = 0.02, sigma_max: float = 100.0):
        self.sigma_min, self.sigma_max = sigma_min, sigma_max

    def __call__(self, n, generator, device):
        u = torch.rand(n, generator=generator, device=device)
        return self.sigma_min * (self.sigma_max / self.sigma_min) ** u


class VPLevels(NoiseLevels):
    """sigma(t), t ~ U(eps_t, 1) on the VP schedule (Table 1 "VP"; official VPLoss: eps_t 1e-5)."""

    def __init__(self, schedule: VPScalings, eps_t: float = 1e-5):
        self.schedule, self.eps_t = schedule, eps_t

    def __call__(self, n, generator, device):
        u = torch.rand(n, generator=generator, device=device)
        return self.schedule.sigma_of_t(1 + u * (self.eps_t - 1))


class Weighting(abc.ABC):
    """lambda(sigma) (B,) -> (B,)."""

    @abc.abstractmethod
    def __call__(self, sigma: Tensor) -> Tensor: ...


class EDMWeight(Weighting):
    """lambda = (sigma^2 + sigma_data^2) / (sigma sigma_data)^2 = 1 / c_out^2: unit effective weight (Sec. 5)."""

    def __init__(self, sigma_data: float = 0.5):
        self.sigma_data = sigma_data

    def __call__(self, sigma):
        return (sigma**2 + self.sigma_data**2) / (sigma * self.sigma_data) ** 2


class InverseSigma2(Weighting):
    """lambda = 1 / sigma^2 (Table 1 "VP" and "VE": the eps- and score-matching losses of the original papers)."""

    def __call__(self, sigma):
        return sigma.pow(-2)


class Kernel(abc.ABC):
    """The perturbation n of clean data y at levels sigma: (y (B, *D), sigma (B,), generator) -> n (B, *D)."""

    @abc.abstractmethod
    def __call__(self, y: Tensor, sigma: Tensor, generator) -> Tensor: ...


class GaussianKernel(Kernel):
    """n = sigma eps, eps ~ N(0, I): the diffusions' p_sigma(x | y) = N(y, sigma^2 I)."""

    def __call__(self, y, sigma, generator):
        return append_dims(sigma, y.ndim) * randn_like(y, generator)


class DenoiserLoss:
    """lambda(sigma) || D(y + n; sigma) - y ||^2 per example (B,) on ``SigmaPath`` (EDM Eq. 8; t = sigma).

    Args:
        precond: the denoiser D (``shared.maths.precond.Denoiser`` on a ``SigmaPath``).
        levels: p_train(sigma). weighting: lambda(sigma). kernel: the perturbation (default Gaussian).
        reduce: over dimensions, "sum" (the official code's) or "mean".
    """

    def __init__(
        self,
        precond: Precond,
        levels: NoiseLevels,
        weighting: Weighting,
        kernel: Kernel | None = None,
        reduce: Literal["sum", "mean"] = "sum",
    ):
        if not isinstance(precond.process, SigmaPath):
            raise TypeError(f"DenoiserLoss trains on EDM's SigmaPath (t = sigma), got {precond.process!r}")
        self.precond, self.levels, self.weighting = precond, levels, weighting
        self.kernel, self.reduce = kernel or GaussianKernel(), reduce

    def __call__(self, net: nn.Module, y: Tensor, generator: torch.Generator) -> Tensor:
        """y (B, *D) clean data -> per-example loss (B,)."""
        sigma = self.levels(y.shape[0], generator, y.device).to(y.dtype)
        denoised = self.precond(net, y + self.kernel(y, sigma, generator), sigma)
        sq = (denoised - y).pow(2).flatten(1)
        return self.weighting(sigma) * (sq.sum(1) if self.reduce == "sum" else sq.mean(1))


__all__ = [
    "DenoiserLoss",
    "EDMWeight",
    "GaussianKernel",
    "InverseSigma2",
    "Kernel",
    "LogNormalLevels",
    "LogUniformLevels",
    "NoiseLevels",
    "VPLevels",
    "Weighting",
]
