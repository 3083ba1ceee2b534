"""Flow matching and rectified flow wired to the shared core (Lipman et al. 2023; Liu et al. 2023): a velocity net
(``shared.maths.precond.VelocityPrediction`` on 999 t), the path's regression loss, the N(0, I) prior at t = 0, the ODE
from t = 0 to the data at t = 1, and the likelihood through the same ODE run backwards (``shared.maths.ode.FlowNLL``).

The path is a Gaussian path of the core (``shared.maths.processes.flow``, noise at t = 0): the net's output is the ODE's
velocity, and the field converts it to eps, x0 and the score, so DDIM, DPM-Solver++(2M) and EDM's Heun sample these
runs as they sample the diffusions.
"""

from __future__ import annotations

from replications.flow_matching.config import Config, PathConfig
from replications.flow_matching.couplings import Coupling
from replications.flow_matching.objective import FlowMatchingLoss
from shared.maths.precond import ScaledTime, VelocityPrediction
from shared.maths.processes.flow import AffinePath
from shared.nets import build_net
from shared.pipeline.budgets import adaptive_ode, few_step, fixed_ode_steps
from shared.pipeline.few_step_config import FEW_STEP_SAMPLERS
from shared.pipeline.method import Command, Method, Spec


def build_path(cfg: PathConfig) -> AffinePath:
    """Lipman's OT path (Eq. 20) or Liu's straight interpolation (Eq. 1)."""
    return cfg.build()


def build_precond(path: AffinePath) -> VelocityPrediction:
    """v = net(x, 999 t) on ``path``: the shared nets' sinusoidal embedding wants conditions on a [0, 999] scale."""
    return VelocityPrediction(ScaledTime(999.0), path)


def build_loss(cfg: Config, coupling: Coupling | None = None) -> FlowMatchingLoss:
    """The regression loss of the configured path; ``coupling`` None: independent noise (training from data)."""
    path = build_path(cfg.path)
    return FlowMatchingLoss(path, build_precond(path), coupling, cfg.objective.reduce)


def build(cfg: Config) -> Method:
    """The flow matching (or rectified flow) method of an experiment config."""
    path = build_path(cfg.path)
    precond = build_precond(path)
    net = build_net(cfg.net, cfg.data.shape)
    prior = path.prior  # x0 ~ N(0, I) (Lipman Sec. 4.1; Liu Sec. 4: pi_0 = N(0, I))
    if isinstance(cfg.sample, FEW_STEP_SAMPLERS):  # on the path's own grid, through the field's conversions
        grid, sampler = cfg.sample.build(path)
    else:
        grid, sampler = cfg.sample.build(path.t_noise, path.t_data)  # the ODE from the noise (t = 0) to the data
    return Method(
        net=net,
        loss=build_loss(cfg),
        prior=prior,
        field=precond.field(net),
        sampler=sampler,
        grid=grid,
        # -log p_1(x): the ODE from the data (t = 1) back to the prior (t = 0), change of variables (Lipman Sec. 6)
        nll=cfg.likelihood.nll(precond.field, prior.log_prob, path.t_data, path.t_noise),
        info={"path": cfg.path.kind},
    )


BUDGETS = {
    **fixed_ode_steps(),  # uniform in t on [0, 1] (Liu Sec. 4: N Euler steps)
    **few_step(),  # EDM's Heun, DPM-Solver++(2M), DDIM: through the path's conversions (shared.maths.fields)
    "ode": adaptive_ode(),
}
COMMANDS = {"reflow": Command("replications.flow_matching.reflow", "k-reflow: retrain on the flow's own pairs")}

SPEC = Spec(name="flow_matching", config=Config, build=build, module=__name__, budgets=BUDGETS, commands=COMMANDS)
