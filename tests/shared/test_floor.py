"""The data's floor on a tiny trained toy run: held-out data measured as samples are (its energy distance is zero
within its own sampling noise; its NLL is the true density's). The learning curve is tested in test_select.py."""

import json
from pathlib import Path

import pytest

from replications.ddpm.method import SPEC
from shared.pipeline.cli import main
from shared.pipeline.floor import main as floor_main

TINY = Path(__file__).resolve().parents[2] / "replications" / "ddpm" / "configs" / "tiny_toy.yaml"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    ckpt = tmp_path_factory.mktemp("run") / "checkpoint.pt"
    main(SPEC, ["train", "--config", str(TINY), "--out", str(ckpt), "--device", "cpu",
                "--set", "train.steps=5"])  # fmt: skip
    return ckpt


def test_the_floor_of_held_out_points_is_zero_within_its_noise_and_its_nll_is_the_entropy(run, tmp_path):
    from shared.data.toy2d import toy_log_density
    from shared.pipeline.runner import load_run

    out = tmp_path / "floor" / "metrics.json"
    floor_main(["--ckpt", str(run), "--n", "500", "--out", str(out), "--device", "cpu"])
    report = json.loads(out.read_text())
    ed = report["metrics"]["energy_distance"]
    assert report["replication"] == "data" and ed["n"] == 500 and ed["stderr"] > 0
    assert abs(ed["value"]) < 3 * ed["stderr"]  # the same law on both sides: zero up to the finite sample
    data = load_run(run, device="cpu").data()
    points = data.test_points()[: load_run(run, device="cpu").cfg.evaluate.nll_examples]
    assert report["metrics"]["nll_nats"]["value"] == pytest.approx(
        -toy_log_density(data.cfg.name, points).mean().item()
    )
