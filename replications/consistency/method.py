"""Consistency models wired to the shared core (Song et al. 2023): the teacher's parametrization on its path behind
the boundary condition (``precond.BoundaryCondition``), distillation or training (``objective``), the prior at the
path's noise end and Algorithm 1's multistep sampler (``shared.maths.samplers.sample_consistency``)."""

from __future__ import annotations

import torch

from replications.consistency.config import Config, DistillationConfig, SamplerConfig
from replications.consistency.objective import ConsistencyDistillation, ConsistencyTraining, level_range
from replications.consistency.precond import BoundaryCondition
from shared.maths.precond import ScaledTime, VelocityPrediction
from shared.maths.processes.base import GaussianProcess
from shared.maths.samplers import bind, sigmas_karras, times_of_sigmas
from shared.nets import build_net
from shared.pipeline.budgets import FEW_STEPS, by_overrides
from shared.pipeline.method import Method, Spec


def sample_grid(process: GaussianProcess, cfg: SamplerConfig) -> torch.Tensor:
    """Algorithm 1's times (n_steps + 1,): the noise end, tau_1 > ... > tau_{n-1} (``cfg.levels`` or Karras levels
    strictly between the boundary and ``cfg.sigma_max``), the boundary."""
    top, end = process.t_top, process.t_data
    s_min, s_top = level_range(process)
    if cfg.levels is not None:
        levels = torch.tensor(cfg.levels, dtype=torch.float64)
    else:
        levels = sigmas_karras(cfg.n_steps + 1, s_min, min(cfg.sigma_max, s_top), 7.0)[1:-2]
    middle = times_of_sigmas(process, levels, end, top) if len(levels) else torch.zeros(0, dtype=torch.float64)
    ends = torch.tensor([process.t_noise], dtype=torch.float64), torch.tensor([end], dtype=torch.float64)
    return torch.cat([ends[0], middle, ends[1]])


def build(cfg: Config) -> Method:
    """The consistency model of an experiment config."""
    path = cfg.path.build()
    inner = VelocityPrediction(ScaledTime(999.0), path)  # the teacher's (flow matching's) parametrization
    precond = BoundaryCondition(inner, path, cfg.parametrization.sigma_data, t_min=path.t_data)
    net = build_net(cfg.net, cfg.data.shape)
    o = cfg.objective
    if isinstance(o, DistillationConfig):
        loss = ConsistencyDistillation(
            path, precond, o.teacher, o.n_points, o.solver, o.target_ema, cfg.data.shape, o.metric, o.rho
        )
    else:
        loss = ConsistencyTraining(path, precond, cfg.train.steps, o.s0, o.s1, o.mu0, o.metric, o.rho)
    grid = sample_grid(path, cfg.sample)
    return Method(
        net=net,
        loss=loss,
        prior=path.prior,
        field=precond.field(net),
        sampler=bind("consistency"),
        grid=grid,
        info={"steps": cfg.sample.n_steps},
    )


BUDGETS = {
    # Algorithm 1 at k evaluations: k NFE (the default levels between the boundary and T)
    "consistency": by_overrides(
        lambda cfg, nfe: [f"sample={{kind: consistency, n_steps: {max(1, int(nfe))}}}"], values=FEW_STEPS
    ),
}

SPEC = Spec(name="consistency", config=Config, build=build, module=__name__, budgets=BUDGETS)
