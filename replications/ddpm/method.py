"""DDPM wired to the shared core: discrete VP chain, eps-prediction, L_simple, ancestral sampling, the bound L."""

from __future__ import annotations

from functools import partial

from replications.ddpm.config import Config
from replications.ddpm.objective import DDPMLoss
from replications.ddpm.precond import EpsPrecond
from replications.ddpm.vlb import VariationalBound
from shared.method import Method
from shared.nets import build_net
from shared.processes import DiscreteVP
from shared.samplers import sample_ancestral

_RANGES = {"[-1,1]": (-1.0, 1.0), "[0,1]": (0.0, 1.0)}


def build(cfg: Config) -> Method:
    """The DDPM method of an experiment config."""
    chain = DiscreteVP.linear(cfg.process.beta_1, cfg.process.beta_T, cfg.process.T)
    precond = EpsPrecond(chain)
    image_range = _RANGES[cfg.data.data_range] if cfg.data.is_image else None
    clip = image_range if cfg.sample.clip_x0 and image_range is not None else None
    ts = chain.time_grid(cfg.sample.n_steps)

    def sample(net, x_prior, *, generator=None, callback=None):
        return sample_ancestral(
            precond.score(net),
            x_prior,
            ts.to(x_prior.device),
            process=chain,
            variance=cfg.sample.variance,
            clip_x0=clip,
            generator=generator,
            callback=callback,
        )

    return Method(
        net=build_net(cfg.net, cfg.data.shape),
        loss=DDPMLoss(chain, precond),
        prior_sample=partial(_prior, chain),
        sample=sample,
        nll=VariationalBound(chain, precond, variance=cfg.sample.variance, clip_x0=clip, data_range=image_range),
    )


def _prior(chain, shape, generator, device):
    return chain.prior_sample(shape, generator, device)
