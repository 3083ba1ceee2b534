"""NCSN: the paper's ladder, the DSM objective against its closed-form minimiser and gap, CIN++ by hand, the
network's shapes, and a short seeded run that lowers the loss."""

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from replications.ncsn.config import Config
from replications.ncsn.method import build, build_ladder
from replications.ncsn.refinenet import CondInstanceNormPlusPlus, RefineNetConfig, build_refinenet
from shared.config import load
from shared.losses import DSMLoss, SigmaSquared
from shared.method import count_nfe, sample
from shared.precond import LevelIndex, ScorePrediction

CONFIGS = Path(__file__).resolve().parents[2] / "replications" / "ncsn" / "configs"


def test_sigma_ladder_is_the_papers():
    cfg = load(CONFIGS / "cifar10.yaml", Config)
    chain = build_ladder(cfg.noise)
    sigmas = chain.sigma(chain.time_grid()[:-1])  # sigma_1 first
    expected = torch.tensor([10 ** (-2 * k / 9) for k in range(10)])  # geometric 1 -> 0.01, L = 10 (Sec. 5)
    torch.testing.assert_close(sigmas, expected, rtol=1e-5, atol=0)
    assert cfg.train.lr == 1e-3 and cfg.train.batch_size == 128 and cfg.train.steps == 200_000
    assert cfg.train.ema_decay == 0 and cfg.train.warmup_steps == 0 and cfg.train.grad_clip is None
    assert cfg.sample.n_steps_each == 100 and cfg.sample.step_lr == 2e-5 and not cfg.sample.denoise


@pytest.mark.parametrize("name", ["smoke_toy", "smoke_digits", "mnist", "cifar10"])
def test_configs_load_and_build(name):
    method = build(load(CONFIGS / f"{name}.yaml", Config))
    assert method.nll is None  # NCSN defines no likelihood


class Oracle(nn.Module):
    """Score net of Gaussian data N(mu, s2 I) perturbed at the level of label c, plus an offset delta."""

    def __init__(self, sigmas, mu, s2, delta):
        super().__init__()
        self.sigmas, self.mu, self.s2, self.delta = sigmas, mu, s2, delta

    def forward(self, x, c):
        sigma = self.sigmas[c.round().long()][:, None]
        return -(x - self.mu) / (self.s2 + sigma**2) + self.delta


def test_dsm_is_minimised_by_the_perturbed_score_with_the_closed_form_gap():
    """For N(mu, s^2 I) data, l(s* + delta) - l(s*) = E_sigma[sigma^2] |delta|^2 / 2 (sum reduction, Eq. 5-7)."""
    cfg = load(CONFIGS / "smoke_toy.yaml", Config)
    chain = build_ladder(cfg.noise)
    loss = DSMLoss(chain, ScorePrediction(LevelIndex(cfg.noise.L), chain), SigmaSquared(), "sum")  # as build's
    sigmas = chain.sigma(torch.arange(1, 11) / 10)  # label i - 1 <-> sigma_i (increasing)
    mu, s2 = torch.tensor([1.0, -1.0]), 0.3
    x0 = mu + math.sqrt(s2) * torch.randn(200_000, 2, generator=torch.Generator().manual_seed(0))
    delta = torch.tensor([0.3, -0.2])
    exact = loss(Oracle(sigmas, mu, s2, torch.zeros(2)), x0, torch.Generator().manual_seed(1)).mean()
    worse = loss(Oracle(sigmas, mu, s2, delta), x0, torch.Generator().manual_seed(1)).mean()
    gap = 0.5 * float((sigmas**2).mean()) * float(delta.pow(2).sum())
    assert float(worse - exact) == pytest.approx(gap, rel=0.05)
    # at the minimum, 1/2 E|sigma s* + z|^2 = s^2 / (s^2 + sigma^2) per two dimensions, averaged over the levels
    assert float(exact) == pytest.approx(float((s2 / (s2 + sigmas**2)).mean()), rel=0.02)


def test_cin_plus_plus_matches_a_hand_computation():
    torch.manual_seed(0)
    norm = CondInstanceNormPlusPlus(3, 4)
    with torch.no_grad():
        norm.gamma.weight.copy_(torch.arange(12.0).reshape(4, 3) / 10 + 0.5)
        norm.alpha.weight.copy_(torch.arange(12.0).reshape(4, 3).flip(0) / 7 - 0.3)
        norm.beta.weight.copy_(torch.arange(12.0).reshape(4, 3) / 3 - 1)
    x = (
        torch.randn(2, 3, 4, 4) * torch.tensor([1.0, 3.0, 0.5])[:, None, None]
        + torch.tensor([0.0, 2.0, -1.0])[:, None, None]
    )
    y = torch.tensor([1, 3])
    got = norm(x, y)
    for b in range(2):
        for k in range(3):
            xk = x[b, k]
            mus = x[b].mean(dim=(1, 2))
            m, v = mus.mean(), mus.var(unbiased=False).add(1e-5).sqrt()
            s = xk.var(unbiased=False).add(1e-5).sqrt()
            g, a, be = norm.gamma.weight[y[b], k], norm.alpha.weight[y[b], k], norm.beta.weight[y[b], k]
            ref = g * (xk - xk.mean()) / s + be + a * (mus[k] - m) / v
            torch.testing.assert_close(got[b, k], ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32)])
def test_refinenet_shapes_labels_and_gradients(shape):
    net = build_refinenet(RefineNetConfig(ngf=8), shape, 10)
    x = torch.rand(2, *shape)
    out = net(x, torch.tensor([0.0, 0.0]))
    assert out.shape == x.shape
    assert not torch.allclose(out, net(x, torch.tensor([0.0, 9.0])))  # the level changes the output
    out.pow(2).sum().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_cifar10_refinenet_size():
    net = build_refinenet(RefineNetConfig(ngf=128), (3, 32, 32), 10)
    n = sum(p.numel() for p in net.parameters())
    print(f"CondRefineNetDilated, ngf 128, CIFAR-10: {n:,} parameters")
    assert 20e6 < n < 40e6, n  # the order of the paper's net; the exact count is not stated in the paper


def test_short_training_lowers_the_loss_and_sampling_counts_nfe(tmp_path):
    from shared.data.source import DataSource
    from shared.train import fit

    cfg = load(CONFIGS / "smoke_toy.yaml", Config, ["train.steps=300", "train.checkpoint_every=300"])
    torch.manual_seed(0)
    method = build(cfg)
    data = DataSource(cfg.data, 0)
    x = data.batch(10_000, 4096)

    def held_out_loss():
        with torch.no_grad():
            return float(method.loss(method.net, x, torch.Generator().manual_seed(7)).mean())

    before = held_out_loss()
    fit(method.net, method.loss, data, cfg.train, tmp_path, seed=0, device=torch.device("cpu"))
    after = held_out_loss()
    assert after < 0.85 * before, (before, after)
    with count_nfe(method.net) as calls:
        x = sample(method, (16, 2), generator=torch.Generator().manual_seed(0))
    assert x.shape == (16, 2) and torch.isfinite(x).all() and calls[0] == 10 * cfg.sample.n_steps_each
