"""ODE integration and log-density: the probability flow of Gaussian data against the closed-form density,
Hutchinson's estimator against the exact trace, and a data -> prior -> data round trip."""

import math

import pytest
import torch

from shared.maths.ode import divergence_exact, divergence_hutchinson, log_prob_ode, probe_noise, sample_ode
from shared.maths.processes import VESDE, VPSDE, SubVPSDE

S2 = 0.3  # data ~ N(0, S2 I)


def gaussian_score(sde):
    def score(x, t):
        a, s = sde.alpha(t)[:, None], sde.sigma(t)[:, None]
        return -x / (a**2 * S2 + s**2)

    return score


@pytest.mark.parametrize("sde", [VPSDE(), SubVPSDE(), VESDE(sigma_min=0.01, sigma_max=50.0)], ids=["vp", "subvp", "ve"])
def test_probability_flow_log_density_is_exact(sde):
    x = math.sqrt(S2) * torch.randn(300, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    res = log_prob_ode(
        sde.probability_flow(gaussian_score(sde)), x, sde.t_min, 1.0, sde.prior.log_prob, divergence="exact"
    )
    t0 = torch.tensor([sde.t_min], dtype=torch.float64)
    std0 = torch.sqrt(sde.alpha(t0) ** 2 * S2 + sde.sigma(t0) ** 2)
    ref = torch.distributions.Normal(0.0, std0).log_prob(x).sum(1)
    assert ((res.log_prob - ref) / ref).abs().max() < 1e-3
    assert res.nfe > 0


def test_hutchinson_is_unbiased_for_a_non_symmetric_jacobian():
    a = torch.tensor([[-1.0, 0.5, 0.1], [0.2, -0.3, 0.7], [0.0, 0.4, 2.0]], dtype=torch.float64)
    f = lambda x, t: torch.tanh(x @ a.T)  # noqa: E731
    x = 0.3 * torch.randn(40000, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    t = torch.zeros(len(x))
    _, exact = divergence_exact(f, x, t)
    for kind in ("rademacher", "gaussian"):
        _, est = divergence_hutchinson(f, x, t, probe_noise(x, kind, torch.Generator().manual_seed(2)))
        diff = est - exact
        assert abs(float(diff.mean())) < 5 * float(diff.std()) / math.sqrt(len(x)), kind


def test_round_trip_prior_to_data_and_back():
    sde = VPSDE()
    f = sde.probability_flow(gaussian_score(sde))
    z = sde.prior.sample((16, 2), torch.Generator().manual_seed(3), dtype=torch.float64)
    x = sample_ode(f, z, torch.tensor([1.0, sde.t_min], dtype=torch.float64))
    back = log_prob_ode(f, x, sde.t_min, 1.0, sde.prior.log_prob, divergence="exact").z
    assert torch.allclose(back, z, atol=1e-4)


def test_log_prob_can_be_trained_through():
    lin = torch.nn.Linear(2, 2, dtype=torch.float64)
    f = lambda x, t: lin(x)  # noqa: E731
    x = torch.randn(8, 2, dtype=torch.float64)
    std_normal = lambda z: torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(1)  # noqa: E731
    res = log_prob_ode(
        f,
        x,
        0.0,
        1.0,
        std_normal,
        divergence="hutchinson",
        create_graph=True,
        method="rk4",
        generator=torch.Generator().manual_seed(0),
    )
    res.log_prob.mean().backward()
    assert lin.weight.grad is not None and torch.isfinite(lin.weight.grad).all()
