"""Score-SDE wired to the shared core: VE / VP / sub-VP SDE, score parameterisation, DSM loss, PC or ODE sampler,
probability-flow likelihood (Song et al. 2021)."""

from __future__ import annotations

from functools import partial

import torch

from replications.score_sde.config import Config, ODESamplerConfig, PCSamplerConfig, ProcessConfig
from replications.score_sde.objective import DSMLoss, LikelihoodDSMLoss
from replications.score_sde.precond import NoisePrecond, SigmaScalePrecond
from shared.likelihood import NLL
from shared.method import Method
from shared.nets import build_net
from shared.ode import log_prob_ode
from shared.processes import SDE, VESDE, VPSDE, SubVPSDE
from shared.samplers import CORRECTORS, PREDICTORS, sample_pc, sample_probability_flow

LOSSES = {"sigma2": DSMLoss, "likelihood": LikelihoodDSMLoss}


def build_process(cfg: ProcessConfig) -> SDE:
    """The configured SDE with its N and time cutoff eps."""
    if cfg.kind == "ve":
        return VESDE(cfg.sigma_min, cfg.sigma_max, n_steps=cfg.N, t_min=cfg.eps)
    sde = SubVPSDE if cfg.kind == "subvp" else VPSDE
    return sde(cfg.beta_min, cfg.beta_max, n_steps=cfg.N, t_min=cfg.eps)


def build_precond(process: SDE) -> NoisePrecond | SigmaScalePrecond:
    """NCSN++'s sigma scaling for VE, DDPM++'s noise prediction for VP and sub-VP (App. H)."""
    return SigmaScalePrecond(process) if isinstance(process, VESDE) else NoisePrecond(process)


def build_sampler(cfg: PCSamplerConfig | ODESamplerConfig, process: SDE):
    """(score, x_prior, *, generator, callback) -> x: the configured sampler on the process's grid."""
    if isinstance(cfg, ODESamplerConfig):
        ts = torch.tensor([process.T, process.t_min])
        opts = {"method": cfg.method, "rtol": cfg.rtol, "atol": cfg.atol, "denoise": cfg.denoise}
        return ts, partial(sample_probability_flow, process=process, **opts)
    predictor = PREDICTORS[cfg.predictor]() if cfg.predictor != "none" else None
    corrector = None
    if cfg.corrector != "none":
        corrector = CORRECTORS[cfg.corrector](cfg.snr, cfg.n_corrector_steps, cfg.norms)
    opts = {"predictor": predictor, "corrector": corrector, "corrector_first": cfg.corrector_first}
    return process.time_grid(cfg.n_steps), partial(sample_pc, process=process, denoise=cfg.denoise, **opts)


def build(cfg: Config) -> Method:
    """The Score-SDE method of an experiment config."""
    process = build_process(cfg.process)
    precond = build_precond(process)
    ts, sampler = build_sampler(cfg.sample, process)
    lik = cfg.likelihood

    def sample(net, x_prior, *, generator=None, callback=None):
        return sampler(precond.score(net), x_prior, ts.to(x_prior.device), generator=generator, callback=callback)

    def nll(net, x, generator):
        """-log p_eps(x) by the probability-flow ODE (App. D.2): a density over model space."""
        velocity = process.probability_flow(precond.score(net))
        res = log_prob_ode(
            velocity,
            x,
            process.t_min,
            process.T,
            process.prior_logp,
            divergence=lik.divergence,
            noise=lik.noise,
            method=lik.method,
            rtol=lik.rtol,
            atol=lik.atol,
            generator=generator,
        )
        return NLL(-res.log_prob, discrete=False)

    return Method(
        net=build_net(cfg.net, cfg.data.shape),
        loss=LOSSES[cfg.objective.weighting](process, precond, cfg.objective.reduce),
        prior_sample=partial(_prior, process),
        sample=sample,
        nll=nll,
    )


def _prior(process, shape, generator, device):
    return process.prior_sample(shape, generator, device)
