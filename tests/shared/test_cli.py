"""The command line: clear errors with non-zero exits and nothing that looks finished; shards independent of
the batch size; resolved config and provenance written beside the checkpoint."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from replications.ddpm.method import SPEC
from shared.pipeline.cli import main, parse_seeds

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "replications" / "ddpm" / "configs" / "tiny_toy.yaml"


def cli(*args):
    main(SPEC, [str(a) for a in args])


def test_help_shows_a_usage_example():
    res = subprocess.run(
        [sys.executable, "-m", "replications.ddpm", "--help"], capture_output=True, text=True, cwd=REPO
    )
    assert res.returncode == 0 and "python -m replications.ddpm train --config" in res.stdout


def test_config_typo_exits_2_naming_key_and_file(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(TINY.read_text().replace("lr: 1.0e-3", "lrate: 1.0e-3"))
    out = tmp_path / "run" / "checkpoint.pt"
    with pytest.raises(SystemExit) as err:
        cli("train", "--config", bad, "--out", out)
    assert err.value.code == 2
    msg = capsys.readouterr().err
    assert "train.lrate" in msg and str(bad) in msg
    assert not out.exists()


def test_wrong_type_in_override_and_missing_files(tmp_path, capsys):
    with pytest.raises(SystemExit) as err:
        cli("train", "--config", TINY, "--set", "train.steps=many", "--out", tmp_path / "c.pt")
    assert err.value.code == 2 and "train.steps" in capsys.readouterr().err
    with pytest.raises(SystemExit) as err:
        cli("sample", "--ckpt", tmp_path / "none.pt", "--seeds", "0-3", "--out", tmp_path / "s.npz")
    assert err.value.code == 2 and "none.pt" in capsys.readouterr().err
    assert not (tmp_path / "s.npz").exists()


def test_a_replications_own_command_gets_its_arguments_and_the_one_error_path(tmp_path, capsys):
    from replications.flow_matching.method import SPEC as FM

    with pytest.raises(SystemExit) as err:  # listed in the replication's --help
        main(FM, ["--help"])
    assert err.value.code == 0 and "reflow" in capsys.readouterr().out
    with pytest.raises(SystemExit) as err:  # its own options, its own --help
        main(FM, ["reflow", "--help"])
    out = capsys.readouterr().out
    assert err.value.code == 0 and "python -m replications.flow_matching reflow" in out and "--ckpt" in out
    with pytest.raises(SystemExit) as err:  # a bad input: exit 2, one line naming the file, nothing written
        main(FM, ["reflow", "--ckpt", str(tmp_path / "none.pt"), "--out", str(tmp_path / "rf" / "checkpoint.pt")])
    msg = capsys.readouterr().err
    assert err.value.code == 2 and "none.pt" in msg and len(msg.strip().splitlines()) == 1
    assert not (tmp_path / "rf").exists()
    with pytest.raises(SystemExit) as err:  # another replication has no such command
        main(SPEC, ["reflow", "--ckpt", "x"])
    assert err.value.code == 2 and "invalid choice: 'reflow'" in capsys.readouterr().err


def test_parse_seeds():
    assert parse_seeds("3-6") == [3, 4, 5, 6] and parse_seeds("1,5") == [1, 5]
    with pytest.raises(Exception, match="--seeds"):
        parse_seeds("9-2")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "checkpoint.pt"
    cli("train", "--config", TINY, "--seed", 3, "--out", out, "--set", "train.steps=20", "--device", "cpu")
    return out


def test_train_writes_config_log_and_provenance(trained):
    run = trained.parent
    assert (run / "config.yaml").is_file() and (run / "train_log.csv").is_file()
    import torch

    ckpt = torch.load(trained, weights_only=True)
    assert ckpt["step"] == 20 and ckpt["seed"] == 3 and ckpt["experiment"] == "tiny_toy"
    assert ckpt["provenance"]["git_commit"] and ckpt["config"]["train"]["steps"] == 20


def test_sample_shards_do_not_depend_on_batch_size(trained, tmp_path):
    cli(
        "sample",
        "--ckpt",
        trained,
        "--seeds",
        "0-9",
        "--batch-size",
        10,
        "--out",
        tmp_path / "a.npz",
        "--device",
        "cpu",
    )
    cli(
        "sample", "--ckpt", trained, "--seeds", "4-9", "--batch-size", 4, "--out", tmp_path / "b.npz", "--device", "cpu"
    )
    a, b = np.load(tmp_path / "a.npz"), np.load(tmp_path / "b.npz")
    np.testing.assert_allclose(a["x"][4:], b["x"], rtol=1e-5, atol=1e-5)  # float32 matmul blocking
    assert json.loads(str(a["meta"]))["nfe_per_sample"] == 100


def test_sample_with_a_sampler_override_records_it(trained, tmp_path):
    """--set sample.* rebuilds the sampler of a trained checkpoint (fewer steps, fewer NFE) and the samples say so
    under the variant's name; an override of what was trained is one line, exit 2, no file."""
    out = tmp_path / "v.npz"
    cli(
        "sample", "--ckpt", trained, "--seeds", "0-3", "--set", "sample.n_steps=10", "--experiment", "tiny_v",
        "--out", out, "--device", "cpu",
    )  # fmt: skip
    meta = json.loads(str(np.load(out)["meta"]))
    assert meta["nfe_per_sample"] == 10 and meta["experiment"] == "tiny_v"
    assert meta["trained_experiment"] == "tiny_toy" and meta["overrides"] == ["sample.n_steps=10"]
    for bad, says in [("train.lr=1.0", "only sample.*"), ("sample.n_steps=-3", "sample.n_steps")]:
        proc = subprocess.run(
            [sys.executable, "-m", "replications.ddpm", "sample", "--ckpt", str(trained), "--seeds", "0-1",
             "--set", bad, "--out", str(tmp_path / "bad.npz"), "--device", "cpu"],
            capture_output=True, text=True, cwd=REPO,
        )  # fmt: skip
        assert proc.returncode == 2 and says in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "bad.npz").exists()


@pytest.mark.parametrize(
    "sets, sampler, nfe",
    [
        (["sample.n_steps=10"], "ancestral", 10),
        (["sample={kind: ddim, n_steps: 7}"], "ddim", 7),
        (["sample.kind=ddim", "sample.n_steps=6"], "ddim", 6),  # a new kind starts the section afresh
        (["sample={kind: ddim, n_steps: 5, eta: 1.0}"], "ddim", 5),
        (["sample={kind: dpm_solver_2m, n_steps: 5}"], "dpm_solver_2m", 5),
    ],
)
def test_any_sampler_family_samples_a_trained_checkpoint(trained, tmp_path, sets, sampler, nfe):
    """Every sampler family DDPM supports samples its checkpoint from the command line; the samples record the
    sampler that ran, its options and the NFE it spent."""
    out = tmp_path / "v.npz"
    args = [a for s in sets for a in ("--set", s)]
    cli("sample", "--ckpt", trained, "--seeds", "0-3", *args, "--out", out, "--device", "cpu")
    meta = json.loads(str(np.load(out)["meta"]))
    assert meta["sampler"]["sampler"] == sampler and meta["nfe_per_sample"] == nfe and meta["overrides"] == sets
    assert np.isfinite(np.load(out)["x"]).all()


@pytest.mark.parametrize(
    "bad, says",
    [
        ("sample={kind: plms, n_steps: 5}", "sample.kind: expected one of"),
        ("sample={kind: heun_edm, n_steps: 4}", "sample.kind: expected one of"),  # no velocity on a chain
        ("sample={kind: ddim, eta: 2.0}", "sample.eta: must be"),
        ("sample={kind: ddim, n_steps: 5000}", "sample.n_steps: must be <= process.T"),
        ("sample.variance=forward", None),  # the stored ancestral section accepts its own key: no error
    ],
)
def test_a_bad_sampler_override_is_one_line_exit_2(trained, tmp_path, capsys, bad, says):
    out = tmp_path / "bad.npz"
    if says is None:
        cli("sample", "--ckpt", trained, "--seeds", "0-1", "--set", bad, "--out", out, "--device", "cpu")
        assert out.is_file()
        return
    with pytest.raises(SystemExit) as err:
        cli("sample", "--ckpt", trained, "--seeds", "0-1", "--set", bad, "--out", out, "--device", "cpu")
    msg = capsys.readouterr().err.strip()
    assert err.value.code == 2 and says in msg and len(msg.splitlines()) == 1 and not out.exists()


def test_evaluate_with_sweep_writes_the_sweep_commands_rows(trained, tmp_path, capsys):
    """evaluate --sweep (the workflow's one job per comparison run) writes the metrics and the rows that
    python -m shared.pipeline.sweep --ckpt writes for the same run, budgets and samples; a family the run does not
    declare is one line, exit 2, and neither file."""
    from shared.pipeline import sweep

    samples = tmp_path / "s.npz"
    cli("sample", "--ckpt", trained, "--seeds", "0-19", "--out", samples, "--device", "cpu")
    cli(
        "evaluate", "--ckpt", trained, "--samples", samples, "--out", tmp_path / "metrics.json", "--device", "cpu",
        "--sweep", tmp_path / "rows.json", "--sweep-label", "ddpm", "--sweep-values", 2, 5, "--sweep-n", 30,
    )  # fmt: skip
    sweep.main(
        [
            str(a)
            for a in [
                "--ckpt",
                trained,
                "--labels",
                "ddpm",
                "--values",
                2,
                5,
                "--n",
                30,
                "--out",
                tmp_path / "alone.json",
            ]
        ]
    )
    ours, alone = (json.loads((tmp_path / f).read_text())["rows"] for f in ("rows.json", "alone.json"))
    timing = "sample_s_per_1000"
    assert [{k: v for k, v in r.items() if k != timing} for r in ours] == [
        {k: v for k, v in r.items() if k != timing} for r in alone
    ]
    assert {r["budget"] for r in ours} >= {2, 5} and all(r["run"] == "ddpm" for r in ours)
    assert "energy_distance" in json.loads((tmp_path / "metrics.json").read_text())["metrics"]
    capsys.readouterr()
    with pytest.raises(SystemExit) as err:
        cli(
            "evaluate", "--ckpt", trained, "--samples", samples, "--out", tmp_path / "m2.json", "--device", "cpu",
            "--sweep", tmp_path / "r2.json", "--sweep-family", "langevin",
        )  # fmt: skip
    msg = capsys.readouterr().err.strip()
    assert err.value.code == 2 and "--sweep-family" in msg and len(msg.splitlines()) == 1
    assert not (tmp_path / "m2.json").exists() and not (tmp_path / "r2.json").exists()
