"""Checkpoint selection (shared.pipeline.select): the rule picks the true minimum of known scores, and a tiny run
with snapshots goes train -> select -> evaluate with the selected step and rule in its metrics; its learning curve
(shared.pipeline.curve) scores the same snapshots alike, and its data's floor (shared.pipeline.floor) is zero within
its noise, with the data's own NLL."""

import json
import math
import shutil
from pathlib import Path

import pytest
import torch

from replications.ddpm.method import SPEC
from shared.pipeline.cli import main
from shared.pipeline.curve import main as curve_main
from shared.pipeline.floor import main as floor_main
from shared.pipeline.select import main as select_main
from shared.pipeline.select import select_index

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "replications" / "ddpm" / "configs" / "tiny_toy.yaml"


def test_select_index_picks_the_true_minimum_the_earlier_on_a_tie_and_skips_non_finite():
    steps = [100, 200, 300, 400, 500]
    assert select_index(steps, [3.0, 1.5, 2.0, 1.5, 4.0], "min_quality") == 1  # tie: the earlier step
    assert select_index(steps, [3.0, math.nan, 2.0, math.inf, 2.5], "min_nll") == 2
    assert select_index(steps, [1.0, 2.0, 3.0, 4.0, 0.5], "last") == 4
    assert select_index([300, 100, 200], [0.0, 0.0, 0.0], "last") == 0  # the largest step, in any order
    for scores, rule in [([math.nan] * 5, "min_quality"), ([1.0] * 5, "best")]:
        with pytest.raises(ValueError):
            select_index(steps, scores, rule)


def test_snapshots_select_and_evaluate_end_to_end(tmp_path, capsys):
    ckpt = tmp_path / "run" / "checkpoint.pt"
    main(SPEC, ["train", "--config", str(TINY), "--out", str(ckpt), "--device", "cpu",
                "--set", "train.steps=30", "--set", "train.snapshot_every=10"])  # fmt: skip
    snaps = sorted(p.name for p in (ckpt.parent / "snapshots").glob("*.pt"))
    assert snaps == ["step00000010.pt", "step00000020.pt", "step00000030.pt"]
    last = torch.load(ckpt.parent / "snapshots" / snaps[-1], weights_only=True)
    final = torch.load(ckpt, weights_only=True)
    assert "optimizer" not in last and all(torch.equal(last["ema_net"][k], v) for k, v in final["ema_net"].items())

    out = tmp_path / "best" / "selected.pt"
    select_main(["--ckpt", str(ckpt), "--out", str(out), "--rule", "min_quality", "--n", "64", "--device", "cpu"])
    rows = (out.parent / "quality_vs_step.csv").read_text().splitlines()[1:]
    scores = {int(r.split(",")[0]): float(r.split(",")[2]) for r in rows}
    selection = torch.load(out, weights_only=True)["selection"]
    assert selection["rule"] == "min_quality" and selection["metric"] == "energy_distance"
    assert selection["step"] == min(scores, key=scores.get) and set(scores) == {10, 20, 30}
    assert (out.parent / "quality_vs_step.png").stat().st_size > 0

    # the learning curve scores every snapshot as the selection did: the same seeds, the same scores
    curve = tmp_path / "curve.csv"
    curve_main(["--ckpt", str(ckpt), "--n", "64", "--out", str(curve), "--device", "cpu"])
    points = [r.split(",") for r in curve.read_text().splitlines()[1:]]
    assert [int(r[0]) for r in points] == [10, 20, 30] and [float(r[3]) for r in points] == [scores[k] for k in scores]
    assert float(points[0][1]) < float(points[1][1]) < float(points[2][1])  # training wall seconds, increasing

    # the data's floor of the same run: held-out points measured as samples are, zero within their own noise
    floor = tmp_path / "floor" / "metrics.json"
    floor_main(["--ckpt", str(ckpt), "--n", "500", "--out", str(floor), "--device", "cpu"])
    report = json.loads(floor.read_text())
    ed = report["metrics"]["energy_distance"]
    assert report["replication"] == "data" and ed["n"] == 500 and 0 < abs(ed["value"]) < 3 * ed["stderr"]
    from shared.data.toy2d import toy_log_density
    from shared.pipeline.runner import load_run

    run = load_run(ckpt, device="cpu")
    points = run.data().test_points()[: run.cfg.evaluate.nll_examples]
    entropy = -toy_log_density(run.cfg.data.name, points).mean().item()
    assert report["metrics"]["nll_nats"]["value"] == pytest.approx(entropy)  # the data's own NLL on the same points

    samples, metrics = tmp_path / "best" / "s.npz", tmp_path / "best" / "metrics.json"
    main(SPEC, ["sample", "--ckpt", str(out), "--seeds", "0-63", "--out", str(samples), "--device", "cpu"])
    main(SPEC, ["evaluate", "--ckpt", str(out), "--samples", str(samples), "--out", str(metrics), "--device", "cpu",
                "--set", "evaluate.nll_examples=0"])  # fmt: skip
    report = json.loads(metrics.read_text())
    assert report["selection"]["step"] == selection["step"] == report["train_steps"]
    assert report["selection"]["rule"] == "min_quality"

    by_nll = tmp_path / "nll" / "selected.pt"  # FFJORD's rule: the best held-out NLL (here DDPM's bound)
    select_main(["--ckpt", str(ckpt), "--out", str(by_nll), "--rule", "min_nll", "--n", "64", "--device", "cpu"])
    rows = (by_nll.parent / "quality_vs_step.csv").read_text().splitlines()[1:]
    nll = {int(r.split(",")[0]): float(r.split(",")[2]) for r in rows}
    chosen = torch.load(by_nll, weights_only=True)["selection"]
    assert chosen["metric"] == "nll_nats" and chosen["step"] == min(nll, key=nll.get) and len(nll) == 3

    shutil.rmtree(ckpt.parent / "snapshots")
    capsys.readouterr()
    with pytest.raises(SystemExit) as err:  # a run without snapshots cannot be selected by a score
        select_main(["--ckpt", str(ckpt), "--out", str(tmp_path / "x.pt"), "--rule", "min_quality"])
    msg = capsys.readouterr().err.strip()
    assert err.value.code == 2 and "snapshot_every" in msg and len(msg.splitlines()) == 1
    assert not (tmp_path / "x.pt").exists()


def test_images_are_selected_by_test_bits_per_dim(tmp_path):
    """FFJORD's rule on images: the snapshot with the best test bits/dim (here DDPM's bound on the 8x8 digits)."""
    ckpt = tmp_path / "run" / "checkpoint.pt"
    config = REPO / "replications" / "ddpm" / "configs" / "smoke_digits.yaml"
    sets = ["train.steps=10", "train.snapshot_every=5", "process.T=50", "sample.n_steps=50"]
    main(SPEC, ["train", "--config", str(config), "--out", str(ckpt), "--device", "cpu", *_sets(sets)])
    out = tmp_path / "best" / "selected.pt"
    select_main(["--ckpt", str(ckpt), "--out", str(out), "--rule", "min_nll", "--n", "8", "--device", "cpu"])
    rows = [r.split(",") for r in (out.parent / "quality_vs_step.csv").read_text().splitlines()[1:]]
    assert [(int(r[0]), r[1]) for r in rows] == [(5, "bits_per_dim"), (10, "bits_per_dim")]
    bpd = {int(r[0]): float(r[2]) for r in rows}
    assert all(0 < v < 16 for v in bpd.values())  # 8-bit data: a few bits per dimension, not nats per image
    assert torch.load(out, weights_only=True)["selection"]["step"] == min(bpd, key=bpd.get)


def _sets(items):
    return [a for s in items for a in ("--set", s)]
