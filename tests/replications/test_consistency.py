"""Consistency models (Song et al. 2023) against closed forms.

Gaussian data x0 ~ N(MU, S^2 I) on flow matching's OT path x_t = alpha_t x0 + sigma_t z make everything exact: the
marginal at t is N(alpha_t MU, V_t I) with V_t = alpha_t^2 S^2 + sigma_t^2, the probability-flow ODE maps x_t to
x_u = alpha_u MU + sqrt(V_u / V_t) (x_t - alpha_t MU), so the consistency function onto the boundary e is
f*(x_t, t) = MU + sqrt(V_e / V_t) (x_t - alpha_t MU) / alpha_e, and E[x0 | x_t] = MU + alpha_t S^2 (x_t - alpha_t MU)
/ V_t.
"""

import math
import runpy
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from replications.consistency.config import SamplerConfig
from replications.consistency.method import sample_grid
from replications.consistency.objective import ConsistencyDistillation, ConsistencyTraining, consistency_grid
from replications.consistency.precond import BoundaryCondition
from shared.config import ConfigError
from shared.maths.fields import VelocityField, X0Field
from shared.maths.precond import ScaledTime, VelocityPrediction
from shared.maths.processes.flow import OTPath
from shared.maths.samplers import noise_to_signal, sample_consistency
from shared.nets import MLPConfig, build_net
from shared.pipeline.teacher import load_teacher
from shared.utils import append_dims

ROOT = Path(__file__).resolve().parents[2]
F64 = torch.float64
MU = torch.tensor([1.0, -0.5], dtype=F64)
S = 0.6
PATH = OTPath(1e-3)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def var(t):
    return PATH.alpha(t) ** 2 * S**2 + PATH.sigma(t) ** 2


def exact_velocity(x, t):
    """The probability flow's velocity alpha' x0_hat + sigma' eps_hat, finite at alpha = 0 (the noise end)."""
    a, s = (append_dims(v, x.ndim) for v in (PATH.alpha(t), PATH.sigma(t)))
    x0 = MU.to(x) + a * S**2 * (x - a * MU.to(x)) / append_dims(var(t), x.ndim)
    eps = (x - a * x0) / s
    return append_dims(PATH.d_alpha(t), x.ndim) * x0 + append_dims(PATH.d_sigma(t), x.ndim) * eps


def exact_consistency(x, t):
    """f*(x_t, t) (B, 2): the flow map onto the boundary, divided by alpha_e (EDM's coordinates)."""
    e = torch.full_like(t, PATH.t_data)
    scale = append_dims((var(e) / var(t)).sqrt() / PATH.alpha(e), x.ndim)
    return MU.to(x) + scale * (x - append_dims(PATH.alpha(t), x.ndim) * MU.to(x))


def test_boundary_condition_is_the_identity_at_the_boundary_and_the_net_at_the_noise_end():
    torch.manual_seed(0)
    net = build_net(MLPConfig(hidden=32, depth=2, emb_dim=16), (2,)).double()
    inner = VelocityPrediction(ScaledTime(999.0), PATH)
    precond = BoundaryCondition(inner, PATH, sigma_data=0.5, t_min=PATH.t_data)
    x = torch.randn(64, 2, dtype=F64)
    at = lambda t: torch.full((64,), t, dtype=F64)  # noqa: E731
    end = at(PATH.t_data)
    with torch.no_grad():
        assert torch.allclose(precond(net, x, end), x / PATH.alpha(end)[:, None], rtol=0, atol=1e-12)  # f(x, eps) = x
        # alpha = 0 at the noise end: c_skip = 0 and f is the teacher-parametrized denoiser itself, finite
        assert torch.equal(precond(net, x, at(0.0)), inner.field(net).x0(x, at(0.0)))
        c_skip = precond.weights(torch.linspace(0.0, 1.0, 101, dtype=F64))[1]
    assert c_skip[0] == 0 and abs(float(c_skip[-1]) - 1) < 1e-12 and bool((c_skip.diff() >= 0).all())


@pytest.mark.parametrize("n_steps", [1, 3])
def test_multistep_sampling_with_the_exact_consistency_function_draws_the_data(n_steps):
    """Alg. 1 with f*: every evaluation returns N(MU, S^2 + s_e^2) (the boundary's law), re-noising included."""
    field = X0Field(exact_consistency, PATH)
    ts = sample_grid(PATH, SamplerConfig(n_steps=n_steps))
    assert len(ts) == n_steps + 1 and ts[0] == PATH.t_noise and ts[-1] == PATH.t_data
    n = 40_000
    gen = torch.Generator().manual_seed(1)
    x = sample_consistency(field, PATH.prior.sample((n, 2), gen, "cpu").double(), ts, generator=gen)
    s_e = float(noise_to_signal(PATH, torch.tensor([PATH.t_data], dtype=F64)))
    want = S**2 + s_e**2
    assert torch.allclose(x.mean(0), MU, atol=5 * math.sqrt(want / n))
    assert torch.allclose(x.var(0), torch.full((2,), want, dtype=F64), rtol=5 * math.sqrt(2 / n))


def test_consistency_grids_run_from_the_noise_end_to_the_boundary_on_karras_levels():
    ts = consistency_grid(PATH, 18)
    levels = noise_to_signal(PATH, ts)
    assert len(ts) == 18 and ts[0] == PATH.t_noise and ts[-1] == PATH.t_data and bool((ts.diff() > 0).all())
    assert math.isclose(float(levels[1]), 80.0, rel_tol=1e-9)  # the paper's T (official t_max = 80)
    root = levels[1:] ** (1 / 7)  # Eq. 5: evenly spaced in sigma^(1/rho)
    assert torch.allclose(root.diff(), root.diff()[0].expand(16), rtol=1e-6)
    assert len(consistency_grid(PATH, 2)) == 2


def test_consistency_training_schedule_is_the_official_adaptive_one():
    """N(k) - 1 = max(1, ceil(sqrt(k / K ((s1 + 1)^2 - s0^2) + s0^2) - 1)), mu(k) = exp(s0 log mu0 / (N(k) - 1))."""
    ct = ConsistencyTraining(PATH, None, total_steps=800_000, s0=2, s1=150, mu0=0.9, metric="l2", rho=7.0)
    assert (ct.n_points(0), ct.mu(0)) == (2, pytest.approx(0.81))
    assert (ct.n_points(800_000), ct.mu(800_000)) == (151, pytest.approx(0.9 ** (2 / 150)))
    k = 200_000  # sqrt(0.25 * (151^2 - 4) + 4) = 75.54...: 75 intervals
    assert ct.n_points(k) == 76 and ct.mu(k) == pytest.approx(math.exp(2 * math.log(0.9) / 75))
    assert all(ct.n_points(a) <= ct.n_points(a + 5_000) for a in range(0, 800_000, 5_000))


class ExactTeacher(nn.Module):
    """The closed-form velocity posing as a net (the teacher's ``net`` only needs ``.to``)."""

    def forward(self, x, t):
        return exact_velocity(x, t)


def distillation(student_net, mu=0.0, solver="heun", n_points=10):
    inner = VelocityPrediction(ScaledTime(999.0), PATH)
    precond = BoundaryCondition(inner, PATH, sigma_data=S, t_min=PATH.t_data)
    loss = ConsistencyDistillation(PATH, precond, "", n_points, solver, mu, (2,), "l2", 7.0)
    loss.teacher = SimpleNamespace(
        net=ExactTeacher(), field=VelocityField(exact_velocity, PATH)
    )  # no checkpoint to load
    super(ConsistencyDistillation, loss).initialize(student_net)  # the target only: nothing to start from
    return loss, precond


def test_distillation_from_the_exact_teacher_approaches_the_closed_form_consistency_function():
    torch.manual_seed(0)
    net = build_net(MLPConfig(hidden=64, depth=2, emb_dim=32), (2,)).double()
    loss, precond = distillation(net)
    probe_t = consistency_grid(PATH, 10)[:-1].repeat(32)  # the grid points the objective ties together
    n = len(probe_t)
    x_probe = PATH.perturb(MU + S * torch.randn(n, 2, dtype=F64), probe_t, torch.randn(n, 2, dtype=F64))

    def error():
        with torch.no_grad():
            got = precond(net, x_probe, probe_t)
        return float((got - exact_consistency(x_probe, probe_t)).norm(dim=1).mean())

    before = error()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(2)
    for step in range(400):
        x0 = MU + S * torch.randn(256, 2, dtype=F64, generator=gen)
        opt.zero_grad()
        loss(net, x0, gen).mean().backward()
        opt.step()
        loss.after_step(net, step + 1)
    after = error()
    # the teacher's Heun steps on this grid reach f* within ~0.012 (their floor); the rest is the small net's fit
    assert after < 0.2 * before and after < 0.15, (before, after)


def test_the_distillation_target_moves_as_its_ema():
    torch.manual_seed(0)
    net = build_net(MLPConfig(hidden=16, depth=1, emb_dim=8), (2,)).double()
    loss, _ = distillation(net, mu=0.75)
    start = [p.clone() for p in loss.target.parameters()]
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    loss.after_step(net, 1)
    for p0, p, q in zip(start, net.parameters(), loss.target.parameters(), strict=True):
        assert torch.allclose(q, 0.75 * p0 + 0.25 * p)
    state = loss.state_dict()
    other, _ = distillation(build_net(MLPConfig(hidden=16, depth=1, emb_dim=8), (2,)).double(), mu=0.75)
    other.load_state_dict(state)
    assert other.step == 1 and all(
        torch.equal(a, b) for a, b in zip(other.target.parameters(), loss.target.parameters())
    )


def test_a_missing_teacher_is_one_line_exit_2_before_any_file(tmp_path, capsys, monkeypatch):
    with pytest.raises(ConfigError, match="objective.teacher: name the teacher"):
        load_teacher("", "objective.teacher", PATH)
    out = tmp_path / "cd" / "checkpoint.pt"
    config = "replications/consistency/configs/smoke_toy.yaml"
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(sys, "argv", ["replications.consistency", "train", "--config", config, "--out", str(out)])
    with pytest.raises(SystemExit) as exit_:  # ``python -m replications.consistency train``, in this process
        runpy.run_module("replications.consistency", run_name="__main__", alter_sys=True)
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and len(err) == 1 and "objective.teacher" in err[0], err
    assert not out.parent.exists() or not any(out.parent.iterdir())  # nothing that looks finished


def test_a_teacher_on_another_path_or_net_is_refused_naming_the_key(monkeypatch):
    """The teacher must sit on the student's path (alpha, sigma compared at a few times) and fit its net."""
    import shared.pipeline.runner as runner
    from shared.maths.processes.flow import StraightPath
    from shared.pipeline.teacher import start_from

    net = build_net(MLPConfig(hidden=8, depth=1, emb_dim=8), (2,))
    teacher = SimpleNamespace(net=net, field=VelocityPrediction(ScaledTime(999.0), StraightPath()).field(net))
    monkeypatch.setattr(runner, "load_run", lambda path: SimpleNamespace(method=teacher))
    with pytest.raises(ConfigError, match=r"objective.teacher: the teacher t.pt is trained on .*; set path"):
        load_teacher("t.pt", "objective.teacher", PATH)
    assert load_teacher("t.pt", "objective.teacher", StraightPath()) is teacher  # the same path passes
    wider = build_net(MLPConfig(hidden=16, depth=1, emb_dim=8), (2,))
    field = VelocityPrediction(ScaledTime(999.0), StraightPath()).field(wider)
    with pytest.raises(ConfigError, match="objective.teacher: the teacher's net does not fit .*; set net"):
        start_from(wider, field, teacher, "objective.teacher", (2,))
    student = build_net(MLPConfig(hidden=8, depth=1, emb_dim=8), (2,))
    other = VelocityPrediction(ScaledTime(1.0), StraightPath()).field(student)  # another condition scale
    with pytest.raises(ConfigError, match="objective.teacher: the teacher's parametrization differs"):
        start_from(student, other, teacher, "objective.teacher", (2,))
