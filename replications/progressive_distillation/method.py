"""Progressive distillation wired to the shared core (Salimans & Ho 2022): the teacher's parametrization on its path
(flow matching's velocity on 999 t), Algorithm 2's rounds (``objective``), the prior at the path's noise end and
DDIM on the last student's steps (Sec. 3: the students sample with DDIM)."""

from __future__ import annotations

from replications.progressive_distillation.config import Config
from replications.progressive_distillation.objective import ProgressiveDistillation
from shared.maths.precond import ScaledTime, VelocityPrediction
from shared.nets import build_net
from shared.pipeline.budgets import FEW_STEPS, by_overrides
from shared.pipeline.method import Method, Spec


def build(cfg: Config) -> Method:
    """The progressive distillation student of an experiment config."""
    path = cfg.path.build()
    precond = VelocityPrediction(ScaledTime(999.0), path)
    net = build_net(cfg.net, cfg.data.shape)
    o = cfg.objective
    loss = ProgressiveDistillation(
        path, precond, o.teacher, o.start_steps, o.rounds, cfg.train.steps, o.weighting, cfg.data.shape
    )
    grid, sampler = cfg.sample.build(path)
    return Method(
        net=net,
        loss=loss,
        prior=path.prior,
        field=precond.field(net),
        sampler=sampler,
        grid=grid,
        info={"steps": cfg.sample.n_steps},
    )


BUDGETS = {
    # DDIM at k steps of the last student (distilled for objective.final_steps; other k are off its training)
    "progressive": by_overrides(
        lambda cfg, nfe: [f"sample={{kind: ddim, n_steps: {max(1, int(nfe))}}}"], values=FEW_STEPS
    ),
}

SPEC = Spec(name="progressive_distillation", config=Config, build=build, module=__name__, budgets=BUDGETS)
