"""Sampling's fast paths (evaluate.bf16, evaluate.compile) move samples and the quality metric by less than the
stated tolerances, spend the same NFE, and leave the net as it was (CPU: bf16 autocast and inductor both run here)."""

from pathlib import Path

import pytest

from replications.ddpm.method import SPEC
from shared.metrics.two_sample import energy_distance
from shared.pipeline.cli import main
from shared.pipeline.method import compiled, draw
from shared.pipeline.runner import load_run

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "replications" / "ddpm" / "configs" / "tiny_toy.yaml"
# Stated tolerances on this toy (8 Gaussians, 2-D, DDPM trained 300 steps, 20 ancestral steps, 512 samples):
# bf16 keeps 8 bits of mantissa, so each step's eps_hat carries a relative error of about 2^-8 = 0.4 %; measured
# here: max 0.07, mean 0.007 per coordinate, energy distance 0.104 -> 0.103.
BF16_MAX_ABS = 0.2  # per coordinate, after 20 steps
BF16_MEAN_ABS = 0.02
BF16_ENERGY = 0.01  # change of the energy distance to fresh data
COMPILE_MAX_ABS = 1e-4  # inductor reorders float32 reductions


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "checkpoint.pt"
    main(SPEC, ["train", "--config", str(TINY), "--out", str(out), "--device", "cpu", "--set", "train.steps=300"])
    return load_run(out, overrides=["sample.n_steps=20"])


@pytest.fixture(scope="module")
def method(trained):
    return trained.method


def test_bf16_sampling_stays_within_its_tolerance(trained, method):
    plain = draw(method, (2,), range(512), 256)
    fast = draw(method, (2,), range(512), 256, bf16=True)
    assert fast.nfe_per_sample == plain.nfe_per_sample == 20
    diff = (fast.x - plain.x).abs()
    assert 0 < diff.max().item() < BF16_MAX_ABS and diff.mean().item() < BF16_MEAN_ABS  # it ran in bf16, stayed close
    data = trained.data().test_points()[:512]
    moved = abs(energy_distance(fast.x, data) - energy_distance(plain.x, data))
    assert moved < BF16_ENERGY


def test_compiled_sampling_matches_and_restores_the_net(method):
    plain = draw(method, (2,), range(64), 64)
    forward = method.net.forward
    with compiled(method.net) as net:
        assert net is method.net
        fast = draw(method, (2,), range(64), 64)
    assert fast.nfe_per_sample == plain.nfe_per_sample  # the NFE hook still sees every call
    assert (fast.x - plain.x).abs().max().item() < COMPILE_MAX_ABS
    assert method.net.forward == forward and "forward" not in vars(method.net)
