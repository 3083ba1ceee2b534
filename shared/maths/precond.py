"""Preconditionings: how a net's raw output at (x, t) becomes a field of one kind (EDM's c_in/c_out/c_noise axis).

A preconditioning is called ``precond(net, x, t)`` and returns the prediction of kind ``precond.kind``; the loss
calls it with the (possibly DDP-wrapped) training net, ``precond.field(net)`` turns it into a
``shared.maths.fields.Field`` for samplers and likelihoods. What the net is conditioned on (``c_noise``) is a small
object of its own.

    NoisePrediction  eps = net(x, c(t))                 DDPM (Ho et al. 2020, Eq. 11), DDPM++ (Song et al. 2021, App. B)
    SigmaScaling     score = net(x, c(t)) / sigma_t     NCSN++ / NCSNv2 (``scale_by_sigma``; Song & Ermon 2020)
    ScorePrediction  score = net(x, c(t))               NCSN (Song & Ermon 2019): the net is s_theta(x, sigma) itself
    VelocityPrediction  v = net(x, c(t))                FFJORD's dynamics, flow matching
"""

from __future__ import annotations

import abc
import math
from typing import ClassVar

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


__all__ = [
    "Condition",
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
