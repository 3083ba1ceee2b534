"""One wide table per data set: rows = method (+ sampler), columns = quality, NLL (exact / bound / none), NFE,
parameters, train and sample wall time, seeds; the mean over seeds ± the half-width of its 95 % t-interval
(``shared.report.stats.t_interval``; none from one seed), the number of seeds, the best of each column in bold.

Every number is read from the runs' ``metrics.json`` (nothing is recomputed here), so a row can be checked against
the files it came from.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from shared.io.artifacts import load_metrics
from shared.report.compare.args import labelled_parser, parse_labelled
from shared.report.stats import t_interval
from shared.report.summary import paper_numbers, sampler_of, write_table

QUALITY = ("fid", "fd_digits", "energy_distance", "mmd_rbf")  # lower is better, in this order of preference
NLL = ("bits_per_dim", "nll_nats")
LOWER_IS_BETTER = (*QUALITY, *NLL, "nfe_per_sample", "train_wall_s", "sample_s_per_1000")
COLUMNS = tuple(c for m in (*QUALITY, *NLL) for c in (m, f"paper {m}")) + (
    "nfe_per_sample",
    "params",
    "train_wall_s",
    "sample_s_per_1000",
)


def nll_kind(report: dict) -> str:
    """'exact', 'bound' or 'none': what the run's NLL is (recorded by the evaluator; older files: inferred)."""
    if not any(k in report["metrics"] for k in NLL):
        return "none"
    return report.get("protocol", {}).get("nll_kind", "bound" if report["replication"] == "ddpm" else "exact")


def rows(paths: list[Path], labels: list[str], bases: list[str] | None = None) -> pd.DataFrame:
    """One row per run (seed): label, sampler, seed, every metric value, n_params, wall times, NLL kind, and the
    paper's own numbers for the run's base experiment (``paper <metric>``, from ``replications/<paper>/paper.yaml``)."""
    out = []
    for i, (path, label) in enumerate(zip(paths, labels)):
        report = load_metrics(path)  # checked: one line naming a missing or damaged file
        row = {"method": label, "sampler": sampler_of(report), "seed": report["seed"], "nll": nll_kind(report)}
        row.update({k: m["value"] for k, m in report["metrics"].items()})
        paper = paper_numbers(report["replication"]).get(bases[i], {}) if bases else {}
        row.update({f"paper {k}": v for k, v in paper.items() if k in (*QUALITY, *NLL) and k in report["metrics"]})
        row["params"] = report.get("n_params")
        row["train_wall_s"] = report.get("train_wall_s")
        row["sample_s_per_1000"] = (report.get("samples") or {}).get("sample_s_per_1000")
        row["source"] = str(path)
        out.append(row)
    return pd.DataFrame(out)


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """Mean, std and the 95 % t-interval's half-width (``_ci``) over seeds per method, and the seeds; columns in a
    fixed order (those no run has are dropped)."""
    numeric = [c for c in COLUMNS if c in df and df[c].notna().any()]
    groups = df.groupby("method", sort=False)
    mean = groups[numeric].mean()
    std = groups[numeric].std()
    ci = groups[numeric].agg(lambda v: t_interval(v.dropna())[1] if v.notna().any() else float("nan"))
    first = groups[["sampler", "nll"]].first()
    seeds = groups["seed"].apply(lambda s: ", ".join(str(v) for v in sorted(s)))
    n_seeds = groups["seed"].nunique()
    table = first.join(mean).join(std.add_suffix("_std")).join(ci.add_suffix("_ci"))
    return table.assign(seeds=seeds, n_seeds=n_seeds).reset_index()


def to_display(table: pd.DataFrame, fmt: str = ".4g", bold=("**", "**")) -> pd.DataFrame:
    """Strings 'mean ± half-width of the 95 % t-interval' (when several seeds), the best (lowest) of each scored
    column in bold."""
    shown = table[["method", "sampler"]].copy()
    for col in [c for c in COLUMNS if c in table.columns]:
        values, stds = table[col], table.get(f"{col}_ci")
        best = values.min() if col in LOWER_IS_BETTER and values.notna().sum() > 1 else None
        cells = []
        for i, v in enumerate(values):
            if pd.isna(v):
                cells.append("—")
                continue
            text = f"{v:.0f}" if col == "params" else format(v, fmt)
            if stds is not None and not pd.isna(stds.iloc[i]):
                text += f" ± {stds.iloc[i]:.2g}"
            if best is not None and v == best:
                text = f"{bold[0]}{text}{bold[1]}"
            cells.append(text)
        shown[col] = cells
        if col in NLL:
            shown[f"{col} kind"] = table["nll"]
    shown["seeds"] = [f"{s} (n = {n})" for s, n in zip(table["seeds"], table["n_seeds"])]
    return shown


def main(argv: list[str] | None = None) -> None:
    p = labelled_parser("table", __doc__, "metrics", "metrics.json (every run and seed)", "<out>.md, .csv and .tex")
    p.add_argument("--bases", nargs="+", default=None, help="each run's base experiment (for the paper's numbers)")
    p.add_argument("--notes", default="")
    args = parse_labelled(p, argv, "metrics")
    if args.bases is not None and len(args.bases) != len(args.metrics):
        p.error(f"--bases: {len(args.bases)} names for {len(args.metrics)} metrics files")
    table = summarize(rows(args.metrics, args.labels, args.bases))
    notes = args.notes or (
        "Lower is better in every scored column; bold: the best. With several seeds a cell is the mean ± the "
        "half-width of its 95 % t-interval over the seeds (n in the seeds column); one seed gives no interval. "
        "`kind`: exact = the model's own log-density "
        "(ODE change of variables), bound = a variational bound (DDPM's L), none = the method defines no likelihood."
    )
    write_table(to_display(table), args.out, title=args.title, notes=notes)
    table.to_csv(args.out.with_suffix("").with_name(args.out.stem + "_numbers.csv"), index=False)
    print(f"wrote {args.out} ({len(table)} methods)")
