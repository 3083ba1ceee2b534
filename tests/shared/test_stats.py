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
