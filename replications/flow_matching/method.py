"""Flow matching and rectified flow wired to the shared core (Lipman et al. 2023; Liu et al. 2023): a velocity net
(``shared.precond.VelocityPrediction`` on 999 t), the path's regression loss, the N(0, I) prior at t = 0, the ODE
from t = 0 to the data at t = 1, and the likelihood through the same ODE run backwards (``shared.ode.FlowNLL``).

The core's one idea fits as is: the net's output is the ODE's velocity (``shared.fields.VelocityField``), so the
shared ``ode`` / ``euler`` / ``heun`` samplers and ``log_prob_ode`` integrate it without a process object.
"""

from __future__ import annotations

from functools import partial

import torch

from replications.flow_matching.config import Config, ODESamplerConfig, PathConfig, SamplerConfig
from replications.flow_matching.objective import FlowMatchingLoss
from replications.flow_matching.paths import AffinePath, Coupling, OTPath, StraightPath
from shared.budgets import TOLERANCES, by_overrides, fixed_steps
from shared.method import Command, Method, Sampler, Spec
from shared.nets import build_net
from shared.ode import FlowNLL
from shared.precond import ScaledTime, VelocityPrediction
from shared.priors import GaussianPrior
from shared.samplers import SAMPLERS

T_NOISE, T_DATA = 0.0, 1.0  # both papers: noise at t = 0, data at t = 1


def build_path(cfg: PathConfig) -> AffinePath:
    """Lipman's OT path (Eq. 20) or Liu's straight interpolation (Eq. 1)."""
    return OTPath(cfg.sigma_min) if cfg.kind == "ot" else StraightPath()


def build_precond() -> VelocityPrediction:
    """v = net(x, 999 t): the shared nets' sinusoidal embedding wants conditions on DDPM's [0, 999] scale."""
    return VelocityPrediction(ScaledTime(999.0))


def build_loss(cfg: Config, coupling: Coupling | None = None) -> FlowMatchingLoss:
    """The regression loss of the configured path; ``coupling`` None: independent noise (training from data)."""
    return FlowMatchingLoss(build_path(cfg.path), build_precond(), coupling, cfg.objective.reduce)


def build_sampler(cfg: SamplerConfig) -> tuple[torch.Tensor, Sampler]:
    """(grid, sampler): the adaptive ODE from t = 0 to 1, or fixed Euler / Heun steps uniform in t."""
    if isinstance(cfg, ODESamplerConfig):
        return torch.tensor([T_NOISE, T_DATA]), partial(
            SAMPLERS["ode"], method=cfg.method, rtol=cfg.rtol, atol=cfg.atol
        )
    return torch.linspace(T_NOISE, T_DATA, cfg.n_steps + 1), SAMPLERS[cfg.kind]


def build(cfg: Config) -> Method:
    """The flow matching (or rectified flow) method of an experiment config."""
    precond = build_precond()
    net = build_net(cfg.net, cfg.data.shape)
    prior = GaussianPrior(1.0)  # x0 ~ N(0, I) (Lipman Sec. 4.1; Liu Sec. 4: pi_0 = N(0, I))
    grid, sampler = build_sampler(cfg.sample)
    lik = cfg.likelihood
    return Method(
        net=net,
        loss=build_loss(cfg),
        prior=prior,
        field=precond.field(net),
        sampler=sampler,
        grid=grid,
        # -log p_1(x): the ODE from the data (t = 1) back to the prior (t = 0), change of variables (Lipman Sec. 6)
        nll=FlowNLL(
            precond.field,
            prior.log_prob,
            T_DATA,
            T_NOISE,
            divergence=lik.divergence,
            noise=lik.noise,
            method=lik.method,
            rtol=lik.rtol,
            atol=lik.atol,
        ),
        info={"sampler": cfg.sample.kind, "path": cfg.path.kind},
    )


SPEC = Spec(
    name="flow_matching",
    config=Config,
    build=build,
    module=__name__,
    budgets={
        "euler": fixed_steps("euler"),  # uniform in t on [0, 1] (Liu Sec. 4: N Euler steps)
        "heun": fixed_steps("heun"),
        "ode": by_overrides(
            lambda cfg, tol: [f"sample={{kind: ode, rtol: {tol:g}, atol: {tol:g}}}"], TOLERANCES, unit="tolerance"
        ),
    },
    commands={"reflow": Command("replications.flow_matching.reflow", "k-reflow: retrain on the flow's own pairs")},
)
