"""DDPM wired to the shared core: discrete VP chain, eps-prediction, L_simple, ancestral sampling, the bound L."""

from __future__ import annotations

import torch

from replications.ddpm.config import AncestralSamplerConfig, Config
from replications.ddpm.vlb import VariationalBound
from shared.maths.losses import l_simple
from shared.maths.precond import NoisePrediction, StepIndex
from shared.maths.processes import DiscreteVP
from shared.maths.samplers import bind
from shared.nets import build_net
from shared.pipeline.budgets import by_overrides, ddim
from shared.pipeline.method import Method, Sampler, Spec

_RANGES = {"[-1,1]": (-1.0, 1.0), "[0,1]": (0.0, 1.0)}


def image_range(cfg: Config) -> tuple[float, float] | None:
    """The images' data range (None for 2-D data)."""
    return _RANGES[cfg.data.data_range] if cfg.data.is_image else None


def x0_range(cfg: Config) -> tuple[float, float] | None:
    """The range x0_hat is clipped to when sampling: the images' data range if ``sample.clip_x0`` (official code)."""
    return image_range(cfg) if getattr(cfg.sample, "clip_x0", False) else None


def build_sampler(cfg: Config, chain: DiscreteVP) -> tuple[torch.Tensor, Sampler]:
    """(grid, sampler): Algorithm 2 on the chain's even stride, or a few-step sampler of the same chain."""
    if isinstance(cfg.sample, AncestralSamplerConfig):
        return chain.time_grid(cfg.sample.n_steps), bind(
            "ancestral", variance=cfg.sample.variance, clip_x0=x0_range(cfg)
        )  # Alg. 2
    return cfg.sample.build(chain, x0_range=image_range(cfg))


def build(cfg: Config) -> Method:
    """The DDPM method of an experiment config."""
    chain = DiscreteVP.linear(cfg.process.beta_1, cfg.process.beta_T, cfg.process.T)  # Sec. 4
    precond = NoisePrediction(StepIndex(chain.n_steps), chain)  # eps_theta(x_t, t) (Eq. 11); the net sees i - 1
    grid, sampler = build_sampler(cfg, chain)
    net = build_net(cfg.net, cfg.data.shape)
    # the bound L is Algorithm 2's reverse chain: the config's variance and clamp, or the defaults when this run
    # samples another way (the bound is the model's, whatever sampler draws from it)
    ancestral = cfg.sample if isinstance(cfg.sample, AncestralSamplerConfig) else AncestralSamplerConfig()
    clip = image_range(cfg) if ancestral.clip_x0 else None
    return Method(
        net=net,
        loss=l_simple(chain, precond),  # Eq. 14
        prior=chain.prior,
        field=precond.field(net),
        sampler=sampler,
        grid=grid,
        nll=VariationalBound(chain, precond, variance=ancestral.variance, clip_x0=clip, data_range=image_range(cfg)),
        info={"steps": len(grid) - 1},
    )


BUDGETS = {
    # Algorithm 2 on an even stride of the chain: k steps, k NFE (k <= T)
    "ancestral": by_overrides(lambda cfg, nfe: [f"sample.n_steps={min(int(nfe), cfg.process.T)}"]),
    # DDIM, eta = 0 (Song et al. 2021, Eq. 12 and Sec. 4.2) on the same even stride: k steps, k NFE (k <= T)
    "ddim": ddim(steps=lambda run, nfe: min(int(nfe), run.cfg.process.T), x0_range=lambda run: x0_range(run.cfg)),
}

SPEC = Spec(name="ddpm", config=Config, build=build, module=__name__, budgets=BUDGETS)
