"""The Snakemake pipeline: lint, schema validation, the paper DAG, and a real end-to-end run of a tiny config."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = shutil.which("snakemake", path=str(Path(sys.executable).parent)) or shutil.which("snakemake")


def snakemake(*args, cwd=REPO):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run([SNAKEMAKE, *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=900)


def test_lint_is_clean():
    res = snakemake("--lint")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Congratulations" in res.stdout + res.stderr


def test_paper_config_builds_a_dag():
    res = snakemake("-n", "--configfile", "workflows/config/paper.yaml")
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout + res.stderr
    assert "results/ddpm/cifar10/seed0/samples/45000-49999.npz" in out  # 50k samples in 10 shards of 5000


def test_bad_workflow_config_is_rejected(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("runs:\n  - {replication: ddpm, experimnt: smoke_toy}\nsample: {shard_size: 10}\n")
    res = snakemake("-n", "--configfile", str(bad))
    assert res.returncode != 0
    assert "experimnt" in res.stdout + res.stderr
    missing = tmp_path / "missing.yaml"
    missing.write_text("runs:\n  - {replication: ddpm, experiment: nosuch}\nsample: {shard_size: 10}\n")
    res = snakemake("-n", "--configfile", str(missing))
    assert res.returncode != 0 and "replications/ddpm/configs/nosuch.yaml" in res.stdout + res.stderr


@pytest.mark.slow
def test_end_to_end_tiny_run(tmp_path):
    res = snakemake("--cores", "2", "--configfile", "tests/workflows/tiny.yaml", "--config", f"results_dir={tmp_path}")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    run = tmp_path / "ddpm" / "tiny_toy" / "seed0"
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["0-199.npz", "200-299.npz"]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["n_samples"] == 300 and metrics["weights"] == "ema"
    for key in ("energy_distance", "mmd_rbf", "nll_nats", "nfe_per_sample"):
        assert key in metrics["metrics"]
    assert metrics["metrics"]["nfe_per_sample"]["value"] == 100
    assert metrics["provenance"]["git_commit"] and metrics["config"]["train"]["steps"] == 100
    assert (run / "figures" / "samples.png").stat().st_size > 0
    summary = (tmp_path / "tables" / "summary.md").read_text()
    assert "tiny_toy" in summary and "nll_nats" in summary
    # a second invocation has nothing left to do
    again = snakemake("-n", "--configfile", "tests/workflows/tiny.yaml", "--config", f"results_dir={tmp_path}")
    assert "Nothing to be done" in again.stdout + again.stderr
