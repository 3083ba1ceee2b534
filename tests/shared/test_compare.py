"""The comparison's table and config derivation: each row checked against the metrics files it came from."""

import json
from pathlib import Path

import pandas as pd
import pytest

from shared.report.compare import table


def metrics_file(path, replication, seed, **values):
    report = {
        "replication": replication,
        "seed": seed,
        "n_params": 1000 + seed,
        "train_wall_s": 10.0 + seed,
        "metrics": {k: {"value": v, "stderr": None, "n": 100} for k, v in values.items()},
        "sampler": {"sampler": "ode", "rtol": 1e-5, "ignored": 3},
        "samples": {"sample_s_per_1000": 2.0},
        "protocol": {},
    }
    path.write_text(json.dumps(report))
    return path


def test_a_row_is_the_mean_and_std_of_its_metrics_files(tmp_path):
    files = [
        metrics_file(tmp_path / "a0.json", "score_sde", 0, energy_distance=0.01, nll_nats=3.0, nfe_per_sample=100),
        metrics_file(tmp_path / "a1.json", "score_sde", 1, energy_distance=0.03, nll_nats=3.2, nfe_per_sample=110),
        metrics_file(tmp_path / "b0.json", "ddpm", 0, energy_distance=0.05, nll_nats=2.9, nfe_per_sample=1000),
        metrics_file(tmp_path / "c0.json", "ncsn", 0, energy_distance=0.04, nfe_per_sample=1000),
    ]
    df = table.rows(files, ["vp", "vp", "ddpm", "ncsn"])
    summary = table.summarize(df).set_index("method")
    assert summary.loc["vp", "energy_distance"] == pytest.approx(0.02)
    assert summary.loc["vp", "energy_distance_std"] == pytest.approx(0.0141421356)  # sample std of 0.01, 0.03
    assert summary.loc["vp", "nfe_per_sample"] == 105 and summary.loc["vp", "seeds"] == "0, 1"
    assert summary.loc["ddpm", "nll"] == "bound" and summary.loc["vp", "nll"] == "exact"
    assert summary.loc["ncsn", "nll"] == "none"
    shown = table.to_display(table.summarize(df)).set_index("method")
    # best of the column; ± the 95 % t-interval's half-width over the 2 seeds: 12.706 * 0.01414 / sqrt(2) = 0.127
    assert summary.loc["vp", "energy_distance_ci"] == pytest.approx(0.1270620)
    assert shown.loc["vp", "energy_distance"] == "**0.02 ± 0.13**" and shown.loc["vp", "seeds"] == "0, 1 (n = 2)"
    assert shown.loc["ddpm", "nll_nats"] == "**2.9**" and shown.loc["ncsn", "nll_nats"] == "—"
    assert shown.loc["vp", "sampler"] == "ode (rtol 1e-05)"


def test_table_command_writes_three_forms_and_refuses_mismatched_labels(tmp_path):
    files = [metrics_file(tmp_path / "a.json", "ddpm", 0, energy_distance=0.1, nfe_per_sample=10)]
    out = tmp_path / "t" / "compare_x.md"
    table.main(["--metrics", str(files[0]), "--labels", "ddpm", "--title", "x", "--out", str(out)])
    assert "| ddpm" in out.read_text() and out.with_suffix(".csv").is_file() and out.with_suffix(".tex").is_file()
    with pytest.raises(SystemExit):
        table.main(["--metrics", str(files[0]), "--labels", "a", "b", "--out", str(out)])


def test_a_comparison_run_overrides_only_what_it_is_told_and_names_a_bad_key(tmp_path, capsys):
    """The workflow trains a comparison run from its method's base config with --experiment and --set (train.smk)."""
    import torch

    from replications.ddpm.config import Config
    from replications.ddpm.method import SPEC
    from shared.config import load
    from shared.pipeline.cli import main

    base = Path(__file__).resolve().parents[2] / "replications" / "ddpm" / "configs" / "smoke_toy.yaml"
    out = tmp_path / "compare_x_ddpm" / "seed0" / "checkpoint.pt"
    sets = ["train.steps=7", "train.checkpoint_every=7", "net={kind: mlp, hidden: 32, depth: 2, emb_dim: 16}"]
    args = ["train", "--config", str(base), "--experiment", "compare_x_ddpm", "--out", str(out), "--device", "cpu"]
    main(SPEC, args + [a for s in sets for a in ("--set", s)])
    got, own = load(out.parent / "config.yaml", Config), load(base, Config)
    assert got.train.steps == 7 and got.net.hidden == 32
    assert got.process == own.process and got.sample == own.sample and got.train.lr == own.train.lr
    assert torch.load(out, weights_only=False)["experiment"] == "compare_x_ddpm"
    bad = tmp_path / "bad" / "checkpoint.pt"
    with pytest.raises(SystemExit) as err:
        main(SPEC, ["train", "--config", str(base), "--set", "train.stepz=7", "--out", str(bad)])
    assert err.value.code == 2 and "train.stepz" in capsys.readouterr().err and not bad.parent.exists()
    with pytest.raises(SystemExit) as err:  # a run's name names folders and rows: no spaces, no slashes
        main(SPEC, ["train", "--config", str(base), "--experiment", "a/b", "--out", str(bad)])
    assert err.value.code == 2 and "--experiment" in capsys.readouterr().err


def test_bold_marks_the_best_and_those_welch_does_not_find_worse_and_the_floor_is_a_row(tmp_path):
    """Three seeds each: 'a' is best; 'b' overlaps it (not worse at 5 %: bold too); 'c' is clearly worse. The floor row
    (held-out data, lower than every method) takes no part in the bold; the pairs table holds every pair."""
    eds = {"a": [0.010, 0.012, 0.011], "b": [0.011, 0.015, 0.009], "c": [0.05, 0.06, 0.055]}
    files, labels = [], []
    for method, values in eds.items():
        for seed, v in enumerate(values):
            files.append(metrics_file(tmp_path / f"{method}{seed}.json", "ddpm", seed, energy_distance=v))
            labels.append(method)
    floor = [metrics_file(tmp_path / f"f{s}.json", "data", s, energy_distance=v) for s, v in enumerate([0, 1e-3, 2e-3])]
    out = tmp_path / "t" / "compare_x.md"
    table.main(["--metrics", *map(str, files), "--labels", *labels, "--floor", *map(str, floor), "--out", str(out)])
    df = table.rows(files, labels)
    df = pd.concat([df, table.rows(floor, [table.FLOOR] * 3)], ignore_index=True)
    summary = table.summarize(df)
    assert table.not_worse(summary, "energy_distance") == {"a", "b"}
    shown = table.to_display(summary).set_index("method")["energy_distance"]
    assert shown["a"].startswith("**") and shown["b"].startswith("**") and not shown["c"].startswith("**")
    assert not shown[table.FLOOR].startswith("**") and shown[table.FLOOR].startswith("0.001 ± ")
    text = out.read_text()
    assert "data (held-out)" in text and "Welch" in text
    pairs = (tmp_path / "t" / "compare_x_pairs.csv").read_text().splitlines()
    assert len(pairs) == 1 + 6  # 4 rows (3 methods and the floor): 6 pairs
    by_pair = {tuple(r.split(",")[1:3]): r.split(",")[-1] for r in pairs[1:]}
    assert by_pair[("a", "c")] == "yes" and by_pair[("a", "b")] == "no"
