"""Preconditionings: how a net's raw output at (x, t) becomes a field of one kind (EDM's c_in/c_out/c_noise axis).

A preconditioning is called ``precond(net, x, t)`` and returns the prediction of kind ``precond.kind``; the loss
calls it with the (possibly DDP-wrapped) training net, ``precond.field(net)`` turns it into a
``shared.maths.fields.Field`` for samplers and likelihoods. What the net is conditioned on (``c_noise``) is a small
object of its own.

    NoisePrediction  eps = net(x, c(t))                 DDPM (Ho et al. 2020, Eq. 11), DDPM++ (Song et al. 2021, App. B)
    SigmaScaling     score = net(x, c(t)) / sigma_t     NCSN++ / NCSNv2 (``scale_by_sigma``; Song & Ermon 2020)
    ScorePrediction  score = net(x, c(t))               NCSN (Song & Ermon 2019): the net is s_theta(x, sigma) itself
    VelocityPrediction  v = net(x, c(t))                FFJORD's dynamics, flow matching
    Denoiser         D = c_skip x + c_out net(c_in x, c_noise)   EDM (Karras et al. 2022, Eq. 7 and Table 1), with the
                     scalings of Table 1's VP, VE or EDM column (``VPScalings``, ``VEScalings``, ``EDMScalings``)
"""

from __future__ import annotations

import abc
import math
from typing import ClassVar

import torch
from torch import Tensor, nn

from shared.maths.fields import FIELDS, Field, Kind
from shared.maths.processes.base import GaussianProcess
from shared.utils import append_dims

# ---- what the net sees as its condition c (B,) ------------------------------------------------------------------


class Condition(abc.ABC):
    """c_noise: the per-example scalar a net is conditioned on, from the time t (B,) -> (B,)."""

    @abc.abstractmethod
    def __call__(self, t: Tensor) -> Tensor: ...


class StepIndex(Condition):
    """The 0-based step index i - 1 of t = i / N (DDPM's official code feeds the net the step index)."""

    def __init__(self, n_steps: int):
        self.n_steps = n_steps

    def __call__(self, t: Tensor) -> Tensor:
        return t * self.n_steps - 1


class ScaledTime(Condition):
    """c = scale * t: DDPM++ on the VP / sub-VP SDE conditions on 999 t (official score_sde code)."""

    def __init__(self, scale: float = 999.0):
        self.scale = scale

    def __call__(self, t: Tensor) -> Tensor:
        return self.scale * t


class LogSigmaSteps(Condition):
    """999 (log sigma_t - log sigma_min) / (log sigma_max - log sigma_min): log sigma on DDPM's [0, 999] step scale.

    NCSN++ feeds log sigma to a Fourier embedding; our sinusoidal embedding wants values on the [0, 999] scale, so
    log sigma is mapped affinely onto it (for the geometric VE schedule this equals 999 t).
    """

    def __init__(self, sigma_min: float, sigma_max: float, process: GaussianProcess):
        self.process = process
        self.log_min, self.log_max = math.log(sigma_min), math.log(sigma_max)

    def __call__(self, t: Tensor) -> Tensor:
        return 999.0 * (self.process.sigma(t).log() - self.log_min) / (self.log_max - self.log_min)


class LevelIndex(Condition):
    """The 0-based noise level i - 1 of t = i / L on a discrete ladder (NCSN's class label of sigma_i)."""

    def __init__(self, n_levels: int):
        self.n_levels = n_levels

    def __call__(self, t: Tensor) -> Tensor:
        return (t * self.n_levels).round() - 1


# ---- from net output to a field ---------------------------------------------------------------------------------


class Precond(abc.ABC):
    """``precond(net, x, t)`` -> the prediction of kind ``kind``: x (B, *D), t (B,) -> (B, *D)."""

    kind: ClassVar[Kind]

    def __init__(self, condition: Condition, process: GaussianProcess | None = None):
        self.condition, self.process = condition, process

    @abc.abstractmethod
    def __call__(self, net: nn.Module, x: Tensor, t: Tensor) -> Tensor: ...

    def field(self, net: nn.Module) -> Field:
        """The field of ``net`` under this preconditioning (conversions by ``shared.maths.fields``)."""
        return FIELDS[self.kind](lambda x, t: self(net, x, t), self.process)


class NoisePrediction(Precond):
    """eps_theta(x_t, t) = net(x_t, c(t)) (DDPM Eq. 11; DDPM++ on the VP / sub-VP SDEs)."""

    kind = "eps"

    def __call__(self, net, x, t):
        return net(x, self.condition(t))


class SigmaScaling(Precond):
    """score = net(x, c(t)) / sigma_t (NCSN++ ``scale_by_sigma``; NCSNv2 Sec. 3.3)."""

    kind = "score"

    def __call__(self, net, x, t):
        return net(x, self.condition(t)) / append_dims(self.process.sigma(t), x.ndim)


class ScorePrediction(Precond):
    """score = net(x, c(t)): the net is the score model s_theta(x, sigma) itself (NCSN, Song & Ermon 2019, Sec. 4)."""

    kind = "score"

    def __call__(self, net, x, t):
        return net(x, self.condition(t))


class VelocityPrediction(Precond):
    """v = net(x, c(t)): the net is the ODE's velocity (FFJORD's dynamics, flow matching)."""

    kind = "velocity"

    def __call__(self, net, x, t):
        return net(x, self.condition(t))


# ---- EDM's preconditioning: Table 1's scalings as small objects --------------------------------------------------


class Scalings(abc.ABC):
    """c_skip, c_out, c_in, c_noise of EDM Eq. 7 at noise levels sigma (B,): four (B,) tensors."""

    @abc.abstractmethod
    def __call__(self, sigma: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]: ...


class EDMScalings(Scalings):
    """Table 1, "EDM": c_skip = sd^2 / (s^2 + sd^2), c_out = s sd / sqrt(s^2 + sd^2), c_in = 1 / sqrt(s^2 + sd^2),
    c_noise = ln(s) / 4 (official training/networks.py EDMPrecond.forward): the net's input and its effective
    target, (y - c_skip (y + n)) / c_out, have unit variance at every sigma when the data's std is sigma_data."""

    def __init__(self, sigma_data: float = 0.5):
        self.sigma_data = sigma_data

    def __call__(self, sigma):
        sd2, s2 = self.sigma_data**2, sigma**2
        return sd2 / (s2 + sd2), sigma * self.sigma_data / (s2 + sd2).sqrt(), 1 / (s2 + sd2).sqrt(), sigma.log() / 4


class VEScalings(Scalings):
    """Table 1, "VE": c_skip = 1, c_out = sigma, c_in = 1, c_noise = ln(sigma / 2) (official VEPrecond)."""

    def __call__(self, sigma):
        one = torch.ones_like(sigma)
        return one, sigma, one, (0.5 * sigma).log()


class VPScalings(Scalings):
    """Table 1, "VP": c_skip = 1, c_out = -sigma, c_in = 1 / sqrt(sigma^2 + 1), c_noise = (M - 1) sigma^-1(sigma),
    with sigma(t) = sqrt(exp(beta_d t^2 / 2 + beta_min t) - 1) (official VPPrecond: beta_d 19.9, beta_min 0.1,
    M 1000)."""

    def __init__(self, beta_d: float = 19.9, beta_min: float = 0.1, M: int = 1000):
        self.beta_d, self.beta_min, self.M = beta_d, beta_min, M

    def t_of_sigma(self, sigma: Tensor) -> Tensor:
        """sigma^-1: (sqrt(beta_min^2 + 2 beta_d ln(sigma^2 + 1)) - beta_min) / beta_d."""
        return ((self.beta_min**2 + 2 * self.beta_d * torch.log1p(sigma**2)).sqrt() - self.beta_min) / self.beta_d

    def sigma_of_t(self, t: Tensor) -> Tensor:
        """sigma(t) = sqrt(exp(beta_d t^2 / 2 + beta_min t) - 1)."""
        return torch.expm1(0.5 * self.beta_d * t**2 + self.beta_min * t).sqrt()

    def __call__(self, sigma):
        return torch.ones_like(sigma), -sigma, 1 / (sigma**2 + 1).sqrt(), (self.M - 1) * self.t_of_sigma(sigma)


class NoiseCondition(Condition):
    """c_noise of a ``Scalings`` at the level sigma_t / alpha_t of time t: (B,) -> (B,)."""

    def __init__(self, scalings: Scalings, process: GaussianProcess):
        self.scalings, self.process = scalings, process

    def __call__(self, t: Tensor) -> Tensor:
        return self.scalings(self.process.sigma(t) / self.process.alpha(t))[3]


class Denoiser(Precond):
    """x0_hat = D(x_t / alpha_t; sigma) = c_skip y + c_out net(c_in y, c_noise), y = x_t / alpha_t, sigma = sigma_t /
    alpha_t (EDM Eq. 7 in its scaled coordinates, Sec. 2; on ``SigmaPath`` y = x_t and sigma = t): x (B, *D), t (B,)
    -> (B, *D)."""

    kind = "x0"

    def __init__(self, scalings: Scalings, process: GaussianProcess):
        super().__init__(NoiseCondition(scalings, process), process)
        self.scalings = scalings

    def __call__(self, net, x, t):
        a = self.process.alpha(t)
        c_skip, c_out, c_in, c_noise = self.scalings(self.process.sigma(t) / a)
        y = x / append_dims(a, x.ndim)
        return append_dims(c_skip, x.ndim) * y + append_dims(c_out, x.ndim) * net(
            append_dims(c_in, x.ndim) * y, c_noise
        )


__all__ = [
    "Condition",
    "Denoiser",
    "EDMScalings",
    "NoiseCondition",
    "Scalings",
    "VEScalings",
    "VPScalings",
    "LevelIndex",
    "LogSigmaSteps",
    "NoisePrediction",
    "Precond",
    "ScaledTime",
    "ScorePrediction",
    "SigmaScaling",
    "StepIndex",
    "VelocityPrediction",
]
