"""FFJORD wired to the shared core: the CNF, its maximum-likelihood loss, backward sampling and the exact NLL."""

from __future__ import annotations

import math

import torch

from replications.ffjord.cnf import CNF, CNFField, cnf_sample
from replications.ffjord.config import ConcatSquashConfig, Config, MultiscaleConfig, ODEConfig
from replications.ffjord.nets import ConcatConvNet, ConcatSquashMLP
from replications.ffjord.objective import FFJORDNLL, FFJORDLoss, RNODELoss
from shared.maths.priors import GaussianPrior
from shared.maths.samplers import BoundSampler
from shared.pipeline.budgets import tolerances
from shared.pipeline.method import Method, Spec


def n_scales_for(side: int) -> int:
    """Scales of the multiscale CNF: halve while the side is >= 4 (official odenvp), 28 -> 3, 32 -> 4, 8 -> 2."""
    n = 0
    while side >= 4:
        n, side = n + 1, side // 2
    return n


def build_cnf(net: ConcatSquashConfig | MultiscaleConfig, shape: tuple[int, ...], ode: ODEConfig) -> CNF:
    """The toy CNF (n_blocks ConcatSquash MLPs) or the multiscale image CNF (App. B.1)."""
    if isinstance(net, ConcatSquashConfig):
        if len(shape) != 1:
            raise ValueError(f"net.kind 'concatsquash' needs vector data, got examples of shape {shape}")
        fields = [ConcatSquashMLP(shape[0], net.hidden, net.activation) for _ in range(net.n_blocks)]
        return CNF(fields, [("ode", k) for k in range(net.n_blocks)], shape, ode.T, ode.train_T)
    if len(shape) != 3:
        raise ValueError(f"net.kind 'multiscale' needs images (C, H, W), got examples of shape {shape}")
    c, h, _ = shape
    n_scales = net.n_scales or n_scales_for(h)
    fields, plan = [], []

    def add_blocks(channels: int) -> None:
        for _ in range(net.n_blocks):
            plan.append(("ode", len(fields)))
            fields.append(ConcatConvNet(channels, net.hidden, net.activation))

    for i in range(n_scales):
        add_blocks(c)
        if i < n_scales - 1:
            plan.append(("squeeze",))
            c, h = 4 * c, h // 2
            add_blocks(c)
            plan.append(("factor",))
            c = c // 2
    return CNF(fields, plan, shape, ode.T, ode.train_T, logit_alpha=net.alpha)


def build(cfg: Config) -> Method:
    """The FFJORD method of an experiment config."""
    if cfg.data.is_image and (cfg.data.data_range != "[0,1]" or not cfg.data.dequantize):
        raise ValueError("ffjord images need data.data_range '[0,1]' and data.dequantize true (logit transform)")
    ode = cfg.ode
    solver = {"method": ode.method, "atol": ode.atol, "rtol": ode.rtol}
    train_solver = {**solver, "divergence": ode.divergence, "noise": ode.noise, "adjoint": ode.adjoint}
    eval_divergence = "hutchinson" if math.prod(cfg.data.shape) > 2 else "exact"  # exact trace for 2-D data
    reg = cfg.regularize
    if reg.kinetic > 0 or reg.jacobian_frobenius > 0:
        loss = RNODELoss(train_solver, reg.kinetic, reg.jacobian_frobenius)
    else:
        loss = FFJORDLoss(train_solver)
    net = build_cnf(cfg.net, cfg.data.shape, ode)
    return Method(
        net=net,
        loss=loss,
        prior=GaussianPrior(1.0),  # z ~ N(0, I) (Sec. 2)
        field=CNFField(net),
        sampler=BoundSampler("cnf", cnf_sample, solver),  # every block backward, s: 1 -> 0
        grid=torch.tensor([1.0, 0.0]),  # every block's s runs 1 -> 0 when sampling
        nll=FFJORDNLL({**solver, "divergence": eval_divergence, "noise": ode.noise}),
    )


BUDGETS = {"ode": tolerances(["ode.rtol", "ode.atol"])}  # every block's adaptive solve (Sec. 4: 1e-5)

SPEC = Spec(name="ffjord", config=Config, build=build, module=__name__, budgets=BUDGETS)
