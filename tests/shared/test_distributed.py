"""Multi-process training and preemption: 2 gloo processes reproduce 1 process (same noise groups, dropout
included); SIGTERM or a time budget leaves a checkpoint and the rerun ends with an uninterrupted run's weights;
sample shards concatenate to the same samples whatever the sharding."""

import csv
import os
import runpy
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from unittest.mock import patch

import numpy as np
import pytest
import torch

from shared.pipeline.distributed import EXIT_RESUME, StopCondition, TrainingStopped, env_ranks
from shared.pipeline.train import STATE_FILE, TrainConfig, load_checkpoint

REPO = Path(__file__).resolve().parents[2]
TINY = "replications/ddpm/configs/tiny_toy.yaml"
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}

# A fit() run with dropout and per-example noise, as a script so that torchrun can start it on 2 processes.
FIT_SCRIPT = """
import sys, torch
from torch import nn
from shared.data.source import DataConfig, DataSource
from shared.pipeline.distributed import setup, teardown
from shared.pipeline.train import TrainConfig, fit
from shared.utils import randn_like

class Denoise:
    def __call__(self, net, x, generator):
        eps = randn_like(x, generator)
        c = torch.rand(x.shape[0], generator=generator)
        return (net(x + eps * c[:, None]) - x).pow(2).mean(1)

ddp = setup("cpu", torch.device("cpu"))
torch.manual_seed(0)
net = nn.Sequential(nn.Linear(2, 32), nn.SiLU(), nn.Dropout(0.2), nn.Linear(32, 2))
cfg = TrainConfig(steps=20, batch_size=64, lr=1e-2, warmup_steps=5, ema_decay=0.9, checkpoint_every=20, log_every=2,
                  noise_groups=2)
fit(net, Denoise(), DataSource(DataConfig(name="8gaussians"), seed=7), cfg, sys.argv[1], seed=7,
    device=ddp.device)
teardown()
"""


def losses(run_dir: Path) -> list[float]:
    return [float(r["loss"]) for r in csv.DictReader(open(run_dir / "train_log.csv"))]


def train_cmd(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "replications.ddpm", "train", "--config", TINY, "--seed", "1", "--out", str(out),
            "--device", "cpu", *extra]  # fmt: skip


def run(cmd, **kw):
    res = subprocess.run(cmd, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300, **kw)
    return res


@contextmanager
def one_thread():
    """This process computing as the subprocesses do (OMP_NUM_THREADS=1), its global RNG left as it was: the
    one-process reference runs here, with no interpreter start-up (~2.5 s each); what is compared is unchanged."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng():
            yield
    finally:
        torch.set_num_threads(threads)


def cli_here(argv: list[str]) -> None:
    """``python -m replications.ddpm <argv>`` in this process (one thread); it must succeed."""
    from replications.ddpm.method import SPEC
    from shared.pipeline.cli import main

    with one_thread():
        main(SPEC, argv)


def test_env_ranks_reads_torchrun_then_srun():
    assert env_ranks({}) == (0, 1, 0)
    assert env_ranks({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}) == (3, 4, 1)
    assert env_ranks({"SLURM_PROCID": "1", "SLURM_NTASKS": "2", "SLURM_LOCALID": "1"}) == (1, 2, 1)
    assert env_ranks({"SLURM_PROCID": "0", "SLURM_NTASKS": "1"}) == (0, 1, 0)  # one task: no process group


def test_noise_groups_must_fit_the_processes():
    cfg = TrainConfig(batch_size=64, noise_groups=4)
    assert cfg.groups_per_rank(1) == 4 and cfg.groups_per_rank(2) == 2 and cfg.groups_per_rank(4) == 1
    with pytest.raises(ValueError, match="noise_groups"):
        cfg.groups_per_rank(3)
    with pytest.raises(ValueError, match="noise_groups"):
        TrainConfig(batch_size=64, noise_groups=5)
    assert TrainConfig().groups_per_rank(2) == 1  # default: one group per process


def test_two_gloo_processes_match_one_process(tmp_path):
    script = tmp_path / "fit.py"
    script.write_text(FIT_SCRIPT)
    with one_thread(), patch.object(sys, "argv", [str(script), str(tmp_path / "one")]):
        runpy.run_path(str(script), run_name="__main__")  # the one process: this one
    two = run([*TORCHRUN, str(script), str(tmp_path / "two")])
    assert two.returncode == 0, two.stderr[-3000:]
    a, b = losses(tmp_path / "one"), losses(tmp_path / "two")
    assert len(a) == len(b) == 10
    np.testing.assert_allclose(a, b, rtol=1e-5)
    sa, sb = load_checkpoint(tmp_path / "one" / STATE_FILE), load_checkpoint(tmp_path / "two" / STATE_FILE)
    for key in ("net", "ema"):
        for name, value in sa[key].items():
            torch.testing.assert_close(value, sb[key][name], rtol=1e-4, atol=1e-5, msg=f"{key}.{name}")


def test_cli_under_torchrun_matches_one_process(tmp_path):
    common = ("--set", "train.steps=20", "--set", "train.noise_groups=2", "--set", "train.log_every=5")
    cli_here(train_cmd(tmp_path / "one" / "checkpoint.pt", *common)[3:])
    two = run([*TORCHRUN, "-m", "replications.ddpm", *train_cmd(tmp_path / "two" / "checkpoint.pt", *common)[3:]])
    assert two.returncode == 0, two.stderr[-3000:]
    assert "2 processes" in two.stdout
    np.testing.assert_allclose(losses(tmp_path / "one"), losses(tmp_path / "two"), rtol=1e-5)
    a, b = (torch.load(tmp_path / d / "checkpoint.pt", weights_only=True) for d in ("one", "two"))
    for name, value in a["ema_net"].items():
        torch.testing.assert_close(value, b["ema_net"][name], rtol=1e-4, atol=1e-5)


def test_sigterm_checkpoints_and_the_rerun_matches_an_uninterrupted_run(tmp_path):
    long = ("--set", "train.steps=1000", "--set", "train.checkpoint_every=100000", "--set", "train.log_every=50")
    cli_here(train_cmd(tmp_path / "full" / "checkpoint.pt", *long)[3:])  # uninterrupted, one thread as below
    out = tmp_path / "cut" / "checkpoint.pt"
    proc = subprocess.Popen(train_cmd(out, *long), cwd=REPO, env=ENV, stdout=subprocess.PIPE, text=True)
    for line in proc.stdout:  # "step 125/2500 ..." lines: training is under way
        if line.startswith("step "):
            proc.send_signal(signal.SIGTERM)
            break
    rest, _ = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_RESUME, rest
    assert "received SIGTERM" in rest and not out.exists()
    stopped = load_checkpoint(out.parent / STATE_FILE)["step"]
    assert 0 < stopped < 1000  # saved at the end of the step that was running, not at a checkpoint interval
    again = run(train_cmd(out, *long))
    assert again.returncode == 0 and f"resuming from {out.parent / STATE_FILE} at step {stopped}" in again.stdout
    a, b = (torch.load(p, weights_only=True) for p in (tmp_path / "full" / "checkpoint.pt", out))
    for key in ("net", "ema_net"):
        for name, value in a[key].items():
            assert torch.equal(value, b[key][name]), (key, name)
    rows = [int(r["step"]) for r in csv.DictReader(open(out.parent / "train_log.csv"))]
    assert rows == list(range(50, 1001, 50))


def test_time_budget_stops_with_the_resume_status(tmp_path):
    from replications.ddpm.method import SPEC
    from shared.pipeline.cli import main

    out = tmp_path / "checkpoint.pt"
    with pytest.raises(SystemExit) as stopped:  # the CLI in this process: no interpreter start-ups
        main(SPEC, train_cmd(out, "--max-minutes", "0")[3:])
    assert stopped.value.code == EXIT_RESUME
    assert load_checkpoint(tmp_path / STATE_FILE)["step"] == 1 and not out.exists()
    main(SPEC, train_cmd(out)[3:])
    assert load_checkpoint(out)["step"] == 100


def test_stop_condition_flags_signals_and_restores_handlers():
    before = signal.getsignal(signal.SIGUSR1)
    with StopCondition() as stop:
        assert not stop.requested()
        os.kill(os.getpid(), signal.SIGUSR1)
        time.sleep(0.01)
        assert stop.requested() and "SIGUSR1" in stop.reason
    assert signal.getsignal(signal.SIGUSR1) is before
    assert "rerun" in str(TrainingStopped(5, "x"))


def test_sample_shards_concatenate_to_one_shard(tmp_path):
    from replications.ddpm.method import SPEC
    from shared.pipeline.cli import main

    ckpt = tmp_path / "run" / "checkpoint.pt"
    main(SPEC, train_cmd(ckpt, "--set", "train.steps=5")[3:])  # the CLI in this process: no interpreter start-ups
    sample = ["sample", "--ckpt", str(ckpt), "--device", "cpu"]
    for seeds, bs in (("0-11", "12"), ("0-4", "2"), ("5-11", "7")):
        main(SPEC, [*sample, "--seeds", seeds, "--batch-size", bs, "--out", str(tmp_path / f"{seeds}.npz")])
    whole = np.load(tmp_path / "0-11.npz")["x"]
    parts = np.concatenate([np.load(tmp_path / f"{s}.npz")["x"] for s in ("0-4", "5-11")])
    np.testing.assert_allclose(whole, parts, rtol=1e-5, atol=1e-5)  # float batch-size noise only
