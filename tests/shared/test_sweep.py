"""The sweep split into jobs: rows written by one job per run, plotted by another; bad rows files are named."""

import json

import pandas as pd
import pytest

from shared.pipeline import sweep


def rows(run, values):
    return [
        {"run": run, "family": "euler", "unit": "nfe", "budget": n, "nfe": n, "metric": "energy_distance",
         "value": v, "sample_s_per_1000": 1.0}
        for n, v in values
    ]  # fmt: skip


def test_rows_of_several_jobs_make_one_figure_and_table(tmp_path):
    files = []
    for run, values in (("a", [(10, 0.3), (20, 0.1)]), ("b", [(10, 0.2), (20, float("nan"))])):
        files.append(tmp_path / f"{run}.json")
        files[-1].write_text(json.dumps({"rows": rows(run, values), "provenance": {}}))
    out = tmp_path / "fig" / "quality_vs_nfe.png"
    sweep.main(["--rows", *map(str, files), "--title", "t", "--out", str(out)])
    assert out.stat().st_size > 0
    table = pd.read_csv(out.with_suffix(".csv"))
    assert sorted(table["run"].unique()) == ["a", "b"] and len(table) == 4
    assert table.loc[(table["run"] == "a") & (table["nfe"] == 20), "value"].item() == pytest.approx(0.1)
    assert len(json.loads(out.with_suffix(".json").read_text())["rows"]) == 4


@pytest.mark.parametrize("content", [None, "not json", '{"rows": 3}', '{"other": []}'])
def test_a_bad_rows_file_is_named_and_nothing_is_written(tmp_path, capsys, content):
    bad = tmp_path / "rows.json"
    if content is not None:
        bad.write_text(content)
    out = tmp_path / "fig.png"
    with pytest.raises(SystemExit) as err:
        sweep.main(["--rows", str(bad), "--out", str(out)])
    assert err.value.code == 2 and str(bad) in capsys.readouterr().err and not out.exists()


def test_ckpt_and_rows_exclude_each_other(tmp_path, capsys):
    with pytest.raises(SystemExit) as err:
        sweep.main(["--ckpt", "a.pt", "--rows", "a.json", "--out", str(tmp_path / "x.png")])
    assert err.value.code == 2 and "not allowed with" in capsys.readouterr().err
