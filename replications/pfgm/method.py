"""PFGM wired to the shared core (Xu et al. 2022): data x in R^N augmented with z, the net predicts the normalised
Poisson field (N + 1 values), the hemisphere prior at z = z_max, and the backward ODE in t' = log z.

The core's one idea fits as is: the field is a velocity in t' = log z (``log_z_velocity``), integrated from the
prior by the shared ODE samplers and likelihood; no process object is involved.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Literal

import torch
from torch import Tensor, nn

from replications.pfgm.config import Config, FieldConfig, PerturbConfig
from replications.pfgm.field_target import poisson_target
from replications.pfgm.hemisphere import HemispherePrior
from replications.pfgm.log_z import log_z_velocity, substitute_below
from replications.pfgm.perturbation import perturb
from shared.maths.fields import VelocityField
from shared.nets import build_net
from shared.pipeline.budgets import adaptive_ode, fixed_ode_steps
from shared.pipeline.method import Method, Spec


class PoissonFieldNet:
    """The net's N + 1 outputs as (E_x (B, *D), E_z (B,)), conditioned on log z.

    Vectors: the last output is E_z. Images: one extra output channel whose spatial mean is E_z (App. B.1.1).
    The shared sinusoidal embedding sees 999 (log z - log z_min) / (log z_max - log z_min): z itself (the official
    positional embedding) leaves z = 1e-3 and z = 0.1 nearly indistinguishable to it, and training points span
    z from 1e-6 to 50 (README: departures).
    """

    def __init__(self, shape: tuple[int, ...], z_min: float, z_max: float):
        self.shape = tuple(shape)
        self.log_min, self.log_span = math.log(z_min), math.log(z_max) - math.log(z_min)

    def condition(self, z: Tensor) -> Tensor:
        """c = 999 (log z - log z_min) / (log z_max - log z_min): (B,)."""
        return 999.0 * (z.clamp_min(1e-30).log() - self.log_min) / self.log_span

    def __call__(self, net: nn.Module, x: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
        out = net(x, self.condition(z))
        if len(self.shape) == 1:
            return out[:, : self.shape[0]], out[:, self.shape[0]]
        c = self.shape[0]
        return out[:, :c], out[:, c:].mean(dim=(1, 2, 3))

    def field(self, net: nn.Module, z_exp: float = 0.0, gamma: float = 5.0) -> VelocityField:
        """The backward ODE's velocity dx/dt' = z E_x / E_z in t' = log z (Eq. 6 with z as the variable).

        Below ``z_exp`` the z-part is the one the x-part implies (App. B.2.3, ``substitute_below``). Above it, the
        exact target's z part, -z sqrt(N) / (||E|| + gamma), is negative for every z > 0 (all charges lie at z = 0);
        a net's E_z that strays to >= 0 would make the ratio blow up, so it is kept <= -1e-3 z.
        """

        def field_xz(x: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
            e_x, e_z = self(net, x, z)
            return e_x, torch.minimum(e_z, -1e-3 * z)

        substitute = z_exp > 0 and gamma > 0  # as the official code: no substitution without gamma
        return VelocityField(log_z_velocity(substitute_below(field_xz, z_exp, gamma) if substitute else field_xz))


class PFGMLoss:
    """|| f_theta(x~) - sqrt(N) E(x~) / (||E(x~)|| + gamma) ||^2 over the N + 1 dims (Alg. 2, line 9), reduced per
    example by ``reduce``: "sum" (Alg. 2), "half_sum" (0.5 * sum, the official CIFAR-10 run) or "mean".

    The loop's batch is the large batch of charges; its first ``small_batch`` examples are perturbed (Alg. 2).
    Returns (small_batch,).
    """

    def __init__(
        self,
        net_out: PoissonFieldNet,
        perturb_cfg: PerturbConfig,
        target_cfg: FieldConfig,
        reduce: Literal["sum", "half_sum", "mean"] = "sum",
    ):
        self.net_out, self.p, self.t, self.reduce = net_out, perturb_cfg, target_cfg, reduce

    def __call__(self, net: nn.Module, x: Tensor, generator: torch.Generator) -> Tensor:
        small = x[: self.t.small_batch]
        x_p, z = perturb(small, generator, sigma=self.p.sigma, tau=self.p.tau, M=self.p.M, restrict_M=self.p.restrict_M)
        x_tilde = torch.cat([x_p.flatten(1), z[:, None]], dim=1)
        # The target in fp32 under any autocast (train.bf16): bf16 would round the field to 3 significant digits.
        with torch.no_grad(), torch.autocast(x.device.type, enabled=False):
            target = poisson_target(x_tilde, x.flatten(1), gamma=self.t.gamma, chunk_size=self.t.chunk_size)
        e_x, e_z = self.net_out(net, x_p, z)
        pred = torch.cat([e_x.flatten(1), e_z[:, None]], dim=1)
        sq = (pred - target).pow(2)
        if self.reduce == "mean":
            return sq.mean(1)
        return 0.5 * sq.sum(1) if self.reduce == "half_sum" else sq.sum(1)


def build(cfg: Config) -> Method:
    """The PFGM method of an experiment config."""
    shape = cfg.data.shape
    n_dims = math.prod(shape)
    out = n_dims + 1 if len(shape) == 1 else shape[0] + 1  # the extra output: E_z
    net = build_net(cfg.net, shape, out_channels=out)
    net_out = PoissonFieldNet(shape, cfg.prior.z_min, cfg.prior.z_max)
    field_of = partial(net_out.field, z_exp=cfg.target.z_exp, gamma=cfg.target.gamma)
    prior = HemispherePrior(n_dims, cfg.prior.z_max, cfg.prior.upper_norm)
    log_max, log_min = math.log(cfg.prior.z_max), math.log(cfg.prior.z_min)
    grid, sampler = cfg.sample.build(log_max, log_min)  # adaptive, or steps uniform in log z (Sec. 5.2)
    return Method(
        net=net,
        loss=PFGMLoss(net_out, cfg.perturb, cfg.target, cfg.objective.reduce),
        prior=prior,
        field=field_of(net),
        sampler=sampler,
        grid=grid,
        # forward ODE from z_min to z_max, then the prior's density (the change of variables along log z)
        nll=cfg.likelihood.nll(field_of, prior.log_prob, log_min, log_max),
        info={
            "z_max": cfg.prior.z_max,
            "z_min": cfg.prior.z_min,
            "z_exp": cfg.target.z_exp,
        },
    )


BUDGETS = {**fixed_ode_steps(), "ode": adaptive_ode()}  # fixed steps uniform in log z (Sec. 5.2), or adaptive

SPEC = Spec(name="pfgm", config=Config, build=build, module=__name__, budgets=BUDGETS)
