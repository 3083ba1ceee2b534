"""The consistency function's parametrization (Song et al. 2023, Sec. 3, Eq. 5 and App. C) on any Gaussian path.

In EDM's coordinates (y = x_t / alpha_t at noise level s = sigma_t / alpha_t) the paper writes
f(y, s) = c_skip(s) y + c_out(s) F(y, s) with

    c_skip(s) = sigma_data^2 / ((s - s_min)^2 + sigma_data^2),
    c_out(s) = sigma_data (s - s_min) / sqrt(sigma_data^2 + s^2)

(official code: openai/consistency_models_cifar10, jcm/models/utils.py, the boundary-condition scalings), so that
f(y, s_min) = y exactly: the boundary condition f(x, eps) = x. Here F is the teacher's own parametrization, read as a
denoiser D(x_t, t) = x0_hat (a velocity, eps or score net through ``shared.maths.fields``), and c_out = 1 - c_skip:

    f(x_t, t) = c_skip(s) y + (1 - c_skip(s)) D(x_t, t)

which keeps the boundary condition exactly, equals D wherever c_skip vanishes, and lets the student start from the
teacher's weights (the official distillation starts from its EDM teacher: ``training.finetune``). The paper's c_out
with a raw F differs from ours by a reparametrization of F; the README's protocol table says so. Multiplied through
by alpha^2 the weights stay finite at flow matching's noise end (alpha = 0, s infinite): c_skip y -> 0, f -> D.
"""

from __future__ import annotations

from torch import Tensor, nn

from shared.maths.precond import Precond
from shared.maths.processes.base import GaussianProcess
from shared.utils import append_dims, batch_time


class BoundaryCondition(Precond):
    """x0 = f(x_t, t) = c_skip y + (1 - c_skip) D(x_t, t): x (B, *D), t (B,) -> (B, *D).

    Args:
        inner: the teacher's parametrization (its ``field(net).x0`` is D).
        process: the Gaussian path.
        sigma_data: sigma_data of c_skip (0.5 for images in [-1, 1]: the paper's App. C, EDM's choice).
        t_min: the boundary time eps, where f is the identity (the path's data end: s_min = s(t_min)).
    """

    kind = "x0"

    def __init__(self, inner: Precond, process: GaussianProcess, sigma_data: float, t_min: float):
        super().__init__(inner.condition, process)
        self.inner, self.sigma_data, self.t_min = inner, sigma_data, t_min

    def weights(self, t: Tensor) -> tuple[Tensor, Tensor]:
        """(c_skip / alpha_t, c_skip) (B,) at times t (B,), multiplied through by alpha^2 so that both stay finite at
        alpha = 0: c_skip = sd^2 a^2 / ((sigma - s_min a)^2 + sd^2 a^2)."""
        a, s = self.process.alpha(t), self.process.sigma(t)
        end = batch_time(self.t_min, t)
        s_min = self.process.sigma(end) / self.process.alpha(end)
        sd2 = self.sigma_data**2
        denom = (s - s_min * a) ** 2 + sd2 * a**2
        return sd2 * a / denom, sd2 * a**2 / denom

    def __call__(self, net: nn.Module, x: Tensor, t: Tensor) -> Tensor:
        skip_over_alpha, c_skip = (append_dims(w, x.ndim) for w in self.weights(t))
        return skip_over_alpha * x + (1.0 - c_skip) * self.inner.field(net).x0(x, t)


__all__ = ["BoundaryCondition"]
