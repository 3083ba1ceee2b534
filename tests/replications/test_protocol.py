"""The protocol tables (shared/report/protocol.py): each paper-scale config equals its table, every departure from the
paper says why, the READMEs show the tables as they are, and every table is a run of workflows/config/paper.yaml.

The checker itself is tested on a copy of DDPM's table with one value changed: it must notice.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from shared.config import read_yaml
from shared.report import protocol

ROOT = Path(__file__).resolve().parents[2]
REPLICATIONS = sorted(p.parent.name for p in (ROOT / "replications").glob("*/__main__.py"))
PAPER_SCALE = ("cifar10", "mnist")


@pytest.fixture(autouse=True)
def _in_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # protocol reads workflows/config/paper.yaml relative to the checkout


def paper_scale_configs(name: str) -> list[str]:
    """Stems of a replication's configs whose data set is one of the papers' (not a smoke or toy config)."""
    out = []
    for path in sorted((ROOT / "replications" / name / "configs").glob("*.yaml")):
        data = (read_yaml(path) or {}).get("data") or {}
        if data.get("name") in PAPER_SCALE:
            out.append(path.stem)
    return out


@pytest.mark.parametrize("name", REPLICATIONS)
def test_every_paper_scale_config_has_a_table(name):
    configs = paper_scale_configs(name)
    assert configs, f"{name} has no paper-scale config"
    tables = protocol.read(ROOT / "replications" / name)
    covered = {t.config for t in tables}
    assert set(configs) <= covered, f"no protocol table for {sorted(set(configs) - covered)}"


@pytest.mark.parametrize("name", REPLICATIONS)
def test_tables_agree_with_configs_runs_and_readme(name):
    """ours == the resolved config at every key, the built net's parameter count, the paper run's fields; every
    departure says why; the README block is the rendering of protocol.yaml."""
    folder = ROOT / "replications" / name
    assert protocol.problems(folder) == []
    readme = (folder / "README.md").read_text()
    assert protocol.render(protocol.read(folder)) in readme, (
        f"run: python -m shared.report.protocol replications/{name}"
    )


@pytest.mark.parametrize("name", REPLICATIONS)
def test_each_table_covers_the_protocol(name):
    """Every table has rows in the sections a run's numbers depend on, and a parameter count tied to the net."""
    for table in protocol.read(ROOT / "replications" / name):
        sections = {row.section for row in table.rows}
        assert {"data", "net", "loss", "optimiser", "training", "sampler", "evaluation"} <= sections, table.id
        assert any(row.key == "params" for row in table.rows) or table.overrides, table.id


def test_paper_workflow_runs_nothing_but_tables():
    """workflows/config/paper.yaml runs the rows the papers cite and no comparison; every run has a table."""
    cfg = read_yaml(ROOT / "workflows" / "config" / "paper.yaml")
    assert not cfg.get("compare"), "the matched comparison belongs to its own config file"
    for run in cfg["runs"]:
        ids = {t.id for t in protocol.read(ROOT / "replications" / run["replication"])}
        assert run["experiment"] in ids, run


def test_paper_numbers_name_run_tables():
    """Every experiment a replication's paper.yaml cites is a table, hence a run of the paper workflow."""
    for name in REPLICATIONS:
        cited = set(read_yaml(ROOT / "replications" / name / "paper.yaml") or {})
        ids = {t.id for t in protocol.read(ROOT / "replications" / name)}
        assert cited <= ids, f"{name}/paper.yaml cites {sorted(cited - ids)}, which no table or run has"


def _copy_ddpm(tmp_path: Path, edit) -> Path:
    """replications/ddpm's configs and protocol.yaml in tmp_path/ddpm, the table passed through ``edit``."""
    folder = tmp_path / "ddpm"
    shutil.copytree(ROOT / "replications" / "ddpm" / "configs", folder / "configs")
    tables = read_yaml(ROOT / "replications" / "ddpm" / "protocol.yaml")
    edit(tables)
    (folder / "protocol.yaml").write_text(yaml.safe_dump(tables, sort_keys=False))
    shutil.copy(ROOT / "replications" / "ddpm" / "README.md", folder / "README.md")
    return folder


def _row(tables, key):
    return next(r for r in tables["cifar10"]["rows"] if r.get("key") == key)


def test_checker_notices_a_config_that_moved(tmp_path):
    def edit(tables):
        _row(tables, "train.lr")["ours"] = 1.0e-4
        _row(tables, "train.lr")["paper"] = 1.0e-4

    problems = protocol.problems(_copy_ddpm(tmp_path, edit))
    assert len(problems) == 1 and "train.lr" in problems[0] and "0.0002" in problems[0]


def test_checker_notices_a_departure_without_a_reason(tmp_path):
    def edit(tables):
        row = _row(tables, "train.lr")
        row["paper"], row["why"] = 3.0e-4, ""

    problems = protocol.problems(_copy_ddpm(tmp_path, edit))
    assert len(problems) == 1 and "say why" in problems[0]


def test_checker_notices_a_wrong_parameter_count(tmp_path):
    def edit(tables):
        row = _row(tables, "params")
        row["ours"], row["why"] = row["ours"] + 1, "a departure, explained"

    problems = protocol.problems(_copy_ddpm(tmp_path, edit))
    assert len(problems) == 1 and "params" in problems[0]


def test_render_marks_departures_and_formats_values():
    row = protocol.Row("training", "steps", 800_000, "App. B", 400_000, key="train.steps", why="half")
    text = protocol.render([protocol.Table("x", "X", "x", (), (row,))])
    assert "| training | steps (`train.steps`) | 800,000 | App. B | ≠ 400,000 | half |" in text
    assert protocol.same(2.0e-4, 0.0002) and not protocol.same(True, 1) and protocol.same([1, 2.0], [1, 2])


@pytest.mark.parametrize(
    "args, expect",
    [
        (["replications/nonexistent"], "replications/nonexistent: no protocol.yaml"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(args, expect):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "shared.report.protocol", *args], cwd=ROOT, capture_output=True, text=True, env=env
    )
    assert proc.returncode == 2 and expect in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
