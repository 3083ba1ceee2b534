"""Sampler families at a budget: what "this method's sampler at about k network evaluations" means, per method.

A quality-vs-NFE sweep asks each method for its own knobs: DDPM respaces its chain, NCSN shortens Langevin at each
level, ODE methods take fixed steps or loosen an adaptive solver's tolerance. A replication declares these in its
``Spec.budgets`` as ``Budget`` objects; ``shared.pipeline.sweep`` and the comparison only call ``budget.method(run,
value)`` and count the NFE the result really spends (``shared.pipeline.method.count_nfe``), so a budget is a target,
never a claim.

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
from shared.pipeline.method import Method

FEW_STEPS = (1, 2, 4, 8)
"""The budgets a one- or few-step model (a consistency model, a distilled student) is measured at, whatever the sweep's
own NFE grid: its family's ``Budget.values``."""


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


def on_grid(
    sampler: str,
    grid: Callable[[Any, int], torch.Tensor],
    steps: Callable[[Any, float], int] = lambda run, nfe: max(1, int(nfe)),
    options: Callable[[Any], dict] = lambda run: {},
) -> Budget:
    """A family that samples the run's field with ``SAMPLERS[sampler]`` on a grid of k = ``steps(run, nfe)`` steps.

    Args:
        sampler: the registry's name; grid: (run, k) -> the (k + 1,) grid; steps: (run, NFE target) -> k;
        options: (run) -> the sampler's options (e.g. the run's own ``clip_x0``); the record (``Method.describe``)
            is the bound sampler's own, plus the family's step count.
    """
    from shared.maths.samplers import bind

    def method(run, nfe: float) -> Method:
        k = steps(run, nfe)
        return dataclasses.replace(
            run.method, sampler=bind(sampler, **options(run)), grid=grid(run, k), info={"steps": k}
        )

    return Budget(method)


def fixed_steps(sampler: str) -> Budget:
    """A fixed-step ODE sampler (``shared.maths.ode``) uniform on the method's own time interval (its grid's ends).

    Euler spends 1 NFE a step, Heun 2 (``shared.maths.ode.sample_heun`` corrects every step, the last one too), so a
    budget n gives k = n // evals_per_step steps (at least one).
    """
    per = {"euler": 1, "heun": 2}[sampler]

    def grid(run, k: int) -> torch.Tensor:
        return torch.linspace(float(run.method.grid[0]), float(run.method.grid[-1]), k + 1)

    return on_grid(sampler, grid, lambda run, nfe: max(1, int(nfe) // per))


def path_of(run):
    """The Gaussian path of a run's field (``shared.maths.processes``), which the few-step families sample."""
    return run.method.field.process_for("a few-step sampler")


def by_section(
    section: Callable[[Any, int], Any],
    steps: Callable[[Any, float], int] = lambda run, nfe: max(1, int(nfe)),
    t_end: Callable[[Any], float | None] = lambda run: None,
    x0_range: Callable[[Any], tuple[float, float] | None] = lambda run: None,
) -> Budget:
    """A few-step family (``shared.pipeline.few_step_config``): ``section(run, k)`` at k = ``steps(run, nfe)`` steps
    builds the (grid, sampler) from the run's path, ending at ``t_end(run)``, clamping x0_hat to ``x0_range(run)``
    where the section clips; the same builder as ``sample: {kind: ...}`` in a config."""

    def method(run, nfe: float) -> Method:
        k = steps(run, nfe)
        grid, sampler = section(run, k).build(path_of(run), t_end(run), x0_range(run))
        return dataclasses.replace(run.method, sampler=sampler, grid=grid, info={"steps": k})

    return Budget(method)


def ddim(
    t_end: Callable[[Any], float | None] = lambda run: None,
    steps: Callable[[Any, float], int] = lambda run, nfe: max(1, int(nfe)),
    x0_range: Callable[[Any], tuple[float, float] | None] = lambda run: None,
) -> Budget:
    """DDIM, eta = 0 (Song, Meng & Ermon 2021, Eq. 12) on the path's own uniform grid (a chain's even stride, Sec.
    4.2), ending at ``t_end(run)`` (None: the path's default): k steps, k NFE; x0_hat clamped to ``x0_range(run)``
    (None: not clamped)."""
    from shared.pipeline.few_step_config import DDIMSamplerConfig

    def section(run, k: int) -> DDIMSamplerConfig:
        return DDIMSamplerConfig(n_steps=k, clip_x0=x0_range(run) is not None)

    return by_section(section, steps, t_end, x0_range)


def heun_edm() -> Budget:
    """EDM Algorithm 1 on Eq. 5's rho = 7 steps (Karras et al. 2022): k Heun steps, the last Euler, 2k - 1 NFE."""
    from shared.pipeline.few_step_config import HeunEDMSamplerConfig

    return by_section(
        lambda run, k: HeunEDMSamplerConfig(n_steps=k), steps=lambda run, nfe: max(1, (int(nfe) + 1) // 2)
    )


def dpm_solver_2m() -> Budget:
    """DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2) on steps uniform in log-SNR: k steps, k NFE."""
    from shared.pipeline.few_step_config import DPMSolver2MSamplerConfig

    return by_section(lambda run, k: DPMSolver2MSamplerConfig(n_steps=k))


def few_step(t_end: Callable[[Any], float | None] = lambda run: None) -> dict[str, Budget]:
    """The three few-step families that sample any field with a Gaussian path (diffusions and flow matching alike)."""
    return {"heun_edm": heun_edm(), "dpm_solver_2m": dpm_solver_2m(), "ddim": ddim(t_end)}


TOLERANCES = (1e-1, 3e-2, 1e-2, 1e-3, 1e-4, 1e-5)  # an adaptive solver's rtol = atol, loose to tight


def fixed_ode_steps() -> dict[str, Budget]:
    """Euler and Heun uniform on the method's own time interval (``fixed_steps``): any method with a velocity."""
    return {"euler": fixed_steps("euler"), "heun": fixed_steps("heun")}


def adaptive_ode(extra: Callable[[Any], str] = lambda cfg: "") -> Budget:
    """The config's adaptive ODE sampler (``sample: {kind: ode}``) at rtol = atol = each tolerance; ``extra(cfg)``
    adds keys of the sample section (e.g. Score-SDE's ", eps: 1e-3")."""
    return by_overrides(
        lambda cfg, tol: [f"sample={{kind: ode, rtol: {tol:g}, atol: {tol:g}{extra(cfg)}}}"],
        TOLERANCES,
        unit="tolerance",
    )


def tolerances(keys: Sequence[str], values: Sequence[float] = TOLERANCES) -> Budget:
    """An adaptive solver swept over tolerances: every key in ``keys`` (e.g. "sample.rtol") set to the value."""
    return by_overrides(lambda cfg, tol: [f"{k}={tol:g}" for k in keys], values, unit="tolerance")


__all__ = [
    "Budget",
    "TOLERANCES",
    "adaptive_ode",
    "by_overrides",
    "by_section",
    "ddim",
    "dpm_solver_2m",
    "few_step",
    "fixed_ode_steps",
    "fixed_steps",
    "heun_edm",
    "on_grid",
    "path_of",
    "rebuild",
    "tolerances",
]
