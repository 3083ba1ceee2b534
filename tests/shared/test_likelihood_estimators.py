"""The dequantization estimators of ``shared.maths.likelihood.over_draws`` against a discrete likelihood known in
closed form: a 1-D Gaussian density p = N(MU, S^2) over y = x + u, u ~ U[0, 1), gives every integer x the probability
P(x) = Phi((x + 1 - MU) / S) - Phi((x - MU) / S). The mean over draws bounds -log P(x) from above (Theis et al. 2016);
the importance-weighted estimate is below the mean for the same draws (Jensen), falls in expectation as K grows
(Burda et al. 2016) and tends to -log P(x).
"""

import math

import pytest
import torch

from shared.maths.likelihood import over_draws

MU, S = 3.3, 0.6  # a density that varies inside a bin, so the gap between the bounds is visible
F64 = torch.float64


def true_nll(x: torch.Tensor) -> torch.Tensor:
    normal = torch.distributions.Normal(torch.tensor(MU, dtype=F64), torch.tensor(S, dtype=F64))
    return -torch.log(normal.cdf(x + 1) - normal.cdf(x))


def draw_nlls(x: torch.Tensor, k: int, seed: int) -> torch.Tensor:
    """-log p(x + u_k) for K uniform draws: (K, N)."""
    u = torch.rand(k, len(x), generator=torch.Generator().manual_seed(seed), dtype=F64)
    y = x + u
    return 0.5 * ((y - MU) / S) ** 2 + math.log(S * math.sqrt(2 * math.pi))


def test_importance_weighting_is_below_the_mean_for_the_same_draws():
    x = torch.randint(1, 6, (500,), generator=torch.Generator().manual_seed(0)).to(F64)
    nats = draw_nlls(x, 8, seed=1)
    assert torch.all(over_draws(nats, "importance_weighted") <= over_draws(nats, "mean") + 1e-12)
    torch.testing.assert_close(over_draws(nats[:1], "importance_weighted"), over_draws(nats[:1], "mean"))  # K = 1


def test_importance_weighting_falls_with_k_toward_the_discrete_nll():
    x = torch.randint(1, 6, (20_000,), generator=torch.Generator().manual_seed(0)).to(F64)
    truth = float(true_nll(x).mean())
    estimate = {k: float(over_draws(draw_nlls(x, k, seed=k), "importance_weighted").mean()) for k in (1, 5, 50)}
    mean_bound = float(over_draws(draw_nlls(x, 50, seed=99), "mean").mean())
    assert mean_bound > estimate[5] and estimate[1] > estimate[5] > estimate[50] > truth - 0.005
    assert estimate[50] - truth < 0.1 * (estimate[1] - truth)  # K = 50 closes over 90 % of the gap
    assert mean_bound == pytest.approx(estimate[1], abs=0.02)  # the mean of single draws: the same bound


def test_a_bad_shape_or_estimator_is_refused():
    with pytest.raises(ValueError, match="K, N"):
        over_draws(torch.zeros(3), "mean")
    with pytest.raises(ValueError, match="estimator"):
        over_draws(torch.zeros(2, 3), "median")


def test_the_evaluation_combines_the_same_draws_by_the_configured_estimator():
    """``nll_of_test_images`` draws the same K dequantizations for either estimator, so importance weighting is
    below the mean image by image; it needs K >= 1 (a config without draws is refused, naming the key)."""
    from shared.data.source import DataConfig, DataSource
    from shared.maths.likelihood import NLL
    from shared.pipeline.evaluate import EvalConfig, nll_of_test_images

    data = DataSource(DataConfig(name="digits"), 0)
    test = torch.randint(0, 256, (6, 1, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))

    def nll_fn(x, gen):  # a standard normal "density" over model space
        return NLL(0.5 * x.flatten(1).double().pow(2).sum(1) * 40, discrete=False)

    cpu = torch.device("cpu")
    mean, _ = nll_of_test_images(data, test, nll_fn, EvalConfig(dequantization_draws=8), cpu, 0)
    iw, _ = nll_of_test_images(
        data, test, nll_fn, EvalConfig(dequantization_draws=8, nll_estimator="importance_weighted"), cpu, 0
    )
    assert torch.all(iw < mean)
    with pytest.raises(ValueError, match="dequantization_draws"):
        EvalConfig(nll_estimator="importance_weighted")
