"""The shared denoising-score-matching family and preconditionings: identities and closed-form minimisers."""

import pytest
import torch
from torch import nn

from shared.maths.losses import DSMLoss, LikelihoodWeighting, SigmaSquared
from shared.maths.precond import LogSigmaSteps, NoisePrediction, ScaledTime, SigmaScaling
from shared.maths.processes import VESDE, VPSDE, SubVPSDE


def build_precond(process):
    """Score-SDE's choice (App. H): sigma scaling on log sigma for VE, noise prediction on 999 t for VP / sub-VP."""
    if isinstance(process, VESDE):
        return SigmaScaling(LogSigmaSteps(process.sigma_min, process.sigma_max, process), process)
    return NoisePrediction(ScaledTime(999.0), process)


class OracleNet(nn.Module):
    """Output c-dependent callable, for checking the preconditioners: net(x, c) = f(x, c)."""

    def __init__(self, f):
        super().__init__()
        self.f = f

    def forward(self, x, c):
        return self.f(x, c)


def test_preconditioning_identities():
    vp, ve = VPSDE(), VESDE(0.01, 50.0)
    t = torch.tensor([1e-5, 0.3, 1.0])
    x = torch.randn(3, 2)
    out = torch.randn(3, 2)
    net = OracleNet(lambda x, c: out)
    p = build_precond(vp)
    assert isinstance(p, NoisePrediction)
    torch.testing.assert_close(p.condition(t), 999 * t)
    torch.testing.assert_close(p.field(net).score(x, t), -out / vp.sigma(t)[:, None])
    q = build_precond(ve)
    assert isinstance(q, SigmaScaling) and isinstance(build_precond(SubVPSDE()), NoisePrediction)
    c = q.condition(torch.tensor([0.0, 1.0]))
    torch.testing.assert_close(c, torch.tensor([0.0, 999.0]))  # log sigma_min -> 0, log sigma_max -> 999
    torch.testing.assert_close(q.field(net).score(x, t), out / ve.sigma(t)[:, None])


def test_dsm_loss_of_the_exact_score_is_closed_form():
    """VP with N(0, I) data: p_t = N(0, I), score = -x, so || sigma s + z ||^2 / D has mean E_t[alpha_t^2]."""
    vp = VPSDE()
    net = OracleNet(lambda x, c: vp.sigma(c / 999)[:, None] * x)  # eps-net of the exact score: sigma * x
    loss = DSMLoss(vp, NoisePrediction(ScaledTime(999.0), vp), SigmaSquared())
    x0 = torch.randn(200_000, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    got = loss(net, x0, torch.Generator().manual_seed(1)).mean()
    t = torch.linspace(vp.t_min, 1.0, 100_001, dtype=torch.float64)
    expected = torch.trapezoid(vp.alpha(t) ** 2, t) / (1 - vp.t_min)
    assert abs(float(got) - float(expected)) < 0.01, (float(got), float(expected))
    worse = loss(OracleNet(lambda x, c: 1.2 * net(x, c)), x0, torch.Generator().manual_seed(1))
    assert worse.mean() > got + 0.005  # the exact score is the minimiser


@pytest.mark.parametrize("process", [VESDE(0.01, 50.0), VPSDE(), SubVPSDE()], ids=["ve", "vp", "subvp"])
def test_weightings_differ_by_g2_over_sigma2(process):
    """lambda = g^2 (likelihood weighting) versus lambda = sigma^2: per example the ratio is g(t)^2 / sigma(t)^2."""
    precond = build_precond(process)
    net = OracleNet(lambda x, c: torch.sin(x) + 0.01 * c[:, None])
    x0 = torch.randn(64, 3, dtype=torch.float64)
    base = DSMLoss(process, precond, SigmaSquared(), "sum")(net, x0, torch.Generator().manual_seed(3))
    lik = DSMLoss(process, precond, LikelihoodWeighting(), "sum")(net, x0, torch.Generator().manual_seed(3))
    t = process.sample_t(64, torch.Generator().manual_seed(3))
    torch.testing.assert_close(lik, base * process.diffusion(t) ** 2 / process.sigma(t) ** 2)
    mean = DSMLoss(process, precond, SigmaSquared(), "mean")(net, x0, torch.Generator().manual_seed(3))
    torch.testing.assert_close(base, 0.5 * 3 * mean)  # "sum" is the official code's 0.5 * sum
