"""DDPM: the paper model's size, eps <-> score, L_simple against its formula, the bound's pieces against closed
forms, the bound itself against the exact NLL of Gaussian data, and a short training run that learns."""

import math
from pathlib import Path

import pytest
import torch

from replications.ddpm.config import Config
from replications.ddpm.method import build
from replications.ddpm.vlb import VariationalBound, discretized_gaussian_log_prob, gaussian_kl
from shared.config import load
from shared.maths.precond import NoisePrediction, StepIndex
from shared.maths.processes import DiscreteVP

CONFIGS = Path(__file__).resolve().parents[2] / "replications" / "ddpm" / "configs"


def test_cifar10_model_has_the_papers_35_7m_parameters():
    method = build(load(CONFIGS / "cifar10.yaml", Config))
    n = sum(p.numel() for p in method.net.parameters())
    assert abs(n - 35.7e6) < 0.1e6, n


@pytest.mark.parametrize("name", ["smoke_toy", "smoke_digits", "cifar10"])
def test_configs_load(name):
    cfg = load(CONFIGS / f"{name}.yaml", Config)
    assert (cfg.process.beta_1, cfg.process.beta_T, cfg.process.T) == (1e-4, 0.02, 1000)


class Linear(torch.nn.Module):
    """eps_theta(x, c) = w(c) x, a net whose output we can predict."""

    def forward(self, x, c):
        return x * (1 + c[:, None] / 1000)


def test_eps_score_conversion_and_step_index():
    chain = DiscreteVP.linear(1e-4, 0.02, 1000)
    pre = NoisePrediction(StepIndex(chain.n_steps), chain)
    x, t = torch.randn(5, 2), torch.tensor([1, 10, 500, 999, 1000]) / 1000
    eps = pre(Linear(), x, t)
    assert torch.allclose(eps, x * (1 + (t * 1000 - 1)[:, None] / 1000))  # the net sees i - 1 (0-based)
    assert torch.allclose(pre.field(Linear()).score(x, t), -eps / chain.sigma(t)[:, None])


def test_l_simple_is_eq_14():
    cfg = load(CONFIGS / "smoke_toy.yaml", Config)
    method = build(cfg)
    x0 = torch.randn(64, 2)
    loss = method.loss(Linear(), x0, torch.Generator().manual_seed(5))
    # redo Algorithm 1 by hand with the same random stream
    g = torch.Generator().manual_seed(5)
    i = torch.randint(1, 1001, (64,), generator=g)
    eps = torch.randn(64, 2, generator=g)
    alpha_bar = torch.cumprod(1 - torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64), 0)[i - 1].float()
    x_t = alpha_bar.sqrt()[:, None] * x0 + (1 - alpha_bar).sqrt()[:, None] * eps
    ref = (eps - x_t * (1 + (i - 1)[:, None] / 1000)).pow(2).mean(1)
    assert torch.allclose(loss, ref, rtol=1e-4, atol=1e-5)


def test_gaussian_kl_matches_torch_distributions():
    mq, mp = torch.randn(3, 4), torch.randn(3, 4)
    vq, vp = torch.rand(3) + 0.1, torch.rand(3) + 0.1
    ref = torch.distributions.kl_divergence(
        torch.distributions.Normal(mq, vq.sqrt()[:, None]), torch.distributions.Normal(mp, vp.sqrt()[:, None])
    ).sum(1)
    assert torch.allclose(gaussian_kl(mq, vq, mp, vp), ref, atol=1e-5)


@pytest.mark.parametrize("mean, std", [(0.0, 0.01), (0.9, 0.3), (-0.99, 0.002), (0.5, 5.0)])
def test_discretized_gaussian_sums_to_one_over_the_256_bins(mean, std):
    x = (torch.arange(256.0) / 255 * 2 - 1)[:, None]
    logp = discretized_gaussian_log_prob(x, torch.full_like(x, mean), torch.full((256,), std), 1 / 255, -1.0, 1.0)
    assert torch.exp(logp).sum().item() == pytest.approx(1.0, abs=1e-5)
    assert torch.isfinite(logp).all()


def expected_bound_for_gaussian_data(betas, m, s2, d):
    """E[L] in closed form when x0 ~ N(m, s2 I) and x0_hat = E[x0 | x_t] exactly (posterior variances).

    E[KL_t] = D c_t^2 V_t / (2 beta_tilde_t) with c_t the x0-coefficient of the posterior mean and
    V_t = Var[x0 | x_t]; L_T and the Gaussian decoder L_0 are Gaussian expectations.
    """
    betas = betas.double()
    ab = torch.cumprod(1 - betas, 0)
    ab_prev = torch.cat([torch.ones(1, dtype=torch.float64), ab[:-1]])
    beta_tilde = betas * (1 - ab_prev) / (1 - ab)
    c = ab_prev.sqrt() * betas / (1 - ab)  # DDPM Eq. 7, coefficient of x0
    v = s2 * (1 - ab) / (ab * s2 + 1 - ab)  # Var[x0 | x_t]
    kl = 0.5 * d * c[1:] ** 2 * v[1:] / beta_tilde[1:]
    l_T = 0.5 * d * (ab[-1] * (m**2 + s2) + (1 - ab[-1]) - 1 - torch.log(1 - ab[-1]))
    var_dec = beta_tilde[1]  # decoder variance clipped to beta_tilde_2, as in the official code
    l_0 = 0.5 * d * (math.log(2 * math.pi) + torch.log(var_dec) + v[0] / var_dec)
    return float(l_T + kl.sum() + l_0)


def test_bound_matches_its_closed_form_for_gaussian_data():
    """With the exact eps of Gaussian data, the Monte-Carlo bound equals E[L] derived by hand, and exceeds the NLL."""
    chain = DiscreteVP.linear(1e-4, 0.02, 1000)
    m, s2, d = 0.3, 0.5, 2

    class ExactEps(torch.nn.Module):
        def forward(self, x, c):
            t = (c + 1) / 1000
            a, sig = chain.alpha(t)[:, None], chain.sigma(t)[:, None]
            return sig * (x - a * m) / (a**2 * s2 + sig**2)

    bound = VariationalBound(
        chain, NoisePrediction(StepIndex(chain.n_steps), chain), variance="posterior", clip_x0=None, data_range=None
    )
    x0 = m + math.sqrt(s2) * torch.randn(4000, d, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    with torch.no_grad():
        nll = bound(ExactEps(), x0, torch.Generator().manual_seed(1))
    expected = expected_bound_for_gaussian_data(chain.betas, m, s2, d)
    se = float(nll.nats.std()) / math.sqrt(len(x0))
    assert abs(float(nll.nats.mean()) - expected) < 5 * se + 1e-3, (float(nll.nats.mean()), expected)
    true_nll = 0.5 * d * (math.log(2 * math.pi * s2) + 1)
    assert expected > true_nll and not nll.discrete


def test_short_training_lowers_the_bound_on_a_toy(tmp_path):
    cfg = load(CONFIGS / "smoke_toy.yaml", Config, ["train.steps=300", "process.T=100", "train.log_every=300"])
    from shared.data.source import DataSource
    from shared.pipeline.train import fit

    method = build(cfg)
    data = DataSource(cfg.data, 0)
    x = data.test_points()[:500]
    with torch.no_grad():
        before = method.nll(method.net, x, torch.Generator().manual_seed(0)).nats.mean()
    fit(method.net, method.loss, data, cfg.train, tmp_path, seed=0, device=torch.device("cpu"))
    with torch.no_grad():
        after = method.nll(method.net, x, torch.Generator().manual_seed(0)).nats.mean()
    assert after < before - 1.0, (before, after)
