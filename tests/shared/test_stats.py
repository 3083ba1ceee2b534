"""The comparison's intervals against closed forms: the t-interval covers the true mean of normal data at its level;
the bootstrap interval of a sample mean has the width of its known sampling distribution."""

import math

import numpy as np
import pytest

from shared.report.stats import bootstrap_interval, t_interval


def test_the_t_interval_covers_the_true_mean_at_its_level():
    rng = np.random.default_rng(0)
    draws, n, mu = 4000, 5, 1.5
    covered = 0
    for x in rng.normal(mu, 2.0, size=(draws, n)):
        mean, half = t_interval(x)
        covered += abs(mean - mu) <= half
    # binomial standard error of a 95 % coverage over 4000 draws: 0.0034; allow 4 of them
    assert covered / draws == pytest.approx(0.95, abs=0.014)


def test_the_t_interval_closed_form_and_one_seed():
    mean, half = t_interval([0.01, 0.03])
    assert mean == pytest.approx(0.02) and half == pytest.approx(12.7062047 * 0.0141421356 / math.sqrt(2))
    assert math.isnan(t_interval([3.0])[1])


def test_the_bootstrap_of_a_mean_has_its_known_width():
    x = np.random.default_rng(1).normal(0.0, 1.0, size=400)
    low, high = bootstrap_interval(x, np.mean, n_resamples=2000)
    se = x.std(ddof=1) / math.sqrt(len(x))  # the mean's standard error; its 95 % interval is +- 1.96 se
    assert (high - low) == pytest.approx(2 * 1.959964 * se, rel=0.1) and low < x.mean() < high


def test_welchs_p_value_is_its_closed_form_and_holds_its_level():
    """Welch's t = (mean a - mean b) / sqrt(s_a^2/n_a + s_b^2/n_b) with Welch-Satterthwaite degrees of freedom; under
    equal means the one-sided test rejects at 5 % at most 5 % of the time (three seeds a side, 4000 draws: 3.6 %; with
    so few seeds the Satterthwaite approximation makes it conservative, so a "not worse" in bold is a weak claim)."""
    from scipy import stats

    from shared.report.stats import welch_p

    a, b = np.array([1.0, 1.4, 0.9]), np.array([0.5, 0.7, 0.4, 0.6])
    va, vb = a.var(ddof=1) / 3, b.var(ddof=1) / 4
    t = (a.mean() - b.mean()) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / 2 + vb**2 / 3)
    assert welch_p(a, b, "greater") == pytest.approx(stats.t.sf(t, df), rel=1e-10)
    assert welch_p(a, b) == pytest.approx(2 * stats.t.sf(t, df), rel=1e-10)
    assert math.isnan(welch_p([1.0], b)) and welch_p([1.0, 1.0], [1.0, 1.0]) == 1.0
    rng = np.random.default_rng(0)
    rejected = np.mean([welch_p(rng.normal(size=3), rng.normal(size=3), "greater") < 0.05 for _ in range(4000)])
    assert 0.02 < rejected < 0.06  # 0.05 + 3 Monte-Carlo standard errors


def test_holm_multiplies_the_kth_smallest_by_m_minus_k_and_stays_monotone():
    from shared.report.stats import holm

    got = holm([0.01, 0.04, 0.03, float("nan"), 0.5])
    # sorted 0.01, 0.03, 0.04, 0.5 (m = 4): 0.04, 0.09, max(0.09, 0.08) = 0.09, max(0.09, 0.5) = 0.5
    assert got[0] == pytest.approx(0.04) and got[2] == pytest.approx(0.09) and got[1] == pytest.approx(0.09)
    assert got[4] == pytest.approx(0.5) and math.isnan(got[3])
