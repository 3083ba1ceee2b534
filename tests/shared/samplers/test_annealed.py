"""NCSN's Langevin samplers with EXACT scores: Fig. 3's claim (plain Langevin gets the mixture weights wrong,
annealed Langevin gets them right), Gaussian moments, inpainting against the closed-form conditional."""

import math
from functools import partial

import pytest
import torch

from shared.maths.fields import ScoreField
from shared.maths.mixture import GaussianMixture
from shared.maths.processes import DiscreteVE
from shared.maths.samplers import (
    SAMPLERS,
    Denoised,
    inpaint_annealed_langevin,
    sample_annealed_langevin,
    sample_langevin,
)
from shared.utils import PerSampleGenerator


def fig3_mixture():
    eye = torch.eye(2, dtype=torch.float64)
    return GaussianMixture(torch.tensor([0.8, 0.2]), torch.tensor([[5.0, 5.0], [-5.0, -5.0]]), torch.stack([eye, eye]))


def ladder(hi, lo, n):
    return DiscreteVE(torch.exp(torch.linspace(math.log(lo), math.log(hi), n, dtype=torch.float64)))


def uniform_start(n, seed):
    return torch.rand(n, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(seed)) * 16 - 8


def test_annealed_langevin_recovers_the_weights_and_plain_langevin_does_not():
    """Fig. 3: 1280 particles from U[-8, 8]^2; the fraction in the (5, 5) mode should be 0.8."""
    mix = fig3_mixture()
    chain = ladder(20.0, 1.0, 10)  # sigma geometric 20 -> 1, 10 levels
    gen = torch.Generator().manual_seed(0)
    annealed = sample_annealed_langevin(
        ScoreField(mix.score_field(chain), chain),
        uniform_start(1280, 1),
        chain.time_grid()[:-1],
        n_steps_each=100,
        step_lr=0.1,
        generator=gen,
    )  # alpha_i = 0.1 (sigma_i / sigma_L)^2
    plain = sample_langevin(
        ScoreField(lambda x, t: mix.score(x)),
        uniform_start(1280, 1),
        torch.zeros(1),
        n_steps=1000,
        step_size=0.1,
        generator=torch.Generator().manual_seed(0),
    )
    frac_annealed = float((annealed.sum(1) > 0).double().mean())
    frac_plain = float((plain.sum(1) > 0).double().mean())
    assert abs(frac_annealed - 0.8) < 0.03, frac_annealed
    assert abs(frac_plain - 0.8) > 0.1, frac_plain


def test_annealed_langevin_reproduces_gaussian_moments():
    mu, s2 = torch.tensor([1.0, -2.0], dtype=torch.float64), 0.5
    chain = ladder(5.0, 0.01, 10)

    def score(x, t):
        return -(x - mu) / (s2 + chain.sigma(t)[:, None] ** 2)  # exact: N(mu, (s^2 + sigma^2) I)

    n = 4000
    x = torch.rand(n, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2)) * 8 - 4
    out = sample_annealed_langevin(
        ScoreField(score, chain), x, chain.time_grid()[:-1], generator=torch.Generator().manual_seed(3)
    )
    se = math.sqrt(s2 / n)
    assert (out.mean(0) - mu).abs().max() < 5 * se
    assert (out.var(0) - s2).abs().max() < 5 * s2 * math.sqrt(2 / n) + 0.02  # + the last level's sigma_L bias


def test_inpainting_holds_the_observation_and_samples_the_conditional():
    """x ~ N(0, [[1, rho], [rho, 1]]): observe x1, the sampled x2 must be N(rho x1, 1 - rho^2)."""
    rho = 0.8
    cov = torch.tensor([[1.0, rho], [rho, 1.0]], dtype=torch.float64)
    chain = ladder(3.0, 0.01, 10)

    def score(x, t):
        c = cov + chain.sigma(t)[:, None, None] ** 2 * torch.eye(2, dtype=torch.float64)
        return -torch.linalg.solve(c, x.unsqueeze(-1)).squeeze(-1)

    n, x1 = 4000, 1.5
    observed = torch.tensor([[x1, 0.0]], dtype=torch.float64).expand(n, 2)
    mask = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    x = torch.rand(n, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    out = inpaint_annealed_langevin(
        ScoreField(score, chain),
        x,
        chain.time_grid()[:-1],
        observed=observed,
        mask=mask,
        generator=torch.Generator().manual_seed(5),
    )
    assert torch.equal(out[:, 0], observed[:, 0])  # observed pixels are the observation
    var = 1 - rho**2
    assert abs(float(out[:, 1].mean()) - rho * x1) < 5 * math.sqrt(var / n) + 0.02
    assert abs(float(out[:, 1].var()) - var) < 5 * var * math.sqrt(2 / n) + 0.03


def test_callback_per_level_nfe_and_batch_independence():
    chain = ladder(1.0, 0.01, 4)
    calls = [0]

    def score(x, t):
        calls[0] += 1
        return -x

    seen = []
    ts = chain.time_grid()[:-1]
    ald = partial(sample_annealed_langevin, n_steps_each=5)
    Denoised(ald)(ScoreField(score, chain), torch.zeros(3, 2), ts, callback=seen.append)  # + NCSNv2's final step
    assert len(seen) == 4 and calls[0] == 4 * 5 + 1
    field = ScoreField(lambda x, t: -x, chain)

    def draw(seeds):
        gen = PerSampleGenerator(seeds)
        return SAMPLERS["ald"](field, torch.zeros(len(seeds), 2), ts, n_steps_each=5, generator=gen)

    torch.testing.assert_close(draw(range(6))[2:4], draw([2, 3]))
    with pytest.raises(ValueError, match="sigma > 0"):
        sample_annealed_langevin(field, torch.zeros(2, 2), chain.time_grid(), n_steps_each=1)


def test_the_denoising_step_is_ncsnv2s_x_plus_sigma_squared_score_and_says_so():
    """Denoised(ald) ends with field.x0, Tweedie's (x + sigma_L^2 score) / alpha: with alpha = 1 on the ladder, NCSNv2's
    final step exactly; its record is the sampler's with denoise: true."""
    from shared.maths.samplers import bind

    chain = ladder(1.0, 0.01, 4)
    field = ScoreField(lambda x, t: -x / (1 + chain.sigma(t)[:, None] ** 2), chain)  # exact for N(0, I) data
    ts = chain.time_grid()[:-1]
    ald = bind("ald", n_steps_each=3)
    x = ald(field, torch.zeros(5, 2), ts, generator=PerSampleGenerator(range(5)))
    sigma_L = chain.sigma(ts[-1:])[0]
    expected = x + sigma_L**2 * field.score(x, ts[-1].expand(5))
    torch.testing.assert_close(
        Denoised(ald)(field, torch.zeros(5, 2), ts, generator=PerSampleGenerator(range(5))), expected
    )
    assert Denoised(ald).describe() == {"sampler": "ald", "n_steps_each": 3, "denoise": True}
