"""The training loop: an interrupted and resumed run ends with the same weights as an uninterrupted one;
the loss goes down; the CSV log and the checkpoint are written atomically and reload with weights_only."""

import csv
import math

import pytest
import torch
from torch import nn

from shared.data.source import DataConfig, DataSource
from shared.pipeline.train import STATE_FILE, TrainConfig, fit, learning_rate, load_checkpoint
from shared.utils import randn_like


class Denoise:
    """A tiny denoising objective with dropout in the net, so resume must restore every random stream."""

    def __call__(self, net, x, generator):
        eps = randn_like(x, generator)
        c = torch.rand(x.shape[0], generator=generator)
        return (net(x + eps * c[:, None]) - x).pow(2).mean(1)


def make_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 32), nn.SiLU(), nn.Dropout(0.1), nn.Linear(32, 2))


CFG = TrainConfig(steps=30, batch_size=64, lr=1e-2, warmup_steps=5, ema_decay=0.9, checkpoint_every=10, log_every=5)


def run(out, cfg=CFG, loss=None):
    data = DataSource(DataConfig(name="8gaussians"), seed=7)
    return fit(make_net(), loss or Denoise(), data, cfg, out, seed=7, device=torch.device("cpu"))


def test_resume_after_a_crash_gives_the_same_weights(tmp_path):
    full = run(tmp_path / "a")

    class Crash(Denoise):
        calls = 0

        def __call__(self, net, x, generator):
            Crash.calls += 1
            if Crash.calls == 25:  # dies at step 25; the last checkpoint is step 20
                raise KeyboardInterrupt
            return super().__call__(net, x, generator)

    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "b", loss=Crash())
    assert load_checkpoint(tmp_path / "b" / STATE_FILE)["step"] == 20
    resumed = run(tmp_path / "b")
    for key in ("net", "ema"):
        for name, value in full[key].items():
            assert torch.equal(value, resumed[key][name]), (key, name)
    rows = list(csv.DictReader(open(tmp_path / "b" / "train_log.csv")))
    assert [int(r["step"]) for r in rows] == list(range(5, 31, 5))  # no duplicated rows after the resume


def test_loss_decreases_and_ema_differs_from_raw(tmp_path):
    cfg = TrainConfig(
        steps=300, batch_size=128, lr=1e-2, warmup_steps=10, ema_decay=0.95, checkpoint_every=300, log_every=50
    )
    state = run(tmp_path, cfg)
    rows = list(csv.DictReader(open(tmp_path / "train_log.csv")))
    assert float(rows[-1]["loss"]) < 0.7 * float(rows[0]["loss"])
    ema_w = state["ema"]["module.0.weight"]
    assert not torch.equal(ema_w, state["net"]["0.weight"])


def test_bad_train_config_is_rejected():
    with pytest.raises(ValueError, match="train.ema_decay"):
        TrainConfig(ema_decay=1.0)
    with pytest.raises(ValueError, match="train.steps"):
        TrainConfig(steps=0)


def test_learning_rate_warmup_then_constant_or_cosine():
    const = TrainConfig(steps=110, lr=2.0, warmup_steps=10)
    assert learning_rate(const, 0) == pytest.approx(0.2)  # (step + 1) / warmup
    assert learning_rate(const, 9) == pytest.approx(2.0)
    assert learning_rate(const, 100) == pytest.approx(2.0)
    cos = TrainConfig(steps=110, lr=2.0, warmup_steps=10, lr_schedule="cosine")
    assert learning_rate(cos, 4) == pytest.approx(1.0)  # warmup unchanged
    for step in (10, 35, 60, 85, 110):  # lr/2 (1 + cos(pi p)), p = (step - warmup) / (steps - warmup)
        p = (step - 10) / 100
        assert learning_rate(cos, step) == pytest.approx(1.0 + math.cos(math.pi * p))
    assert learning_rate(cos, 60) == pytest.approx(1.0)
    assert learning_rate(cos, 110) == pytest.approx(0.0, abs=1e-12)


def test_cosine_schedule_reaches_the_optimizer(tmp_path):
    cfg = TrainConfig(
        steps=40, batch_size=16, lr=1e-2, warmup_steps=0, lr_schedule="cosine", checkpoint_every=40, log_every=10
    )
    run(tmp_path, cfg)
    rows = list(csv.DictReader(open(tmp_path / "train_log.csv")))
    logged = [float(r["lr"]) for r in rows]
    expected = [learning_rate(cfg, int(r["step"]) - 1) for r in rows]  # a row logs the lr of its last step
    assert logged == pytest.approx(expected, rel=1e-5)
    assert logged == sorted(logged, reverse=True) and logged[-1] < 0.2 * cfg.lr


def test_linear_schedule_decays_to_zero_after_warmup():
    cfg = TrainConfig(steps=110, lr=1.0, warmup_steps=10, lr_schedule="linear")
    assert learning_rate(cfg, 4) == pytest.approx(0.5)
    assert [learning_rate(cfg, s) for s in (10, 60, 110)] == pytest.approx([1.0, 0.5, 0.0])


@pytest.mark.parametrize("warmup", [False, True])
def test_ema_follows_its_recursion_with_and_without_warmup(warmup):
    """The EMA of a scalar weight set to w_n before update n: a copy at n = 1, then e <- d_n e + (1 - d_n) w_n with
    d_n = min(decay, (1 + n) / (10 + n)) under warm-up (the score_sde / RectifiedFlow rule), else d_n = decay; the
    count survives a state-dict round trip, so a resumed run blends as an uninterrupted one."""
    from shared.pipeline.train import make_ema

    decay, weights = 0.99, [float(v) for v in (3, -1, 4, 1, -5, 9, 2, 6)]
    net = nn.Linear(1, 1, bias=False)
    ema = make_ema(net, decay, warmup)
    expect = None
    for n, w in enumerate(weights, start=1):
        if n == 5:  # resume: a fresh average loaded from the saved state
            state = ema.state_dict()
            ema = make_ema(net, decay, warmup)
            ema.load_state_dict(state)
        with torch.no_grad():
            net.weight.fill_(w)
        ema.update_parameters(net)
        d = min(decay, (1 + n) / (10 + n)) if warmup else decay
        expect = w if n == 1 else d * expect + (1 - d) * w
        assert ema.module.weight.item() == pytest.approx(expect, rel=1e-6), n


def test_a_time_budget_stops_at_a_step_whose_state_is_complete_and_final(tmp_path):
    """train.time_budget_s: steps of >= 20 ms each and a 0.2 s budget stop within 11 steps of 1000; the state, the
    log's last row and the weights are those of a run told to train exactly that many steps; a rerun trains no more."""
    import dataclasses
    import time

    class Slow(Denoise):
        def __call__(self, net, x, generator):
            time.sleep(0.02)
            return super().__call__(net, x, generator)

    cfg = dataclasses.replace(CFG, steps=1000, time_budget_s=0.2)
    state = run(tmp_path / "budget", cfg, loss=Slow())
    k = state["step"]
    assert 1 <= k <= 11 and state["wall_s"] >= 0.2
    assert load_checkpoint(tmp_path / "budget" / STATE_FILE)["step"] == k
    rows = list(csv.DictReader(open(tmp_path / "budget" / "train_log.csv")))
    assert int(rows[-1]["step"]) == k
    exact = run(tmp_path / "exact", dataclasses.replace(CFG, steps=k))
    assert all(torch.equal(v, exact["net"][n]) for n, v in state["net"].items())
    assert run(tmp_path / "budget", cfg, loss=Slow())["step"] == k  # the budget is spent: nothing more to train
