"""Probability-flow likelihoods of Song et al. (2021), App. D.2, through ``shared.maths.ode`` with exact scores.

For Gaussian data x0 ~ N(MU, C), p_t = N(alpha_t MU, alpha_t^2 C + sigma_t^2 I) in closed form, so the
probability-flow ODE (Eq. 13) carries p_eps exactly onto p_T: log p_eps(x) from ``log_prob_ode`` must equal the
closed-form log-density. Hutchinson's estimator must agree with the exact divergence in expectation, and the
ODE must map data to the prior and back to the same points.
"""

import math

import pytest
import torch

from shared.maths.fields import ScoreField
from shared.maths.ode import divergence_exact, divergence_hutchinson, log_prob_ode, probe_noise
from shared.maths.processes import VESDE, VPSDE, SubVPSDE
from shared.maths.samplers import sample_flow

MU = torch.tensor([0.5, -1.0], dtype=torch.float64)
C = torch.tensor([[0.6, 0.2], [0.2, 0.4]], dtype=torch.float64)
PROCESSES = {
    "ve": VESDE(sigma_min=0.01, sigma_max=10.0),
    "vp": VPSDE(beta_min=0.1, beta_max=20.0),
    "subvp": SubVPSDE(beta_min=0.1, beta_max=20.0),
}


def cov_t(process, t):
    a, s = process.alpha(t), process.sigma(t)
    return a[:, None, None] ** 2 * C + s[:, None, None] ** 2 * torch.eye(2, dtype=torch.float64)


def exact_score(process):
    def score(x, t):
        d = x - process.alpha(t)[:, None] * MU
        return -torch.linalg.solve(cov_t(process, t), d.unsqueeze(-1)).squeeze(-1)

    return score


def log_density(process, x, t):
    """log N(x; alpha_t MU, alpha_t^2 C + sigma_t^2 I) in plain torch: (B,)."""
    cov = cov_t(process, t)
    d = x - process.alpha(t)[:, None] * MU
    maha = (d * torch.linalg.solve(cov, d.unsqueeze(-1)).squeeze(-1)).sum(1)
    return -0.5 * maha - 0.5 * torch.logdet(cov) - math.log(2 * math.pi)


def data(n, seed=0):
    z = torch.randn(n, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    return MU + z @ torch.linalg.cholesky(C).T


@pytest.mark.parametrize("kind", PROCESSES)
def test_probability_flow_likelihood_equals_closed_form(kind):
    process = PROCESSES[kind]
    x = data(64)
    f = process.probability_flow(exact_score(process))
    t_end = torch.full((64,), process.T, dtype=torch.float64)
    res = log_prob_ode(
        f,
        x,
        process.t_min,
        process.T,
        lambda z: log_density(process, z, t_end),
        divergence="exact",
        rtol=1e-7,
        atol=1e-7,
    )
    expected = log_density(process, x, torch.full((64,), process.t_min, dtype=torch.float64))
    rel = ((res.log_prob - expected).abs() / expected.abs()).max()
    assert rel < 1e-3, f"relative error {rel:.2e}"
    assert res.nfe > 0


def test_likelihood_with_the_process_prior_is_close():
    """With the process's own N(0, prior_std^2 I) prior (the paper's protocol), the error is the prior mismatch only."""
    process = PROCESSES["vp"]
    x = data(64)
    res = log_prob_ode(
        process.probability_flow(exact_score(process)),
        x,
        process.t_min,
        1.0,
        process.prior.log_prob,
        divergence="exact",
    )
    expected = log_density(process, x, torch.full((64,), process.t_min, dtype=torch.float64))
    assert (res.log_prob - expected).abs().mean() < 0.02


def test_hutchinson_agrees_with_exact_divergence_in_expectation():
    process = PROCESSES["vp"]
    f = process.probability_flow(exact_score(process))
    x = data(8).repeat(4000, 1)
    t = torch.full((x.shape[0],), 0.3, dtype=torch.float64)
    _, exact = divergence_exact(f, x.clone(), t)
    for kind in ("rademacher", "gaussian"):
        noise = probe_noise(x, kind, torch.Generator().manual_seed(1))
        _, est = divergence_hutchinson(f, x.clone(), t, noise)
        mean = est.reshape(4000, 8).mean(0)
        se = est.reshape(4000, 8).std(0) / math.sqrt(4000)
        assert ((mean - exact[:8]).abs() < 4 * se + 1e-9).all(), f"{kind}: {mean} vs {exact[:8]}"


def test_hutchinson_log_prob_is_unbiased():
    """One probe per solve (FFJORD Sec. 3.1): the mean over many probes is the exact log-likelihood."""
    process = PROCESSES["subvp"]
    f = process.probability_flow(exact_score(process))
    x = data(4).repeat(200, 1)
    res = log_prob_ode(
        f,
        x,
        process.t_min,
        1.0,
        process.prior.log_prob,
        rtol=1e-5,
        atol=1e-5,
        generator=torch.Generator().manual_seed(2),
    )
    exact = log_prob_ode(f, x[:4], process.t_min, 1.0, process.prior.log_prob, divergence="exact").log_prob
    est = res.log_prob.reshape(200, 4)
    se = est.std(0) / math.sqrt(200)
    assert ((est.mean(0) - exact).abs() < 4 * se + 1e-6).all()
    assert (est.std(0) > 0).all()  # the estimate is random: the test above is not vacuous


@pytest.mark.parametrize("kind", PROCESSES)
def test_probability_flow_round_trip(kind):
    """Data -> prior with the ODE forwards, then back with the sampler: the same points."""
    process = PROCESSES[kind]
    x = data(32, seed=3)
    f = process.probability_flow(exact_score(process))
    z = log_prob_ode(f, x, process.t_min, process.T, process.prior.log_prob, divergence="exact", rtol=1e-7, atol=1e-7).z
    assert z.std() > 0.5 * process.prior_std  # really at the prior's scale
    ts = torch.tensor([process.T, process.t_min], dtype=torch.float64)
    back = sample_flow(ScoreField(exact_score(process), process), z, ts, rtol=1e-7, atol=1e-7)
    torch.testing.assert_close(back, x, atol=1e-3, rtol=0)


def test_ode_sampler_reports_nfe():
    process = PROCESSES["vp"]
    seen = {}
    x = process.prior.sample((16, 2), torch.Generator().manual_seed(0), dtype=torch.float64)
    ts = torch.tensor([1.0, process.t_min], dtype=torch.float64)
    for tol in (1e-2, 1e-5):
        sample_flow(
            ScoreField(exact_score(process), process),
            x,
            ts,
            rtol=tol,
            atol=tol,
            callback=lambda s, tol=tol: seen.__setitem__(tol, s.get("nfe")),
        )
    assert 0 < seen[1e-2] < seen[1e-5]
