"""kill -9 at random steps of training, in the middle of writing a checkpoint and during sampling: no file under a
final name is ever incomplete, and rerunning the same command ends with the weights of an uninterrupted run, bit
for bit (and the same samples).

One worker process (tests/faults/worker.py) imports torch once and forks a child per command; the children are
killed with SIGKILL at points drawn from a seeded generator."""

import csv
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from shared.io import artifacts

REPO = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("worker.py")
TINY = REPO / "replications" / "ddpm" / "configs" / "tiny_toy.yaml"
TEST_SEED = 1234
STEPS, EVERY = 30, 5
KILL_STEPS = sorted(random.Random(TEST_SEED).sample(range(2, STEPS), 3))


def train(out):
    sets = [f"train.steps={STEPS}", f"train.checkpoint_every={EVERY}", "train.log_every=3"]  # rows across states
    return ["train", "--config", str(TINY), "--seed", "3", "--out", str(out), "--device", "cpu"] + [
        a for s in sets for a in ("--set", s)
    ]


def sample(ckpt, out):
    return ["sample", "--ckpt", str(ckpt), "--seeds", "0-29", "--batch-size", "10", "--out", str(out)]


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """Runs the plan below in one worker; returns (folders, {entry name: result})."""
    root = tmp_path_factory.mktemp("kill")
    ref, run = root / "ref" / "checkpoint.pt", root / "run" / "checkpoint.pt"
    shard, ref_shard = root / "run" / "samples" / "0-29.npz", root / "ref" / "samples" / "0-29.npz"
    watch = [str(run.parent / artifacts.STATE_NAME), str(run)]
    plan = [("reference", train(ref), None, [str(ref)])]
    plan += [(f"step {k}", train(run), {"at": "step", "step": k}, watch) for k in KILL_STEPS]
    plan += [
        ("writing train_state.pt", train(run), {"at": "write", "name": "train_state.pt"}, watch),
        ("writing checkpoint.pt", train(run), {"at": "write", "name": "checkpoint.pt"}, watch),
        ("rerun", train(run), None, watch),
        ("writing samples", sample(run, shard), {"at": "write", "name": shard.name}, [str(shard)]),
        ("sampling", sample(run, shard), {"at": "sample_batch", "batch": 2}, [str(shard)]),
        ("sample", sample(run, shard), None, [str(shard)]),
        ("sample reference", sample(ref, ref_shard), None, [str(ref_shard)]),
    ]
    entries = [{"replication": "ddpm", "argv": a, "kill": k, "check": c} for _, a, k, c in plan]
    plan_path, results_path = root / "plan.json", root / "results.json"
    plan_path.write_text(json.dumps(entries))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "REPLICATIONS_DEVICE": "cpu"}
    res = subprocess.run(
        [sys.executable, str(WORKER), str(plan_path), str(results_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0 and results_path.is_file(), res.stdout[-3000:] + res.stderr[-3000:]
    results = dict(zip([name for name, *_ in plan], json.loads(results_path.read_text())))
    return {"ref": ref, "run": run, "shard": shard, "ref_shard": ref_shard, "log": res.stdout + res.stderr}, results


def test_every_kill_landed_and_left_no_partial_file(chain):
    paths, results = chain
    for name, result in results.items():
        killed = name.startswith(("step", "writing", "sampling"))
        assert result["signal"] == (9 if killed else None), (name, result, paths["log"][-2000:])
        if not killed:
            assert result["code"] == 0, (name, result)
        for path, state in result["check"].items():
            assert state in ("ok", "missing"), (name, path, state)  # never a half-written file under its name
    for name in ("reference", "rerun", "sample", "sample reference"):
        assert all(state == "ok" for state in results[name]["check"].values()), (name, results[name])


def test_a_kill_mid_write_keeps_the_previous_file(chain):
    paths, results = chain
    state, ckpt = str(paths["run"].parent / artifacts.STATE_NAME), str(paths["run"])
    assert results["writing train_state.pt"]["check"] == {state: "ok", ckpt: "missing"}  # the previous state
    assert results["writing checkpoint.pt"]["check"] == {state: "ok", ckpt: "missing"}
    assert results["writing samples"]["check"] == {str(paths["shard"]): "missing"}
    assert results["sampling"]["check"] == {str(paths["shard"]): "missing"}
    leftovers = [p for p in paths["run"].parent.rglob(".*tmp*")]
    assert leftovers == [], leftovers  # the next write of a file removes the temporary files of killed writers


def test_rerun_after_kills_gives_the_uninterrupted_weights_bit_for_bit(chain):
    paths, _ = chain
    a = artifacts.load_checkpoint(paths["ref"], "ddpm")
    b = artifacts.load_checkpoint(paths["run"], "ddpm")
    assert a["step"] == b["step"] == STEPS
    for key in ("net", "ema_net"):
        assert a[key].keys() == b[key].keys()
        for name in a[key]:
            assert torch.equal(a[key][name], b[key][name]), (key, name)
    logs = [list(csv.DictReader(open(p.parent / "train_log.csv"))) for p in (paths["ref"], paths["run"])]
    columns = ("step", "loss", "lr", "grad_norm")
    assert [[r[c] for c in columns] for r in logs[0]] == [[r[c] for c in columns] for r in logs[1]]


def test_samples_after_kills_equal_the_reference_samples(chain):
    paths, _ = chain
    with np.load(paths["shard"]) as a, np.load(paths["ref_shard"]) as b:
        assert np.array_equal(a["x"], b["x"]) and np.array_equal(a["seeds"], np.arange(30))
