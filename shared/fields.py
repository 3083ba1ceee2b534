"""The one idea of the core: a vector field f(x, t) that a sampler integrates from a prior.

A ``Field`` wraps what a net predicts at (x, t), of one of three kinds, and converts it to the others where the
process allows. The conversions live here and nowhere else (Song et al. 2021, App. B; Kingma et al. 2021):

    eps   <-> score:     score = -eps / sigma_t                         (Gaussian kernel x_t = alpha_t x0 + sigma_t eps)
    score  -> velocity:  v = f(x, t) - g(t)^2 score / 2                 (probability-flow ODE, Eq. 13)
    score  -> x0:        E[x0 | x_t] = (x_t + sigma_t^2 score) / alpha_t (Tweedie)

Velocity fields (FFJORD's dynamics, PFGM's log-z ODE, flow matching) need no process: samplers that integrate an
ODE ask for ``field.velocity``; samplers of the reverse SDE ask for ``field.score`` and are given the process.

Example:
    >>> sde = VPSDE()
    >>> field = EpsField(lambda x, t: net(x, 999 * t), sde)   # DDPM++ predicts the noise
    >>> field.score(x, t); field.velocity(x, t)                # (B, *D) each
"""

from __future__ import annotations

import abc
from typing import ClassVar, Literal

from torch import Tensor

from shared.processes.base import GaussianProcess
from shared.utils import VectorField, append_dims

Kind = Literal["score", "eps", "velocity"]


class Field(abc.ABC):
    """f(x, t) of one ``kind``: x (B, *D), t (B,) -> (B, *D).

    Args:
        predict: the prediction of this kind, e.g. a net behind its preconditioning.
        process: the forward Gaussian process, needed by the conversions between score, eps, velocity and x0
            (None for a pure velocity field).
    """

    kind: ClassVar[Kind]

    def __init__(self, predict: VectorField, process: GaussianProcess | None = None):
        self.predict, self.process = predict, process

    def __call__(self, x: Tensor, t: Tensor) -> Tensor:
        """The prediction itself, of kind ``self.kind``: (B, *D)."""
        return self.predict(x, t)

    def process_for(self, what: str) -> GaussianProcess:
        """The field's forward process, which ``what`` (a conversion or a sampler) needs; TypeError without one."""
        return self._need_process(what)

    def _need_process(self, what: str) -> GaussianProcess:
        if self.process is None:
            raise TypeError(f"{type(self).__name__}: converting a {self.kind} field to {what} needs a process")
        return self.process

    @abc.abstractmethod
    def score(self, x: Tensor, t: Tensor) -> Tensor:
        """grad_x log p_t(x): (B, *D)."""

    def eps(self, x: Tensor, t: Tensor) -> Tensor:
        """The noise E[eps | x_t] = -sigma_t score: (B, *D)."""
        sigma = self._need_process("eps").sigma(t)
        return -append_dims(sigma, x.ndim) * self.score(x, t)

    def velocity(self, x: Tensor, t: Tensor) -> Tensor:
        """dx/dt of the deterministic flow; for a score, the probability-flow ODE f - g^2 score / 2 (Eq. 13)."""
        process = self._need_process("velocity")
        if not hasattr(process, "probability_flow"):
            raise TypeError(f"{type(process).__name__} has no probability-flow ODE (a discrete chain)")
        return process.probability_flow(self.score)(x, t)

    def x0(self, x: Tensor, t: Tensor) -> Tensor:
        """Tweedie's denoised estimate E[x0 | x_t]: (B, *D)."""
        return self._need_process("x0").denoise(x, t, self.score)


class ScoreField(Field):
    """A net (or closed form) that predicts the score directly (NCSN, Score-SDE's VE models)."""

    kind = "score"

    def score(self, x: Tensor, t: Tensor) -> Tensor:
        return self.predict(x, t)


class EpsField(Field):
    """A net that predicts the noise eps (DDPM, DDPM++): score = -eps / sigma_t."""

    kind = "eps"

    def eps(self, x: Tensor, t: Tensor) -> Tensor:
        return self.predict(x, t)

    def score(self, x: Tensor, t: Tensor) -> Tensor:
        sigma = self._need_process("score").sigma(t)
        return -self.predict(x, t) / append_dims(sigma, x.ndim)


class VelocityField(Field):
    """A field that is itself the ODE's velocity dx/dt (FFJORD, PFGM in log z, flow matching)."""

    kind = "velocity"

    def velocity(self, x: Tensor, t: Tensor) -> Tensor:
        return self.predict(x, t)

    def score(self, x: Tensor, t: Tensor) -> Tensor:
        raise TypeError("VelocityField: a velocity field has no score without a Gaussian path")


FIELDS: dict[str, type[Field]] = {"score": ScoreField, "eps": EpsField, "velocity": VelocityField}

__all__ = ["Field", "ScoreField", "EpsField", "VelocityField", "FIELDS", "Kind"]
