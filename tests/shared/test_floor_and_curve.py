"""The data's floor and the learning curve on a tiny trained toy run: held-out data measured as samples are (its
energy distance is zero within its own sampling noise; its NLL is the true density's), and the curve scores every
snapshot exactly as checkpoint selection does."""

import json
import math
from pathlib import Path

import pytest

from replications.ddpm.method import SPEC
from shared.pipeline.cli import main
from shared.pipeline.curve import main as curve_main
from shared.pipeline.floor import main as floor_main
from shared.pipeline.select import main as select_main

TINY = Path(__file__).resolve().parents[2] / "replications" / "ddpm" / "configs" / "tiny_toy.yaml"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    ckpt = tmp_path_factory.mktemp("run") / "checkpoint.pt"
    main(SPEC, ["train", "--config", str(TINY), "--out", str(ckpt), "--device", "cpu",
                "--set", "train.steps=20", "--set", "train.snapshot_every=10"])  # fmt: skip
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


def test_the_curve_scores_every_snapshot_as_selection_does(run, tmp_path):
    curve = tmp_path / "curve.csv"
    curve_main(["--ckpt", str(run), "--n", "64", "--out", str(curve), "--device", "cpu"])
    rows = [r.split(",") for r in curve.read_text().splitlines()[1:]]
    assert [int(r[0]) for r in rows] == [10, 20] and float(rows[0][1]) < float(rows[1][1])  # steps, wall seconds
    select_main(["--ckpt", str(run), "--out", str(tmp_path / "s" / "selected.pt"), "--rule", "min_quality",
                 "--n", "64", "--device", "cpu"])  # fmt: skip
    picked = [r.split(",") for r in (tmp_path / "s" / "quality_vs_step.csv").read_text().splitlines()[1:]]
    assert [float(r[3]) for r in rows] == [float(r[2]) for r in picked]  # the same seeds, the same scores
    assert all(math.isfinite(float(r[3])) for r in rows)
