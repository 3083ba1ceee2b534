"""EDM's time steps and deterministic sampler (Karras et al. 2022, 'Elucidating the Design Space of Diffusion-Based
Generative Models'): Eq. 5's rho-spaced noise levels, mapped to any Gaussian process's t, and Algorithm 1 (Heun)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from shared.maths.fields import Field
from shared.maths.ode import sample_euler, sample_heun
from shared.maths.processes.base import GaussianProcess
from shared.maths.samplers.steps import euler_step, heun_step
from shared.utils import Callback, Generator, randn


def sigmas_karras(n_steps: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> Tensor:
    """EDM Eq. 5: sigma_i = (sigma_max^(1/rho) + i / (N-1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho, sigma_N = 0.

    Args:
        n_steps: N, the number of steps (N >= 1); N = 1 is the single level sigma_max followed by 0.
        sigma_min, sigma_max: the end levels, 0 < sigma_min < sigma_max (EDM: 0.002 and 80).
        rho: the spacing exponent (EDM's choice 7, Sec. 3; rho = 1 is uniform in sigma, rho -> inf geometric).

    Returns:
        Decreasing float64 levels (N + 1,), the last one 0.
    """
    if n_steps < 1 or not 0 < sigma_min < sigma_max:
        raise ValueError(f"need n_steps >= 1 and 0 < sigma_min < sigma_max, got {n_steps}, {sigma_min}, {sigma_max}")
    i = torch.arange(n_steps, dtype=torch.float64) / max(n_steps - 1, 1)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return torch.cat([(hi + i * (lo - hi)) ** rho, torch.zeros(1, dtype=torch.float64)])


def noise_to_signal(process: GaussianProcess, t: Tensor) -> Tensor:
    """EDM's sigma(t) of a process with scale s(t): sigma_t / alpha_t (Sec. 2 and Table 1; = sigma_t for VE)."""
    return process.sigma(t) / process.alpha(t)


def times_of_sigmas(process: GaussianProcess, sigmas: Tensor, t_low: float, t_high: float) -> Tensor:
    """The times t between ``t_low`` and ``t_high`` with noise_to_signal(t) = sigma, per level (bisection, float64).

    EDM's sigma(t) = sigma_t / alpha_t is monotone along every Gaussian path of ``shared.maths.processes``: it grows
    with t
    for the diffusions and falls with t for flow matching's paths, so the bracket is named by level, not by time.

    Args:
        process: the Gaussian path.
        sigmas: levels (K,) within [sigma(t_low), sigma(t_high)].
        t_low, t_high: the bracket's ends, the time of the lower and of the higher level.

    Returns:
        float64 times (K,).
    """
    target = sigmas.double()
    lo, hi = torch.full_like(target, t_low), torch.full_like(target, t_high)
    for _ in range(100):  # the bracket halves each time: float64 resolution long before 100
        mid = 0.5 * (lo + hi)
        below = noise_to_signal(process, mid) < target
        lo, hi = torch.where(below, mid, lo), torch.where(below, hi, mid)
    return 0.5 * (lo + hi)


def level_grid(
    process: GaussianProcess,
    levels: Callable[[float, float], Tensor],
    *,
    t_first: float | None,
    t_last: float | None,
    t_end: float | None,
) -> Tensor:
    """A grid from the noise to the data whose noise-to-signal levels are ``levels(lowest, highest)`` (K,).

    The levels run between sigma(t_last) and sigma(t_first), where the top is taken at ``process.t_top`` when
    t_first is the noise end (flow matching's alpha_0 = 0 has an infinite ratio there); the first point is t_first
    and the one before the end t_last exactly, then ``t_end``. Shared by EDM's and DPM-Solver's steps.

    Args:
        t_first: the first time (default ``process.t_noise``); t_last: the time of the smallest nonzero level
            (default ``process.t_cut``, the time cutoff); t_end: the final time (default ``process.t_data``).

    Returns:
        float64 times (K + 1,), monotone from t_first to t_end.
    """
    t_first = process.t_noise if t_first is None else t_first
    t_last = process.t_cut if t_last is None else t_last
    t_end = process.t_data if t_end is None else t_end
    toward_data = 1.0 if process.t_data > process.t_noise else -1.0
    if not (toward_data * (t_end - t_last) >= 0 and toward_data * (t_last - t_first) > 0):
        raise ValueError(
            f"need t_first, t_last, t_end in that order from the noise ({process.t_noise}) to the data "
            f"({process.t_data}), t_last != t_first; got {t_first}, {t_last}, {t_end}"
        )
    top = process.t_top if t_first == process.t_noise else t_first
    ends = noise_to_signal(process, torch.tensor([t_last, top], dtype=torch.float64))
    ts = times_of_sigmas(process, levels(float(ends[0]), float(ends[1])), t_last, top)
    n = len(ts)
    ts[0], ts[-1] = t_first, t_last if n > 1 else t_first  # the ends exactly, not to bisection precision
    return torch.cat([ts, torch.tensor([t_end], dtype=torch.float64)])


def times_karras(
    process: GaussianProcess,
    n_steps: int,
    *,
    t_first: float | None = None,
    t_last: float | None = None,
    rho: float = 7.0,
    t_end: float | None = None,
) -> Tensor:
    """EDM's time steps t_i = sigma^-1(sigma_i) (Table 1, "time steps") for a Gaussian path in its own time variable.

    The levels are Eq. 5's between sigma(t_last) and sigma(t_first), with EDM's sigma(t) = sigma_t / alpha_t (the
    noise-to-signal ratio), inverted by ``times_of_sigmas`` (``level_grid``). The last point, Eq. 5's sigma_N = 0,
    is the data end ``t_end``: sigma = 0 for VP, sub-VP and the straight path; for the VE SDE its floor sigma_min
    (its data are perturbed by sigma_min already), for the OT path sigma_min. The samplers of this package never
    evaluate the field at that last point.

    Args:
        process: the Gaussian path (``alpha``, ``sigma`` and its ends).
        n_steps: N steps; the grid has N + 1 points.
        t_first, t_last, t_end: as ``level_grid`` (defaults: the path's noise end, its cutoff, its data end).
        rho: Eq. 5's exponent.

    Returns:
        float64 times (N + 1,) from t_first to t_end.

    Example:
        >>> vp = VPSDE()
        >>> ts = times_karras(vp, 10)                          # 11 times from 1 to 0, dense near 0
        >>> x = sample_heun_edm(field, vp.prior.sample((8, 2)), ts)
    """
    if n_steps < 1:
        raise ValueError(f"need n_steps >= 1, got {n_steps}")

    def levels(lo: float, hi: float) -> Tensor:
        return sigmas_karras(n_steps, lo, hi, rho)[:-1]

    return level_grid(process, levels, t_first=t_first, t_last=t_last, t_end=t_end)


def sample_heun_edm(
    field: Field, x: Tensor, ts: Tensor, *, generator: Generator = None, callback: Callback = None
) -> Tensor:
    """EDM Algorithm 1: Heun's 2nd-order steps on ``field.velocity``, the last step Euler; NFE = 2 N - 1.

    For a score field the velocity is the probability-flow ODE in the process's own t, which is Algorithm 1's
    dx/dt = s'/s x - s^2 sigma' sigma score (Eq. 4) for that process's s(t) = alpha_t and sigma(t) = sigma_t /
    alpha_t (Table 1's VP and VE columns). The last step is Euler (the algorithm's ``if sigma(t_{i+1}) != 0``): the
    field is never evaluated at the data end t_N. Pair with ``times_karras`` for Eq. 5's steps; any grid works, e.g. a
    velocity field's own (PFGM, FFJORD), in either direction.

    Args:
        field: any field with a velocity.
        x: prior draw (B, *D).
        ts: the grid (N + 1,), N >= 1 steps.
        generator: unused (deterministic); accepted for the shared signature.
        callback: dict(i, t, x) after every step.

    Returns:
        x at ts[-1] (B, *D).

    Example:
        >>> vp = VPSDE()
        >>> x = sample_heun_edm(ScoreField(score, vp), vp.prior.sample((8, 2)), times_karras(vp, 10))  # 19 NFE
    """
    if len(ts) < 2:
        raise ValueError(f"sample_heun_edm needs a grid of at least 2 points, got {len(ts)}")
    x = sample_heun(field, x, ts[:-1], callback=callback)  # Heun steps 0 .. N - 2
    last = None if callback is None else (lambda info: callback({**info, "i": len(ts) - 2}))
    return sample_euler(field, x, ts[-2:], callback=last)  # step N - 1: Euler, sigma(t_N) = 0


def sample_edm_stochastic(
    field: Field,
    x: Tensor,
    ts: Tensor,
    *,
    generator: Generator = None,
    callback: Callback = None,
    s_churn: float = 0.0,
    s_tmin: float = 0.0,
    s_tmax: float = math.inf,
    s_noise: float = 1.0,
) -> Tensor:
    """EDM Algorithm 2: before each Heun step, raise the level sigma_i to sigma_hat = (1 + gamma_i) sigma_i by adding
    fresh noise of std sqrt(sigma_hat^2 - sigma_i^2) S_noise, gamma_i = min(S_churn / N, sqrt 2 - 1) where S_tmin <=
    sigma_i <= S_tmax, else 0; then Heun from sigma_hat to sigma_{i+1} (the last step Euler). NFE = 2 N - 1.

    Written in EDM's scaled coordinates (x / alpha_t at level sigma_t / alpha_t, Sec. 2), so it runs on any Gaussian
    path: the raised level's time comes from ``times_of_sigmas``. S_churn = 0 is Algorithm 1 (``sample_heun_edm``).
    The churn is Gaussian: it is the diffusions' sampler, not one for a heavy-tailed kernel (PFGM++).

    Args:
        field: a field with a Gaussian path (``field.process``) and a velocity.
        x: prior draw (B, *D). ts: the grid (N + 1,), e.g. ``times_karras``.
        generator: the churn's noise (``shared.utils.randn``: per-sample seeds work).
        s_churn, s_tmin, s_tmax, s_noise: Algorithm 2's constants (Table 5; official generate.py defaults 0, 0,
            inf, 1: deterministic).
    """
    if len(ts) < 2:
        raise ValueError(f"sample_edm_stochastic needs a grid of at least 2 points, got {len(ts)}")
    process = field.process_for("sample_edm_stochastic")
    n_steps = len(ts) - 1
    gamma_max = min(s_churn / n_steps, math.sqrt(2.0) - 1.0)
    ts64 = ts.double().cpu()
    levels = noise_to_signal(process, ts64).tolist()  # sigma_i of every grid point
    top = float(noise_to_signal(process, torch.tensor([process.t_top], dtype=torch.float64)))
    times = ts.to(device=x.device, dtype=x.dtype)
    for i in range(n_steps):
        t_cur, sigma = times[i], levels[i]
        if gamma_max > 0 and s_tmin <= sigma <= s_tmax:
            sigma_hat = min(sigma * (1 + gamma_max), top)  # no level above the path's top
            t_hat64 = times_of_sigmas(process, torch.tensor([sigma_hat]), float(ts64[i]), process.t_top)
            t_hat = (
                t_hat64.to(device=x.device, dtype=x.dtype)[0] if sigma_hat < top else times.new_tensor(process.t_top)
            )
            a_hat = process.alpha(t_hat[None])
            noise = randn(x.shape, generator, device=x.device, dtype=x.dtype)
            x = a_hat / process.alpha(t_cur[None]) * x + a_hat * math.sqrt(sigma_hat**2 - sigma**2) * s_noise * noise
            t_cur = t_hat
        x = (heun_step if i < n_steps - 1 else euler_step)(field, x, t_cur, times[i + 1])
        if callback is not None:
            callback({"i": i, "t": ts[i + 1], "x": x})
    return x


__all__ = [
    "noise_to_signal",
    "sample_edm_stochastic",
    "sample_heun_edm",
    "sigmas_karras",
    "times_karras",
    "times_of_sigmas",
]
