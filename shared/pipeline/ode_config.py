"""Config sections of the ODE machinery every flow-type replication uses (``shared.maths.ode``): an adaptive sampler,
fixed-step Euler / Heun samplers and the ODE likelihood. A replication imports them, or subclasses one to change a
default its paper fixes (PFGM's RK45 at 1e-4, Score-SDE's final denoising step)."""

# No ``from __future__ import annotations``: shared.config reads each ``kind`` Literal off the dataclass field.
import dataclasses
from dataclasses import dataclass
from typing import Literal

from shared.config import ODEMethod, PositiveFloat, PositiveInt


@dataclass(frozen=True)
class ODESamplerConfig:
    """An adaptive solve of the method's ODE from the prior to the data (``shared.maths.ode.sample_flow``)."""

    kind: Literal["ode"] = "ode"
    method: ODEMethod = "dopri5"
    rtol: PositiveFloat = 1e-5
    atol: PositiveFloat = 1e-5

    def build(self, t_start: float, t_end: float):
        """(grid, sampler): the adaptive solve of the field's velocity between the two ends."""
        import torch

        from shared.maths.samplers import bind

        return torch.tensor([t_start, t_end]), bind("ode", method=self.method, rtol=self.rtol, atol=self.atol)


@dataclass(frozen=True)
class EulerSamplerConfig:
    """Fixed-step Euler, uniform in the method's own ODE time: one evaluation a step."""

    kind: Literal["euler"] = "euler"
    n_steps: PositiveInt = 100

    def build(self, t_start: float, t_end: float):
        """(grid, sampler): ``n_steps`` fixed steps uniform in t from ``t_start`` to ``t_end``."""
        import torch

        from shared.maths.samplers import bind

        return torch.linspace(t_start, t_end, self.n_steps + 1), bind(self.kind)


@dataclass(frozen=True)
class HeunSamplerConfig(EulerSamplerConfig):
    """Fixed-step Heun (2nd order), uniform in the method's own ODE time."""

    kind: Literal["heun"] = "heun"


@dataclass(frozen=True)
class LikelihoodConfig:
    """log p(x) by the instantaneous change of variables along the ODE (``shared.maths.ode.FlowNLL``)."""

    divergence: Literal["exact", "hutchinson"] = "hutchinson"  # exact on 2-D toys, Hutchinson's estimator on images
    noise: Literal["rademacher", "gaussian"] = "rademacher"
    method: ODEMethod = "dopri5"
    rtol: PositiveFloat = 1e-5
    atol: PositiveFloat = 1e-5

    def nll(self, field_of, prior_log_prob, t0: float, t1: float):
        """The ``shared.maths.ode.FlowNLL`` of a method's field (``field_of``: net -> Field) from its data end ``t0``
        to its prior end ``t1``, where ``prior_log_prob`` is the density, solved as this section says."""
        from shared.maths.ode import FlowNLL

        return FlowNLL(field_of, prior_log_prob, t0, t1, **dataclasses.asdict(self))


__all__ = ["EulerSamplerConfig", "HeunSamplerConfig", "LikelihoodConfig", "ODESamplerConfig"]
