"""DDIM sampling (Song, Meng & Ermon, ICLR 2021, 'Denoising Diffusion Implicit Models') on any Gaussian process."""

from __future__ import annotations

import torch
from torch import Tensor

from shared.maths.fields import Field
from shared.utils import Callback, Generator, append_dims, batch_time, randn_like


def sample_ddim(
    field: Field,
    x: Tensor,
    ts: Tensor,
    *,
    eta: float = 0.0,
    clip_x0: tuple[float, float] | None = None,
    generator: Generator = None,
    callback: Callback = None,
) -> Tensor:
    """DDIM, Eq. 12 with sigma_t(eta) of Eq. 16: one step x_t -> x_s per pair of the grid, one NFE each.

    x_s = alpha_s x0_hat + sqrt(sigma_s^2 - c^2) eps_hat + c z, with x0_hat = (x_t - sigma_t eps_hat) / alpha_t and
    c^2 = eta^2 Var[q(x_s | x_t, x0)] = eta^2 (sigma_t^2 - a^2 sigma_s^2) sigma_s^2 / sigma_t^2, a = alpha_t / alpha_s.
    In the paper's notation alpha_s = sqrt(alpha_{t-1}), sigma_s = sqrt(1 - alpha_{t-1}), and c is Eq. 16. The
    variance is the process's own kernel, so the same step serves DDPM's chain (``DiscreteVP``; a respaced grid,
    Sec. 4.2, skips steps exactly), the VP / sub-VP SDEs and VE (alpha = 1). eta = 0 is the implicit model (the
    first-order exponential integrator of the probability-flow ODE, Eq. 14); eta = 1 is DDPM's ancestral step with
    the posterior variance: ``sample_ancestral(variance="posterior")`` gives the same x for the same noise.

    Args:
        field: the model's field on a Gaussian path (score, eps or velocity kind); one ``field.x0_eps`` per step; its
            process gives alpha(t), sigma(t).
        x: prior draw x_T (B, *D).
        ts: decreasing grid (K + 1,), e.g. ``process.time_grid(K)``; a last point with sigma = 0 returns x0_hat.
        eta: 0 (deterministic) .. 1 (ancestral); values outside [0, 1] are rejected.
        clip_x0: clamp x0_hat to this range, eps_hat then recomputed from it (keeps Eq. 12 consistent).
        generator: noise source for eta > 0 (torch.Generator or PerSampleGenerator); one draw per step with
            ts[i + 1] > 0, as ``sample_ancestral``.
        callback: dict(i, t, x, x0) after every step.

    Returns:
        x at ts[-1] (B, *D).

    Example:
        >>> chain = DiscreteVP.linear(1e-4, 0.02, 1000)
        >>> field = EpsField(eps_net, chain)
        >>> x = sample_ddim(field, chain.prior.sample((16, 2)), chain.time_grid(50))  # 50 NFE
    """
    if not 0.0 <= eta <= 1.0:
        raise ValueError(f"eta must be in [0, 1], got {eta}")
    process = field.process_for("DDIM")
    d = x.ndim
    for i in range(len(ts) - 1):
        t, s = batch_time(ts[i], x), batch_time(ts[i + 1], x)
        alpha_t, sigma_t = append_dims(process.alpha(t), d), append_dims(process.sigma(t), d)
        x0, eps = field.x0_eps(x, t)
        if clip_x0 is not None:
            x0 = x0.clamp(*clip_x0)
            eps = (x - alpha_t * x0) / sigma_t
        alpha_s, sigma_s = append_dims(process.alpha(s), d), append_dims(process.sigma(s), d)
        if eta > 0 and float(ts[i + 1]) > 0:
            v_ts = append_dims(process.transition(t, s)[1], d)
            c2 = eta**2 * v_ts * sigma_s**2 / sigma_t**2  # Eq. 16, squared
            x = alpha_s * x0 + torch.sqrt((sigma_s**2 - c2).clamp_min(0.0)) * eps + c2.sqrt() * randn_like(x, generator)
        else:
            x = alpha_s * x0 + sigma_s * eps  # Eq. 12 with sigma_t = 0
        if callback is not None:
            callback({"i": i, "t": ts[i + 1], "x": x, "x0": x0})
    return x


__all__ = ["sample_ddim"]
