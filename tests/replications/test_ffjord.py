"""FFJORD (Grathwohl et al. 2019): the CNF's log-density against closed forms, Hutchinson against the exact trace,
x -> z -> x round trips, a short training run on a toy, the RNODE terms, and the logit transform's bits/dim."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from replications.ffjord import toy_figure
from replications.ffjord.cnf import CNF, CNFField, LogitTransform, cnf_log_prob, cnf_sample
from replications.ffjord.config import ConcatSquashConfig, Config, MultiscaleConfig, ODEConfig
from replications.ffjord.method import SPEC, build, build_cnf, n_scales_for
from replications.ffjord.objective import FFJORDLoss, RNODELoss
from shared.config import load
from shared.data.toy2d import sample_toy, toy_log_density
from shared.maths.likelihood import NLL, bits_per_dim
from shared.pipeline.cli import main

CONFIGS = Path(__file__).resolve().parents[2] / "replications" / "ffjord" / "configs"
EXACT = {"divergence": "exact", "atol": 1e-8, "rtol": 1e-8}
BACK = torch.tensor([1.0, 0.0])  # every block backward, s: 1 -> 0


class LinearField(nn.Module):
    """f(x, t) = A x, so x(T) = expm(A T) x and div f = tr(A)."""

    def __init__(self, A):
        super().__init__()
        self.A = nn.Parameter(A)

    def forward(self, x, t):
        return x @ self.A.T


def std_normal(z):
    return -0.5 * (z**2).flatten(1).sum(1) - 0.5 * z[0].numel() * math.log(2 * math.pi)


A = torch.tensor([[-0.5, 0.8], [-0.3, 0.6]], dtype=torch.float64)


def linear_cnf(T=0.7):
    return CNF([LinearField(A.clone())], [("ode", 0)], (2,), T=T, train_T=True).double()


def test_linear_dynamics_give_the_exact_log_density(gen):
    T = 0.7
    x = torch.randn(50, 2, generator=gen, dtype=torch.float64)
    res = cnf_log_prob(linear_cnf(T), x, generator=None, **EXACT)
    z = x @ torch.linalg.matrix_exp(A * T).T
    ref = std_normal(z) + T * torch.trace(A)  # Eq. 4: log p(x) = log p(z) + int_0^T tr(df/dx) dt
    assert torch.allclose(res.z, z, atol=1e-6)
    assert torch.allclose(res.log_prob, ref, atol=1e-6)


@pytest.mark.parametrize("noise", ["rademacher", "gaussian"])
def test_hutchinson_log_density_is_unbiased(noise):
    torch.manual_seed(0)
    cnf = build_cnf(ConcatSquashConfig(hidden=(16, 16)), (2,), ODEConfig(T=1.0)).double()
    x = torch.tensor([[0.5, -1.0]], dtype=torch.float64).expand(4000, 2)
    exact = cnf_log_prob(cnf, x[:1], generator=None, **EXACT).log_prob
    est = cnf_log_prob(
        cnf, x, generator=torch.Generator().manual_seed(1), divergence="hutchinson", noise=noise, atol=1e-6, rtol=1e-6
    ).log_prob
    stderr = float(est.std()) / math.sqrt(len(est))
    assert float(est.std()) > 0  # the probe really varies across examples
    assert abs(float(est.mean() - exact)) < 5 * stderr + 1e-6


def test_toy_round_trip_x_to_z_to_x(gen):
    torch.manual_seed(1)
    cnf = build_cnf(ConcatSquashConfig(hidden=(32, 32), n_blocks=2), (2,), ODEConfig(T=0.5)).double()
    x = torch.randn(20, 2, generator=gen, dtype=torch.float64)
    z = cnf_log_prob(cnf, x, generator=None, **EXACT).z
    back = cnf_sample(CNFField(cnf), z, BACK, atol=1e-8, rtol=1e-8)
    assert not torch.allclose(z, x, atol=1e-2)
    assert torch.allclose(back, x, atol=1e-5)


def test_multiscale_round_trip_and_structure(gen):
    torch.manual_seed(2)
    cfg = MultiscaleConfig(hidden=(8,), n_blocks=1, alpha=0.05)
    cnf = build_cnf(cfg, (1, 8, 8), ODEConfig(T=1.0)).double()
    assert n_scales_for(28) == 3 and n_scales_for(32) == 4 and n_scales_for(8) == 2
    assert [op[0] for op in cnf.plan] == ["ode", "squeeze", "ode", "factor", "ode"]
    assert cnf.latent_shapes == [(2, 4, 4), (2, 4, 4)]
    x = torch.rand(4, 1, 8, 8, generator=gen, dtype=torch.float64) * 0.9 + 0.05
    probe = torch.Generator().manual_seed(0)
    res = cnf_log_prob(cnf, x, generator=probe, divergence="hutchinson", atol=1e-8, rtol=1e-8)
    assert res.z.shape == x.shape and res.nfe > 0
    back = cnf_sample(CNFField(cnf), res.z, BACK, atol=1e-8, rtol=1e-8)
    assert torch.allclose(back, x, atol=1e-5)


def test_logit_transform_bits_per_dim_closed_form(gen):
    # y = logit(alpha + (1 - 2 alpha) x) with a standard logistic y makes alpha + (1 - 2 alpha) x uniform on (0, 1),
    # so x has the constant density 1 - 2 alpha on its support: bits/dim = 8 - log2(1 - 2 alpha) exactly.
    for alpha in (0.0, 1e-6, 0.05):
        x = torch.rand(16, 3, 4, 4, generator=gen, dtype=torch.float64) * 0.8 + 0.1
        y, logdet = LogitTransform(alpha).forward(x)
        logistic = (-y - 2 * torch.nn.functional.softplus(-y)).flatten(1).sum(1)
        bpd = bits_per_dim(NLL(-(logistic + logdet), discrete=False), 48, "[0,1]")
        assert torch.allclose(bpd, torch.full_like(bpd, 8 - math.log2(1 - 2 * alpha)), atol=1e-9)
        assert torch.allclose(LogitTransform(alpha).inverse(y), x, atol=1e-9)


def test_image_nll_includes_the_logit_jacobian(gen):
    cfg = load(CONFIGS / "smoke_digits.yaml", Config)
    method = build(cfg)
    for p in method.net.fields.parameters():
        nn.init.zeros_(p)  # zero dynamics: z = logit(alpha + (1 - 2 alpha) x)
    x = torch.rand(3, *cfg.data.shape, generator=gen) * 0.9 + 0.05
    nll = method.nll(method.net, x, torch.Generator().manual_seed(0))
    y, logdet = LogitTransform(cfg.net.alpha).forward(x)
    assert not nll.discrete
    assert torch.allclose(nll.nats, -(std_normal(y) + logdet), rtol=1e-4)


def test_images_need_unit_range_and_dequantization():
    cfg = load(CONFIGS / "smoke_digits.yaml", Config, ["data.data_range='[-1,1]'"])
    with pytest.raises(ValueError, match="data_range"):
        build(cfg)


def test_short_training_lowers_the_toy_nll():
    torch.manual_seed(0)
    cnf = build_cnf(ConcatSquashConfig(hidden=(32, 32)), (2,), ODEConfig(T=0.5))
    loss = FFJORDLoss({"divergence": "hutchinson", "atol": 1e-3, "rtol": 1e-3})
    opt = torch.optim.Adam(cnf.parameters(), lr=2e-2)
    test = sample_toy("8gaussians", 500, torch.Generator().manual_seed(0))

    def nll():
        with torch.no_grad():
            res = cnf_log_prob(cnf, test, generator=None, divergence="exact", atol=1e-4, rtol=1e-4)
            return float(-res.log_prob.mean())

    before = nll()
    for step in range(20):
        x = sample_toy("8gaussians", 128, torch.Generator().manual_seed(100 + step))
        opt.zero_grad()
        loss(cnf, x, torch.Generator().manual_seed(step)).mean().backward()
        opt.step()
    after = nll()
    assert loss.stats()["nfe"] > 0
    assert before > 5.5  # N(0, I) on data at radius 2.8: about 6 nats
    assert after < 4.4, (before, after)  # seeded: 3.86 when written


def test_rnode_terms_in_model_time_on_a_linear_field(gen):
    # the CNF integrates s in [0, 1]; the terms are reported in the block's own time t in [0, T]
    T = 0.7
    x = torch.randn(30, 2, generator=gen, dtype=torch.float64)
    loss = RNODELoss({**EXACT}, kinetic=0.1, jacobian_frobenius=0.0)
    out = loss(linear_cnf(T), x, torch.Generator().manual_seed(0))
    ts = torch.linspace(0, T, 2001, dtype=torch.float64)
    xs = torch.einsum("tij,bj->tbi", torch.linalg.matrix_exp(A * ts[:, None, None]), x)
    speed2 = ((xs @ A.T) ** 2).sum(-1)  # (t, B)
    kinetic = torch.trapezoid(speed2, ts, dim=0)
    ref = -(std_normal(x @ torch.linalg.matrix_exp(A * T).T) + T * torch.trace(A)) + 0.1 * kinetic
    assert torch.allclose(out.detach(), ref, rtol=1e-5)
    jac = RNODELoss({**EXACT}, kinetic=0.0, jacobian_frobenius=1.0)
    jac(linear_cnf(T), x, torch.Generator().manual_seed(0))
    # ||eps^T A||^2 for Rademacher eps averages to ||A||_F^2; here it is exact per example, so check the mean
    assert abs(jac.stats()["JacobianFrobenius"] - T * float((A**2).sum())) < 0.5 * T * float((A**2).sum())


def test_cli_forward_hook_counts_every_velocity_evaluation(gen):
    # the CLI counts NFE with a forward pre-hook on the net: one call per velocity evaluation of any block
    cnf = build_cnf(MultiscaleConfig(hidden=(4,), n_blocks=1), (1, 8, 8), ODEConfig(T=1.0))
    calls, per_block = [0], [0] * len(cnf.fields)
    cnf.register_forward_pre_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    for k, field in enumerate(cnf.fields):
        field.register_forward_pre_hook(lambda *_, k=k: per_block.__setitem__(k, per_block[k] + 1))
    with torch.no_grad():
        cnf_sample(CNFField(cnf), torch.randn(2, 1, 8, 8, generator=gen), BACK, atol=1e-3, rtol=1e-3)
    assert calls[0] == sum(per_block) and min(per_block) > 0
    calls[0] = 0
    res = cnf_log_prob(cnf, torch.rand(2, 1, 8, 8, generator=gen), generator=gen, atol=1e-3, rtol=1e-3)
    assert res.nfe == calls[0]


def test_adjoint_training_gradients_match_backprop(gen):
    torch.manual_seed(3)
    cnf = build_cnf(ConcatSquashConfig(hidden=(16,), n_blocks=2), (2,), ODEConfig(T=0.5)).double()
    x = torch.randn(16, 2, generator=gen, dtype=torch.float64)
    grads = []
    for adjoint in (False, True):
        cnf.zero_grad()
        loss = FFJORDLoss({"divergence": "exact", "atol": 1e-8, "rtol": 1e-8, "adjoint": adjoint})
        loss(cnf, x, torch.Generator().manual_seed(0)).mean().backward()
        grads.append(torch.cat([p.grad.flatten() for p in cnf.parameters()]))
    assert cnf.sqrt_T.grad is not None and cnf.sqrt_T.grad.abs().sum() > 0  # the end times are learned
    assert torch.allclose(grads[0], grads[1], rtol=1e-3, atol=1e-6)  # adjoint is exact only to the solver tolerance


def test_toy_figure_panel_and_assemble(tmp_path):
    """The Fig. 2 pipeline on a briefly trained rings model: the density on the grid is a density, the evaluation
    tolerance is the one asked for, the true entropy comes from the closed form, and the figure and table are made."""
    ckpt = tmp_path / "run" / "checkpoint.pt"
    overrides = ["train.steps=20", "train.checkpoint_every=20", "train.log_every=10", "train.batch_size=64"]
    argv = ["train", "--config", str(CONFIGS / "toy_rings.yaml"), "--out", str(ckpt), "--device", "cpu"]
    main(SPEC, argv + [a for o in overrides for a in ("--set", o)])
    panel = tmp_path / "rings.npz"
    toy_figure.panel(ckpt, panel, grid=40, n_samples=500, n_test=300, n_entropy=20_000, tol=1e-5)
    p = dict(np.load(panel))
    info = json.loads(str(p["info"]))
    assert info["eval_tol"] == [1e-5, 1e-5] and info["train_steps"] == 20
    cell = (2 * toy_figure.LIM / 40) ** 2
    mass = float(np.exp(p["logp"]).sum() * cell)  # the flow's mass inside [-4, 4]^2: at most 1, most of it
    assert 0.8 < mass < 1.02, mass
    assert p["samples"].shape == (500, 2) and np.isfinite(p["samples"]).all()
    assert p["hist"].sum() > 0.99 * 200_000  # the data histogram holds (nearly) every point
    x = sample_toy("rings", 20_000, torch.Generator().manual_seed(0))
    assert info["entropy_nats"][0] == pytest.approx(float(-toy_log_density("rings", x).mean()), abs=0.05)
    assert info["nll_nats"][0] > info["entropy_nats"][0] - 0.1  # a cross-entropy is not below the entropy
    png, table = tmp_path / "fig.png", tmp_path / "nll.md"
    toy_figure.assemble([panel, panel], png, table)
    assert png.stat().st_size > 1000
    rows = table.read_text().splitlines()
    cells = [[c.strip() for c in r.strip("|").split("|")] for r in rows[2:4]]
    assert cells[0][:2] == ["rings", "20"] and cells[1][0] == "rings" and "unknown" not in rows[2]
    assert info["provenance"]["git_commit"] and rows[-1].startswith("Evaluated at (atol, rtol) (1e-05, 1e-05); code ")
