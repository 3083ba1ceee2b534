"""Forward processes against simulation and closed forms: SDE marginals by Euler-Maruyama, DDPM's chain by
iterating q(x_i | x_{i-1}), the posterior by Bayes' rule, the prior density by torch.distributions."""

import math

import pytest
import torch

from shared.maths.processes import VESDE, VPSDE, DiscreteVE, DiscreteVP, SubVPSDE

SDES = {
    "vp": VPSDE(beta_min=0.1, beta_max=20.0),
    "subvp": SubVPSDE(beta_min=0.1, beta_max=20.0),
    "ve": VESDE(sigma_min=0.01, sigma_max=5.0),
}


@pytest.mark.parametrize("name", list(SDES))
def test_sde_marginal_matches_euler_maruyama_simulation(name, gen):
    """Simulate dx = f dt + g dw from fixed x0 in 1000 small steps; compare mean and std at t = 0.3 and 1."""
    sde = SDES[name]
    n, steps = 8000, 1000
    x0 = torch.tensor([1.5, -0.5], dtype=torch.float64)
    x = x0.repeat(n, 1)
    if name == "ve":  # the paper's VE kernel has std sigma(t): x(0) already carries sigma_min noise
        x = x + sde.sigma_min * torch.randn(x.shape, generator=gen, dtype=torch.float64)
    dt = 1.0 / steps
    checks = {300: None, 1000: None}
    for k in range(steps):
        t = torch.full((n,), k * dt, dtype=torch.float64)
        f, g = sde.sde(x, t)
        x = x + f * dt + g[:, None] * math.sqrt(dt) * torch.randn(x.shape, generator=gen, dtype=torch.float64)
        if k + 1 in checks:
            tt = torch.full((1,), (k + 1) * dt, dtype=torch.float64)
            mean, std = sde.marginal(x0[None], tt)
            # tolerances: 5 Monte-Carlo standard errors plus 1% for the Euler-Maruyama bias (O(beta dt))
            se = float(std) / math.sqrt(n)
            assert torch.allclose(x.mean(0), mean[0], atol=5 * se + 1e-2 * float(std))
            assert torch.allclose(x.std(0), std.expand(2), rtol=5 / math.sqrt(2 * n) + 1e-2)


def test_ddpm_chain_is_the_discretised_vp_sde():
    """beta_i = beta_bar_i / N reproduces DDPM's linear 1e-4..0.02 (Song et al. 2021, App. B)."""
    vp = VPSDE(beta_min=0.1, beta_max=20.0, n_steps=1000)
    assert torch.allclose(vp.discrete_betas(), torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64))
    chain = DiscreteVP(vp.discrete_betas())
    t = torch.tensor([0.1, 0.5, 1.0])
    # the chain's alpha_bar follows the SDE's marginal closely for N = 1000
    assert torch.allclose(chain.alpha(t), vp.alpha(t), rtol=2e-2, atol=1e-4)


def test_discrete_vp_marginal_matches_iterating_the_chain(gen):
    chain = DiscreteVP.linear(1e-3, 0.2, 50)
    n = 40000
    x0 = torch.full((n, 1), 2.0, dtype=torch.float64)
    x = x0.clone()
    for i in range(1, 51):
        b = chain.betas[i - 1]
        x = torch.sqrt(1 - b) * x + torch.sqrt(b) * torch.randn(x.shape, generator=gen, dtype=torch.float64)
        if i in (10, 50):
            t = torch.tensor([i / 50])
            assert abs(float(x.mean()) - 2.0 * float(chain.alpha(t))) < 4 * float(chain.sigma(t)) / math.sqrt(n)
            assert float(x.std()) == pytest.approx(float(chain.sigma(t)), rel=0.02)


@pytest.mark.parametrize(
    "process",
    [
        DiscreteVP.linear(1e-4, 0.02, 1000),
        VPSDE(),
        SubVPSDE(),
        VESDE(sigma_max=5.0),
        DiscreteVE(torch.linspace(0.1, 3, 20)),
    ],
    ids=["ddpm", "vp", "subvp", "ve", "ncsn"],
)
def test_posterior_is_bayes_rule(process, gen):
    """q(x_s | x_t, x0) ∝ q(x_t | x_s) q(x_s | x0): compare with the product of Gaussians in 1-D."""
    n = 1 if not hasattr(process, "n_steps") else process.n_steps
    t = torch.tensor([round(0.7 * n) / n], dtype=torch.float64)
    s = torch.tensor([round(0.4 * n) / n], dtype=torch.float64)
    x0 = torch.randn(1, 1, generator=gen, dtype=torch.float64)
    xt = torch.randn(1, 1, generator=gen, dtype=torch.float64)
    a_ts, v_ts = process.transition(t, s)
    a_s, v_s = process.alpha(s), process.sigma(s) ** 2
    # prior on x_s: N(a_s x0, v_s); likelihood of x_t: N(a_ts x_s, v_ts)
    prec = 1 / v_s + a_ts**2 / v_ts
    mean_ref = (a_s * x0[:, 0] / v_s + a_ts * xt[:, 0] / v_ts) / prec
    mean, var = process.posterior(x0, xt, t, s)
    assert torch.allclose(mean[:, 0], mean_ref, rtol=1e-6)
    assert torch.allclose(var, 1 / prec, rtol=1e-6)


@pytest.mark.parametrize("process", [VPSDE(), VESDE(sigma_max=3.0), DiscreteVE(torch.linspace(0.1, 3, 5))])
def test_prior_logp_is_the_gaussian_density(process, gen):
    z = process.prior.sample((7, 3, 2), gen)
    ref = torch.distributions.Normal(0.0, process.prior_std).log_prob(z).flatten(1).sum(1)
    assert torch.allclose(process.prior.log_prob(z), ref, atol=1e-4)
    assert float(z.std()) == pytest.approx(process.prior_std, rel=0.5)


def test_denoise_is_tweedie_for_gaussian_data():
    """For x0 ~ N(m, s^2), E[x0 | x_t] = m + s^2 a (x - a m) / (a^2 s^2 + sigma^2), via the exact score."""
    p, m, s2 = VPSDE(), 0.7, 0.25
    t = torch.full((5,), 0.4)
    a, sig = p.alpha(t)[:, None], p.sigma(t)[:, None]
    x = torch.linspace(-2, 2, 5)[:, None]
    score = lambda x, t: -(x - a * m) / (a**2 * s2 + sig**2)  # noqa: E731
    ref = m + s2 * a * (x - a * m) / (a**2 * s2 + sig**2)
    assert torch.allclose(p.denoise(x, t, score), ref, atol=1e-5)


def test_time_grids_and_training_times(gen):
    chain = DiscreteVP.linear(1e-4, 0.02, 1000)
    grid = chain.time_grid()
    assert grid[0] == 1 and grid[-1] == 0 and len(grid) == 1001 and torch.all(grid[1:] < grid[:-1])
    strided = chain.time_grid(10)
    assert len(strided) == 11 and torch.allclose(strided * 1000, (strided * 1000).round())
    t = chain.sample_t(10000, gen)
    assert t.min() >= 1e-3 - 1e-9 and t.max() <= 1.0 and len(torch.unique(t)) > 900
    with pytest.raises(ValueError):
        chain.time_grid(2000)
    sde = VPSDE()
    t = sde.sample_t(1000, gen)
    assert t.min() >= sde.t_min and t.max() <= 1.0
