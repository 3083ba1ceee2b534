"""EDM (Karras et al. 2022) against closed forms.

For Gaussian data y ~ N(0, S^2 I_N) and x = y + sigma n the ideal denoiser is linear, D*(x; sigma) = S^2 / (S^2 +
sigma^2) x, and the expected loss at one level is lambda(sigma) N S^2 sigma^2 / (S^2 + sigma^2) (Eq. 8 at its
minimum). EDM's scalings give the net's input c_in x and its effective target (y - c_skip x) / c_out unit variance
at every sigma when S = sigma_data (Sec. 5, App. B.6).
"""

import math

import pytest
import torch
from torch import nn

from shared.maths.denoising import DenoiserLoss, EDMWeight, LogNormalLevels, NoiseLevels, VPLevels
from shared.maths.fields import X0Field
from shared.maths.precond import Denoiser, EDMScalings, VEScalings, VPScalings
from shared.maths.processes import SigmaPath
from shared.maths.samplers import sample_edm_stochastic, sample_heun_edm, times_karras
from shared.utils import append_dims, make_generator

F64 = torch.float64
S, N = 0.5, 3
PATH = SigmaPath(0.002, 80.0)


class FixedLevels(NoiseLevels):
    """Every example at the one level sigma."""

    def __init__(self, sigma: float):
        self.sigma = sigma

    def __call__(self, n, generator, device):
        return torch.full((n,), self.sigma, dtype=F64, device=device)


class IdealNet(nn.Module):
    """The raw net F that makes EDM's denoiser equal scale * D*: it inverts the scalings (sigma from c_noise)."""

    def __init__(self, scalings, sigma_of_noise, scale: float = 1.0):
        super().__init__()
        self.scalings, self.sigma_of_noise, self.scale = scalings, sigma_of_noise, scale
        self.inputs = []

    def forward(self, x_in, c_noise):
        sigma = self.sigma_of_noise(c_noise)
        c_skip, c_out, c_in, _ = (append_dims(c, x_in.ndim) for c in self.scalings(sigma))
        x = x_in / c_in
        self.inputs.append(x_in)
        ideal = self.scale * S**2 / (S**2 + append_dims(sigma, x.ndim) ** 2) * x
        return (ideal - c_skip * x) / c_out


def edm_net(scale=1.0):
    return IdealNet(EDMScalings(S), lambda c: torch.exp(4 * c), scale)


@pytest.mark.parametrize("sigma", [0.01, 0.3, 2.0, 40.0])
def test_the_ideal_denoiser_minimises_the_edm_loss_at_its_closed_form_value(sigma):
    loss_of = lambda scale: DenoiserLoss(Denoiser(EDMScalings(S), PATH), FixedLevels(sigma), EDMWeight(S))  # noqa: E731
    y = S * torch.randn(40_000, N, generator=make_generator(0), dtype=F64)
    c, weight = S**2 / (S**2 + sigma**2), float(EDMWeight(S)(torch.tensor(sigma)))

    def expected(a):  # E lambda ||a c x - y||^2 = lambda N ((a c - 1)^2 S^2 + a^2 c^2 sigma^2)
        return weight * N * ((a * c - 1) ** 2 * S**2 + a**2 * c**2 * sigma**2)

    for a in (0.9, 1.0, 1.1):  # the denoiser a D*: the Monte Carlo loss matches its closed form
        loss = loss_of(a)(edm_net(a), y, make_generator(1))
        assert abs(float(loss.mean()) - expected(a)) < 5 * float(loss.std()) / math.sqrt(len(loss))
    assert expected(1.0) == pytest.approx(weight * N * S**2 * sigma**2 / (S**2 + sigma**2), rel=1e-12)
    assert expected(1.0) < min(expected(0.9), expected(1.1))  # the minimum of the quadratic sits at a = 1


def test_edm_preconditioning_gives_input_and_target_unit_variance_at_every_sigma():
    scalings = EDMScalings(S)
    gen = make_generator(2)
    for sigma in [0.002, 0.05, 0.5, 5.0, 80.0]:
        y = S * torch.randn(200_000, generator=gen, dtype=F64)
        x = y + sigma * torch.randn(200_000, generator=gen, dtype=F64)
        c_skip, c_out, c_in, _ = scalings(torch.tensor(sigma, dtype=F64))
        assert (c_in * x).var() == pytest.approx(1.0, rel=0.02)
        assert ((y - c_skip * x) / c_out).var() == pytest.approx(1.0, rel=0.02)
        # and in closed form: c_in^2 (S^2 + sigma^2) = 1, ((1 - c_skip)^2 S^2 + c_skip^2 sigma^2) / c_out^2 = 1
        assert float(c_in**2 * (S**2 + sigma**2)) == pytest.approx(1.0, rel=1e-12)
        assert float(((1 - c_skip) ** 2 * S**2 + c_skip**2 * sigma**2) / c_out**2) == pytest.approx(1.0, rel=1e-12)


def test_the_denoiser_feeds_the_net_c_in_x_and_c_noise():
    net = edm_net()
    x, sigma = torch.randn(5, N, dtype=F64), torch.tensor([0.1, 1.0, 3.0, 10.0, 80.0], dtype=F64)
    out = Denoiser(EDMScalings(S), PATH)(net, x, sigma)
    _, _, c_in, _ = EDMScalings(S)(sigma)
    torch.testing.assert_close(net.inputs[0], c_in[:, None] * x)
    torch.testing.assert_close(out, (S**2 / (S**2 + sigma**2))[:, None] * x)  # D* exactly


def test_vp_and_ve_columns_are_eps_and_score_parametrizations():
    sigma = torch.tensor([0.05, 0.7, 9.0], dtype=F64)
    x = torch.randn(3, N, dtype=F64)
    f = torch.randn(3, N, dtype=F64)  # whatever the net returns
    vp, ve = VPScalings(), VEScalings()
    # VP: D = x - sigma F(x / sqrt(sigma^2 + 1)): F is the noise eps of the VP scale x / sqrt(1 + sigma^2)
    c_skip, c_out, c_in, c_noise = vp(sigma)
    torch.testing.assert_close(c_skip[:, None] * x + c_out[:, None] * f, x - sigma[:, None] * f)
    torch.testing.assert_close(vp.sigma_of_t(vp.t_of_sigma(sigma)), sigma)  # sigma^-1 inverts sigma(t)
    torch.testing.assert_close(c_noise, 999 * vp.t_of_sigma(sigma))
    # VE: D = x + sigma F: F is sigma times the score
    c_skip, c_out, c_in, c_noise = ve(sigma)
    torch.testing.assert_close(c_skip[:, None] * x + c_out[:, None] * f, x + sigma[:, None] * f)
    torch.testing.assert_close(c_noise, torch.log(sigma / 2))
    # the training levels: VP's lie between sigma(eps_t) and sigma(1); EDM's log-normal has its moments
    levels = VPLevels(vp, 1e-5)(50_000, make_generator(3), "cpu")
    assert float(levels.min()) >= float(vp.sigma_of_t(torch.tensor(1e-5))) * 0.999
    assert float(levels.max()) <= float(vp.sigma_of_t(torch.tensor(1.0))) * 1.001
    logs = LogNormalLevels(-1.2, 1.2)(100_000, make_generator(4), "cpu").log()
    assert float(logs.mean()) == pytest.approx(-1.2, abs=0.02) and float(logs.std()) == pytest.approx(1.2, rel=0.02)


def ideal_field():
    return X0Field(lambda x, t: (S**2 / (S**2 + append_dims(t, x.ndim) ** 2)) * x, PATH)


def test_heun_and_the_stochastic_sampler_draw_the_data_law_with_the_ideal_denoiser():
    x = PATH.prior.sample((20_000, N), make_generator(5), dtype=F64)
    ts = times_karras(PATH, 100)  # churn's own discretisation error: 7 % at 40 steps, 1 % at 100
    out = sample_heun_edm(ideal_field(), x, ts)
    assert float(out.var()) == pytest.approx(S**2, rel=0.03)
    churned = sample_edm_stochastic(
        ideal_field(), x, ts, generator=make_generator(6), s_churn=40.0, s_tmin=0.05, s_tmax=50.0, s_noise=1.0
    )
    assert float(churned.var()) == pytest.approx(S**2, rel=0.03)
    # no churn is Algorithm 1 exactly
    torch.testing.assert_close(sample_edm_stochastic(ideal_field(), x, ts, generator=make_generator(7)), out)
    # the churn did something: the two differ per sample
    assert float((churned - out).abs().mean()) > 0.05


def test_the_loss_refuses_a_path_other_than_edms():
    from shared.maths.processes import VESDE

    with pytest.raises(TypeError, match="SigmaPath"):
        DenoiserLoss(Denoiser(EDMScalings(S), VESDE()), LogNormalLevels(), EDMWeight(S))
