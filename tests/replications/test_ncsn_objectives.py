"""NCSN's objectives side by side (replications/ncsn/objectives.py): the closed-form truth it measures against, its
Fisher divergence and gradient variance on cases with known answers, the new objective kinds, and the command's
files and refusals on a tiny budget."""

import csv
import dataclasses
import json
from pathlib import Path

import pytest
import torch
from torch import nn

from replications.ncsn import objectives as obj
from replications.ncsn.config import Config
from replications.ncsn.method import SPEC, build, build_ladder
from shared.config import load
from shared.data.toy2d import sample_toy, toy_log_density
from shared.maths.losses import DSMLoss
from shared.maths.score_matching import ExplicitScoreMatching, SlicedScoreMatching, SlicedScoreMatchingVR
from shared.pipeline.cli import main

SMOKE = Path(__file__).resolve().parents[2] / "replications" / "ncsn" / "configs" / "smoke_toy.yaml"


def ladder():
    return build_ladder(load(SMOKE, Config).noise)


def test_the_mixture_is_the_8gaussians_toy():
    x = torch.cat([sample_toy("8gaussians", 200, torch.Generator().manual_seed(0)).double(), 3 * torch.randn(50, 2)])
    torch.testing.assert_close(obj.eight_gaussians().log_prob(x), toy_log_density("8gaussians", x.double()))


def test_the_perturbed_score_is_the_gradient_of_the_perturbed_log_density():
    mix, chain = obj.eight_gaussians(), ladder()
    exact = mix.score_field(chain)
    for t in obj.level_times(chain)[[0, 4, 9]].tolist():  # sigma 5, about 0.3, 0.01
        x = mix.at(chain, t).sample(64, torch.Generator().manual_seed(1)).requires_grad_(True)
        (grad,) = torch.autograd.grad(mix.at(chain, t).log_prob(x).sum(), x)
        torch.testing.assert_close(exact(x.detach(), torch.full((64,), t, dtype=torch.float64)), grad)


def test_fisher_divergence_of_the_exact_score_is_zero_and_of_an_offset_its_square():
    mix, chain = obj.eight_gaussians(), ladder()
    exact = mix.score_field(chain)
    c = torch.tensor([0.3, -1.2], dtype=torch.float64)
    zero = obj.fisher_per_level(exact, mix, chain, 100, torch.Generator().manual_seed(2))
    shifted = obj.fisher_per_level(lambda x, t: exact(x, t) + c, mix, chain, 100, torch.Generator().manual_seed(2))
    assert zero.shape == (10,) and torch.all(zero == 0)
    torch.testing.assert_close(shifted, torch.full((10,), float(c.square().sum()), dtype=torch.float64))


def test_gradient_variance_is_zero_for_a_fixed_gradient_and_the_noise_trace_for_a_random_one():
    net = nn.Linear(2, 1, bias=False)
    data = obj.DataSource(load(SMOKE, Config).data, 0)

    def fixed(net, x, gen):
        return net.weight.sum() * torch.ones(len(x))

    def noisy(net, x, gen):  # gradient = a standard normal vector of R^2 per draw: trace of its covariance 2
        return (net.weight * torch.randn(1, 2, generator=gen)).sum() * torch.ones(len(x))

    var, mean_norm = obj.gradient_variance(net, fixed, data, 4, 5, 0, torch.device("cpu"))
    assert var == 0 and mean_norm == pytest.approx(2**0.5)
    var, _ = obj.gradient_variance(net, noisy, data, 4, 800, 0, torch.device("cpu"))
    assert var == pytest.approx(2.0, rel=0.15)


def test_objective_kinds_build_their_losses_and_count_their_backward_passes():
    cfg = load(SMOKE, Config)
    expected = {"dsm": (DSMLoss, 1), "esm": (ExplicitScoreMatching, 3), "ssm_plain": (SlicedScoreMatching, 2)}
    expected["ssm"] = (SlicedScoreMatchingVR, 2)  # the official sliced loss, unchanged
    for kind, (cls, passes) in expected.items():
        kcfg = dataclasses.replace(cfg, objective=dataclasses.replace(cfg.objective, kind=kind))
        assert type(build(kcfg).loss) is cls and obj.backward_passes(kcfg) == passes
    for kind in ("esm", "ssm_plain"):
        with pytest.raises(ValueError, match="reduce"):
            dataclasses.replace(cfg.objective, kind=kind, reduce="mean")


TINY = ["train.steps=3", "train.batch_size=32", "train.log_every=1", "sample.n_steps_each=1"]


def run(tmp_path, *extra):
    argv = ["objectives", "--config", SMOKE, "--out", tmp_path / "objectives.md", "--device", "cpu"]
    argv += ["--n-samples", "20", "--fisher-points", "10", "--grad-draws", "2", *extra]
    main(SPEC, [str(a) for a in argv])


def test_the_command_writes_the_table_csv_json_and_figure(tmp_path):
    run(tmp_path, *(a for s in TINY for a in ("--set", s)))
    table = (tmp_path / "objectives.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ") and "objective |" not in line]
    assert [r.split(" | ")[0][2:] for r in rows] == [obj.LABELS[k] for k in obj.KINDS]
    with open(tmp_path / "objectives.csv") as fh:
        records = list(csv.DictReader(fh))
    assert [r["kind"] for r in records] == list(obj.KINDS) and "fisher_sigma_0.01" in records[0]
    report = json.loads((tmp_path / "objectives.json").read_text())
    assert report["seed"] == 0 and report["config"]["train"]["steps"] == 3 and report["provenance"]["git_commit"]
    assert [r["backward_passes"] for r in report["rows"]] == [1, 3, 2, 2]
    assert all(r["s_per_step"] > 0 and r["grad_variance"] >= 0 for r in report["rows"])
    assert (tmp_path / "objectives.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    "override, key",
    [("objective.kind=nope", "objective.kind"), ("data.name=checkerboard", "data.name"), ("train.stepz=3", "stepz")],
)
def test_a_bad_set_is_refused_in_one_line_before_any_output(tmp_path, capsys, override, key):
    with pytest.raises(SystemExit) as exit_:
        run(tmp_path, "--set", override)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and key in err, err
    assert not list(tmp_path.iterdir())


def read_csv(path: Path) -> list[dict]:
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_several_seeds_give_intervals_and_each_seed_the_numbers_of_its_own_run(tmp_path):
    tiny = [a for s in TINY for a in ("--set", s)]
    for folder in ("two", "one"):
        (tmp_path / folder).mkdir()
    run(tmp_path / "two", "--seeds", "0", "1", *tiny)
    run(tmp_path / "one", "--seed", "1", *tiny)
    table = (tmp_path / "two" / "objectives.md").read_text()
    rows = [line.split(" | ") for line in table.splitlines() if line.startswith("| ") and "objective |" not in line]
    assert len(rows) == 4 and all(" ± " in cell for row in rows for cell in row[1:6])
    assert "n = 2 seeds, mean ± 95 % t-interval half-width" in table and "seeds 0, 1)" in table
    per_seed = read_csv(tmp_path / "two" / "objectives_seeds.csv")
    assert [(r["seed"], r["kind"]) for r in per_seed] == [(s, k) for s in "01" for k in obj.KINDS]
    alone = read_csv(tmp_path / "one" / "objectives.csv")
    timed = {"s_per_step", "train_wall_s"}  # wall-clock: the only columns a rerun moves
    for r, ref in zip(per_seed[4:], alone):
        assert r.keys() - {"seed"} == ref.keys() and r["kind"] == ref["kind"]
        for key in ref.keys() - timed - {"kind", "objective"}:
            assert float(r[key]) == pytest.approx(float(ref[key]), rel=1e-9, abs=1e-12), key
    summary = read_csv(tmp_path / "two" / "objectives.csv")
    fisher = [float(r["fisher_mean"]) for r in per_seed]
    for i, r in enumerate(summary):
        assert float(r["fisher_mean"]) == pytest.approx((fisher[i] + fisher[i + 4]) / 2)
        assert float(r["fisher_mean_hw"]) > 0 and r["n_seeds"] == "2" and "fisher_sigma_0.01_hw" in r
    report = json.loads((tmp_path / "two" / "objectives.json").read_text())
    assert list(report["seeds"]) == ["0", "1"] and "seed" not in report
    assert len(report["seeds"]["1"]["rows"][3]["fisher_per_level"]) == 10
    assert (tmp_path / "two" / "objectives.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("seeds", [("--seed", "0", "--seeds", "0", "1"), ("--seeds", "1", "1")])
def test_seed_with_seeds_or_a_seed_twice_is_refused_in_one_line(tmp_path, capsys, seeds):
    with pytest.raises(SystemExit) as exit_:
        run(tmp_path, *seeds)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and len(err.strip().splitlines()) == 1 and "--seeds" in err, err
    assert not list(tmp_path.iterdir())
