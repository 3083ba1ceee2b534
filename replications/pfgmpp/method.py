"""PFGM++ wired to the shared core: EDM's denoiser and ODE on EDM's path (``shared.maths.precond.Denoiser``,
``SigmaPath``), trained with PFGM++'s kernel (``kernel.StudentKernel``) and sampled from its prior
(``kernel.StudentPrior``); the probability-flow likelihood ends at that prior's density."""

from __future__ import annotations

from replications.pfgmpp.config import Config, StudentKernelConfig
from replications.pfgmpp.kernel import StudentKernel, StudentPrior
from shared.maths.denoising import DenoiserLoss, GaussianKernel
from shared.maths.precond import Denoiser
from shared.nets import build_net
from shared.pipeline.budgets import heun_edm
from shared.pipeline.method import Command, Method, Spec


def build(cfg: Config) -> Method:
    """The PFGM++ method of an experiment config."""
    path = cfg.path.build()
    scalings, levels, weighting = cfg.design.build()
    precond = Denoiser(scalings, path)
    if isinstance(cfg.kernel, StudentKernelConfig):
        kernel, prior, D = StudentKernel(cfg.kernel.D), StudentPrior(cfg.kernel.D, path.sigma_max), cfg.kernel.D
    else:  # D -> inf: EDM's Gaussian kernel and prior
        kernel, prior, D = GaussianKernel(), path.prior, "inf"
    net = build_net(cfg.net, cfg.data.shape)
    grid, sampler = cfg.sample.build(path)
    return Method(
        net=net,
        loss=DenoiserLoss(precond, levels, weighting, kernel, reduce=cfg.objective.reduce),
        prior=prior,
        field=precond.field(net),
        sampler=sampler,
        grid=grid,
        # -log p(x): the ODE dx/dsigma = (x - D) / sigma up to sigma_max, then the kernel prior's density
        nll=cfg.likelihood.nll(precond.field, prior.log_prob, path.sigma_min, path.sigma_max),
        info={"D": D, "sigma_min": path.sigma_min, "sigma_max": path.sigma_max},
    )


BUDGETS = {"edm": heun_edm()}  # EDM's Algorithm 1 on Eq. 5's rho = 7 levels (the paper samples with it, Sec. 6)

COMMANDS = {
    "robustness": Command("replications.pfgmpp.robustness", "sample quality against D, NFE and injected noise alpha")
}

SPEC = Spec(name="pfgmpp", config=Config, build=build, module=__name__, budgets=BUDGETS, commands=COMMANDS)
