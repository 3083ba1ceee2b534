"""Flow matching (Lipman et al. 2023) and rectified flow (Liu et al. 2023) against closed forms, with Gaussian data
N(mu, s^2 I) whose velocity fields are known exactly: the OT path's conditional law (Eq. 20-21) and marginal law,
the regression loss minimised by the exact marginal field (its minimum by quadrature), one Euler step exact on
straight flows, straightness in closed form, the likelihood of the exact field, the reflow loss on exact pairs; then
configs, budgets, and the CLI train -> sample -> evaluate -> reflow on a tiny toy, reflow lowering straightness."""

import copy
import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from scipy import integrate
from torch import nn

from replications.flow_matching.config import Config
from replications.flow_matching.couplings import PairedCoupling
from replications.flow_matching.method import SPEC, build, build_precond
from replications.flow_matching.objective import FlowMatchingLoss
from replications.flow_matching.reflow import PAIRS_FILE, noise_of, reflow
from replications.flow_matching.straightness import straightness
from shared.config import ConfigError, from_dict, load, to_dict
from shared.maths.fields import VelocityField
from shared.maths.ode import sample_euler, sample_flow
from shared.maths.processes.flow import OTPath, StraightPath
from shared.pipeline.cli import main
from shared.pipeline.method import count_nfe, sample
from shared.pipeline.runner import load_run
from shared.utils import PerSampleGenerator

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "replications" / "flow_matching" / "configs").glob("*.yaml"))
TEST_SEED = 0
G = torch.Generator
MU = torch.tensor([1.5, -0.5], dtype=torch.float64)
S = 0.5  # data std


def gen(seed=TEST_SEED):
    return G().manual_seed(seed)


def marginal_field(mu, s, sigma_min):
    """E[x1 - (1 - sigma_min) x0 | x_t = x] for x0 ~ N(0, I), x1 ~ N(mu, s^2 I) independent (Gaussian regression)."""

    def f(x, t):
        t = t[:, None]
        a = 1 - (1 - sigma_min) * t
        k = (t * s**2 - (1 - sigma_min) * a) / (a**2 + t**2 * s**2)
        return mu + k * (x - t * mu)

    return f


def rectified_field(mu, s):
    """The velocity of the straight lines between x0 and its OT image mu + s x0 (the perfect reflow)."""

    def f(x, t):
        t = t[:, None]
        return mu + (s - 1) * (x - t * mu) / ((1 - t) + t * s)

    return f


class AsNet(nn.Module):
    """A closed-form field f(x, t) behind the replication's preconditioning, which calls net(x, 999 t)."""

    def __init__(self, f):
        super().__init__()
        self.f = f

    def forward(self, x, c):
        return self.f(x, c / 999.0)


def gaussian_data(n, seed=1):
    return MU + S * torch.randn(n, 2, dtype=torch.float64, generator=gen(seed))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_configs_load(path):
    cfg = load(path, Config)
    assert cfg.path.kind == ("rectified" if "rectified" in path.stem else "ot")
    assert cfg.sample.kind == "ode" and cfg.sample.method == "dopri5"


def test_paper_configs():
    fm = load(CONFIGS[0].parent / "cifar10.yaml", Config)
    assert (fm.train.batch_size, fm.train.lr, fm.train.warmup_steps) == (256, 5e-4, 45_000)
    assert (fm.net.ch, fm.net.num_res_blocks, fm.net.dropout) == (256, 2, 0.0) and fm.sample.rtol == 1e-5
    rf = load(CONFIGS[0].parent / "cifar10_rectified.yaml", Config)
    assert (rf.train.batch_size, rf.train.lr, rf.train.ema_decay, rf.net.dropout) == (128, 2e-4, 0.999999, 0.15)
    assert rf.train.steps == 800_000 and rf.train.ema_warmup  # the released checkpoint_8; official models/ema.py
    assert rf.reflow.n_pairs == 4_000_000 and rf.reflow.init == "previous_raw" and rf.reflow.dropout == 0.1
    assert rf.reflow.train.ema_decay == 0.9999 and rf.reflow.train.ema_warmup


def test_path_and_sampler_kinds_are_typed(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("path: {kind: vp}\n")
    with pytest.raises(ConfigError, match="path.kind"):
        load(bad, Config)
    bad.write_text("path: {kind: rectified, sigma_min: 0.1}\n")  # an OT-path field on the straight path
    with pytest.raises(ConfigError, match="sigma_min"):
        load(bad, Config)
    ok = tmp_path / "ok.yaml"
    ok.write_text("data: {name: 8gaussians}\nnet: {kind: mlp}\npath: {kind: ot}\nsample: {kind: euler, n_steps: 3}\n")
    method = build(load(ok, Config))
    assert isinstance(method.loss.path, OTPath)
    torch.testing.assert_close(method.grid, torch.tensor([0.0, 1 / 3, 2 / 3, 1.0]))
    assert isinstance(build(load(ok, Config, ["path={kind: rectified}"])).loss.path, StraightPath)


def test_ot_conditional_path_is_eq_20_and_its_target_eq_21():
    sigma_min, n = 0.1, 200_000
    path = OTPath(sigma_min)
    x1 = torch.tensor([2.0, -1.0], dtype=torch.float64).expand(n, 2)
    for t_value in (0.0, 0.3, 0.8, 1.0):
        t = torch.full((n,), t_value, dtype=torch.float64)
        x0 = torch.randn(n, 2, dtype=torch.float64, generator=gen())
        x_t = path.interpolate(x0, x1, t)
        std = 1 - (1 - sigma_min) * t_value  # Eq. 20: N(t x1, (1 - (1 - sigma_min) t)^2 I)
        torch.testing.assert_close(x_t.mean(0), t_value * x1[0], atol=4 * std / math.sqrt(n), rtol=0)
        torch.testing.assert_close(x_t.std(0), torch.full((2,), std, dtype=torch.float64), atol=0.01 * std, rtol=0)
        eq21 = (x1 - (1 - sigma_min) * x_t) / std  # Eq. 21, the conditional field at x_t
        torch.testing.assert_close(path.target(x0, x1, t), eq21)
    t = torch.rand(8, dtype=torch.float64, generator=gen(2))
    x0, x1 = torch.randn(2, 8, 3, dtype=torch.float64, generator=gen(3))
    torch.testing.assert_close(StraightPath().interpolate(x0, x1, t), OTPath(0.0).interpolate(x0, x1, t))
    torch.testing.assert_close(StraightPath().target(x0, x1, t), x1 - x0)  # Liu Eq. 1


@pytest.mark.parametrize("path", [OTPath(0.05), StraightPath()], ids=repr)
def test_marginal_path_has_the_closed_form_mean_and_covariance(path):
    n = 200_000
    chol = torch.tensor([[0.6, 0.0], [0.3, 0.2]], dtype=torch.float64)
    cov = chol @ chol.T
    x1 = MU + torch.randn(n, 2, dtype=torch.float64, generator=gen(4)) @ chol.T
    for t_value in (0.25, 0.7):
        t = torch.full((n,), t_value, dtype=torch.float64)
        x_t = path.interpolate(torch.randn(n, 2, dtype=torch.float64, generator=gen(5)), x1, t)
        sigma_t = float(path.sigma(t[:1]))
        torch.testing.assert_close(x_t.mean(0), t_value * MU, atol=0.01, rtol=0)
        expected = t_value**2 * cov + sigma_t**2 * torch.eye(2, dtype=torch.float64)
        torch.testing.assert_close(torch.cov(x_t.T), expected, atol=0.01, rtol=0)


def cfm_minimum(s, sigma_min):
    """E_t E || u_t - E[u_t | x_t] ||^2 per dimension, the loss at the exact field (Gaussian conditional variance)."""

    def residual(t):
        a = 1 - (1 - sigma_min) * t
        cov, var = t * s**2 - (1 - sigma_min) * a, a**2 + t**2 * s**2
        return s**2 + (1 - sigma_min) ** 2 - cov**2 / var

    return integrate.quad(residual, 0.0, 1.0)[0]


@pytest.mark.parametrize("sigma_min", [0.0, 0.05])
def test_flow_matching_loss_is_minimised_by_the_exact_gaussian_field(sigma_min):
    n = 100_000
    path = OTPath(sigma_min) if sigma_min else StraightPath()
    loss = FlowMatchingLoss(path, build_precond(path))
    x = gaussian_data(n)
    exact = marginal_field(MU, S, sigma_min)

    def value(f):
        return float(loss(AsNet(f), x, gen(6)).mean())  # common random numbers: the same t and x0 for every field

    best = value(exact)
    assert best == pytest.approx(cfm_minimum(S, sigma_min), rel=0.02)
    shift = torch.tensor([0.15, -0.1], dtype=torch.float64)
    for eps in (1.0, -1.0):
        for h in (lambda x, t: shift, lambda x, t: 0.1 * x, lambda x, t: 0.2 * t[:, None] * (x - MU)):
            assert value(lambda x, t, h=h, e=eps: exact(x, t) + e * h(x, t)) > best
    # the velocity of the marginal path with sigma_min ignored (a wrong field) is worse
    if sigma_min:
        assert value(marginal_field(MU, S, 0.0)) > best


def test_one_euler_step_is_exact_on_straight_flows_only():
    x0 = torch.randn(500, 2, dtype=torch.float64, generator=gen(7))
    one = torch.tensor([0.0, 1.0], dtype=torch.float64)  # one Euler step; the adaptive solve's ends

    def solve(field):
        return sample_flow(field, x0, one, rtol=1e-8, atol=1e-8)

    sigma_min = 0.1
    cond = VelocityField(lambda x, t: (MU - (1 - sigma_min) * x) / (1 - (1 - sigma_min) * t[:, None]))  # Eq. 21
    torch.testing.assert_close(sample_euler(cond, x0, one), MU + sigma_min * x0)  # psi_1(x0) = sigma_min x0 + x1
    torch.testing.assert_close(solve(cond), MU + sigma_min * x0, atol=1e-5, rtol=0)
    straight = VelocityField(rectified_field(MU, S))
    torch.testing.assert_close(sample_euler(straight, x0, one), MU + S * x0)
    torch.testing.assert_close(solve(straight), MU + S * x0, atol=1e-5, rtol=0)
    # the independent coupling's marginal flow (1-rectified flow of a Gaussian) also ends at mu + s x0, but curved
    curved = VelocityField(marginal_field(MU, S, 0.0))
    torch.testing.assert_close(solve(curved), MU + S * x0, atol=1e-5, rtol=0)
    assert (sample_euler(curved, x0, one) - (MU + S * x0)).norm(dim=1).mean() > 0.3


def test_straightness_is_the_closed_form_integral():
    x0 = torch.randn(300, 2, dtype=torch.float64, generator=gen(8))

    def integrand(t):  # trajectories z_t = t mu + sigma_t z0, sigma_t^2 = (1 - t)^2 + t^2 s^2: S = ||z0||^2 int (.)
        sigma_t = math.sqrt((1 - t) ** 2 + t**2 * S**2)
        return (S - 1 - (t * S**2 - (1 - t)) / sigma_t) ** 2

    curved = straightness(VelocityField(marginal_field(MU, S, 0.0)), x0, n_steps=400, rtol=1e-8, atol=1e-8)
    expected = x0.pow(2).sum(1) * integrate.quad(integrand, 0.0, 1.0)[0]
    torch.testing.assert_close(curved.per_example, expected, rtol=1e-3, atol=1e-6)
    assert curved.value > 0.05
    straight = straightness(VelocityField(rectified_field(MU, S)), x0, n_steps=50, rtol=1e-8, atol=1e-8)
    assert straight.value < 1e-10 and straight.relative < 1e-10


@pytest.mark.parametrize("path", ["{kind: rectified}", "{kind: ot, sigma_min: 0.05}"])
def test_likelihood_of_the_exact_field_is_the_data_density(path):
    cfg = load(CONFIGS[0].parent / "smoke_toy.yaml", Config, [f"path={path}"])
    method = build(cfg)
    sigma_min = getattr(cfg.path, "sigma_min", 0.0)
    net = AsNet(marginal_field(MU, S, sigma_min))
    x = gaussian_data(64, seed=9)
    nll = method.nll(net, x, gen()).nats
    var = S**2 + sigma_min**2  # p_1 = N(mu, s^2 I) * N(0, sigma_min^2 I)
    exact = 0.5 * (x - MU).pow(2).sum(1) / var + math.log(2 * math.pi * var)
    torch.testing.assert_close(nll, exact, atol=2e-4, rtol=0)


def test_reflow_loss_vanishes_on_exact_pairs_and_needs_stacked_pairs():
    x0 = torch.randn(4096, 2, dtype=torch.float64, generator=gen(10))
    pairs = torch.stack([x0, MU + S * x0], 1)  # the 1-rectified Gaussian flow's pairs (z0, z1)
    loss = FlowMatchingLoss(StraightPath(), build_precond(StraightPath()), PairedCoupling())
    assert float(loss(AsNet(rectified_field(MU, S)), pairs, gen()).max()) < 1e-20
    assert float(loss(AsNet(marginal_field(MU, S, 0.0)), pairs, gen()).mean()) > 0.01
    with pytest.raises(ValueError, match="stacked pairs"):
        loss(AsNet(rectified_field(MU, S)), x0, gen())


def test_budgets_spend_what_they_say():
    cfg = load(CONFIGS[0].parent / "smoke_toy.yaml", Config)
    method = build(cfg)
    assert set(SPEC.budgets) == {"euler", "heun", "ode", "ddim", "dpm_solver_2m", "heun_edm"}
    run = SimpleNamespace(method=method, cfg=cfg, ckpt={"config": to_dict(cfg)}, spec=SPEC, path=Path("x"))
    spend = (("euler", 1, 1), ("euler", 2, 2), ("heun", 3, 2), ("heun", 4, 4))
    spend += (("ddim", 7, 7), ("dpm_solver_2m", 7, 7), ("heun_edm", 7, 7), ("heun_edm", 8, 7), ("heun_edm", 1, 1))
    for family, nfe, expected in spend:
        m = SPEC.budgets[family].method(run, nfe)
        with count_nfe(m.net) as calls:
            sample(m, (5, 2), generator=PerSampleGenerator(range(5)))
        assert calls[0] == expected, (family, nfe)
    m = SPEC.budgets["ode"].method(run, 1e-2)
    assert m.sampler.options["rtol"] == 1e-2 and m.grid.tolist() == [0.0, 1.0]


TINY = """
data: {name: 8gaussians, n_test: 500}
net: {kind: mlp, hidden: 64, depth: 2, emb_dim: 32}
path: {kind: rectified}
train: {steps: 400, batch_size: 256, lr: 3.0e-3, warmup_steps: 20, ema_decay: 0.99, checkpoint_every: 400,
        log_every: 100}
sample: {kind: ode, rtol: 1.0e-4, atol: 1.0e-4}
likelihood: {divergence: exact, rtol: 1.0e-4, atol: 1.0e-4}
reflow:
  n_pairs: 2000
  pair_batch_size: 2000
  train: {steps: 400, batch_size: 256, lr: 3.0e-3, warmup_steps: 20, ema_decay: 0.99, checkpoint_every: 400,
          log_every: 100}
  eval_n: 500
  straightness_steps: 40
evaluate: {nll_examples: 200, nll_batch_size: 200, sample_batch_size: 500}
"""


def test_cli_train_sample_evaluate_then_reflow_straightens(tmp_path):
    cfg_path = tmp_path / "tiny.yaml"
    cfg_path.write_text(TINY)
    run = tmp_path / "tiny" / "seed0"
    ckpt = run / "checkpoint.pt"
    main(SPEC, ["train", "--config", str(cfg_path), "--seed", "0", "--out", str(ckpt), "--device", "cpu"])
    main(SPEC, ["sample", "--ckpt", str(ckpt), "--seeds", "0-499", "--out", str(run / "s.npz"), "--device", "cpu"])
    args = ["evaluate", "--ckpt", str(ckpt), "--samples", str(run / "s.npz"), "--out", str(run / "m.json")]
    main(SPEC, [*args, "--device", "cpu"])
    metrics = json.loads((run / "m.json").read_text())["metrics"]
    assert metrics["energy_distance"]["value"] < 0.05 and metrics["nfe_per_sample"]["value"] > 10
    assert np.isfinite(metrics["nll_nats"]["value"])

    out = run / "reflow" / "checkpoint.pt"
    report = reflow(ckpt, out, device="cpu")
    before, after = report["before"], report["after"]
    assert report["rectified_k"] == 2 and report["experiment"] == "tiny_2rf"
    assert after["straightness"] < 0.5 * before["straightness"]  # Liu et al. Sec. 2: reflow straightens the flow
    assert after["euler_1"] < before["euler_1"]  # and one Euler step improves with it
    assert json.loads((out.parent / "reflow.json").read_text())["after"] == after

    # the pairs are the teacher's flow of the noise their seeds redraw: z1 = flow(z0)
    pairs = torch.load(out.parent / PAIRS_FILE, weights_only=True)
    teacher = load_run(ckpt, SPEC)
    seeds = list(range(pairs["first_seed"], pairs["first_seed"] + pairs["n"]))
    z0 = noise_of(teacher.method.prior, (2,), seeds, "cpu")
    with torch.no_grad():  # one batch, as they were made: the adaptive solver's steps depend on the batch
        z1 = teacher.method.sampler(teacher.method.field, z0, teacher.method.grid)
    torch.testing.assert_close(z1, pairs["x1"], atol=1e-6, rtol=0)

    # the reflowed checkpoint is an ordinary run: the CLI samples it, and a second reflow counts on
    student = load_run(out, SPEC)
    assert student.experiment == "tiny_2rf" and student.ckpt["rectified_k"] == 2
    main(SPEC, ["sample", "--ckpt", str(out), "--seeds", "0-9", "--out", str(run / "r.npz"), "--device", "cpu"])
    with np.load(run / "r.npz") as f:
        assert f["x"].shape == (10, 2) and np.isfinite(f["x"]).all()
    cfg = from_dict(Config, copy.deepcopy(student.ckpt["config"]))
    assert cfg.reflow.n_pairs == 2000
