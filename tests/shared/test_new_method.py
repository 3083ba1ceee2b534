"""Adding a method touches nothing shared: a throwaway method in a temporary package (a Gaussian-to-data linear
flow, trained by velocity regression) goes through train -> sample -> evaluate with the one CLI, and the workflow
discovers replications by their packages, not by a list."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]

METHOD = '''
"""A linear flow from N(0, I) at t = 0 to the data at t = 1: x_t = (1 - t) z + t x, velocity target x - z."""
from dataclasses import dataclass, field
from functools import partial

import torch

from shared.data.source import DataConfig
from shared.pipeline.evaluate import EvalConfig
from shared.pipeline.method import Method, Spec
from shared.nets import MLPConfig, build_net
from shared.maths.ode import FlowNLL
from shared.maths.precond import ScaledTime, VelocityPrediction
from shared.maths.priors import GaussianPrior
from shared.maths.samplers import SAMPLERS
from shared.pipeline.train import TrainConfig
from shared.utils import append_dims, randn_like


@dataclass(frozen=True)
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    net: MLPConfig = field(default_factory=MLPConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    evaluate: EvalConfig = field(default_factory=EvalConfig)
    steps: int = 20


class VelocityLoss:
    def __init__(self, precond):
        self.precond = precond

    def __call__(self, net, x, generator):
        t = torch.rand(x.shape[0], generator=generator, device=x.device)
        z = randn_like(x, generator)
        x_t = append_dims(1 - t, x.ndim) * z + append_dims(t, x.ndim) * x
        return (self.precond(net, x_t, t) - (x - z)).pow(2).flatten(1).mean(1)


def build(cfg):
    net = build_net(cfg.net, cfg.data.shape)
    precond = VelocityPrediction(ScaledTime(999.0))
    prior = GaussianPrior(1.0)
    return Method(
        net=net,
        loss=VelocityLoss(precond),
        prior=prior,
        field=precond.field(net),
        sampler=partial(SAMPLERS["euler"]),
        grid=torch.linspace(0.0, 1.0, cfg.steps + 1),
        nll=FlowNLL(precond.field, prior.log_prob, 1.0, 0.0, divergence="exact", rtol=1e-4, atol=1e-4),
    )


SPEC = Spec(name="throwaway", config=Config, build=build, module=__name__)
'''

MAIN = """
from throwaway.method import SPEC
from shared.pipeline.cli import main

main(SPEC)
"""

CONFIG = """
data: {name: 8gaussians, n_test: 300}
net: {kind: mlp, hidden: 32, depth: 2, emb_dim: 16}
train: {steps: 30, batch_size: 64, lr: 1.0e-3, warmup_steps: 5, checkpoint_every: 30, log_every: 10}
evaluate: {nll_examples: 50, nll_batch_size: 50, sample_batch_size: 100}
steps: 20
"""


def test_a_throwaway_method_runs_through_the_cli_with_no_shared_edit(tmp_path):
    pkg = tmp_path / "pkg" / "throwaway"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "method.py").write_text(textwrap.dedent(METHOD))
    (pkg / "__main__.py").write_text(textwrap.dedent(MAIN))
    cfg = tmp_path / "flow.yaml"
    cfg.write_text(CONFIG)
    env = {**os.environ, "PYTHONPATH": f"{tmp_path / 'pkg'}{os.pathsep}{REPO}", "OMP_NUM_THREADS": "1"}
    run = tmp_path / "results" / "seed0"

    def cli(*args):
        res = subprocess.run(
            [sys.executable, "-m", "throwaway", *map(str, args)],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=300,
        )
        assert res.returncode == 0, res.stdout + res.stderr
        return res

    cli("train", "--config", cfg, "--seed", 0, "--out", run / "checkpoint.pt", "--device", "cpu")
    cli("sample", "--ckpt", run / "checkpoint.pt", "--seeds", "0-199", "--out", run / "s.npz", "--device", "cpu")
    cli(
        "evaluate",
        "--ckpt",
        run / "checkpoint.pt",
        "--samples",
        run / "s.npz",
        "--out",
        run / "m.json",
        "--device",
        "cpu",
    )
    with np.load(run / "s.npz") as f:
        assert f["x"].shape == (200, 2) and np.isfinite(f["x"]).all()
        assert json.loads(str(f["meta"]))["replication"] == "throwaway"
    report = json.loads((run / "m.json").read_text())
    assert report["replication"] == "throwaway" and report["train_steps"] == 30
    assert report["metrics"]["nfe_per_sample"]["value"] == 20  # Euler: one evaluation per grid step
    for key in ("energy_distance", "mmd_rbf", "nll_nats"):
        assert np.isfinite(report["metrics"][key]["value"]), key


def test_the_workflow_discovers_replications_by_package():
    text = (REPO / "workflows" / "rules" / "common.smk").read_text()
    assert 'glob("*/__main__.py")' in text
    found = sorted(p.parent.name for p in (REPO / "replications").glob("*/__main__.py"))
    assert {"ddpm", "score_sde", "ffjord"} <= set(found)
