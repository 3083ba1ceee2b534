"""Each fast path of the training loop (a TrainConfig switch) trains to the same losses and weights as the plain
loop, within a stated tolerance: they change how a step is computed, never what it computes.

The run: a small conv net denoising the embedded 8x8 digits (4-D batches, so channels_last has something to do),
12 Adam steps with warmup, gradient clipping and EMA, every step's loss logged.
"""

import csv

import pytest
import torch
from torch import nn

from shared.data.source import DataConfig, DataSource
from shared.pipeline.train import LOG_FILE, TrainConfig, fit
from shared.utils import append_dims, randn_like

BASE = dict(steps=12, batch_size=32, lr=3e-3, warmup_steps=3, ema_decay=0.9, checkpoint_every=100, log_every=1)


class Denoise:
    """Per-example squared error of x recovered from x + c * eps: (B, 1, 8, 8) -> (B,)."""

    def __call__(self, net, x, generator):
        c = torch.rand(x.shape[0], generator=generator)
        x_noisy = x + append_dims(c, x.dim()) * randn_like(x, generator)
        return (net(x_noisy) - x).pow(2).flatten(1).mean(1)


def make_net():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.GroupNorm(4, 16), nn.SiLU(), nn.Conv2d(16, 16, 3, padding=1), nn.SiLU(),
        nn.Conv2d(16, 1, 3, padding=1),
    )  # fmt: skip


def train(out, **switches):
    """(losses (12,), final weights) of the run with ``switches`` set in the TrainConfig."""
    data = DataSource(DataConfig(name="digits"), seed=3)
    cfg = TrainConfig(**{**BASE, **switches})
    state = fit(make_net(), Denoise(), data, cfg, out, seed=3, device=torch.device("cpu"))
    with open(out / LOG_FILE, newline="") as fh:
        losses = torch.tensor([float(row["loss"]) for row in csv.DictReader(fh)], dtype=torch.float64)
    return losses, torch.cat([v.flatten() for v in state["net"].values()])


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    return train(tmp_path_factory.mktemp("plain"))


# switch -> (relative tolerance on each step's loss, absolute tolerance on every final weight); the CSV keeps 6
# significant digits. Workers build the very same batches: exact. fp32 paths reorder sums: rounding only.
# bf16 rounds activations to 8 mantissa bits (2^-8 = 0.4 % per op), hence 2 %.
CASES = {
    "loader_workers": (2, 1e-6, 0.0),
    "fused_adam": (True, 1e-5, 1e-5),
    "channels_last": (True, 1e-5, 1e-5),
    "compile": (True, 1e-4, 1e-4),
    "bf16": (True, 2e-2, 1e-2),
}


@pytest.mark.parametrize("switch", list(CASES))
def test_fast_path_trains_like_the_plain_loop(switch, plain, tmp_path):
    value, rtol, atol = CASES[switch]
    losses, weights = train(tmp_path, **{switch: value})
    plain_losses, plain_weights = plain
    assert losses.shape == plain_losses.shape == (BASE["steps"],)
    assert plain_losses[-1] < 0.7 * plain_losses[0]  # it learns, so equal curves are not two flat lines
    torch.testing.assert_close(losses, plain_losses, rtol=rtol, atol=0.0)
    torch.testing.assert_close(weights, plain_weights, rtol=0.0, atol=atol)
    if switch != "bf16":  # and the tolerance is tight enough to see a real change: a different lr fails it
        other, _ = train(tmp_path / "lr", lr=BASE["lr"] * 1.01, **{switch: value})
        assert not torch.allclose(other, plain_losses, rtol=rtol, atol=0.0)
