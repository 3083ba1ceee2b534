"""Ancestral sampling driven by the exact score of Gaussian data reproduces the data's mean and covariance;
one step equals DDPM's Algorithm 2 written out in plain torch."""

import math

import pytest
import torch

from shared.maths.fields import ScoreField
from shared.maths.processes import VPSDE, DiscreteVE, DiscreteVP
from shared.maths.samplers import SAMPLERS, sample_ancestral
from shared.utils import PerSampleGenerator, append_dims

MU = torch.tensor([1.0, -0.5])
COV = torch.tensor([[0.30, 0.12], [0.12, 0.20]])


def exact_score(process):
    """Score of p_t when x0 ~ N(MU, COV): -(a^2 COV + s^2 I)^-1 (x - a MU)."""

    def score(x, t):
        a, s = process.alpha(t), process.sigma(t)
        p = a**2 * COV[0, 0] + s**2  # cov_t = [[p, q], [q, r]], inverted in closed form
        q = a**2 * COV[0, 1]
        r = a**2 * COV[1, 1] + s**2
        d = x - a[:, None] * MU
        det = p * r - q**2
        return -torch.stack([r * d[:, 0] - q * d[:, 1], p * d[:, 1] - q * d[:, 0]], 1) / det[:, None]

    return ScoreField(score, process)


def eps_from_score(process, score):
    return lambda x, t: -append_dims(process.sigma(t), x.ndim) * score(x, t)


@pytest.mark.parametrize(
    "process, n_steps, variance",
    [
        (DiscreteVP.linear(1e-4, 0.02, 1000), 1000, "forward"),  # DDPM, Algorithm 2 with sigma_t^2 = beta_t
        (DiscreteVP.linear(1e-4, 0.02, 1000), 1000, "posterior"),  # sigma_t^2 = beta_tilde_t
        (DiscreteVP.linear(1e-4, 0.02, 1000), 250, "forward"),  # strided grid, exact kernels between steps
        (DiscreteVE(torch.exp(torch.linspace(math.log(0.01), math.log(10.0), 200))), 200, "posterior"),  # SMLD
    ],
    ids=["ddpm-forward", "ddpm-posterior", "ddpm-strided", "ncsn-chain"],
)
def test_reproduces_gaussian_data(process, n_steps, variance):
    n = 20000
    gen = torch.Generator().manual_seed(0)
    x = process.prior.sample((n, 2), gen)
    out = sample_ancestral(exact_score(process), x, process.time_grid(n_steps), variance=variance, generator=gen)
    se = torch.sqrt(torch.diag(COV) / n)
    assert torch.all((out.mean(0) - MU).abs() < 5 * se), (out.mean(0), MU)
    # sample covariance entries have SE ~ sqrt((s_ii s_jj + s_ij^2) / n); 5 SE plus 3% for the discretisation
    cov = torch.cov(out.T)
    tol = 5 * torch.sqrt((torch.outer(torch.diag(COV), torch.diag(COV)) + COV**2) / n) + 0.03 * COV.abs()
    assert torch.all((cov - COV).abs() < tol), (cov, COV)


def test_one_step_is_algorithm_2():
    """x_{t-1} = (x_t - beta_t / sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_t) + sqrt(beta_t) z (Ho et al. 2020)."""
    chain = DiscreteVP.linear(1e-4, 0.02, 1000)
    score = exact_score(chain)
    x = torch.randn(6, 2, generator=torch.Generator().manual_seed(3))
    i = 700
    ts = torch.tensor([i / 1000, (i - 1) / 1000])
    z = torch.randn(6, 2, generator=torch.Generator().manual_seed(4))
    out = sample_ancestral(score, x, ts, generator=torch.Generator().manual_seed(4))
    beta = chain.betas[i - 1].float()
    alpha_bar = torch.prod(1 - chain.betas[:i]).float()
    eps = eps_from_score(chain, score)(x, torch.full((6,), i / 1000))
    ref = (x - beta / torch.sqrt(1 - alpha_bar) * eps) / torch.sqrt(1 - beta) + torch.sqrt(beta) * z
    assert torch.allclose(out, ref, atol=1e-5)


def test_last_step_returns_x0_hat_and_clipping_applies():
    chain = DiscreteVP.linear(1e-4, 0.02, 1000)
    x = torch.full((4, 2), 3.0)
    ts = torch.tensor([1 / 1000, 0.0])
    out = sample_ancestral(ScoreField(lambda x, t: torch.zeros_like(x), chain), x, ts, clip_x0=(-1.0, 1.0))
    assert torch.equal(out, torch.ones(4, 2))  # x0_hat = x / sqrt(alpha_bar_1) > 1, clipped


def test_callback_sees_every_step_and_samples_are_batch_invariant():
    chain = DiscreteVP.linear(1e-4, 0.02, 1000)
    score, ts = exact_score(chain), chain.time_grid(20)
    seen = []
    g_all = PerSampleGenerator(range(8))
    full = sample_ancestral(
        score,
        chain.prior.sample((8, 2), g_all),
        ts,
        generator=g_all,
        callback=lambda d: seen.append(d["i"]),
    )
    assert seen == list(range(20))
    g_part = PerSampleGenerator(range(4, 8))
    part = sample_ancestral(score, chain.prior.sample((4, 2), g_part), ts, generator=g_part)
    assert torch.allclose(full[4:], part, atol=1e-6)


def test_registry_and_the_vp_sde_grid():
    assert SAMPLERS["ancestral"] is sample_ancestral
    vp = VPSDE()
    out = sample_ancestral(
        exact_score(vp),
        vp.prior.sample((4000, 2), torch.Generator().manual_seed(1)),
        vp.time_grid(200),
        generator=torch.Generator().manual_seed(2),
    )
    assert torch.all((out.mean(0) - MU).abs() < 0.05)
