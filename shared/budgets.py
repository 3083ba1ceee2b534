"""Sampler families at a budget: what "this method's sampler at about k network evaluations" means, per method.

A quality-vs-NFE sweep asks each method for its own knobs: DDPM respaces its chain, NCSN shortens Langevin at each
level, ODE methods take fixed steps or loosen an adaptive solver's tolerance. A replication declares these in its
``Spec.budgets`` as ``Budget`` objects; ``shared.sweep`` and the comparison only call ``budget.method(run, value)``
and count the NFE the result really spends (``shared.method.count_nfe``), so a budget is a target, never a claim.

    >>> Spec(..., budgets={"ald": by_overrides(lambda cfg, nfe: [f"sample.n_steps_each={nfe // cfg.noise.L}"]),
    ...                    "euler": fixed_steps("euler")})
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from shared.config import apply_overrides, from_dict
from shared.method import Method


@dataclass(frozen=True)
class Budget:
    """A sampler family swept over budgets.

    Attributes:
        method: (run, value) -> the run's Method re-wired to spend about ``value`` NFE per sample (or, for a
            tolerance family, to solve at tolerance ``value``), same weights.
        values: the family's own grid (tolerances); None: the sweep's NFE grid.
        unit: what ``value`` is, "nfe" or "tolerance".
    """

    method: Callable[[Any, float], Method]
    values: tuple[float, ...] | None = None
    unit: str = "nfe"


def rebuild(run, overrides: Sequence[str]) -> Method:
    """The run's method built again from its stored config with ``overrides`` applied, its weights loaded."""
    data = apply_overrides(copy.deepcopy(run.ckpt["config"]), overrides)
    method = run.spec.build(from_dict(run.spec.config, data, f"{run.path} (stored config + {list(overrides)})"))
    method.net.load_state_dict(run.method.net.state_dict())
    method.net.to(next(run.method.net.parameters()).device).eval()
    return method


def by_overrides(
    overrides: Callable[[Any, float], Sequence[str]], values: Sequence[float] | None = None, unit: str = "nfe"
) -> Budget:
    """A family that sets config keys: ``overrides(cfg, value)`` -> ["sample.n_steps=50", ...]."""
    return Budget(lambda run, v: rebuild(run, overrides(run.cfg, v)), None if values is None else tuple(values), unit)


def fixed_steps(sampler: str, evals_per_step: int | None = None) -> Budget:
    """A fixed-step ODE sampler (``shared.ode``) uniform on the method's own time interval (its grid's ends).

    ``evals_per_step``: 1 for Euler, 2 for Heun (``shared.ode.sample_heun`` corrects every step, the last one
    too), so a budget n gives k = n // evals_per_step steps (at least one).
    """
    from shared.samplers import SAMPLERS

    per = evals_per_step or (2 if sampler == "heun" else 1)

    def method(run, nfe: float) -> Method:
        m = run.method
        k = max(1, int(nfe) // per)
        grid = torch.linspace(float(m.grid[0]), float(m.grid[-1]), k + 1)
        return dataclasses.replace(m, sampler=SAMPLERS[sampler], grid=grid, info={"sampler": sampler, "steps": k})

    return Budget(method)


TOLERANCES = (1e-1, 3e-2, 1e-2, 1e-3, 1e-4, 1e-5)  # an adaptive solver's rtol = atol, loose to tight


def tolerances(keys: Sequence[str], values: Sequence[float] = TOLERANCES) -> Budget:
    """An adaptive solver swept over tolerances: every key in ``keys`` (e.g. "sample.rtol") set to the value."""
    return by_overrides(lambda cfg, tol: [f"{k}={tol:g}" for k in keys], values, unit="tolerance")


__all__ = ["Budget", "TOLERANCES", "by_overrides", "fixed_steps", "rebuild", "tolerances"]
