"""One wide table per data set: rows = method (+ sampler), columns = quality, NLL (exact / bound / none), NFE,
parameters, train and sample wall time, seeds; the mean over seeds ± the half-width of its 95 % t-interval
(``shared.report.stats.t_interval``; none from one seed), the number of seeds, the best of each column in bold and
every method not significantly worse than it in bold too (Welch's one-sided t-test over the seeds at 5 %, when both
have two seeds or more). Beside each quality and NLL column, its sampling noise: 1.96 x the metric's own standard
error (a bootstrap over the sample set; over the test points for NLL), averaged over the seeds. A "data" row
(``--floor``: held-out real data measured as the samples are, ``shared.pipeline.floor``) gives the floor every method
is read against; it takes no part in the bold. ``<out>_pairs.md`` lists every pair of methods on the quality metric
and the NLL: the difference of means, Welch's two-sided p-value and its Holm-adjusted value over the pairs.

Every number is read from the runs' ``metrics.json`` (nothing is recomputed here), so a row can be checked against
the files it came from.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from shared.io.artifacts import load_metrics
from shared.report.compare.args import labelled_parser, parse_labelled
from shared.report.stats import holm, t_interval, welch_p
from shared.report.summary import paper_numbers, sampler_of, write_table

QUALITY = ("fid", "fd_digits", "energy_distance", "mmd_rbf")  # lower is better, in this order of preference
NLL = ("bits_per_dim", "nll_nats")
LOWER_IS_BETTER = (*QUALITY, *NLL, "nfe_per_sample", "train_wall_s", "sample_s_per_1000")
FLOOR = "data (held-out)"  # the floor row's label
SCORED = (*QUALITY, *NLL)
COLUMNS = tuple(c for m in SCORED for c in (m, f"{m} sampling ±", f"paper {m}")) + (
    "nfe_per_sample",
    "params",
    "steps",
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
        row.update({f"{k}_se": m["stderr"] for k, m in report["metrics"].items() if m.get("stderr") is not None})
        paper = paper_numbers(report["replication"]).get(bases[i], {}) if bases else {}
        row.update({f"paper {k}": v for k, v in paper.items() if k in (*QUALITY, *NLL) and k in report["metrics"]})
        row["steps"] = report.get("train_steps")
        row["params"] = report.get("n_params")
        row["train_wall_s"] = report.get("train_wall_s")
        row["sample_s_per_1000"] = (report.get("samples") or {}).get("sample_s_per_1000")
        row["source"] = str(path)
        out.append(row)
    return pd.DataFrame(out)


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """Mean, std and the 95 % t-interval's half-width (``_ci``) over seeds per method, the sampling noise (``<m>
    sampling ±``: 1.96 x the mean standard error over seeds) and the seeds; columns in a fixed order (those no run
    has are dropped). The seeds' values stay in ``values`` (method -> column -> list) for the tests of significance."""
    for m in SCORED:
        if f"{m}_se" in df:
            df = df.assign(**{f"{m} sampling ±": 1.96 * df[f"{m}_se"]})
    numeric = [c for c in COLUMNS if c in df and df[c].notna().any()]
    groups = df.groupby("method", sort=False)
    mean = groups[numeric].mean()
    std = groups[numeric].std()
    ci = groups[numeric].agg(lambda v: t_interval(v.dropna())[1] if v.notna().any() else float("nan"))
    first = groups[["sampler", "nll"]].first()
    seeds = groups["seed"].apply(lambda s: ", ".join(str(v) for v in sorted(s)))
    n_seeds = groups["seed"].nunique()
    table = first.join(mean).join(std.add_suffix("_std")).join(ci.add_suffix("_ci"))
    table = table.assign(seeds=seeds, n_seeds=n_seeds).reset_index()
    table.attrs["values"] = {name: {c: g[c].dropna().tolist() for c in SCORED if c in g} for name, g in groups}
    return table


def not_worse(table: pd.DataFrame, col: str, alpha: float = 0.05) -> set[str]:
    """The methods of ``col``'s bold: the best mean, and those Welch's one-sided t-test (H1: worse than the best,
    over the seeds) does not find worse at ``alpha``; a method with one seed is bold only if it is the best. The
    floor row takes no part."""
    rows = table[(table["method"] != FLOOR) & table[col].notna()]
    if len(rows) < 2:
        return set()
    best = rows.loc[rows[col].idxmin(), "method"]
    values = table.attrs.get("values", {})
    marked = {best}
    for method in rows["method"]:
        a, b = values.get(method, {}).get(col, []), values.get(best, {}).get(col, [])
        if method != best and len(a) >= 2 and len(b) >= 2 and welch_p(a, b, "greater") >= alpha:
            marked.add(method)
    return marked


def pairs(table: pd.DataFrame, col: str) -> pd.DataFrame:
    """Every pair of methods (the floor row included) with two seeds or more on ``col``: the difference of means,
    Welch's two-sided p-value, its Holm adjustment over the pairs, and whether they differ at 5 %."""
    values = table.attrs.get("values", {})
    names = [m for m in table["method"] if len(values.get(m, {}).get(col, [])) >= 2]
    out = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            va, vb = values[a][col], values[b][col]
            out.append({"metric": col, "a": a, "b": b, "mean a - mean b": sum(va) / len(va) - sum(vb) / len(vb),
                        "Welch p": welch_p(va, vb)})  # fmt: skip
    df = pd.DataFrame(out, columns=["metric", "a", "b", "mean a - mean b", "Welch p"])
    df["Holm p"] = holm(df["Welch p"].tolist()) if len(df) else []
    df["differ at 5 %"] = ["yes" if p < 0.05 else "no" for p in df["Holm p"]]
    return df


def to_display(table: pd.DataFrame, fmt: str = ".4g", bold=("**", "**")) -> pd.DataFrame:
    """Strings 'mean ± half-width of the 95 % t-interval' (when several seeds); in bold the best (lowest) of each
    scored column and every method not significantly worse (:func:`not_worse`)."""
    shown = table[["method", "sampler"]].copy()
    for col in [c for c in COLUMNS if c in table.columns]:
        values, stds = table[col], table.get(f"{col}_ci")
        marked = not_worse(table, col) if col in SCORED else set()
        if col in LOWER_IS_BETTER and col not in SCORED:
            rows = table[table["method"] != FLOOR][col]
            marked = {table.loc[rows.idxmin(), "method"]} if rows.notna().sum() > 1 else set()
        cells = []
        for i, v in enumerate(values):
            if pd.isna(v):
                cells.append("—")
                continue
            text = f"{v:.0f}" if col == "params" else format(v, ".2g" if col.endswith("sampling ±") else fmt)
            if stds is not None and not pd.isna(stds.iloc[i]) and not col.endswith("sampling ±") and stds.iloc[i] > 0:
                text += f" ± {stds.iloc[i]:.2g}"
            if table["method"].iloc[i] in marked:
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
    p.add_argument("--floor", nargs="+", type=Path, default=None, help="held-out data's metrics (one per seed)")
    p.add_argument("--notes", default="")
    args = parse_labelled(p, argv, "metrics")
    if args.bases is not None and len(args.bases) != len(args.metrics):
        p.error(f"--bases: {len(args.bases)} names for {len(args.metrics)} metrics files")
    df = rows(args.metrics, args.labels, args.bases)
    if args.floor:
        df = pd.concat([df, rows(args.floor, [FLOOR] * len(args.floor))], ignore_index=True)
    table = summarize(df)
    notes = args.notes or (
        "Lower is better in every scored column. With several seeds a cell is the mean ± the half-width of its 95 % "
        "t-interval over the seeds (n in the seeds column); one seed gives no interval. Bold: the best, and every "
        "method that Welch's one-sided t-test over the seeds does not find worse than it at 5 % (both with >= 2 "
        "seeds). `sampling ±`: 1.96 x the metric's standard error from its finite sample (a bootstrap over the samples "
        "and reference; over the test points for NLL), averaged over seeds. "
        + (
            f"`{FLOOR}`: held-out real data measured as the samples are, the floor a perfect model reaches. "
            if args.floor
            else ""
        )
        + "`kind`: exact = the model's own log-density (ODE change of variables), bound = a variational bound "
        "(DDPM's L), none = the method defines no likelihood."
    )
    write_table(to_display(table), args.out, title=args.title, notes=notes)
    table.to_csv(args.out.with_suffix("").with_name(args.out.stem + "_numbers.csv"), index=False)
    tested = [next((c for c in kind if c in table.columns), None) for kind in (QUALITY, NLL)]  # its quality, its NLL
    tests = [pairs(table, c) for c in tested if c is not None]
    tests = pd.concat(tests, ignore_index=True) if tests else pd.DataFrame()
    write_table(
        tests, args.out.with_suffix("").with_name(args.out.stem + "_pairs.md"), title=f"{args.title}: pairs of methods",
        notes="Welch's two-sided t-test over the seeds on each pair; Holm's adjustment over the pairs of one metric. "
        "Pairs need two seeds or more on both sides.",
        floatfmt=".3g",
    )  # fmt: skip
    print(f"wrote {args.out} ({len(table)} rows)")
