"""Tests for shared.data.toy2d: the FFJORD 2-D toy sets and their closed-form log-densities."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from shared.data.toy2d import TOY_SETS, sample_toy, toy_log_density


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _grid(lo: float, hi: float, m: int) -> tuple[torch.Tensor, float]:
    """(m*m, 2) float64 cell midpoints of [lo, hi]^2 and the cell area."""
    h = (hi - lo) / m
    c = lo + h * (torch.arange(m, dtype=torch.float64) + 0.5)
    xx, yy = torch.meshgrid(c, c, indexing="ij")
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1), h * h


@pytest.mark.parametrize("name", TOY_SETS)
@pytest.mark.parametrize("n", [1, 7, 1000])
def test_shape_dtype_and_scale(name: str, n: int) -> None:
    x = sample_toy(name, n, _gen(0))
    assert x.shape == (n, 2) and x.dtype == torch.float32
    assert torch.isfinite(x).all()
    if n == 1000:
        assert (x.abs() < 4.5).float().mean() > 0.99


@pytest.mark.parametrize("name", TOY_SETS)
def test_determinism_per_seed_and_no_global_rng(name: str) -> None:
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()
    a, b, c = (sample_toy(name, 500, _gen(s)) for s in (3, 3, 4))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert all(np.array_equal(u, v) for u, v in zip(np.random.get_state(), np_state, strict=True))


def test_global_seed_does_not_matter() -> None:
    torch.manual_seed(1)
    a = sample_toy("pinwheel", 100, _gen(5))
    torch.manual_seed(2)
    assert torch.equal(a, sample_toy("pinwheel", 100, _gen(5)))


def test_8gaussians_density_integrates_to_one() -> None:
    pts, area = _grid(-5.0, 5.0, 400)
    logp = toy_log_density("8gaussians", pts)
    assert logp.shape == (pts.shape[0],) and logp.dtype == torch.float64
    assert abs(logp.exp().sum().item() * area - 1.0) < 1e-3


def test_8gaussians_matches_sample_histogram() -> None:
    x = sample_toy("8gaussians", 200_000, _gen(0)).double()
    bins, lo, hi, sub = 16, -4.0, 4.0, 8
    hist = torch.histogramdd(x, bins=[bins, bins], range=[lo, hi, lo, hi]).hist / x.shape[0]
    pts, area = _grid(lo, hi, bins * sub)
    dens = toy_log_density("8gaussians", pts).exp().reshape(bins, sub, bins, sub).sum(dim=(1, 3)) * area
    assert (hist - dens).abs().max() < 0.005
    # component geometry of the reference: means at radius 4 / 1.414, per-axis std 0.5 / 1.414
    s = 1 / math.sqrt(2)
    dirs = torch.tensor([[1, 0], [-1, 0], [0, 1], [0, -1], [s, s], [s, -s], [-s, s], [-s, -s]], dtype=torch.float64)
    means = dirs * 4 / 1.414
    resid = x - means[torch.cdist(x, means).argmin(dim=1)]
    assert resid.mean(dim=0).abs().max() < 0.01
    assert (resid.std(dim=0) - 0.5 / 1.414).abs().max() < 0.01


def test_checkerboard_samples_in_black_squares_uniformly() -> None:
    x = sample_toy("checkerboard", 80_000, _gen(1))
    assert ((x >= -4) & (x < 4)).all()
    cells = torch.floor(x / 2).long() + 2  # (n, 2) in 0..3
    assert ((cells.sum(dim=1) % 2) == 0).all()
    counts = torch.bincount(cells[:, 0] * 4 + cells[:, 1], minlength=16).float() / x.shape[0]
    black = counts[counts > 0]
    assert black.numel() == 8 and (black - 1 / 8).abs().max() < 0.01
    logp = toy_log_density("checkerboard", x)
    assert torch.allclose(logp, torch.full_like(logp, -math.log(32.0)))


def test_checkerboard_density() -> None:
    pts, area = _grid(-5.0, 5.0, 200)
    logp = toy_log_density("checkerboard", pts)
    assert abs(logp.exp().sum().item() * area - 1.0) < 1e-6
    white = torch.tensor([[1.0, -1.0], [-3.0, -1.0], [4.5, 0.0]])
    assert torch.isneginf(toy_log_density("checkerboard", white)).all()


def test_rings_density_integrates_to_one_and_matches_samples() -> None:
    pts, area = _grid(-4.0, 4.0, 400)
    logp = toy_log_density("rings", pts)
    assert logp.shape == (pts.shape[0],) and logp.dtype == torch.float64
    assert abs(logp.exp().sum().item() * area - 1.0) < 1e-3
    # radial check against the samples: the mass within each annulus between the rings is 1/4 per ring
    x = sample_toy("rings", 200_000, _gen(2)).double()
    edges = torch.tensor([0.0, 1.125, 1.875, 2.625, 4.0], dtype=torch.float64)
    rho = pts.norm(dim=1)
    model = torch.stack([(logp.exp() * area)[(rho >= a) & (rho < b)].sum() for a, b in zip(edges[:-1], edges[1:])])
    emp = torch.histogram(x.norm(dim=1), bins=edges).hist / x.shape[0]
    assert (model - 0.25).abs().max() < 2e-3 and (emp - 0.25).abs().max() < 5e-3
    # against a direct quadrature of the angular integral at a few points (independent of the Bessel identity)
    probe = torch.tensor([[0.0, 0.0], [0.75, 0.0], [1.0, 1.0], [0.0, -2.3], [2.9, 0.4]], dtype=torch.float64)
    theta = torch.linspace(0.0, 2.0 * math.pi, 20_001, dtype=torch.float64)[:-1]
    dens = torch.zeros(probe.shape[0], dtype=torch.float64)
    for r in (0.75, 1.5, 2.25, 3.0):
        centres = r * torch.stack([torch.cos(theta), torch.sin(theta)], dim=1)  # (K, 2)
        sq = ((probe[:, None, :] - centres) ** 2).sum(-1)  # (P, K)
        dens += torch.exp(-sq / (2 * 0.08**2)).mean(1) / (2 * math.pi * 0.08**2) / 4
    assert torch.allclose(toy_log_density("rings", probe).exp(), dens, rtol=1e-6, atol=1e-300)


@pytest.mark.parametrize("name", [s for s in TOY_SETS if s not in ("8gaussians", "checkerboard", "rings")])
def test_no_closed_form(name: str) -> None:
    assert toy_log_density(name, torch.zeros(3, 2)) is None


def _reference(name: str, n: int) -> np.ndarray:
    """The reference construction (numpy / scikit-learn, fixed per-component counts) from its parameter choices."""
    datasets = pytest.importorskip("sklearn.datasets")
    rng = np.random.RandomState(0)
    if name == "pinwheel":
        per = n // 5
        feats = rng.randn(5 * per, 2) * np.array([0.3, 0.1]) + np.array([1.0, 0.0])
        ang = np.repeat(np.linspace(0, 2 * np.pi, 5, endpoint=False), per) + 0.25 * np.exp(feats[:, 0])
        rot = np.stack([np.cos(ang), -np.sin(ang), np.sin(ang), np.cos(ang)], axis=1).reshape(-1, 2, 2)
        return 2 * np.einsum("ti,tij->tj", feats, rot)
    if name == "2spirals":
        t = np.sqrt(rng.rand(n // 2, 1)) * 540 * (2 * np.pi) / 360
        arm = np.hstack([-np.cos(t) * t + rng.rand(n // 2, 1) * 0.5, np.sin(t) * t + rng.rand(n // 2, 1) * 0.5])
        return np.vstack([arm, -arm]) / 3 + rng.randn(2 * (n // 2), 2) * 0.1
    if name == "rings":
        theta = np.linspace(0, 2 * np.pi, n // 4, endpoint=False)
        unit = np.stack([np.cos(theta), np.sin(theta)], axis=1)
        return np.vstack([unit * r for r in (1.0, 0.75, 0.5, 0.25)]) * 3.0 + rng.normal(scale=0.08, size=(n, 2))
    if name == "swissroll":
        return datasets.make_swiss_roll(n_samples=n, noise=1.0, random_state=rng)[0][:, [0, 2]] / 5.0
    if name == "circles":
        return datasets.make_circles(n_samples=n, factor=0.5, noise=0.08, random_state=rng)[0] * 3
    return datasets.make_moons(n_samples=n, noise=0.1, random_state=rng)[0] * 2 + np.array([-1, -0.2])


@pytest.mark.parametrize("name", ["swissroll", "circles", "moons", "pinwheel", "2spirals", "rings"])
def test_matches_reference_parameterisation(name: str) -> None:
    """Sliced 1-D Wasserstein distance to the reference construction is small."""
    n = 20_000
    ours = sample_toy(name, n, _gen(0)).double()
    ref = torch.from_numpy(_reference(name, n))
    for angle in torch.linspace(0, math.pi, 7)[:-1]:
        d = torch.stack([torch.cos(angle), torch.sin(angle)]).double()
        w1 = ((ours @ d).sort().values - (ref @ d).sort().values).abs().mean()
        assert w1 < 0.05, (name, angle.item(), w1.item())


def test_unknown_name() -> None:
    with pytest.raises(ValueError, match="checkerboard"):
        sample_toy("spiral", 10, _gen(0))
    with pytest.raises(ValueError, match="8gaussians"):
        toy_log_density("nope", torch.zeros(1, 2))
