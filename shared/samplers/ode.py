"""Probability-flow ODE sampling of Song et al. (2021), 'Score-Based Generative Modeling through SDEs' (Sec. 4.3).

dx/dt = f(x, t) - g(t)^2 score(x, t) / 2 (Eq. 13), integrated from T to the cutoff eps with torchdiffeq's dopri5
(rtol = atol = 1e-5, App. D.2) through ``shared.ode.sample_ode``.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from shared.ode import sample_ode
from shared.processes.sde import SDE
from shared.utils import CountNFE, Generator, VectorField, batch_time


def sample_probability_flow(
    score: VectorField,
    x: Tensor,
    ts: Tensor,
    *,
    process: SDE,
    method: str = "dopri5",
    rtol: float = 1e-5,
    atol: float = 1e-5,
    denoise: bool = False,
    generator: Generator = None,
    callback: Callable[[dict], None] | None = None,
) -> Tensor:
    """Integrate the probability-flow ODE from ts[0] = T down to ts[-1] = eps with an adaptive solver.

    Only the ends of ``ts`` matter to the solver; intermediate points of ``ts`` are output times the callback
    sees (``shared.ode.solver_options`` makes the solver step at each of them, which raises the NFE, so pass
    ``ts[[0, -1]]`` unless you observe the path). The NFE of the solve is reported to the callback last.

    Args:
        score: score model (B, *D), (B,) -> (B, *D).
        x: prior draw x_T (B, *D).
        ts: decreasing times from T to eps, (K + 1,), K >= 1.
        process: the forward SDE (drift and diffusion).
        method, rtol, atol: torchdiffeq solver settings (dopri5, 1e-5, 1e-5 as in App. D.2).
        denoise: finish with Tweedie's E[x0 | x_eps] (``process.denoise``; one more score evaluation).
        generator: unused (the ODE is deterministic); accepted for the shared signature.
        callback: dict(i, t, x) at each output time of ``ts``, then dict(i=-1, t, x, nfe) after the solve.

    Returns:
        x at ts[-1] (B, *D).

    Example:
        >>> sde = VPSDE()
        >>> x = sample_probability_flow(score, sde.prior_sample((16, 2)), sde.time_grid(1)[[0, -1]], process=sde)
    """
    counted = CountNFE(score)
    x = sample_ode(process.probability_flow(counted), x, ts, method=method, atol=atol, rtol=rtol, callback=callback)
    if denoise:
        x = process.denoise(x, batch_time(ts[-1], x), counted)
    if callback is not None:
        callback({"i": -1, "t": ts[-1], "x": x, "nfe": counted.nfe})
    return x


__all__ = ["sample_probability_flow"]
