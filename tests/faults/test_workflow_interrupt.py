"""Ctrl-C on a Snakemake run during training (SIGINT to snakemake and its jobs), then the same command again: the
rerun resumes from the resumable state and the final metrics equal those of an uninterrupted run.

Deterministic whatever the machine's load: training pauses inside step PAUSE_AT until Ctrl-C has been pressed
(tests/faults/slow_python.py), so the signal always lands mid-run. Training takes SIGINT as a request to stop after
the current step with its state saved (shared.pipeline.distributed.StopCondition), so the state is at PAUSE_AT + 1
exactly. An earlier version waited for train_state.pt to appear and then pressed Ctrl-C; under load the test process
could be descheduled past the end of training, when there was nothing left to interrupt."""

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from replications.ddpm.method import SPEC
from shared.io import artifacts
from shared.pipeline.cli import main

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = shutil.which("snakemake", path=str(Path(sys.executable).parent)) or shutil.which("snakemake")
SLOW_PYTHON = Path(__file__).with_name("slow_python.py")


def uninterrupted_metrics(root: Path, shards: list[str]) -> dict:
    """The rules' commands run in this process, one thread as in the rules (OMP_NUM_THREADS=1)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ckpt = root / "checkpoint.pt"
        config = REPO / "replications" / "ddpm" / "configs" / "tiny_toy.yaml"
        main(SPEC, ["train", "--config", str(config), "--seed", "0", "--out", str(ckpt), "--device", "cpu"])
        for name in shards:
            out = str(root / "samples" / name)
            main(SPEC, ["sample", "--ckpt", str(ckpt), "--seeds", name.removesuffix(".npz"), "--out", out])
        paths = [str(root / "samples" / s) for s in shards]
        main(SPEC, ["evaluate", "--ckpt", str(ckpt), "--samples", *paths, "--out", str(root / "m.json")])
    finally:
        torch.set_num_threads(threads)
    return json.loads((root / "m.json").read_text())["metrics"]


PAUSE_AT = 30  # tiny_toy: 100 steps, a state every 50: the pause falls between the start and the first state


@pytest.mark.slow
def test_interrupted_workflow_resumes_to_the_metrics_of_an_uninterrupted_run(tmp_path):
    bin_dir, hook = tmp_path / "bin", tmp_path / "hook"  # `python` of the rules: slow steps, a pause in step 30
    bin_dir.mkdir()
    hook.mkdir()
    wrapper = bin_dir / "python"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{SLOW_PYTHON}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    no_slurm = REPO / "tests" / "bin" / "no_slurm"  # a local run: no 10 s probe of a SLURM controller
    path = os.pathsep.join([str(bin_dir), str(no_slurm), str(Path(sys.executable).parent), os.environ["PATH"]])
    env = {**os.environ, "PATH": path, "REPLICATIONS_DEVICE": "cpu"}
    env |= {"SLOW_PYTHON_PAUSE_AT": str(PAUSE_AT), "SLOW_PYTHON_DIR": str(hook)}
    results = tmp_path / "results"
    run = results / "ddpm" / "tiny_toy" / "seed0"
    command = [SNAKEMAKE, "--cores", "2", "--configfile", "tests/workflows/tiny.yaml", "--config"]
    command += [f"results_dir={results}", "--", str(run / "metrics.json")]

    job = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    deadline = time.monotonic() + 240
    while not (hook / "paused").exists() and job.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)  # training reached step PAUSE_AT and waits there: it is mid-run
    assert (hook / "paused").exists(), job.communicate()[0][-3000:] if job.poll() is not None else "no pause in 240 s"
    os.killpg(job.pid, signal.SIGINT)  # Ctrl-C: the signal goes to snakemake and to the jobs it started
    time.sleep(0.5)  # let every process of the group take the signal before training goes on
    (hook / "resume").write_text("")
    interrupted = job.communicate(timeout=240)[0]
    assert job.returncode != 0, interrupted[-3000:]
    assert not (run / "checkpoint.pt").exists() and not (run / "metrics.json").exists()
    state = run / artifacts.STATE_NAME
    assert artifacts.load_train_state(state)["step"] == PAUSE_AT + 1  # stopped after the step it was in
    log = (run / "logs" / "train.log").read_text()
    assert f"stopped at step {PAUSE_AT + 1}: received SIGINT" in log, log[-2000:]

    again = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert f"resuming from {state} at step {PAUSE_AT + 1}" in (run / "logs" / "train.log").read_text()
    shards = sorted((p.name for p in (run / "samples").iterdir()), key=lambda n: int(n.split("-")[0]))
    metrics = json.loads((run / "metrics.json").read_text())["metrics"]
    assert metrics == uninterrupted_metrics(tmp_path / "reference", shards)
