"""DDPM wired to the shared core: discrete VP chain, eps-prediction, L_simple, ancestral sampling, the bound L."""

from __future__ import annotations

from replications.ddpm.config import Config
from replications.ddpm.vlb import VariationalBound
from shared.maths.losses import l_simple
from shared.maths.precond import NoisePrediction, StepIndex
from shared.maths.processes import DiscreteVP
from shared.maths.samplers import bind
from shared.nets import build_net
from shared.pipeline.budgets import by_overrides, ddim
from shared.pipeline.method import Method, Spec

_RANGES = {"[-1,1]": (-1.0, 1.0), "[0,1]": (0.0, 1.0)}


def x0_range(cfg: Config) -> tuple[float, float] | None:
    """The range x0_hat is clipped to when sampling: the images' data range if ``sample.clip_x0`` (official code)."""
    image_range = _RANGES[cfg.data.data_range] if cfg.data.is_image else None
    return image_range if cfg.sample.clip_x0 else None


def build(cfg: Config) -> Method:
    """The DDPM method of an experiment config."""
    chain = DiscreteVP.linear(cfg.process.beta_1, cfg.process.beta_T, cfg.process.T)  # Sec. 4
    precond = NoisePrediction(StepIndex(chain.n_steps), chain)  # eps_theta(x_t, t) (Eq. 11); the net sees i - 1
    image_range = _RANGES[cfg.data.data_range] if cfg.data.is_image else None
    clip = x0_range(cfg)
    net = build_net(cfg.net, cfg.data.shape)
    return Method(
        net=net,
        loss=l_simple(chain, precond),  # Eq. 14
        prior=chain.prior,
        field=precond.field(net),
        sampler=bind("ancestral", variance=cfg.sample.variance, clip_x0=clip),  # Alg. 2
        grid=chain.time_grid(cfg.sample.n_steps),
        nll=VariationalBound(chain, precond, variance=cfg.sample.variance, clip_x0=clip, data_range=image_range),
        info={"steps": cfg.sample.n_steps or chain.n_steps},
    )


BUDGETS = {
    # Algorithm 2 on an even stride of the chain: k steps, k NFE (k <= T)
    "ancestral": by_overrides(lambda cfg, nfe: [f"sample.n_steps={min(int(nfe), cfg.process.T)}"]),
    # DDIM, eta = 0 (Song et al. 2021, Eq. 12 and Sec. 4.2) on the same even stride: k steps, k NFE (k <= T)
    "ddim": ddim(
        steps=lambda run, nfe: min(int(nfe), run.cfg.process.T), options=lambda run: {"clip_x0": x0_range(run.cfg)}
    ),
}

SPEC = Spec(name="ddpm", config=Config, build=build, module=__name__, budgets=BUDGETS)
