"""Langevin samplers of NCSN (Song & Ermon 2019): plain Langevin dynamics, annealed Langevin dynamics (Algorithm 1)
and inpainting with it (Sec. 5, the occlusion experiment). Same signature as every shared sampler.

Not Score-SDE's SNR-controlled corrector (``shared.maths.samplers.sde.SNRLangevinCorrector``): here the step of level i
is alpha_i = eps sigma_i^2 / sigma_L^2, fixed in advance.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from shared.maths.fields import Field
from shared.maths.processes.base import GaussianProcess
from shared.utils import Callback, Generator, batch_time, randn_like


def _level_sigmas(process: GaussianProcess, ts: Tensor, x: Tensor) -> Tensor:
    sigmas = torch.stack([process.sigma(batch_time(t, x))[0] for t in ts])
    if (sigmas <= 0).any():
        raise ValueError("annealed Langevin: every grid time needs sigma > 0 (drop t = 0 from the grid)")
    return sigmas


def sample_langevin(
    field: Field,
    x: Tensor,
    ts: Tensor,
    *,
    n_steps: int,
    step_size: float,
    generator: Generator = None,
    callback: Callback = None,
) -> Tensor:
    """Plain Langevin dynamics x <- x + step_size / 2 score(x) + sqrt(step_size) z at the one time ts[-1] (Eq. 4).

    Args:
        field: the model's field (``field.score`` is used). x: start (B, *D). ts: only ts[-1] is used.
        n_steps, step_size: T and epsilon of Eq. 4. callback: dict(i, t, x) after every step.
    """
    t = batch_time(ts[-1], x)
    for i in range(n_steps):
        x = x + 0.5 * step_size * field.score(x, t) + step_size**0.5 * randn_like(x, generator)
        if callback is not None:
            callback({"i": i, "t": ts[-1], "x": x})
    return x


def sample_annealed_langevin(
    field: Field,
    x: Tensor,
    ts: Tensor,
    *,
    n_steps_each: int = 100,
    step_lr: float = 2e-5,
    generator: Generator = None,
    callback: Callback = None,
) -> Tensor:
    """Annealed Langevin dynamics (Algorithm 1): T Langevin steps at each noise level, largest sigma first.

    alpha_i = eps sigma_i^2 / sigma_L^2 and x <- x + alpha_i / 2 s(x, sigma_i) + sqrt(alpha_i) z.

    Args:
        field: the model's field (``field.score``); its process gives sigma_i = process.sigma(t_i).
        x: start (B, *D), U[0, 1] in the paper.
        ts: one time per noise level, decreasing (sigma_1 first); e.g. ``DiscreteVE.time_grid()[:-1]``.
        n_steps_each: T (Sec. 5: 100). step_lr: eps (Sec. 5: 2e-5).
        generator: noise source (torch.Generator or PerSampleGenerator). callback: dict(i, t, x) after each level.

    Returns:
        x after the last level (B, *D). NFE = len(ts) * n_steps_each (NCSNv2's final x + sigma_L^2 score is
        ``shared.maths.samplers.Denoised``, one more).
    """
    return _anneal(field, x, ts, n_steps_each, step_lr, generator, callback)[0]


def inpaint_annealed_langevin(
    field: Field,
    x: Tensor,
    ts: Tensor,
    *,
    observed: Tensor,
    mask: Tensor,
    n_steps_each: int = 100,
    step_lr: float = 2e-5,
    generator: Generator = None,
    callback: Callback = None,
) -> Tensor:
    """Annealed Langevin with the observed part held (Sec. 5, occlusion): at level i the observed entries are set to
    y_i = observed + sigma_i z before the level and after every step; the rest is sampled.

    Args:
        observed: the observation (B, *D); mask: 1 where observed, broadcastable to x.
        Other arguments as ``sample_annealed_langevin``.

    Returns:
        (B, *D) with the observed entries EXACTLY ``observed`` (the noise of the last level removed) and the
        masked entries sampled.
    """
    mask = mask.to(x.dtype).expand_as(x)

    def hold(sigma: Tensor) -> Callable[[Tensor], Tensor]:
        y = observed + sigma * randn_like(x, generator)  # the observation re-noised to this level
        return lambda v: mask * y + (1 - mask) * v

    x, _ = _anneal(field, x, ts, n_steps_each, step_lr, generator, callback, hold)
    return mask * observed + (1 - mask) * x


def _anneal(field, x, ts, n_steps_each, step_lr, generator, callback, hold=None) -> tuple[Tensor, Tensor]:
    """Algorithm 1's loop -> (x, sigma_L); ``hold(sigma_i)`` maps x before the level and after every step."""
    sigmas = _level_sigmas(field.process_for("annealed Langevin"), ts, x)
    sigma_L = sigmas[-1]
    for i, t in enumerate(ts):
        tt = batch_time(t, x)
        alpha = step_lr * (sigmas[i] / sigma_L) ** 2  # Algorithm 1, line 3
        keep = hold(sigmas[i]) if hold is not None else (lambda v: v)
        x = keep(x)
        for _ in range(n_steps_each):
            x = keep(x + 0.5 * alpha * field.score(x, tt) + alpha.sqrt() * randn_like(x, generator))  # line 6
        if callback is not None:
            callback({"i": i, "t": t, "x": x})
    return x, sigma_L


__all__ = ["inpaint_annealed_langevin", "sample_annealed_langevin", "sample_langevin"]
