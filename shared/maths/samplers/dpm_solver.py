"""DPM-Solver++(2M) (Lu et al. 2022, 'DPM-Solver++: Fast Solver for Guided Sampling of Diffusion Probabilistic
Models'): the multistep second-order solver of the data-prediction probability-flow ODE, on any Gaussian process."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from shared.maths.fields import Field
from shared.maths.processes.base import GaussianProcess
from shared.maths.samplers.edm import level_grid
from shared.utils import Callback, Generator, batch_time


def times_logsnr(
    process: GaussianProcess,
    n_steps: int,
    *,
    t_first: float | None = None,
    t_last: float | None = None,
    t_end: float | None = None,
) -> Tensor:
    """Steps uniform in lambda = log(alpha_t / sigma_t), DPM-Solver's choice (Lu et al. 2022a), then ``t_end``.

    Uniform lambda is geometric sigma_t / alpha_t: the rho -> inf limit of EDM's Eq. 5. The first-order
    exponential integrator makes the same relative error per step on it.

    Args:
        process: the Gaussian path.
        n_steps: N steps; the grid has N + 1 points.
        t_first, t_last, t_end: as ``shared.maths.samplers.edm.level_grid`` (defaults: the path's noise end, its time
            cutoff, its data end, e.g. 0 for VP, where sigma = 0: the samplers never evaluate the field there).

    Returns:
        float64 times (N + 1,) from t_first to t_end.
    """
    if n_steps < 1:
        raise ValueError(f"need n_steps >= 1, got {n_steps}")

    def levels(lo: float, hi: float) -> Tensor:
        lam = -torch.log(torch.tensor([hi, lo], dtype=torch.float64))  # lambda at the ends
        return torch.exp(-torch.linspace(float(lam[0]), float(lam[1]), n_steps, dtype=torch.float64))

    return level_grid(process, levels, t_first=t_first, t_last=t_last, t_end=t_end)


def sample_dpm_solver_2m(
    field: Field, x: Tensor, ts: Tensor, *, generator: Generator = None, callback: Callback = None
) -> Tensor:
    """DPM-Solver++(2M), Algorithm 2: one ``field.x0`` per step, NFE = len(ts) - 1.

    The paper's exact solution x_t = (sigma_t / sigma_s) x_s + sigma_t int e^lambda x0_hat dlambda of the
    data-prediction ODE, lambda_t = log(alpha_t / sigma_t), is integrated for an x0_hat linear in lambda. With
    h_i = lambda_{t_i} - lambda_{t_{i-1}}, each step is x_i = (sigma_i / sigma_{i-1}) x_{i-1} - alpha_i (e^{-h_i} - 1)
    D_i, where D_1 = x0_hat(x_0, t_0) (the first, first-order step: DDIM's) and D_i = (1 + 1 / (2 r_i))
    x0_hat_{i-1} - x0_hat_{i-2} / (2 r_i) with r_i = h_{i-1} / h_i: the previous step's x0_hat is reused, so the
    second order costs no extra NFE. VE is the case alpha = 1. A last point with sigma = 0 (lambda = +inf, the
    VP data end) takes the first-order limit x = alpha x0_hat (D_i's r_i -> 0 is undefined there), so the field
    is never evaluated at sigma = 0.

    Args:
        field: the model's field (score or eps kind); x0_hat = ``field.x0``; its process gives alpha(t), sigma(t).
        x: prior draw (B, *D).
        ts: decreasing grid (K + 1,), e.g. ``times_logsnr(process, K)``, ``times_karras(process, K)``.
        generator: unused (deterministic); accepted for the shared signature.
        callback: dict(i, t, x, x0) after every step (x0 = the x0_hat evaluated at the step's start).

    Returns:
        x at ts[-1] (B, *D).

    Example:
        >>> vp = VPSDE()
        >>> x = sample_dpm_solver_2m(field, vp.prior.sample((8, 2)), times_logsnr(vp, 20))  # 20 NFE
    """
    process = field.process_for("DPM-Solver++")
    ts64 = ts.double()
    alpha, sigma = process.alpha(ts64), process.sigma(ts64)
    if not torch.all(sigma[:-1] > 0):
        raise ValueError("DPM-Solver++: sigma must be positive at every grid point but the last")
    lam = torch.log(alpha) - torch.log(sigma)  # +inf where sigma = 0
    x0_prev, h_prev = None, None
    for i in range(len(ts) - 1):
        x0 = field.x0(x, batch_time(ts[i], x))
        if float(sigma[i + 1]) == 0.0:
            x = float(alpha[i + 1]) * x0
        else:
            h = float(lam[i + 1] - lam[i])
            if x0_prev is None:
                d = x0  # first step: first order
            else:
                r = h_prev / h
                d = (1 + 1 / (2 * r)) * x0 - x0_prev / (2 * r)  # Algorithm 2's D_i
            x = float(sigma[i + 1] / sigma[i]) * x - float(alpha[i + 1]) * math.expm1(-h) * d
            h_prev = h
        x0_prev = x0
        if callback is not None:
            callback({"i": i, "t": ts[i + 1], "x": x, "x0": x0})
    return x


__all__ = ["sample_dpm_solver_2m", "times_logsnr"]
