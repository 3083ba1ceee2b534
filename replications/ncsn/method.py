"""NCSN wired to the shared core: the discrete VE ladder, a score net s_theta(x, sigma), denoising score matching
weighted by sigma^2, and annealed Langevin dynamics from uniform noise (Song & Ermon 2019). No likelihood."""

from __future__ import annotations

import math

import torch

from replications.ncsn.config import Config, LadderConfig
from replications.ncsn.nets import RefineNetConfig, build_refinenet
from shared.maths.losses import DSMLoss, SigmaSquared
from shared.maths.precond import LevelIndex, LogSigmaSteps, ScorePrediction
from shared.maths.priors import UniformPrior
from shared.maths.processes import DiscreteVE
from shared.maths.samplers import bind, denoised
from shared.maths.score_matching import ExplicitScoreMatching, SlicedScoreMatching, SlicedScoreMatchingVR
from shared.nets import build_net
from shared.pipeline.budgets import by_overrides
from shared.pipeline.method import Command, Method, Spec


def build_ladder(cfg: LadderConfig) -> DiscreteVE:
    """sigma_L < ... < sigma_1 geometric (Sec. 4.2), as the chain's levels t_i = i / L (t = 1: sigma_1)."""
    return DiscreteVE(torch.exp(torch.linspace(math.log(cfg.sigma_L), math.log(cfg.sigma_1), cfg.L)))


def build_loss(cfg: Config, ladder: DiscreteVE, precond: ScorePrediction):
    """Eq. 6-7 (denoising, lambda = sigma^2, a level uniform per example) or its sliced / explicit counterparts."""
    o = cfg.objective
    if o.kind == "ssm":
        return SlicedScoreMatchingVR(ladder, precond, o.n_projections, "gaussian")
    if o.kind == "ssm_plain":
        return SlicedScoreMatching(ladder, precond, o.n_projections, "gaussian")
    if o.kind == "esm":
        return ExplicitScoreMatching(ladder, precond)
    return DSMLoss(ladder, precond, SigmaSquared(), o.reduce)


def build(cfg: Config) -> Method:
    """The NCSN method of an experiment config: RefineNet (the paper's) or a shared net (the comparison's)."""
    ladder = build_ladder(cfg.noise)
    if isinstance(cfg.net, RefineNetConfig):  # conditional instance norm++ embeds the level as a class label
        net = build_refinenet(cfg.net, cfg.data.shape, cfg.noise.L)
        condition = LevelIndex(cfg.noise.L)
    else:  # shared nets embed a continuous condition: log sigma on the [0, 999] scale
        net = build_net(cfg.net, cfg.data.shape)
        condition = LogSigmaSteps(cfg.noise.sigma_L, cfg.noise.sigma_1, ladder)
    precond = ScorePrediction(condition, ladder)  # the net is s_theta(x, sigma) itself (Sec. 4.1)
    s = cfg.sample
    return Method(
        net=net,
        loss=build_loss(cfg, ladder, precond),
        prior=UniformPrior(s.init_low, s.init_high),
        field=precond.field(net),
        sampler=denoised(bind("ald", n_steps_each=s.n_steps_each, step_lr=s.step_lr), s.denoise),
        grid=ladder.time_grid()[:-1],  # one time per level, sigma_1 first (Algorithm 1)
        nll=None,  # NCSN defines no likelihood
    )


BUDGETS = {  # Algorithm 1 with T steps at each of the L levels: L * T NFE
    "ald": by_overrides(lambda cfg, nfe: [f"sample.n_steps_each={max(1, round(nfe / cfg.noise.L))}"])
}

COMMANDS = {
    "objectives": Command(
        "replications.ncsn.objectives", "DSM, explicit and sliced score matching side by side on 8gaussians"
    )
}

SPEC = Spec(name="ncsn", config=Config, build=build, module=__name__, budgets=BUDGETS, commands=COMMANDS)
