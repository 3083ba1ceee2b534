"""One deterministic step of a field's ODE between per-example times, x_t -> x_s: what a distillation asks of its
teacher (consistency distillation's solver step Phi, Song et al. 2023, Eq. 6; progressive distillation's two DDIM
steps, Salimans & Ho 2022, Alg. 2). Times are (B,) tensors (or scalars): every example may sit at its own time.

    ddim_step  x_s = alpha_s x0_hat + sigma_s eps_hat        (DDIM, eta = 0: Song, Meng & Ermon 2021, Eq. 12;
               in EDM's coordinates x / alpha and sigma / alpha this is Euler's step, CM's "Euler" solver)
    euler_step one Euler step of dx/dt = v(x, t) (EDM's last step)
    heun_step  Heun's second-order step of dx/dt = v(x, t) in the path's own time (EDM Alg. 1's step; on VE, where
               t = sigma, CM's "Heun" solver exactly)
"""

from __future__ import annotations

from torch import Tensor

from shared.maths.fields import Field
from shared.utils import append_dims, batch_time


def ddim_step(field: Field, x: Tensor, t: Tensor | float, s: Tensor | float) -> Tensor:
    """x (B, *D) at times t (B,) -> x at times s (B,): one NFE (``field.x0_eps``)."""
    t, s = batch_time(t, x), batch_time(s, x)
    process = field.process_for("a DDIM step")
    x0, eps = field.x0_eps(x, t)
    return append_dims(process.alpha(s), x.ndim) * x0 + append_dims(process.sigma(s), x.ndim) * eps


def euler_step(field: Field, x: Tensor, t: Tensor | float, s: Tensor | float) -> Tensor:
    """x (B, *D) at times t (B,) -> x at times s (B,): one Euler step of ``field.velocity``, one NFE (the last step of
    EDM's Algorithms 1 and 2, where the field is never evaluated at the data end)."""
    t, s = batch_time(t, x), batch_time(s, x)
    return x + append_dims(s - t, x.ndim) * field.velocity(x, t)


def heun_step(field: Field, x: Tensor, t: Tensor | float, s: Tensor | float) -> Tensor:
    """x (B, *D) at times t (B,) -> x at times s (B,): two NFE of ``field.velocity``."""
    t, s = batch_time(t, x), batch_time(s, x)
    h = append_dims(s - t, x.ndim)
    v = field.velocity(x, t)
    x_euler = x + h * v
    return x + 0.5 * h * (v + field.velocity(x_euler, s))


SOLVER_STEPS = {"ddim": ddim_step, "heun": heun_step}

__all__ = ["SOLVER_STEPS", "ddim_step", "euler_step", "heun_step"]
