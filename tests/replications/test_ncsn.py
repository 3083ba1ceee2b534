"""NCSN: the paper's ladder, the DSM objective against its closed-form minimiser and gap, and a short seeded run
that lowers the loss (the network itself: test_ncsn_nets.py)."""

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from replications.ncsn.config import Config
from replications.ncsn.method import build, build_ladder
from shared.config import load
from shared.maths.losses import DSMLoss, SigmaSquared
from shared.maths.precond import LevelIndex, ScorePrediction
from shared.pipeline.method import count_nfe, sample

CONFIGS = Path(__file__).resolve().parents[2] / "replications" / "ncsn" / "configs"


def test_sigma_ladder_is_the_papers():
    cfg = load(CONFIGS / "cifar10.yaml", Config)
    chain = build_ladder(cfg.noise)
    sigmas = chain.sigma(chain.time_grid()[:-1])  # sigma_1 first
    expected = torch.tensor([10 ** (-2 * k / 9) for k in range(10)])  # geometric 1 -> 0.01, L = 10 (Sec. 5)
    torch.testing.assert_close(sigmas, expected, rtol=1e-5, atol=0)
    assert cfg.train.lr == 1e-3 and cfg.train.batch_size == 128 and cfg.train.steps == 200_000
    assert cfg.train.ema_decay == 0 and cfg.train.warmup_steps == 0 and cfg.train.grad_clip is None
    # Algorithm 1's eps = 4e-5 is the official anneal_runner's step_lr 2e-5 (drift s, noise sqrt(2 s)): protocol.yaml
    assert cfg.sample.n_steps_each == 100 and cfg.sample.step_lr == 4e-5 and not cfg.sample.denoise
    assert cfg.data.dequantize and cfg.net.cin_form == "official"


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


def oracle_losses(loss, chain, n: int) -> tuple[float, float, float, torch.Tensor]:
    """(loss at the perturbed score s*, at s* + delta, the closed-form gap E_sigma[sigma^2] |delta|^2 / 2, the sigmas)
    on N(mu, s^2 I) data with s^2 = 0.3, the same draws for both (Eq. 5-7, sum reduction)."""
    sigmas = chain.sigma(torch.arange(1, 11) / 10)  # label i - 1 <-> sigma_i (increasing)
    mu = torch.tensor([1.0, -1.0])
    x0 = mu + math.sqrt(S2) * torch.randn(n, 2, generator=torch.Generator().manual_seed(0))
    delta = torch.tensor([0.3, -0.2])
    exact = loss(Oracle(sigmas, mu, S2, torch.zeros(2)), x0, torch.Generator().manual_seed(1)).detach().mean()
    worse = loss(Oracle(sigmas, mu, S2, delta), x0, torch.Generator().manual_seed(1)).detach().mean()
    gap = 0.5 * float((sigmas**2).mean()) * float(delta.pow(2).sum())
    return float(exact), float(worse), gap, sigmas


S2 = 0.3


def test_dsm_is_minimised_by_the_perturbed_score_with_the_closed_form_gap():
    """For N(mu, s^2 I) data, l(s* + delta) - l(s*) = E_sigma[sigma^2] |delta|^2 / 2 (sum reduction, Eq. 5-7)."""
    cfg = load(CONFIGS / "smoke_toy.yaml", Config)
    chain = build_ladder(cfg.noise)
    loss = DSMLoss(chain, ScorePrediction(LevelIndex(cfg.noise.L), chain), SigmaSquared(), "sum")  # as build's
    exact, worse, gap, sigmas = oracle_losses(loss, chain, 200_000)
    assert worse - exact == pytest.approx(gap, rel=0.05)
    # at the minimum, 1/2 E|sigma s* + z|^2 = s^2 / (s^2 + sigma^2) per two dimensions, averaged over the levels
    assert exact == pytest.approx(float((S2 / (S2 + sigmas**2)).mean()), rel=0.02)


def test_sliced_score_matching_has_the_same_closed_form_gap_and_refuses_a_mean_reduction():
    """objective.kind = ssm (the official code's other algo): the sliced, variance-reduced loss on the same ladder is
    also minimised by the perturbed score, with the same gap E_sigma[sigma^2] |delta|^2 / 2 as DSM's."""
    import dataclasses

    from shared.maths.score_matching import SlicedScoreMatchingVR

    cfg = load(CONFIGS / "smoke_toy.yaml", Config)
    cfg = dataclasses.replace(cfg, objective=dataclasses.replace(cfg.objective, kind="ssm"))
    method = build(cfg)
    assert isinstance(method.loss, SlicedScoreMatchingVR) and method.loss.projection == "gaussian"
    chain = build_ladder(cfg.noise)
    exact, worse, gap, _ = oracle_losses(
        SlicedScoreMatchingVR(chain, ScorePrediction(LevelIndex(cfg.noise.L), chain)), chain, 100_000
    )
    assert worse - exact == pytest.approx(gap, rel=0.05)
    with pytest.raises(ValueError, match="reduce"):
        dataclasses.replace(cfg.objective, kind="ssm", reduce="mean")


# CIN++ by hand, the network's shapes, labels, gradients and parameter counts: test_ncsn_nets.py


def test_short_training_lowers_the_loss_and_sampling_counts_nfe(tmp_path):
    from shared.data.source import DataSource
    from shared.pipeline.train import fit

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
