"""Ancestral sampling of a Gaussian chain: DDPM Algorithm 2 (Ho et al. 2020), on any grid of any GaussianProcess."""

from __future__ import annotations

from typing import Literal

from torch import Tensor

from shared.maths.fields import Field
from shared.utils import Callback, Generator, append_dims, batch_time, randn_like


def sample_ancestral(
    field: Field,
    x: Tensor,
    ts: Tensor,
    *,
    variance: Literal["forward", "posterior"] = "forward",
    clip_x0: tuple[float, float] | None = None,
    generator: Generator = None,
    callback: Callback = None,
) -> Tensor:
    """Step x_t -> x_s down the grid by x_s ~ N(mu(x_t, x0_hat), sigma^2 I), with x0_hat from Tweedie's formula.

    mu is the posterior mean of q(x_s | x_t, x0) at x0 = x0_hat; with an eps-net, mu equals Algorithm 2's
    (x_t - beta_t / sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_t) exactly when x0_hat is not clipped. The last step
    (s = 0) returns x0_hat, noise-free, as line 4 of Algorithm 2 does at t = 1.

    Args:
        field: the model's field (any kind with an x0: score or eps); x0_hat = ``field.x0``; its process gives
            alpha(t), sigma(t) and the posterior.
        x: prior draw x_T (B, *D).
        ts: decreasing grid (K + 1,) from T to 0; a strided DDPM grid skips steps with the exact kernels.
        variance: "forward" is sigma_t^2 = beta_t (Sec. 3.2, the CIFAR-10 choice), "posterior" is beta_tilde_t.
        clip_x0: clamp x0_hat to this range before the posterior mean (the official code clips to [-1, 1]).
        generator: noise source (a torch.Generator or a PerSampleGenerator for per-sample seeds).
        callback: called after every step with dict(i, t, x, x0) (x0 = the current x0_hat).

    Returns:
        The final sample x_0 (B, *D).

    Example:
        >>> chain = DiscreteVP.linear(1e-4, 0.02, 1000)
        >>> x = sample_ancestral(EpsField(eps, chain), chain.prior.sample((16, 2)), chain.time_grid())
    """
    process = field.process_for("ancestral sampling")
    for i in range(len(ts) - 1):
        t, s = batch_time(ts[i], x), batch_time(ts[i + 1], x)
        x0 = field.x0(x, t)
        if clip_x0 is not None:
            x0 = x0.clamp(*clip_x0)
        if float(ts[i + 1]) <= 0.0:
            x = x0
        else:
            mean, post_var = process.posterior(x0, x, t, s)
            var = process.transition(t, s)[1] if variance == "forward" else post_var
            x = mean + append_dims(var.sqrt(), x.ndim) * randn_like(x, generator)
        if callback is not None:
            callback({"i": i, "t": ts[i + 1], "x": x, "x0": x0})
    return x


__all__ = ["sample_ancestral"]
