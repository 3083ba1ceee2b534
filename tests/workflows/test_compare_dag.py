"""The comparison's DAG (dry run of a tiny compare config): every (data set, method, seed) has its own
train -> sample -> evaluate chain, all methods of a data set share one net and one budget, and the per-data-set
table, sweep and sample grid gather exactly those runs."""

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = shutil.which("snakemake", path=str(Path(sys.executable).parent)) or shutil.which("snakemake")
METHODS = {"ddpm": "ddpm", "ncsn": "ncsn", "vp": "score_sde", "ffjord": "ffjord", "fm": "flow_matching"}


def test_every_pair_has_a_chain_with_the_same_net_and_budget(tmp_path):
    no_slurm = REPO / "tests" / "bin" / "no_slurm"  # a local run: no 10 s probe of a SLURM controller
    env = {**os.environ, "PATH": os.pathsep.join([str(no_slurm), str(Path(sys.executable).parent), os.environ["PATH"]])}
    res = subprocess.run(
        [
            SNAKEMAKE,
            "-n",
            "-p",
            "--configfile",
            "tests/workflows/tiny_compare.yaml",
            "--config",
            f"results_dir={tmp_path}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    train_cmds = [line for line in out.splitlines() if " train --config " in line and "--experiment compare_" in line]
    assert len(train_cmds) == 2 * len(METHODS) * 2 + 2  # data sets x methods x seeds, and the distillation's 2 seeds
    # a distillation waits for its teacher's run (same data set, same seed) and is told where it is
    for seed in (0, 1):
        cd = next(c for c in train_cmds if "--experiment compare_8gaussians_cd " in c and f"--seed {seed} " in c)
        assert f"--set objective.teacher={tmp_path}/flow_matching/compare_8gaussians_fm/seed{seed}/checkpoint.pt" in cd
    assert "compare_digits_cd" not in out  # `datasets:` keeps it to 8gaussians
    # smoke.yaml's `objectives:` (kept by this config): NCSN's objectives side by side, its config file an input
    objectives = next(line for line in out.splitlines() if "python -m replications.ncsn objectives" in line)
    assert "--config replications/ncsn/configs/smoke_toy.yaml --seeds 0 " in objectives
    assert f"--out {tmp_path}/ncsn/objectives/objectives.md" in objectives
    for dataset in ("8gaussians", "digits"):
        nets, budgets = set(), set()
        for method, rep in METHODS.items():
            run = f"{tmp_path}/{rep}/compare_{dataset}_{method}"
            for seed in (0, 1):
                for file in ("checkpoint.pt", "metrics.json", "samples/0-", "sweep.json"):
                    assert f"{run}/seed{seed}/{file}" in out, (dataset, method, seed, file)
            cmds = [c for c in train_cmds if f"--experiment compare_{dataset}_{method} " in c]
            assert len({c.split(" --seed ")[0] for c in cmds}) == 1 and len(cmds) == 2  # both seeds, one config
            cmd = cmds[0]
            sets = [a for a in shlex.split(cmd) if "=" in a and not a.startswith("--")]
            budgets.add(tuple(sorted(s for s in sets if s.startswith("train."))))
            net = [s for s in sets if s.startswith("net=")]
            if method == "ffjord":
                assert net == []  # a CNF keeps its own net, and says so in the config
            else:
                nets.add(tuple(net))
            base = "smoke_toy" if dataset == "8gaussians" else "smoke_digits"
            assert f"--config replications/{rep}/configs/{base}.yaml" in cmd
        assert len(nets) == 1 and len(nets.pop()) == 1, f"{dataset}: the methods do not share one net"
        assert len(budgets) == 1, f"{dataset}: the methods do not share one budget"
        for target in (
            f"tables/compare_{dataset}.md",
            f"figures/quality_vs_nfe_{dataset}.png",
            f"figures/samples_{dataset}.png",
        ):
            assert f"{tmp_path}/{target}" in out
        table_cmd = next(
            c for c in out.splitlines() if "shared.report.compare table" in c and f"compare_{dataset}.md" in c
        )
        extra = 2 if dataset == "8gaussians" else 0  # the distillation's two seeds
        assert len(re.findall(r"compare_\w+/seed\d/metrics\.json", table_cmd)) == 2 * len(METHODS) + extra
        # the data's floor, one per seed, is the table's "data" row
        assert len(re.findall(rf"floor/{dataset}/seed\d/metrics\.json", table_cmd)) == 2
        assert f"shared.pipeline.floor --ckpt {tmp_path}/ddpm/compare_{dataset}_ddpm/seed1/checkpoint.pt" in out
    # learning curves where the data set asks for them: a curve per run and seed, one figure
    assert (
        len(re.findall(r"shared\.pipeline\.curve --ckpt \S+compare_8gaussians_\w+/seed\d/", out))
        == 2 * len(METHODS) + 2
    )
    assert f"{tmp_path}/figures/learning_curves_8gaussians.png" in out
    assert "learning_curves_digits" not in out and "compare_digits_ddpm/seed0/curve.csv" not in out
    # a budget in seconds reaches every run's training and the table's title says it
    digits_table = next(c for c in out.splitlines() if "shared.report.compare table" in c and "compare_digits.md" in c)
    assert "matched training seconds: 30" in digits_table
    assert all("train.time_budget_s=30" in c for c in train_cmds if "compare_digits_" in c)
    vp = next(c for c in train_cmds if "--experiment compare_8gaussians_vp " in c)
    assert "kind: vp" in vp  # the method's own override reaches its training
    # a run named in `runs:` that is a comparison run: the paper's figures come from it, trained once
    ncsn = f"{tmp_path}/ncsn/compare_digits_ncsn/seed0"
    assert f"{ncsn}/figures" in out and f"{ncsn}/inpainting.png" in out
    trains = [c for c in out.splitlines() if " train --config " in c and "--experiment compare_digits_ncsn " in c]
    assert len(trains) == 2, trains  # seeds 0 and 1 of the comparison, nothing more
    assert f"{tmp_path}/tables/summary.md" in out
