"""Multistep consistency sampling (Song, Dhariwal, Chen & Sutskever, ICML 2023, Algorithm 1) on any Gaussian path."""

from __future__ import annotations

import torch
from torch import Tensor

from shared.maths.fields import Field
from shared.utils import Callback, Generator, append_dims, batch_time, randn_like


def sample_consistency(
    field: Field, x: Tensor, ts: Tensor, *, generator: Generator = None, callback: Callback = None
) -> Tensor:
    """Algorithm 1: x0 = f(x_T, T); then for each tau_n of the grid, re-noise x0 to tau_n and map it back with f.

    In EDM's coordinates (x / alpha, noise level s = sigma / alpha) the re-noising is Algorithm 1's
    x_tau = x0 + sqrt(tau^2 - eps^2) z, where eps = s(ts[-1]) is the level at which the consistency function is
    the identity (its boundary, ``ts[-1]``); on the path that is x_tau = alpha_tau (x0 + sqrt(s_tau^2 - eps^2) z).

    Args:
        field: the consistency function as a field (``field.x0`` is f(x_t, t)); its process gives alpha, sigma.
        x: prior draw at ts[0] (B, *D).
        ts: (K + 1,) times: ts[0] = T, ts[1:-1] = tau_1 > ... (Algorithm 1's sequence), ts[-1] the boundary time
            epsilon; K NFE.
        generator: the re-noising's source (torch.Generator or PerSampleGenerator); one draw per tau_n.
        callback: dict(i, t, x, x0) after each evaluation.

    Returns:
        x0 (B, *D) of the last evaluation.
    """
    process = field.process_for("consistency sampling")
    d = x.ndim
    end = batch_time(ts[-1], x)
    eps_sq = (process.sigma(end) / process.alpha(end)) ** 2
    for i in range(len(ts) - 1):
        t = batch_time(ts[i], x)
        x0 = field.x0(x, t)
        if i + 1 < len(ts) - 1:
            tau = batch_time(ts[i + 1], x)
            alpha, sigma = process.alpha(tau), process.sigma(tau)
            level = torch.sqrt(((sigma / alpha) ** 2 - eps_sq).clamp_min(0.0))
            x = append_dims(alpha, d) * (x0 + append_dims(level, d) * randn_like(x0, generator))
        else:
            x = x0
        if callback is not None:
            callback({"i": i, "t": ts[i + 1], "x": x, "x0": x0})
    return x


__all__ = ["sample_consistency"]
