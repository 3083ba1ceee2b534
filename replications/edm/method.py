"""EDM wired to the shared core: a denoiser D(x; sigma) behind Table 1's preconditioning on EDM's path
(``shared.maths.precond.Denoiser`` on ``SigmaPath``), trained by Eq. 8 (``shared.maths.denoising.DenoiserLoss``),
sampled by Algorithm 1 or 2 (``shared.maths.samplers``) from N(0, sigma_max^2 I), with the probability-flow
likelihood of the same ODE."""

from __future__ import annotations

from replications.edm.config import Config
from shared.maths.denoising import DenoiserLoss
from shared.maths.precond import Denoiser
from shared.nets import build_net
from shared.pipeline.budgets import heun_edm
from shared.pipeline.method import Method, Spec


def build(cfg: Config) -> Method:
    """The EDM method of an experiment config."""
    path = cfg.path.build()
    scalings, levels, weighting = cfg.design.build()
    precond = Denoiser(scalings, path)
    net = build_net(cfg.net, cfg.data.shape)
    grid, sampler = cfg.sample.build(path)
    return Method(
        net=net,
        loss=DenoiserLoss(precond, levels, weighting, reduce=cfg.objective.reduce),
        prior=path.prior,
        field=precond.field(net),
        sampler=sampler,
        grid=grid,
        # -log p(x) through the probability-flow ODE dx/dsigma = (x - D) / sigma from sigma_min to sigma_max
        nll=cfg.likelihood.nll(precond.field, path.prior.log_prob, path.sigma_min, path.sigma_max),
        info={"sigma_min": path.sigma_min, "sigma_max": path.sigma_max},
    )


BUDGETS = {"edm": heun_edm()}  # Algorithm 1 on Eq. 5's rho = 7 levels: k steps, 2k - 1 NFE

SPEC = Spec(name="edm", config=Config, build=build, module=__name__, budgets=BUDGETS)
