"""Comparison tables: every metrics JSON of the pipeline gathered with pandas, the paper's numbers beside ours.

Usage:
    python -m shared.report.summary --metrics results/*/*/seed*/metrics.json --out-dir results/tables
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pandas as pd
import yaml

from shared.entry import command_parser
from shared.io.artifacts import check_output, load_metrics
from shared.io.atomic import save_text

REPO = Path(__file__).resolve().parents[1]


def paper_numbers(replication: str, root: Path = REPO) -> dict:
    """The paper's reported numbers, ``replications/<paper>/paper.yaml``: {experiment: {metric: value}}."""
    path = root / "replications" / replication / "paper.yaml"
    return (yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}


def gather(paths: list[Path], root: Path = REPO) -> pd.DataFrame:
    """One row per (run, metric): replication, experiment, dataset, seed, metric, value, stderr, paper, ..."""
    rows = []
    for path in paths:
        report = load_metrics(path)  # checked: one line naming a missing or damaged file
        paper = paper_numbers(report["replication"], root).get(report["experiment"], {})
        for metric, m in report["metrics"].items():
            rows.append(
                {
                    "replication": report["replication"],
                    "experiment": report["experiment"],
                    "dataset": report["dataset"],
                    "seed": report["seed"],
                    "metric": metric,
                    "value": m["value"],
                    "stderr": m.get("stderr"),
                    "paper": paper.get(metric),
                    "n": m.get("n"),
                    "train_steps": report["train_steps"],
                    "sampler": sampler_of(report),
                    "checkpoint": checkpoint_label(report),
                    "weights": report["weights"],
                    "commit": report["provenance"]["git_commit"][:12],
                }
            )
    return pd.DataFrame(rows)


def sampler_of(report: dict) -> str:
    """A short description of the sampler a run's samples came from, as its metrics record it: its name, a final
    denoising step, and the options that tell its settings apart, e.g. "ancestral (variance forward, steps 1000)"."""
    info = dict(report.get("sampler") or {})
    name = str(info.pop("sampler", "?")) + (" + denoise" if info.get("denoise") else "")
    keep = [f"{k} {v}" for k, v in info.items() if k in ("steps", "n_steps_each", "rtol", "variance")]
    return name + (f" ({', '.join(keep)})" if keep else "")


def checkpoint_label(report: dict) -> str:
    """Which checkpoint: "last", or the rule that selected a snapshot and its step, e.g. "min_quality@150"."""
    selection = report.get("selection") or {"rule": "last"}
    return "last" if selection["rule"] == "last" else f"{selection['rule']}@{selection['step']}"


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over seeds of every (replication, experiment, metric)."""
    keys = ["replication", "experiment", "dataset", "metric"]
    out = (
        df.groupby(keys, sort=True)
        .agg(
            ours=("value", "mean"),
            seed_std=("value", "std"),
            seeds=("seed", "nunique"),
            paper=("paper", "first"),
            n=("n", "first"),
            train_steps=("train_steps", "first"),
            sampler=("sampler", "first"),
            checkpoint=("checkpoint", "first"),
            weights=("weights", "first"),
            commit=("commit", "first"),
        )
        .reset_index()
    )
    return out


def to_markdown(summary: pd.DataFrame) -> str:
    """A Markdown table with the paper's number beside ours ('—' where the paper reports none)."""

    def fmt(v) -> str:
        return "—" if v is None or pd.isna(v) else f"{v:.4g}"

    table = summary.assign(
        ours=[fmt(o) + ("" if pd.isna(s) else f" ± {s:.2g}") for o, s in zip(summary["ours"], summary["seed_std"])],
        paper=[fmt(p) for p in summary["paper"]],
    )[
        [
            "replication",
            "experiment",
            "dataset",
            "metric",
            "ours",
            "paper",
            "seeds",
            "n",
            "train_steps",
            "sampler",
            "checkpoint",
            "weights",
            "commit",
        ]
    ]
    header = (
        "# Summary: ours beside the papers\n\n"
        "`ours` is the mean over seeds (± the standard deviation when several seeds ran); `paper` is the value "
        "the paper reports for the same experiment (`—`: the paper has no such experiment, e.g. smoke configs). "
        "`fd_digits` is a Fréchet distance in a digits classifier's feature space, not FID. NCSN defines no "
        "likelihood (no NLL rows); toy NLLs are in nats (DDPM's is a bound), image NLLs in bits/dim. "
        "`fid_legacy_tensorflow` is clean-fid's legacy_tensorflow mode, the TensorFlow Inception pipeline the papers "
        "used: the paper's FID stands beside it; `fid` is clean-fid's clean mode (no paper number). `sampler` is the "
        "one the numbers were measured with; `checkpoint` is `last` or the rule that selected a snapshot and its "
        "step.\n\n"
    )
    return header + table.to_markdown(index=False) + "\n"


def _write(text: str, path: Path) -> None:
    save_text(text, path)  # atomically


_HTML = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title><style>
body {{font-family: sans-serif; font-size: 13px; margin: 1em}} table {{border-collapse: collapse}}
th, td {{border: 1px solid #bbb; padding: 3px 7px; text-align: right}} th {{background: #eee}}
td:first-child, td:nth-child(2) {{text-align: left}}
</style></head><body><p><b>{title}</b></p>
{table}
<p>{notes}</p></body></html>
"""


def to_html(df: pd.DataFrame, title: str = "", notes: str = "", floatfmt: str = ".4g") -> str:
    """A standalone HTML page of the table (what the Snakemake report shows); Markdown **bold** becomes <b>."""
    body = df.to_html(index=False, float_format=lambda v: format(v, floatfmt), na_rep="—", border=0)
    body = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", body)
    return _HTML.format(title=html.escape(title), table=body, notes=html.escape(notes))


def write_table(df: pd.DataFrame, out: str | Path, title: str = "", notes: str = "", floatfmt: str = ".4g") -> str:
    """Write one table as ``<out>.md`` (title, table, notes), ``.csv``, ``.tex`` and ``.html``, atomically; returns
    the Markdown.

    Every table the pipeline writes goes through here, so all have the same four forms.
    """
    out = Path(out).with_suffix("")
    out.parent.mkdir(parents=True, exist_ok=True)
    table = df.to_markdown(index=False, floatfmt=floatfmt)
    md = (f"{title}\n\n" if title else "") + table + (f"\n\n{notes}" if notes else "") + "\n"
    _write(md, out.with_suffix(".md"))
    _write(df.to_csv(index=False), out.with_suffix(".csv"))
    _write(df.to_latex(index=False, float_format=lambda v: format(v, floatfmt)), out.with_suffix(".tex"))
    _write(to_html(df, title, notes, floatfmt), out.with_suffix(".html"))
    return md


def main(argv: list[str] | None = None) -> None:
    """Write ``summary.csv`` (every run), ``summary.md`` (paper beside ours) into ``--out-dir``."""
    p = command_parser("shared.report.summary", __doc__)
    p.add_argument("--metrics", nargs="+", type=Path, required=True, help="metrics JSON files")
    p.add_argument("--out-dir", type=Path, required=True)
    args = p.parse_args(argv)
    # a path that cannot be written: one line, exit 2, before any compute
    check_output(args.out_dir, folder=True, option="--out-dir")
    df = gather(args.metrics)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    _write(df.to_csv(index=False), args.out_dir / "runs.csv")
    summary = summarize(df)
    _write(summary.to_csv(index=False), args.out_dir / "summary.csv")
    _write(to_markdown(summary), args.out_dir / "summary.md")
    _write(summary.to_latex(index=False, float_format=lambda v: format(v, ".4g")), args.out_dir / "summary.tex")
    _write(to_html(summary, "Every run beside its paper's number"), args.out_dir / "summary.html")
    print(f"wrote {args.out_dir}/summary.md ({len(summary)} rows)")


if __name__ == "__main__":
    from shared.entry import run_main

    run_main(main)
