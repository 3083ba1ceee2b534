"""Score-SDE replication (Song et al. 2021): configs, score parameterisations, loss weightings (closed forms),
the exact mixture scores of the figures, and the dequantization-averaged bits/dim protocol."""

import math
from pathlib import Path

import pytest
import torch

from replications.score_sde.config import Config, ODESamplerConfig, SubVPSDEConfig, VESDEConfig
from replications.score_sde.method import build, build_process
from shared.config import ConfigError, load
from shared.maths.mixture import GaussianMixture, bimodal_1d
from shared.maths.processes import VESDE, VPSDE, SubVPSDE
from shared.pipeline.method import sample

CONFIGS = sorted(Path("replications/score_sde/configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_configs_load(path):
    cfg = load(path, Config)
    assert cfg.process.eps == 1e-5  # the paper's time cutoff (App. C)


@pytest.mark.parametrize(
    "name, kind, ema", [("cifar10_ve", "ve", 0.999), ("cifar10_vp", "vp", 0.9999), ("cifar10_subvp", "subvp", 0.9999)]
)
def test_paper_configs_build(name, kind, ema):
    cfg = load(f"replications/score_sde/configs/{name}.yaml", Config)
    assert cfg.process.kind == kind and cfg.train.ema_decay == ema and cfg.train.steps == 1_300_000
    assert (cfg.train.lr, cfg.train.warmup_steps, cfg.train.grad_clip, cfg.train.batch_size) == (2e-4, 5000, 1.0, 128)
    assert cfg.data.data_range == ("[0,1]" if kind == "ve" else "[-1,1]")
    if kind == "ve":  # PC1000 as the official code runs it (App. G): reverse diffusion + Langevin, r = 0.16
        assert (cfg.sample.predictor, cfg.sample.corrector, cfg.sample.snr) == ("reverse_diffusion", "langevin", 0.16)
        assert cfg.sample.norms == "batch" and cfg.sample.corrector_first and cfg.sample.eps == 1e-5
    else:  # continuous DDPM++: Euler-Maruyama, no corrector, ending at 1e-3 (App. C, H.2)
        assert (cfg.sample.predictor, cfg.sample.corrector, cfg.sample.eps) == ("euler_maruyama", "none", 1e-3)
    method = build(cfg)
    process = build_process(cfg.process)
    assert type(process) is {"ve": VESDE, "vp": VPSDE, "subvp": SubVPSDE}[kind]
    assert sum(p.numel() for p in method.net.parameters()) > 30e6
    if kind == "ve":
        assert (process.sigma_min, process.sigma_max) == (0.01, 50.0)
    else:
        assert (process.beta_min, process.beta_max) == (0.1, 20.0)


@pytest.mark.parametrize("kind", ["pc", "ode"])
def test_sampling_grid_ends_at_sample_eps(kind):
    """sample.eps sets where sampling ends (the paper: 1e-3 for VP, App. C); null keeps the process's eps."""
    base = ["process.N=20"] + (["sample={kind: ode}"] if kind == "ode" else [])
    for path in ("replications/score_sde/configs/smoke_digits.yaml", "replications/score_sde/configs/smoke_toy.yaml"):
        cfg = load(path, Config, base)
        plain = build(cfg)
        assert cfg.sample.eps is None
        assert float(plain.grid[0]) == 1.0 and float(plain.grid[-1]) == pytest.approx(cfg.process.eps)
        if kind == "pc":  # null: exactly the process's own grid, so the smoke runs are unchanged
            steps = cfg.sample.n_steps
            torch.testing.assert_close(plain.grid, build_process(cfg.process).time_grid(steps), rtol=0, atol=0)
        ended = build(load(path, Config, [*base, "sample.eps=1.0e-3"]))
        assert float(ended.grid[0]) == 1.0 and float(ended.grid[-1]) == pytest.approx(1e-3)
        assert len(ended.grid) == len(plain.grid) and ended.info["eps"] == 1e-3
        assert torch.all(ended.grid[1:] < ended.grid[:-1])
        if kind == "pc":  # uniform steps
            steps = ended.grid[:-1] - ended.grid[1:]
            torch.testing.assert_close(steps, torch.full_like(steps, (1 - 1e-3) / len(steps)))
    with pytest.raises(ConfigError, match="sample.eps"):
        load("replications/score_sde/configs/smoke_toy.yaml", Config, [*base, "sample.eps=1.5"])


def test_process_kind_is_typed(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("process: {kind: vx}\n")
    with pytest.raises(ConfigError, match="process.kind"):
        load(bad, Config)
    bad.write_text("process: {kind: ve, beta_min: 0.1}\n")  # a VP field on a VE process
    with pytest.raises(ConfigError, match="beta_min"):
        load(bad, Config)
    ok = tmp_path / "ok.yaml"
    ok.write_text("process: {kind: subvp}\nsample: {kind: ode, rtol: 1.0e-3}\n")
    cfg = load(ok, Config)
    assert isinstance(cfg.process, SubVPSDEConfig) and isinstance(cfg.sample, ODESamplerConfig)
    assert isinstance(load(ok, Config, ["process.kind=ve"]).process, VESDEConfig)


@pytest.mark.parametrize("process", [VESDE(0.01, 5.0), VPSDE(), SubVPSDE()], ids=["ve", "vp", "subvp"])
def test_mixture_score_is_the_gradient_of_the_marginal(process):
    mix = GaussianMixture(
        torch.tensor([0.3, 0.7]),
        torch.tensor([[-1.0, 0.5], [1.0, 0.0]]),
        torch.tensor([[[0.2, 0.05], [0.05, 0.1]], [[0.3, 0.0], [0.0, 0.3]]]),
    )
    x = torch.randn(16, 2, dtype=torch.float64, requires_grad=True)
    for t in (0.01, 0.4, 0.9):
        logp = mix.at(process, t).log_prob(x).sum()
        (grad,) = torch.autograd.grad(logp, x)
        score = mix.score_field(process)(x.detach(), torch.full((16,), t, dtype=torch.float64))
        torch.testing.assert_close(score, grad)


def test_mixture_density_integrates_to_one():
    mix = bimodal_1d()
    xs = torch.linspace(-8, 8, 4001, dtype=torch.float64)[:, None]
    assert abs(float(torch.trapezoid(mix.log_prob(xs).exp(), xs[:, 0])) - 1) < 1e-6


def test_smoke_toy_method_samples_and_scores():
    cfg = load("replications/score_sde/configs/smoke_toy.yaml", Config, ["process.N=5"])
    method = build(cfg)
    gen = torch.Generator().manual_seed(0)
    out = sample(method, (8, 2), generator=gen)
    assert out.shape == (8, 2) and torch.isfinite(out).all()
    loss = method.loss(method.net, torch.randn(8, 2), gen)
    assert loss.shape == (8,) and torch.isfinite(loss).all()
    nll = method.nll(method.net, torch.randn(4, 2), gen)
    assert nll.nats.shape == (4,) and not nll.discrete


def test_bits_per_dim_averages_dequantization_draws():
    from shared.data.source import DataConfig, DataSource
    from shared.maths.likelihood import NLL
    from shared.pipeline.evaluate import EvalConfig, nll_of_test_images

    data = DataSource(DataConfig(name="digits"), 0)
    test = torch.randint(0, 256, (10, 1, 8, 8), dtype=torch.uint8)

    def nll_fn(x, gen):  # a "density" whose NLL is the sum of the inputs: draws average to the mean shift
        return NLL(x.flatten(1).sum(1), discrete=False)

    nats1, _ = nll_of_test_images(data, test, nll_fn, EvalConfig(dequantization_draws=1), torch.device("cpu"), 0)
    nats8, discrete = nll_of_test_images(data, test, nll_fn, EvalConfig(dequantization_draws=8), torch.device("cpu"), 0)
    plain = nll_fn(data.to_model(test), None).nats
    # dequantized x = 2 (k + u) / 256 - 1: each pixel's mean shift from the undequantized 2 k / 255 - 1 is known
    k = test.double().flatten(1)
    mean_shift = (2 * (k + 0.5) / 256 - 2 * k / 255).sum(1)
    assert not discrete
    assert (nats8.double() - plain.double() - mean_shift).abs().max() < (
        nats1.double() - plain.double() - mean_shift
    ).abs().max()
    assert (nats8.double() - plain.double() - mean_shift).abs().max() < 8 * math.sqrt(64 / 12 / 8) * 2 / 256 * 3
    with pytest.raises(ValueError):
        EvalConfig(dequantization_draws=-1)
