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


NO_SLURM = REPO / "tests" / "bin" / "no_slurm"  # a local run: no 10 s probe of a SLURM controller (see its scontrol)


def snakemake(*args, cwd=REPO):
    env = {**os.environ, "PATH": os.pathsep.join([str(NO_SLURM), str(Path(sys.executable).parent), os.environ["PATH"]])}
    return subprocess.run([SNAKEMAKE, *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=900)


def test_lint_is_clean():
    res = snakemake("--lint")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Congratulations" in res.stdout + res.stderr


def _job_counts(out: str) -> dict[str, int]:
    table = out[out.index("Job stats:") :].splitlines()[3:]
    return {row.split()[0]: int(row.split()[1]) for row in table if len(row.split()) == 2 and row.split()[1].isdigit()}


def test_paper_config_builds_a_dag():
    """paper.yaml: the runs of every cited row (trained, reflowed, variants that train nothing) and no comparison."""
    res = snakemake("-n", "--configfile", "workflows/config/paper.yaml")
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout + res.stderr
    assert "results/ddpm/cifar10/seed0/samples/45000-49999.npz" in out  # 50k samples in 10 shards of 5000
    jobs = _job_counts(out)
    assert (jobs["train"], jobs["reflow"], jobs["evaluate"]) == (15, 1, 20), jobs  # 2 of the 15: distillations
    assert not any(name.startswith("compare") for name in jobs) and "compare_" not in out
    assert "objectives" not in jobs and "robustness" not in jobs  # both null in paper.yaml: smoke / study tables
    # each distillation trains after its teacher, flow matching's CIFAR-10 run (the same seed)
    for rep in ("consistency", "progressive_distillation"):
        assert f"results/{rep}/cifar10/seed0/checkpoint.pt" in out
    assert out.count("input: replications/flow_matching/configs/cifar10.yaml") == 1  # the teacher, trained once


def test_the_cifar10_comparison_builds_its_own_dag():
    """compare_cifar10.yaml on top of paper.yaml: 11 methods on DDPM's net and budget, nothing of the paper runs;
    PFGM keeps its 4096 charges and FFJORD its own net and budget."""
    res = snakemake("-n", "-p", "--configfile", "workflows/config/paper.yaml", "workflows/config/compare_cifar10.yaml")
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    jobs = _job_counts(out)
    assert jobs["train"] == 11 and jobs["compare_table"] == 1 and "tables" not in jobs, jobs
    trains = [line for line in out.splitlines() if " train --config " in line]
    pfgm = next(c for c in trains if "compare_cifar10_pfgm " in c)
    assert pfgm.rindex("train.batch_size=4096") > pfgm.index("train.batch_size=128")  # the method's own value wins
    ffjord = next(c for c in trains if "compare_cifar10_ffjord " in c)
    assert "--set train." not in ffjord and "net=" not in ffjord


def test_papers_own_smoke_configs_build_a_dag_without_the_comparison(tmp_path):
    res = snakemake("-n", "--configfile", "workflows/config/smoke_papers.yaml", "--config", f"results_dir={tmp_path}")
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert f"{tmp_path}/ncsn/smoke_digits/seed0/inpainting.png" in out  # each paper's own run and its figures
    assert f"{tmp_path}/flow_matching/smoke_toy_rectified/seed0/reflow/checkpoint.pt" in out
    assert "compare_" not in out  # compare: null


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


TINY = ("--configfile", "tests/workflows/tiny.yaml", "tests/workflows/tiny_compare_run.yaml")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """The tiny config (one DDPM run) plus a two-method comparison, really run: its results folder."""
    out = tmp_path_factory.mktemp("tiny")
    res = snakemake("--cores", "2", *TINY, "--config", f"results_dir={out}")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return out


@pytest.mark.slow
def test_end_to_end_tiny_run(tiny_run):
    tmp_path = tiny_run
    run = tmp_path / "ddpm" / "tiny_toy" / "seed0"
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["0-199.npz", "200-299.npz"]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["n_samples"] == 300 and metrics["weights"] == "ema"
    for key in ("energy_distance", "mmd_rbf", "nll_nats", "nfe_per_sample"):
        assert key in metrics["metrics"]
    assert metrics["metrics"]["nfe_per_sample"]["value"] == 100
    assert metrics["provenance"]["git_commit"] and metrics["config"]["train"]["steps"] == 100
    assert metrics["train_wall_s"] > 0 and metrics["samples"]["sample_s_per_1000"] > 0
    assert metrics["protocol"]["nll_kind"] == "bound"  # DDPM's variational bound
    assert (run / "figures" / "samples.png").stat().st_size > 0
    summary = (tmp_path / "tables" / "summary.md").read_text()
    assert "tiny_toy" in summary and "nll_nats" in summary
    # the variant run sampled tiny_toy's checkpoint another way, under its own name, without training again
    variant = tmp_path / "ddpm" / "tiny_toy_10" / "seed0"
    assert not (variant / "checkpoint.pt").exists() and not (variant / "logs" / "train.log").exists()
    vm = json.loads((variant / "metrics.json").read_text())
    assert vm["experiment"] == "tiny_toy_10" and vm["trained_experiment"] == "tiny_toy"
    assert vm["overrides"] == ["sample.n_steps=10"] and vm["metrics"]["nfe_per_sample"]["value"] == 10
    assert vm["train_steps"] == metrics["train_steps"] and vm["n_samples"] == 100
    assert "tiny_toy_10" in summary
    # a second invocation has nothing left to do
    again = snakemake("-n", *TINY, "--config", f"results_dir={tmp_path}")
    assert "Nothing to be done" in again.stdout + again.stderr


@pytest.mark.slow
def test_comparison_table_rows_are_the_runs_metrics(tiny_run):
    import pandas as pd

    numbers = pd.read_csv(tiny_run / "tables" / "compare_8gaussians_numbers.csv").set_index("method")
    assert list(numbers.index) == ["ddpm", "ve", "data (held-out)"]  # the methods, then the data's floor
    floor = json.loads((tiny_run / "floor" / "8gaussians" / "seed0" / "metrics.json").read_text())
    assert floor["replication"] == "data"
    for key in ("energy_distance", "mmd_rbf"):
        assert numbers.loc["data (held-out)", key] == pytest.approx(floor["metrics"][key]["value"], rel=1e-12)
    for method, rep in (("ddpm", "ddpm"), ("ve", "score_sde")):
        report = json.loads((tiny_run / rep / f"compare_8gaussians_{method}" / "seed0" / "metrics.json").read_text())
        assert report["config"]["net"]["hidden"] == 32 and report["config"]["train"]["steps"] == 60  # the shared budget
        for key in ("energy_distance", "mmd_rbf", "nll_nats", "nfe_per_sample"):
            assert numbers.loc[method, key] == pytest.approx(report["metrics"][key]["value"], rel=1e-12)
        assert numbers.loc[method, "train_wall_s"] == pytest.approx(report["train_wall_s"], rel=1e-12)
        assert numbers.loc[method, "params"] == report["n_params"]
    assert numbers.loc["ddpm", "nll"] == "bound" and numbers.loc["ve", "nll"] == "exact"
    sweep = pd.read_csv(tiny_run / "figures" / "quality_vs_nfe_8gaussians.csv")
    assert set(sweep["run"]) == {"ddpm", "ve"} and (sweep["nfe"] > 0).all()
    assert set(sweep[sweep["run"] == "ve"]["family"]) == {"euler"}  # a VE model has no ancestral family


def _png_size(path: Path) -> list[int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", path
    return [int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")]


@pytest.mark.slow
def test_report_opens_in_a_browser_with_every_table_and_figure(tiny_run, tmp_path):
    from browser import Browser, find_chromium

    html = tiny_run / "report.html"
    res = snakemake("--report", str(html), *TINY, "--config", f"results_dir={tiny_run}")
    assert res.returncode == 0 and html.stat().st_size > 0, res.stdout[-3000:] + res.stderr[-3000:]
    exe = find_chromium()
    if exe is None:
        if os.environ.get("BROWSER_TESTS_REQUIRED") == "1":  # .ci/run sets it where it can install Chromium
            pytest.fail("BROWSER_TESTS_REQUIRED=1 but no Chromium on PATH")
        pytest.skip("no Chromium on PATH (Debian: apt-get install chromium; .ci/run installs it)")
    rows = "Array.from(document.querySelectorAll('tr'))"
    with Browser(exe, tmp_path / "profile") as b:
        b.open(html.as_uri())
        b.wait_for("document.body && document.body.innerText.includes('Runs beside the papers')")

        def category(name):  # from the report's start page
            b.send("Page.navigate", {"url": html.as_uri()})
            find = f"Array.from(document.querySelectorAll('a')).find(a => a.innerText.trim() === '{name}')"
            b.wait_for(f"document.readyState === 'complete' && {find} !== undefined")
            b.eval(f"{find}.click()")

        def show(file):  # the row's "eye" button, as a reader clicks it
            b.wait_for(f"{rows}.some(tr => tr.innerText.includes('{file}'))")
            b.eval(f"{rows}.find(tr => tr.innerText.includes('{file}')).querySelector('a[iconname=eye]').click()")

        category("Comparison")
        for name in ("quality_vs_nfe_8gaussians.png", "samples_8gaussians.png"):
            show(name)
            size = _png_size(tiny_run / "figures" / name)
            shown = "Array.from(document.images).filter(i => i.complete).map(i => [i.naturalWidth, i.naturalHeight])"
            assert size in b.wait_for(f"{shown}.filter(s => s[0] > 100)"), name  # decoded at the file's own size
            category("Comparison")
        show("compare_8gaussians.html")
        b.wait_for("document.querySelectorAll('iframe').length > 0")
        table = b.frame_text()
        assert "Matched comparison on 8gaussians" in table
        for text in ("ddpm", "ve", "energy_distance", "nll_nats", "bound", "exact", "train_wall_s"):
            assert text in table, text
        category("Runs beside the papers")
        show("summary.html")
        b.wait_for("document.querySelectorAll('iframe').length > 0")
        assert "tiny_toy" in b.frame_text()


def test_reflowed_and_variant_runs_build_their_chain(tmp_path):
    """A reflowed run (reflow_of) is made by the reflow rule from its parent's checkpoint, a variant of it samples that
    checkpoint with its overrides and trains nothing; a reflowed run not named <parent>_<k>rf is refused."""
    cfg = tmp_path / "chain.yaml"
    cfg.write_text(
        "runs:\n"
        "  - {replication: flow_matching, experiment: smoke_toy_rectified, n_samples: 10}\n"
        "  - {replication: flow_matching, experiment: smoke_toy_rectified_2rf, reflow_of: smoke_toy_rectified,"
        " n_samples: 10}\n"
        "  - {replication: flow_matching, experiment: smoke_toy_rectified_2rf_e1,"
        " checkpoint_of: smoke_toy_rectified_2rf, set: ['sample={kind: euler, n_steps: 1}'], n_samples: 10}\n"
        "sample: {shard_size: 10}\ncompare: null\n"
    )
    res = snakemake("-n", "-p", "--configfile", str(cfg), "--config", f"results_dir={tmp_path}/r")
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    fm = f"{tmp_path}/r/flow_matching"
    assert f"reflow --ckpt {fm}/smoke_toy_rectified/seed0/checkpoint.pt --out {fm}/smoke_toy_rectified_2rf/seed0" in out
    assert f"sample --ckpt {fm}/smoke_toy_rectified_2rf/seed0/checkpoint.pt --seeds 0-9 --experiment " in out
    assert "'sample={kind: euler, n_steps: 1}'" in out
    assert out.count("replications.flow_matching train ") == 1  # only the parent trains
    renamed = cfg.read_text().replace("experiment: smoke_toy_rectified_2rf, reflow_of", "experiment: x2, reflow_of")
    cfg.write_text(renamed)
    bad = snakemake("-n", "--configfile", str(cfg), "--config", f"results_dir={tmp_path}/r")
    assert bad.returncode != 0 and "named <reflow_of>_<k>rf" in bad.stdout + bad.stderr
