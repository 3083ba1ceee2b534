"""Straightness of a flow (Liu et al. 2023, Sec. 2): S(Z) = int_0^1 E || (Z_1 - Z_0) - dZ_t/dt ||^2 dt.

S = 0 exactly when every trajectory is a straight line travelled at constant speed; then one Euler step
z1 = z0 + v(z0, 0) is exact. The integral is taken along the flow's own trajectories: the ODE is solved from the
noise, observed on a uniform grid of t, the velocity evaluated there, and the integrand integrated by trapezoid.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from shared.maths.fields import Field
from shared.maths.ode import sample_ode
from shared.utils import batch_time


@dataclass(frozen=True)
class Straightness:
    """Per-example S (B,) and ||Z_1 - Z_0||^2 (B,); ``value`` is E S, ``relative`` E S / E||Z_1 - Z_0||^2."""

    per_example: Tensor
    chord_sq: Tensor

    @property
    def value(self) -> float:
        return float(self.per_example.mean())

    @property
    def relative(self) -> float:
        return float(self.per_example.mean() / self.chord_sq.mean().clamp_min(1e-30))


def straightness(
    field: Field,
    x0: Tensor,
    *,
    n_steps: int = 100,
    t0: float = 0.0,
    t1: float = 1.0,
    method: str = "dopri5",
    rtol: float = 1e-5,
    atol: float = 1e-5,
) -> Straightness:
    """S(Z) of the flow of ``field.velocity`` from noise x0 (B, *D), on ``n_steps`` + 1 points of [t0, t1]."""
    ts = torch.linspace(t0, t1, n_steps + 1, dtype=x0.dtype, device=x0.device)
    states = [x0]
    with torch.no_grad():
        sample_ode(
            field.velocity, x0, ts, method=method, rtol=rtol, atol=atol, callback=lambda s: states.append(s["x"])
        )
        chord = (states[-1] - x0).flatten(1)
        integrand = torch.stack(
            [(chord - field.velocity(z, batch_time(t, z)).flatten(1)).pow(2).sum(1) for t, z in zip(ts, states)]
        )
        per = torch.trapezoid(integrand, ts, dim=0)
    return Straightness(per_example=per, chord_sq=chord.pow(2).sum(1))


__all__ = ["Straightness", "straightness"]
