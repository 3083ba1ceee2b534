"""The one idea of the core: a vector field f(x, t) that a sampler integrates from a prior.

A ``Field`` wraps what a net predicts at (x, t), of one of three kinds, and converts it to the others through its
Gaussian path x_t = alpha_t x0 + sigma_t eps (``shared.maths.processes``; Song et al. 2021, App. B; Kingma et al. 2021;
Lipman et al. 2023, Sec. 4.1). The conversions live here and nowhere else:

    eps   <-> score:     score = -eps / sigma_t
    score  -> x0:        E[x0 | x_t] = (x_t + sigma_t^2 score) / alpha_t            (Tweedie)
    score  -> velocity:  v = alpha'_t x0_hat + sigma'_t eps_hat    (the path's flow; an SDE's Eq. 13, f - g^2 score / 2)
    velocity -> eps:     eps = (alpha_t v - alpha'_t x_t) / (alpha_t sigma'_t - alpha'_t sigma_t)
    velocity -> x0:      x0 = (sigma'_t x_t - sigma_t v) / (alpha_t sigma'_t - alpha'_t sigma_t)
    x0     -> eps:       eps = (x_t - alpha_t x0) / sigma_t               (a consistency function, a denoiser)

The last two solve x_t = alpha x0 + sigma eps, v = alpha' x0 + sigma' eps for (x0, eps); the determinant is -1 on
flow matching's paths, so they hold at both ends. A velocity field with no Gaussian path (PFGM's log-z ODE, a
single-block CNF) has a velocity only: a sampler that needs a score, eps or x0 refuses it with a TypeError.

Example:
    >>> sde = VPSDE()
    >>> field = EpsField(lambda x, t: net(x, 999 * t), sde)   # DDPM++ predicts the noise
    >>> field.score(x, t); field.velocity(x, t)                # (B, *D) each
    >>> fm = VelocityField(lambda x, t: net(x, 999 * t), OTPath())
    >>> fm.eps(x, t); fm.x0(x, t)                              # what DDIM and DPM-Solver++ ask for
"""

from __future__ import annotations

import abc
from typing import ClassVar, Literal

from torch import Tensor

from shared.maths.processes.base import GaussianProcess
from shared.utils import VectorField, append_dims

Kind = Literal["score", "eps", "velocity", "x0"]


class Field(abc.ABC):
    """f(x, t) of one ``kind``: x (B, *D), t (B,) -> (B, *D).

    Args:
        predict: the prediction of this kind, e.g. a net behind its preconditioning.
        process: the Gaussian path (``shared.maths.processes``) that the conversions between score, eps, velocity and x0
            need; None for a velocity field with no Gaussian path.
    """

    kind: ClassVar[Kind]

    def __init__(self, predict: VectorField, process: GaussianProcess | None = None):
        self.predict, self.process = predict, process

    def __call__(self, x: Tensor, t: Tensor) -> Tensor:
        """The prediction itself, of kind ``self.kind``: (B, *D)."""
        return self.predict(x, t)

    def process_for(self, what: str) -> GaussianProcess:
        """The field's Gaussian path, which ``what`` (a conversion or a sampler) needs; TypeError without one."""
        if self.process is None:
            name, kind = type(self).__name__, self.kind
            raise TypeError(f"{name}: {what} needs a process (a Gaussian path); this {kind} field has none")
        return self.process

    def _path(self, t: Tensor, ndim: int, what: str) -> tuple[Tensor, Tensor]:
        """alpha_t and sigma_t, broadcast to (B, 1, ...) of rank ``ndim``."""
        process = self.process_for(what)
        return append_dims(process.alpha(t), ndim), append_dims(process.sigma(t), ndim)

    @abc.abstractmethod
    def score(self, x: Tensor, t: Tensor) -> Tensor:
        """grad_x log p_t(x): (B, *D)."""

    def eps(self, x: Tensor, t: Tensor) -> Tensor:
        """The noise E[eps | x_t] = -sigma_t score: (B, *D)."""
        return -self._path(t, x.ndim, "eps")[1] * self.score(x, t)

    def velocity(self, x: Tensor, t: Tensor) -> Tensor:
        """dx/dt of the deterministic flow with the path's marginals (``GaussianProcess.probability_flow``)."""
        return self.process_for("velocity").probability_flow(self.score)(x, t)

    def x0(self, x: Tensor, t: Tensor) -> Tensor:
        """Tweedie's denoised estimate E[x0 | x_t]: (B, *D)."""
        return self.process_for("x0").denoise(x, t, self.score)

    def x0_eps(self, x: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """(x0_hat, eps_hat) from one prediction, x0_hat = (x_t - sigma_t eps_hat) / alpha_t: (B, *D) each."""
        eps = self.eps(x, t)
        a, s = self._path(t, x.ndim, "x0")
        return (x - s * eps) / a, eps


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
        return -self.predict(x, t) / self._path(t, x.ndim, "score")[1]


class VelocityField(Field):
    """A field that is itself the ODE's velocity dx/dt: flow matching's (on its affine path), PFGM's log-z ODE and
    a single-block CNF (no path). With a path, eps, x0 and score follow from the velocity (module docstring)."""

    kind = "velocity"

    def velocity(self, x: Tensor, t: Tensor) -> Tensor:
        return self.predict(x, t)

    def _solve(self, x: Tensor, t: Tensor, what: str) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """(v, alpha, sigma, alpha', sigma') at (x, t), broadcast to x's rank, for the 2 x 2 solve."""
        a, s = self._path(t, x.ndim, what)
        process = self.process_for(what)
        da, ds = append_dims(process.d_alpha(t), x.ndim), append_dims(process.d_sigma(t), x.ndim)
        return self.predict(x, t), a, s, da, ds

    def eps(self, x: Tensor, t: Tensor) -> Tensor:
        v, a, s, da, ds = self._solve(x, t, "eps")
        return (a * v - da * x) / (a * ds - da * s)

    def x0(self, x: Tensor, t: Tensor) -> Tensor:
        v, a, s, da, ds = self._solve(x, t, "x0")
        return (ds * x - s * v) / (a * ds - da * s)

    def x0_eps(self, x: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Both from one velocity (well defined where alpha_t = 0, at flow matching's noise end)."""
        v, a, s, da, ds = self._solve(x, t, "x0")
        det = a * ds - da * s
        return (ds * x - s * v) / det, (a * v - da * x) / det

    def score(self, x: Tensor, t: Tensor) -> Tensor:
        return -self.eps(x, t) / self._path(t, x.ndim, "score")[1]


class X0Field(Field):
    """A model of the data itself, x0_hat = f(x_t, t) (a consistency function, Song et al. 2023; EDM's denoiser D):
    eps_hat = (x_t - alpha_t x0_hat) / sigma_t, score = -eps_hat / sigma_t (undefined at sigma_t = 0, where no
    sampler evaluates a field)."""

    kind = "x0"

    def x0(self, x: Tensor, t: Tensor) -> Tensor:
        return self.predict(x, t)

    def x0_eps(self, x: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        a, s = self._path(t, x.ndim, "eps")
        x0 = self.predict(x, t)
        return x0, (x - a * x0) / s

    def eps(self, x: Tensor, t: Tensor) -> Tensor:
        return self.x0_eps(x, t)[1]

    def score(self, x: Tensor, t: Tensor) -> Tensor:
        return -self.eps(x, t) / self._path(t, x.ndim, "score")[1]


FIELDS: dict[str, type[Field]] = {"score": ScoreField, "eps": EpsField, "velocity": VelocityField, "x0": X0Field}

__all__ = ["Field", "ScoreField", "EpsField", "VelocityField", "X0Field", "FIELDS", "Kind"]
