"""Progressive distillation (Salimans & Ho 2022) against closed forms, and its rounds resumed exactly.

Gaussian data x0 ~ N(MU, S^2 I) on flow matching's OT path give E[x0 | x_t] = MU + alpha S^2 (x_t - alpha MU) / V_t
(V_t = alpha^2 S^2 + sigma^2): every DDIM step is then an affine map x -> a x + b with scalar a, b, so two teacher
steps are one affine map and the student's target x_tilde of Algorithm 2 is known exactly.
"""

import copy

import pytest
import torch
from torch import nn

from replications.progressive_distillation.objective import ProgressiveDistillation, two_step_target
from shared.maths.fields import VelocityField
from shared.maths.precond import ScaledTime, VelocityPrediction
from shared.maths.processes.flow import OTPath
from shared.nets import MLPConfig, build_net
from shared.pipeline.distributed import TrainingStopped
from shared.pipeline.train import TrainConfig, fit
from shared.utils import append_dims

F64 = torch.float64
MU = torch.tensor([1.0, -0.5], dtype=F64)
S = 0.6
PATH = OTPath(1e-3)


def scalars(t):
    t = torch.tensor([t], dtype=F64)
    return float(PATH.alpha(t)), float(PATH.sigma(t)), float(PATH.d_alpha(t)), float(PATH.d_sigma(t))


def exact_velocity(x, t):
    a, s = (append_dims(v, x.ndim) for v in (PATH.alpha(t), PATH.sigma(t)))
    x0 = MU.to(x) + a * S**2 * (x - a * MU.to(x)) / (a**2 * S**2 + s**2)
    eps = (x - a * x0) / s
    return append_dims(PATH.d_alpha(t), x.ndim) * x0 + append_dims(PATH.d_sigma(t), x.ndim) * eps


def ddim_affine(t, u):
    """(a, b) with DDIM(t -> u)(x) = a x + b MU for the exact Gaussian x0_hat, by hand: x0_hat = c x + d MU with
    c = alpha S^2 / V, d = 1 - alpha c; eps_hat = (x - alpha x0_hat) / sigma; x_u = alpha_u x0_hat + sigma_u eps_hat."""
    a_t, s_t, _, _ = scalars(t)
    a_u, s_u, _, _ = scalars(u)
    c = a_t * S**2 / (a_t**2 * S**2 + s_t**2)
    d = 1 - a_t * c
    return a_u * c + s_u * (1 - a_t * c) / s_t, a_u * d - s_u * a_t * d / s_t


@pytest.mark.parametrize("t, t_mid, s", [(0.0, 0.125, 0.25), (0.5, 0.625, 0.75), (0.75, 0.875, 1.0)])
def test_two_teacher_steps_give_the_closed_form_target(t, t_mid, s):
    a1, b1 = ddim_affine(t, t_mid)
    a2, b2 = ddim_affine(t_mid, s)
    a, b = a2 * a1, a2 * b1 + b2  # the composed affine map z_t -> z_s (in units of MU for b)
    a_t, s_t, _, _ = scalars(t)
    a_s, s_s, _, _ = scalars(s)
    r = s_s / s_t
    z = torch.randn(64, 2, dtype=F64, generator=torch.Generator().manual_seed(0))
    want = ((a - r) * z + b * MU) / (a_s - r * a_t)  # Alg. 2's x_tilde, solved by hand
    at = lambda v: torch.full((64,), v, dtype=F64)  # noqa: E731
    got = two_step_target(VelocityField(exact_velocity, PATH), PATH, z, at(t), at(t_mid), at(s))
    assert torch.allclose(got, want, rtol=1e-10, atol=1e-10)


class Points:
    """Batches of N(MU, S^2 I), deterministic in the step (a DataSource for ``fit``)."""

    def batch(self, step, batch_size, rank=0, world_size=1):
        gen = torch.Generator().manual_seed(step)
        return (MU + S * torch.randn(batch_size, 2, dtype=F64, generator=gen)).float()


def distiller(first_teacher):
    precond = VelocityPrediction(ScaledTime(999.0), PATH)
    loss = ProgressiveDistillation(
        PATH, precond, "", start_steps=64, rounds=3, total_steps=9, weighting="truncated_snr", shape=(2,)
    )
    loss.first = loss.teacher_net = first_teacher  # no checkpoint to load
    return loss


def test_rounds_halve_the_steps_and_hand_the_student_over_as_teacher():
    loss = distiller(nn.Linear(2, 2))
    assert [loss.student_steps(k) for k in range(9)] == [32] * 3 + [16] * 3 + [8] * 3
    net = nn.Linear(2, 2)
    loss.after_step(net, 1)
    assert loss.teacher_net is loss.first  # still round 0
    loss.after_step(net, 3)
    assert loss.teacher_net is not net and all(
        torch.equal(p, q) for p, q in zip(loss.teacher_net.parameters(), net.parameters(), strict=True)
    )


class StopAfter:
    """A stop condition that asks once ``n`` steps have run (``fit`` asks after every step)."""

    def __init__(self, n):
        self.n, self.reason = n, "test"

    def requested(self):
        self.n -= 1
        return self.n <= 0


def test_a_run_stopped_mid_round_resumes_exactly(tmp_path):
    """Steps 1-4 then 5-9 (a round boundary in each part) equal steps 1-9: the teacher handed over at step 3 and
    the step count live in the training state."""
    cfg = TrainConfig(steps=9, batch_size=32, lr=1e-2, warmup_steps=0, ema_decay=0.9, checkpoint_every=100, log_every=3)
    torch.manual_seed(0)
    init = build_net(MLPConfig(hidden=16, depth=1, emb_dim=8), (2,))
    first = copy.deepcopy(init).requires_grad_(False)

    def run(out, stop=None):
        net = copy.deepcopy(init)
        fit(net, distiller(first), Points(), cfg, out, seed=0, device=torch.device("cpu"), stop=stop)
        return net

    whole = run(tmp_path / "whole")
    with pytest.raises(TrainingStopped):
        run(tmp_path / "parts", StopAfter(4))
    resumed = run(tmp_path / "parts")
    for p, q in zip(whole.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(p, q)
    assert torch.isfinite(next(whole.parameters()).detach()).all()
