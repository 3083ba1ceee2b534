"""Score-SDE wired to the shared core: VE / VP / sub-VP SDE, its preconditioning, DSM loss, PC or ODE sampler,
probability-flow likelihood (Song et al. 2021)."""

from __future__ import annotations

import torch

from replications.score_sde.config import Config, ODESamplerConfig, PCSamplerConfig, ProcessConfig
from shared.maths.losses import WEIGHTINGS, DSMLoss
from shared.maths.precond import LogSigmaSteps, NoisePrediction, Precond, ScaledTime, SigmaScaling
from shared.maths.processes import SDE, VESDE, VPSDE, SubVPSDE
from shared.maths.samplers import CORRECTORS, PREDICTORS, bind, denoised
from shared.nets import build_net
from shared.pipeline.budgets import adaptive_ode, by_overrides, few_step, fixed_ode_steps
from shared.pipeline.few_step_config import FEW_STEP_SAMPLERS, FewStepSamplerConfig
from shared.pipeline.method import Method, Sampler, Spec


def build_process(cfg: ProcessConfig) -> SDE:
    """The configured SDE with its N and time cutoff eps."""
    if cfg.kind == "ve":
        return VESDE(cfg.sigma_min, cfg.sigma_max, n_steps=cfg.N, t_min=cfg.eps)
    sde = SubVPSDE if cfg.kind == "subvp" else VPSDE
    return sde(cfg.beta_min, cfg.beta_max, n_steps=cfg.N, t_min=cfg.eps)


def build_precond(process: SDE) -> Precond:
    """NCSN++'s sigma scaling for VE, DDPM++'s noise prediction on 999 t for VP and sub-VP (App. H, official code)."""
    if isinstance(process, VESDE):
        return SigmaScaling(LogSigmaSteps(process.sigma_min, process.sigma_max, process), process)
    return NoisePrediction(ScaledTime(999.0), process)


def build_sampler(
    cfg: PCSamplerConfig | ODESamplerConfig | FewStepSamplerConfig, process: SDE
) -> tuple[torch.Tensor, Sampler]:
    """(grid, sampler with its options bound): PC on the grid from T to the sampling end time, the adaptive ODE
    between the same ends, or a few-step sampler on the process's own grid."""
    if isinstance(cfg, FEW_STEP_SAMPLERS):
        return cfg.build(process)
    if isinstance(cfg, ODESamplerConfig):
        opts = {"method": cfg.method, "rtol": cfg.rtol, "atol": cfg.atol}
        return process.time_grid(1, t_end=cfg.eps), denoised(bind("ode", **opts), cfg.denoise)  # the solve's two ends
    predictor = PREDICTORS[cfg.predictor]() if cfg.predictor != "none" else None
    corrector = None
    if cfg.corrector != "none":
        corrector = CORRECTORS[cfg.corrector](cfg.snr, cfg.n_corrector_steps, cfg.norms)
    opts = {"predictor": predictor, "corrector": corrector, "corrector_first": cfg.corrector_first}
    grid = process.time_grid(cfg.n_steps, t_end=cfg.eps)  # to sample.eps (null: the training cutoff)
    return grid, denoised(bind("pc", **opts), cfg.denoise)


def build(cfg: Config) -> Method:
    """The Score-SDE method of an experiment config."""
    process = build_process(cfg.process)
    precond = build_precond(process)
    grid, sampler = build_sampler(cfg.sample, process)
    net = build_net(cfg.net, cfg.data.shape)
    return Method(
        net=net,
        loss=DSMLoss(process, precond, WEIGHTINGS[cfg.objective.weighting](), cfg.objective.reduce),  # Eq. 7
        prior=process.prior,
        field=precond.field(net),
        sampler=sampler,
        grid=grid,
        # -log p_eps(x) by the probability-flow ODE (App. D.2): a density over model space
        nll=cfg.likelihood.nll(precond.field, process.prior.log_prob, process.t_min, process.T),
        info={"eps": end_time(cfg)},  # where sampling ends (the training cutoff if null)
    )


def end_time(cfg: Config) -> float:
    """Where the config's sampler ends: its ``sample.eps``, else the process's (training) cutoff."""
    return getattr(cfg.sample, "eps", None) or cfg.process.eps


def _evals_per_step(cfg: Config) -> int:
    """Score evaluations per PC grid step: the predictor's and the corrector's."""
    corrector = getattr(cfg.sample, "corrector", "none")
    return 1 + (cfg.sample.n_corrector_steps if corrector != "none" else 0)


BUDGETS = {
    # Algorithm 1: 1 + M NFE a step (M corrector steps; 2 with the usual M = 1, 1 for predictor-only configs)
    "pc": by_overrides(lambda cfg, nfe: [f"sample.n_steps={max(1, int(nfe) // _evals_per_step(cfg))}"]),
    **fixed_ode_steps(),  # the probability-flow ODE (Eq. 13) uniform in t
    # the adaptive probability-flow solve at a tolerance, ending where the config's sampler ends (sample.eps)
    "ode": adaptive_ode(lambda cfg: f", eps: {end_time(cfg)!r}" if getattr(cfg.sample, "eps", None) else ""),
    # EDM's Heun, DPM-Solver++(2M) and DDIM (eta = 0), DDIM ending where the config's sampler ends (sample.eps)
    **few_step(t_end=lambda run: getattr(run.cfg.sample, "eps", None)),
}

SPEC = Spec(name="score_sde", config=Config, build=build, module=__name__, budgets=BUDGETS)
