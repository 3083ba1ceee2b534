"""The consistency objectives (Song et al. 2023): distillation from a teacher's ODE (Alg. 2) and training from data
alone (Alg. 3), both a distance between the model at a grid point and its EMA target at the next one:

    L = E_{i, x0, z} d( f_theta(x_{t_i}, t_i), f_theta^-(x_hat_{t_{i+1}}, t_{i+1}) ),   lambda(t) = 1        (Eq. 7, 10)

with x_{t_i} = alpha x0 + sigma z on a grid t_0 (the noise end) > ... > t_{N-1} = eps (the boundary), and
x_hat_{t_{i+1}} one teacher step Phi from t_i (distillation) or alpha x0 + sigma z with the same z (training: the
DDIM step with the true x0 and z, App. A's unbiased estimator). After every optimizer step the target moves,
theta^- <- mu theta^- + (1 - mu) theta (``after_step``); it is kept in the training state, so a resumed run is exact.
"""

from __future__ import annotations

import abc
import copy
import math

import torch
from torch import Tensor, nn

from replications.consistency.precond import BoundaryCondition
from shared.maths.processes.base import GaussianProcess
from shared.maths.samplers import sigmas_karras, times_of_sigmas
from shared.maths.samplers.steps import SOLVER_STEPS
from shared.pipeline.teacher import load_teacher, start_from
from shared.utils import randn_like


def level_range(process: GaussianProcess) -> tuple[float, float]:
    """(s_min, s_top): the noise-to-signal ratios sigma / alpha at the boundary (the path's data end) and at its top
    (``process.t_top``, the last finite level before flow matching's noise end)."""
    both = torch.tensor([process.t_data, process.t_top], dtype=torch.float64)
    s_min, s_top = (process.sigma(both) / process.alpha(both)).tolist()
    return s_min, s_top


def consistency_grid(process: GaussianProcess, n_points: int, rho: float = 7.0, s_max: float = 80.0) -> Tensor:
    """N = ``n_points`` times (N,) float64 from the noise end to the boundary (the path's data end): the noise end
    first (where sampling starts: the prior's time), then N - 1 Karras levels (Eq. 5, exponent ``rho``) of the
    noise-to-signal ratio from ``s_max`` (the paper's T = 80, capped by the path's own top) down to the boundary's,
    as times of the path (N = 2: the noise end and the boundary)."""
    top, end = process.t_top, process.t_data
    s_min, s_top = level_range(process)
    first = torch.tensor([process.t_noise], dtype=torch.float64)
    if n_points < 3:
        return torch.cat([first, torch.tensor([end], dtype=torch.float64)])
    levels = sigmas_karras(n_points - 1, s_min, min(s_max, s_top), rho)[:-1]  # N - 1 levels, s_max .. s_min
    ts = times_of_sigmas(process, levels, end, top)
    ts[-1] = end  # the boundary exactly
    return torch.cat([first, ts])


class ConsistencyLoss(abc.ABC):
    """d(f_theta(x_{t_i}, t_i), f_theta^-(x_hat_{t_{i+1}}, t_{i+1})) per example (B,), i uniform on the grid's pairs.

    Args:
        process: the Gaussian path; precond: the consistency function's parametrization (``BoundaryCondition``).
        metric: "l2" (mean squared difference over dimensions) or "l1" (mean absolute).
        rho: the grid's Karras exponent.
    """

    def __init__(self, process: GaussianProcess, precond: BoundaryCondition, metric: str = "l2", rho: float = 7.0):
        self.process, self.precond, self.metric, self.rho = process, precond, metric, rho
        self.target: nn.Module | None = None
        self.step = 0  # optimizer steps done (the schedule's k)
        self._grid_key, self._grid = None, None  # the last grid and its (N, device, dtype)

    @abc.abstractmethod
    def n_points(self, step: int) -> int:
        """N(k): the grid's points at training step k."""

    @abc.abstractmethod
    def mu(self, step: int) -> float:
        """mu(k): the target's EMA decay after step k."""

    @abc.abstractmethod
    def next_point(self, x_t: Tensor, x0: Tensor, z: Tensor, t: Tensor, s: Tensor) -> Tensor:
        """x_hat at times s (B,) from x_t at times t (B,) (no gradient)."""

    def grid(self, n: int, like: Tensor) -> Tensor:
        """``consistency_grid`` of n points on ``like``'s device and dtype (kept until N changes)."""
        key = (n, like.device, like.dtype)
        if self._grid_key != key:
            self._grid_key, self._grid = key, consistency_grid(self.process, n, self.rho).to(like.device, like.dtype)
        return self._grid

    def initialize(self, net: nn.Module) -> None:
        """Before training: the target starts as a copy of the net."""
        self.target = copy.deepcopy(net).requires_grad_(False)

    def __call__(self, net: nn.Module, x0: Tensor, generator: torch.Generator) -> Tensor:
        """x0 (B, *D) -> per-example loss (B,)."""
        if self.target is None:
            raise RuntimeError("consistency loss: call initialize(net) before training")
        ts = self.grid(self.n_points(self.step), x0)
        i = torch.randint(0, len(ts) - 1, (x0.shape[0],), generator=generator, device=x0.device)
        t, s = ts[i], ts[i + 1]
        z = randn_like(x0, generator)
        x_t = self.process.perturb(x0, t, z)
        self.target.to(x0.device)
        with torch.no_grad():
            target = self.precond(self.target, self.next_point(x_t, x0, z, t, s), s)
        diff = (self.precond(net, x_t, t) - target).flatten(1)
        return diff.square().mean(1) if self.metric == "l2" else diff.abs().mean(1)

    def after_step(self, net: nn.Module, step: int) -> None:
        """theta^- <- mu theta^- + (1 - mu) theta, mu = mu(step); then the schedule moves to ``step``."""
        mu = self.mu(step)
        with torch.no_grad():
            for p_target, p in zip(self.target.parameters(), net.parameters(), strict=True):
                p_target.lerp_(p.detach(), 1.0 - mu)
            for b_target, b in zip(self.target.buffers(), net.buffers(), strict=True):
                b_target.copy_(b)
        self.step = step

    def state_dict(self) -> dict:
        return {"target": self.target.state_dict(), "step": self.step}

    def load_state_dict(self, state: dict) -> None:
        self.target.load_state_dict(state["target"])
        self.step = int(state["step"])


class ConsistencyDistillation(ConsistencyLoss):
    """Alg. 2: x_hat_{t_{i+1}} = Phi(x_{t_i}, t_i -> t_{i+1}; teacher), a fixed grid of N points, a fixed mu.

    Args:
        teacher: the teacher's final checkpoint; loaded by ``initialize``, which also starts the net from it.
        n_points: N; solver: "heun" or "ddim" (``shared.maths.samplers.steps``); mu: the target's decay.
        shape: one example's shape (to check the teacher's parametrization).
    """

    def __init__(self, process, precond, teacher: str, n_points: int, solver: str, mu: float, shape, metric, rho):
        super().__init__(process, precond, metric, rho)
        self.teacher_path, self.n, self.solver, self.mu_value, self.shape = teacher, n_points, solver, mu, shape
        self.teacher = None

    def n_points(self, step):
        return self.n

    def mu(self, step):
        return self.mu_value

    def initialize(self, net):
        self.teacher = load_teacher(self.teacher_path, "objective.teacher", self.process)
        start_from(net, self.precond.inner.field(net), self.teacher, "objective.teacher", tuple(self.shape))
        super().initialize(net)

    def next_point(self, x_t, x0, z, t, s):
        self.teacher.net.to(x_t.device)
        return SOLVER_STEPS[self.solver](self.teacher.field, x_t, t, s)


class ConsistencyTraining(ConsistencyLoss):
    """Alg. 3: x_hat_{t_{i+1}} = alpha x0 + sigma z with the same z; N(k) and mu(k) grow with the step k as the official
    code's "adaptive" schedule: N(k) - 1 = max(1, ceil(sqrt(k / K ((s1 + 1)^2 - s0^2) + s0^2) - 1)) intervals and
    mu(k) = exp(s0 log mu0 / (N(k) - 1)) (jcm/losses.py, ``get_ema_scales_fn``; the paper's App. C writes N(k) in
    mu(k)'s denominator, the code the intervals N(k) - 1: we follow the code).

    Args:
        total_steps: K, the training's steps; s0, s1, mu0: the schedule's constants.
    """

    def __init__(self, process, precond, total_steps: int, s0: int, s1: int, mu0: float, metric, rho):
        super().__init__(process, precond, metric, rho)
        self.total, self.s0, self.s1, self.mu0 = total_steps, s0, s1, mu0

    def intervals(self, step: int) -> int:
        k = min(step, self.total) / self.total
        return max(1, math.ceil(math.sqrt(k * ((self.s1 + 1) ** 2 - self.s0**2) + self.s0**2) - 1))

    def n_points(self, step):
        return self.intervals(step) + 1

    def mu(self, step):
        return math.exp(self.s0 * math.log(self.mu0) / self.intervals(step))

    def next_point(self, x_t, x0, z, t, s):
        return self.process.perturb(x0, s, z)


__all__ = ["ConsistencyDistillation", "ConsistencyLoss", "ConsistencyTraining", "consistency_grid", "level_range"]
