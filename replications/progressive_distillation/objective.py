"""Progressive distillation's objective (Salimans & Ho 2022, Algorithm 2) on any Gaussian path.

In round r the student samples with N = start / 2^(r+1) DDIM steps on the path's uniform grid, its teacher with 2N.
For x_t = alpha_t x0 + sigma_t eps at a student grid time t, the teacher takes two DDIM steps t -> t' -> t''
(t' the teacher's grid point between t and the next student point t''), and the target is the x0 from which ONE DDIM
step t -> t'' lands where the teacher's two did (Alg. 2):

    x_tilde = (z_t'' - (sigma_t'' / sigma_t) z_t) / (alpha_t'' - (sigma_t'' / sigma_t) alpha_t)

    L = w(t) || x_tilde - x0_hat_theta(z_t, t) ||^2,    w = max(alpha_t^2 / sigma_t^2, 1)   (Sec. 4, "truncated SNR")

At the end of a round the student becomes the next round's teacher (``after_step``: a frozen copy of its raw weights,
kept in the training state, so a resumed run is exact) and goes on training as the next student (Alg. 2: the student
starts from its teacher).
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from shared.maths.fields import Field
from shared.maths.precond import Precond
from shared.maths.processes.base import GaussianProcess
from shared.maths.samplers.steps import ddim_step
from shared.pipeline.teacher import load_teacher, start_from
from shared.utils import append_dims, randn_like


def two_step_target(teacher: Field, process: GaussianProcess, z_t: Tensor, t: Tensor, t_mid: Tensor, s: Tensor):
    """x_tilde (B, *D): the x0 whose single DDIM step t -> s equals the teacher's two, t -> t_mid -> s (times (B,))."""
    z_s = ddim_step(teacher, ddim_step(teacher, z_t, t, t_mid), t_mid, s)
    d = z_t.ndim
    ratio = append_dims(process.sigma(s) / process.sigma(t), d)
    return (z_s - ratio * z_t) / (append_dims(process.alpha(s), d) - ratio * append_dims(process.alpha(t), d))


class ProgressiveDistillation:
    """w(t) || x_tilde - x0_hat ||^2 per example (B,) (mean over dimensions), rounds halving the steps.

    Args:
        process: the Gaussian path; precond: the student's (and teacher's) parametrization.
        teacher: the first teacher's final checkpoint (loaded by ``initialize``, which starts the net from it).
        start_steps, rounds: the first teacher's DDIM steps and the number of halvings.
        total_steps: the training's steps, split evenly over the rounds (the last takes the remainder).
        weighting: "truncated_snr" (max(SNR, 1)) or "snr".
        shape: one example's shape (to check the teacher's parametrization).
    """

    def __init__(
        self,
        process,
        precond: Precond,
        teacher: str,
        start_steps: int,
        rounds: int,
        total_steps: int,
        weighting: str,
        shape,
    ):
        self.process, self.precond, self.teacher_path = process, precond, teacher
        self.start_steps, self.rounds, self.total, self.weighting, self.shape = (
            start_steps,
            rounds,
            total_steps,
            weighting,
            tuple(shape),
        )
        self.per_round = total_steps // rounds
        self.first: nn.Module | None = None  # the loaded teacher's net (round 0)
        self.teacher_net: nn.Module | None = None  # the current teacher's net
        self.step = 0

    def round_of(self, step: int) -> int:
        """The round (0-based) that trains step ``step`` + 1."""
        return min(step // self.per_round, self.rounds - 1)

    def student_steps(self, step: int) -> int:
        return self.start_steps >> (self.round_of(step) + 1)

    def initialize(self, net: nn.Module) -> None:
        """Load the first teacher and start the net from its weights."""
        teacher = load_teacher(self.teacher_path, "objective.teacher", self.process)
        start_from(net, self.precond.field(net), teacher, "objective.teacher", self.shape)
        self.first = self.teacher_net = teacher.net

    def __call__(self, net: nn.Module, x0: Tensor, generator: torch.Generator) -> Tensor:
        """x0 (B, *D) -> per-example loss (B,)."""
        n = self.student_steps(self.step)
        ts = self.process.time_grid(2 * n).to(x0.device, x0.dtype)  # the teacher's grid; the student's: ts[::2]
        j = torch.randint(0, n, (x0.shape[0],), generator=generator, device=x0.device)
        t, t_mid, s = ts[2 * j], ts[2 * j + 1], ts[2 * j + 2]
        z_t = self.process.perturb(x0, t, randn_like(x0, generator))
        self.teacher_net.to(x0.device)
        with torch.no_grad():
            target = two_step_target(self.precond.field(self.teacher_net), self.process, z_t, t, t_mid, s)
        snr = (self.process.alpha(t) / self.process.sigma(t)) ** 2
        weight = snr.clamp_min(1.0) if self.weighting == "truncated_snr" else snr
        return weight * (target - self.precond.field(net).x0(z_t, t)).flatten(1).square().mean(1)

    def after_step(self, net: nn.Module, step: int) -> None:
        """At a round's end the student becomes the next round's teacher (a frozen copy of its raw weights)."""
        if self.round_of(step) != self.round_of(self.step):
            self.teacher_net = copy.deepcopy(net).requires_grad_(False).eval()
        self.step = step

    def state_dict(self) -> dict:
        own = self.teacher_net is not self.first  # after round 0 the teacher is a copy of the student
        return {"step": self.step, "teacher": self.teacher_net.state_dict() if own else None}

    def load_state_dict(self, state: dict) -> None:
        self.step = int(state["step"])
        if state["teacher"] is not None:
            self.teacher_net = copy.deepcopy(self.first).requires_grad_(False).eval()
            self.teacher_net.load_state_dict(state["teacher"])


__all__ = ["ProgressiveDistillation", "two_step_target"]
