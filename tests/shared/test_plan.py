"""The cost plan (shared.pipeline.plan): counted FLOPs of an MLP equal its closed form, training and sampling
scale as stated, and the table's GPU-hours follow from the peak and the MFU."""

import math
from pathlib import Path

import pytest
import torch
import yaml

from replications.ddpm.method import SPEC
from shared.config import load
from shared.pipeline.plan import PEAK_TFLOPS, forward_flops, main, plan_run, sampler_nfe

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "replications" / "ddpm" / "configs" / "tiny_toy.yaml"


def test_an_mlps_forward_flops_are_two_per_weight_of_its_linear_layers():
    cfg = load(TINY, SPEC.config)
    net = SPEC.build(cfg).net
    linear = sum(m.weight.numel() for m in net.modules() if isinstance(m, torch.nn.Linear))
    assert forward_flops(net, tuple(cfg.data.shape)) == 2 * linear


def test_nfe_is_counted_from_the_sampler_that_runs():
    cfg = load(TINY, SPEC.config, ["sample.n_steps=37"])
    assert sampler_nfe(SPEC.build(cfg), tuple(cfg.data.shape), 150.0) == (37.0, "ancestral, 37 NFE")
    cfg = load(TINY, SPEC.config, ["sample={kind: dpm_solver_2m, n_steps: 9}"])
    assert sampler_nfe(SPEC.build(cfg), tuple(cfg.data.shape), 150.0)[0] == 9.0


def test_a_runs_flops_scale_with_steps_batch_samples_and_snapshots():
    cfg = load(TINY, SPEC.config)
    fwd = forward_flops(SPEC.build(cfg).net, tuple(cfg.data.shape))
    run = {"replication": "ddpm", "experiment": "tiny_toy", "seeds": [0, 1], "n_samples": 100, "select": "min_quality"}
    variant = {"replication": "ddpm", "experiment": "v", "checkpoint_of": "tiny_toy", "set": ["sample.n_steps=10"]}
    rows = [run, variant]

    def with_snapshots(path, config_cls, sets=()):
        return load(path, config_cls, [*sets, "train.snapshot_every=7"])

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("shared.pipeline.plan.load", with_snapshots)
        row = plan_run(run, rows, 1000, 150.0, REPO)
        other = plan_run(variant, rows, 1000, 150.0, REPO)
    tc, T = cfg.train, cfg.process.T
    assert row["train_flops"] == tc.steps * tc.batch_size * 3 * fwd * 2  # two seeds
    assert row["sample_flops"] == 200 * T * fwd and row["snapshots"] == math.ceil(tc.steps / 7)
    assert row["select_flops"] == row["snapshots"] * cfg.select.n_samples * T * fwd * 2
    assert other["train_flops"] == 0 and other["sample_flops"] == 1000 * 10 * fwd and other["disk_gb"] == 0


def test_the_table_projects_gpu_hours_from_the_peak_and_the_mfu(tmp_path, capsys):
    config = tmp_path / "plan.yaml"
    config.write_text(yaml.safe_dump({"runs": [{"replication": "ddpm", "experiment": "tiny_toy"}]}))
    main(["--configfile", str(config), "--gpu", "A100", "--mfu", "1e-10", "--out", str(tmp_path / "plan.md")])
    text = capsys.readouterr().out
    assert (tmp_path / "plan.md").read_text() == text and "one A100 at MFU" in text
    cfg = load(TINY, SPEC.config)
    fwd = forward_flops(SPEC.build(cfg).net, tuple(cfg.data.shape))
    flops = cfg.train.steps * cfg.train.batch_size * 3 * fwd + 1000 * cfg.process.T * fwd
    hours = flops / (PEAK_TFLOPS["A100"]["tf32"] * 1e12 * 1e-10) / 3600
    assert hours > 1 and f"**{hours:,.1f}**" in text  # a tiny run at a tiny MFU: hours worth printing
