"""PFGM++ (Xu et al. 2023) against closed forms: the kernel's radial law, its prior's density (a multivariate
Student t), the limit D -> inf (EDM's Gaussian), and D = 1, where the ODE is PFGM's field of exact charges."""

import math
import runpy
import sys

import numpy as np
import pytest
import torch
from scipy import stats

from replications.pfgm.field_target import coulomb_field, poisson_target
from replications.pfgmpp.kernel import StudentKernel, StudentPrior, exact_denoiser, radial_log_density
from shared.maths.fields import X0Field
from shared.maths.processes import SigmaPath
from shared.maths.samplers import sample_heun_edm, times_karras
from shared.utils import PerSampleGenerator, make_generator

F64 = torch.float64


def radial_cdf(R: np.ndarray, r: float, N: int, D: int) -> np.ndarray:
    """The CDF of ||x - y|| by integrating ``radial_log_density`` (trapezoid on a fine grid)."""
    grid = np.concatenate([[0.0], np.geomspace(1e-6 * r, 1e6 * r, 200_001)])
    dens = np.exp(radial_log_density(torch.tensor(grid[1:], dtype=F64), r, N, D).numpy())
    dens = np.concatenate([[0.0], dens])
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.diff(grid))])
    return np.interp(R, grid, cdf), cdf[-1]


@pytest.mark.parametrize("N,D", [(2, 1), (2, 4), (64, 32), (64, 2048)])
def test_kernel_draws_follow_the_analytic_radial_law(N, D):
    sigma = 1.7
    n = StudentKernel(D)(torch.zeros(20_000, N, dtype=F64), torch.full((20_000,), sigma, dtype=F64), make_generator(0))
    R = n.norm(dim=1).numpy()
    cdf, total = radial_cdf(np.sort(R), sigma * math.sqrt(D), N, D)
    assert total == pytest.approx(1.0, abs=1e-4)  # the density is normalised
    ks = np.max(np.abs(cdf - np.arange(1, len(R) + 1) / len(R)))
    assert ks < 1.63 / math.sqrt(len(R))  # Kolmogorov-Smirnov at the 1 % level
    # R^2 / (R^2 + r^2) ~ Beta(N/2, D/2): the law the official code draws from
    beta = R**2 / (R**2 + D * sigma**2)
    assert stats.kstest(beta, stats.beta(N / 2, D / 2).cdf).pvalue > 0.01
    # directions uniform: the mean direction vanishes
    assert np.abs((n / n.norm(dim=1, keepdim=True)).mean(0).numpy()).max() < 5 / math.sqrt(len(R))


def test_the_prior_is_the_kernel_at_sigma_max_with_the_student_t_density():
    prior = StudentPrior(D=5, sigma_max=3.0)
    x = torch.randn(7, 4, dtype=F64)
    scale = np.eye(4) * 3.0**2
    expected = stats.multivariate_t(loc=np.zeros(4), shape=scale, df=5).logpdf(x.numpy())
    torch.testing.assert_close(prior.log_prob(x), torch.tensor(expected, dtype=F64))
    draws = prior.sample((40_000, 4), make_generator(1), dtype=F64)
    # the t's covariance: sigma^2 D / (D - 2) I
    assert float(draws.var(0).mean()) == pytest.approx(9.0 * 5 / 3, rel=0.1)
    # per-sample seeds: a draw is the same whatever its batch
    one = prior.sample((2, 4), PerSampleGenerator([11, 12]))
    other = prior.sample((3, 4), PerSampleGenerator([10, 11, 12]))
    torch.testing.assert_close(one, other[1:])


def test_as_D_grows_the_kernel_and_the_sampler_approach_the_gaussian_case():
    N, sigma = 2, 1.0
    R = np.linspace(0.01, 6, 600)
    chi = stats.chi(N, scale=sigma).cdf(R)
    gaps = [np.abs(radial_cdf(R, sigma * math.sqrt(D), N, D)[0] - chi).max() for D in (1, 8, 64, 512, 4096)]
    assert all(a > b for a, b in zip(gaps, gaps[1:])) and gaps[-1] < 1e-3  # sup |F_D - F_inf| shrinks with D
    # the ODE of the exact denoiser of a point cloud: same start, outputs approach the Gaussian-kernel (EDM) ones
    points = torch.randn(8, N, generator=make_generator(2), dtype=F64) * 2
    path = SigmaPath(0.002, 80.0)
    start = path.prior.sample((500, N), make_generator(3), dtype=F64)
    ts = times_karras(path, 30)
    ts = ts[ts >= 0.3]  # stop at a level where samples have not yet snapped onto the points: a smooth map of the start

    def run(D):
        return sample_heun_edm(X0Field(lambda x, t: exact_denoiser(x, t, points, D), path), start, ts)

    gaussian = run(None)
    errors = [float((run(D) - gaussian).norm(dim=1).mean()) for D in (8, 64, 512, 4096)]
    assert all(a > b for a, b in zip(errors, errors[1:])) and errors[-1] < 0.05 * errors[0]


def test_D_equal_1_is_pfgms_field_of_exact_charges():
    N = 3
    charges = torch.randn(6, N, generator=make_generator(4), dtype=F64)
    x = torch.randn(5, N, generator=make_generator(5), dtype=F64) * 2
    z = torch.tensor([0.05, 0.3, 1.0, 4.0, 20.0], dtype=F64)
    # PFGM++: dx/dr = (x - E[y | x]) / r with r = z at D = 1 (r = sigma sqrt(D))
    ours = (x - exact_denoiser(x, z, charges, D=1)) / z[:, None]
    x_tilde = torch.cat([x, z[:, None]], dim=1)
    exact = coulomb_field(x_tilde, torch.cat([charges, torch.zeros(6, 1, dtype=F64)], dim=1))  # Eq. 3
    torch.testing.assert_close(ours, exact[:, :N] / exact[:, N:])  # PFGM's dx/dz = E_x / E_z
    target = poisson_target(x_tilde, charges, gamma=5.0)  # the normalised target PFGM trains on: same direction
    torch.testing.assert_close(ours, target[:, :N] / target[:, N:])


def test_robustness_command_writes_its_table_and_refuses_bad_input(tmp_path, monkeypatch, capsys):
    out = tmp_path / "rob.md"
    argv = [
        "robustness", "--config", "replications/pfgmpp/configs/smoke_toy.yaml", "--out", str(out),
        "--D", "1", "inf", "--steps", "3", "--alphas", "0", "0.2", "--n-samples", "60",
        "--set", "train.steps=30", "--set", "train.log_every=30",
    ]  # fmt: skip
    monkeypatch.setattr(sys, "argv", ["replications.pfgmpp", *argv])
    runpy.run_module("replications.pfgmpp", run_name="__main__")
    table = out.read_text()
    assert "| 1 |" in table and "| inf |" in table and "Data floor" in table
    for suffix in (".csv", ".json", ".png"):
        assert out.with_suffix(suffix).stat().st_size > 0
    bad = tmp_path / "bad.md"
    monkeypatch.setattr(sys, "argv", ["replications.pfgmpp", *argv[:4], str(bad), "--D", "0"])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_module("replications.pfgmpp", run_name="__main__")
    assert exit_info.value.code == 2 and "--D" in capsys.readouterr().err and not bad.exists()
