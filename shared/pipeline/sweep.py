"""Sample quality against the sampling budget for any trained runs: each run's sampler families (its
``Spec.budgets``, ``shared.pipeline.budgets``) at several budgets, measured by the data's quality metric, NFE counted.

    python -m shared.pipeline.sweep --ckpt results/pfgm/smoke_digits/seed0/checkpoint.pt \\
        results/score_sde/smoke_digits/seed0/checkpoint.pt --family euler --values 10 20 50 100 \\
        --feature-net results/feature_nets/digits.pt --out results/pfgm/figures/fd_vs_nfe_euler.png

``--family all`` sweeps every family a run declares (DDPM: respaced ancestral steps; NCSN: Langevin steps per
level; ODE methods: fixed Euler / Heun steps in their own time and an adaptive solver's tolerance). A value is an
NFE target (tolerance families take their own grid of tolerances, or ``--tolerances``); the x axis is the NFE
measured.

A sweep split into jobs: ``--out rows.json`` writes only the rows, and ``--rows a.json b.json --out figure.png``
plots rows written before. The workflow sweeps each comparison run inside its evaluation job
(``python -m replications.<paper> evaluate ... --sweep rows.json``, the same ``sweep_run`` on the run already loaded).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch
from tqdm import tqdm

from shared.entry import command_parser
from shared.io.artifacts import check_output
from shared.io.atomic import save_json
from shared.io.provenance import provenance
from shared.pipeline.budgets import Budget
from shared.pipeline.evaluate import sample_quality
from shared.pipeline.method import Method, draw
from shared.pipeline.runner import Run, load_run

BATCH_SIZE = 500  # samples drawn at once (per-sample seeds: the rows do not depend on it beyond float blocking)
DEFAULT_VALUES = (10, 20, 50, 100)  # NFE targets
DEFAULT_N = 500  # samples per point


def chosen_families(run: Run, families: Sequence[str]) -> list[str]:
    """The families of ``families`` (or every one, for ``["all"]``) that the run declares (its ``Spec.budgets``)."""
    own = run.spec.budgets
    return list(own) if list(families) == ["all"] else [f for f in families if f in own]


def draw_n(method: Method, run: Run, n: int, batch_size: int, device: torch.device | str = "cpu"):
    """n samples with per-sample seeds 0..n-1: (x (n, *D) on CPU, NFE per sample, wall seconds per 1000 samples)."""
    drawn = draw(method, run.shape, range(n), batch_size, device)
    return drawn.x, drawn.nfe_per_sample, 1000 * drawn.wall_s / n


def sweep_run(
    run: Run,
    families: Sequence[str],
    values: Sequence[float],
    n: int,
    feature_net: Path | None,
    label: str | None = None,
    batch_size: int = BATCH_SIZE,
    device: torch.device | str = "cpu",
    tolerances: Sequence[float] | None = None,
) -> list[dict]:
    """One row per (family, value): {run, family, unit, budget, nfe, metric, value, sample_s_per_1000}.

    ``values``: the NFE targets of NFE families; a tolerance family sweeps ``tolerances`` if given, else its own grid.
    """
    label = label or f"{run.spec.name}/{run.experiment}"
    own: dict[str, Budget] = run.spec.budgets
    chosen = chosen_families(run, families)

    def grid(budget: Budget) -> Sequence[float]:
        if budget.unit == "tolerance":
            return tolerances or budget.values or values
        return budget.values or values

    jobs = [(f, v) for f in chosen for v in grid(own[f])]
    rows = []
    for family, budget in tqdm(jobs, desc=f"sweep {label}", disable=None):
        method = own[family].method(run, budget)
        try:
            x, nfe, s_per_1000 = draw_n(method, run, n, batch_size, device)
        except FloatingPointError as err:  # an adaptive solve that stalls at this tolerance: a missing point
            print(f"{label} {family} {budget:g}: {err}", flush=True)
            x, nfe, s_per_1000 = None, float("nan"), float("nan")
        if x is None:
            metric, value = "solver stalled", float("nan")
        elif torch.isfinite(x).all():
            metric, value = sample_quality(run.data(), x, feature_net)
        else:
            metric, value = "non-finite samples", float("nan")
        row = {
            "run": label,
            "family": family,
            "unit": own[family].unit,
            "budget": budget,
            "nfe": nfe,
            "metric": metric,
            "value": value,
            "sample_s_per_1000": s_per_1000,
        }
        rows.append(row)
        print(f"{label} {family} {budget:g}: NFE {nfe:.0f}, {metric} {value:.4g}", flush=True)
    return rows


def plot(rows: list[dict], out: Path, title: str) -> None:
    """Quality against NFE (log x), one line per run and family; the rows as a table beside the PNG."""
    import pandas as pd
    import seaborn as sns

    from shared.report.figures import plt, save
    from shared.report.summary import write_table

    df = pd.DataFrame(rows)
    sns.set_theme(style="whitegrid")
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    finite = df[df["value"].notna() & df["nfe"].notna()]
    sns.lineplot(
        data=finite,
        x="nfe",
        y="value",
        hue="run",
        style="family",
        markers=True,
        dashes=True,
        ax=ax,
        errorbar=("ci", 95),
    )  # several seeds of a run: their mean and a 95 % bootstrap band
    ax.set_xscale("log")
    values = finite["value"]
    positive = values[values > 0]
    if len(positive) and positive.max() / positive.min() > 30:  # log y; symlog where an unbiased estimate is <= 0
        if (values > 0).all():
            ax.set_yscale("log")
        else:
            ax.set_yscale("symlog", linthresh=float(positive.quantile(0.1)))
    # a sampler that diverges at a few NFE (an ODE solved in one or two Euler steps) would squeeze every other line
    # into the bottom row: the axis stops at 30x the 90th percentile, and the title counts the points above it
    cap = 30 * float(positive.quantile(0.9)) if len(positive) else None
    above = int((values > cap).sum()) if cap is not None else 0
    if above:
        low = float(values.min())
        ax.set_ylim(bottom=low * 1.5 if low < 0 else low / 1.5, top=cap)
        title = f"{title}\n{above} point(s) above {cap:.3g} are off the scale (the CSV has them)"
    ax.set_xlabel("NFE per sample (measured)")
    ax.set_ylabel(f"{finite['metric'].iloc[0] if len(finite) else 'quality'} (lower is better)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    save(fig, out, dpi=110)
    write_table(df, out.with_suffix(""), title=title, notes=f"code {provenance()['git_commit'][:12]}")


def main(argv: list[str] | None = None) -> None:
    """Parse the command line; sweep every checkpoint (or read rows swept before), then plot or write the rows."""
    p = command_parser("shared.pipeline.sweep", __doc__)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--ckpt", type=Path, nargs="+", help="final checkpoints of trained runs")
    src.add_argument("--rows", type=Path, nargs="+", help="rows written before by --out rows.json: plot them")
    p.add_argument("--labels", nargs="+", default=None, help="one legend label per checkpoint")
    p.add_argument("--family", nargs="+", default=["all"], help="sampler families (a run's Spec.budgets) or all")
    p.add_argument("--values", type=float, nargs="+", default=list(DEFAULT_VALUES), help="NFE targets")
    p.add_argument("--tolerances", type=float, nargs="+", default=None, help="tolerance families' grid (rtol=atol)")
    p.add_argument("--n", type=int, default=DEFAULT_N, help="samples per point (seeds 0..n-1)")
    p.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    p.add_argument("--feature-net", type=Path, default=None, help="digits classifier (digits runs)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="default: cuda if any")
    p.add_argument("--title", default=None)
    p.add_argument("--out", type=Path, required=True, help="PNG (tables and a .json beside it), or .json: rows only")
    args = p.parse_args(argv)
    check_output(args.out)  # a path that cannot be written: one line, exit 2, before any compute
    if args.rows:
        rows = []
        for path in args.rows:
            try:
                rows += read_rows(path)
            except ValueError as err:
                p.error(str(err))
        if not rows:
            p.error(f"--rows: no rows in {[str(r) for r in args.rows]}")
        title = args.title or "Sample quality against NFE"
    else:
        if args.labels is not None and len(args.labels) != len(args.ckpt):
            p.error(f"--labels: {len(args.labels)} labels for {len(args.ckpt)} checkpoints")
        if any(t <= 0 for t in args.tolerances or []):
            p.error(f"--tolerances: must be > 0, got {args.tolerances}")
        labels = args.labels or [None] * len(args.ckpt)
        rows = []
        for ckpt, label in zip(args.ckpt, labels):
            run = load_run(ckpt, device=args.device)
            rows += sweep_run(
                run, args.family, args.values, args.n, args.feature_net, label, args.batch_size, args.device,
                args.tolerances,
            )  # fmt: skip
        if not rows:
            p.error(f"no checkpoint declares any of the families {args.family}")
        title = args.title or f"Sample quality against NFE ({', '.join(args.family)}; {args.n} samples)"
    if args.out.suffix == ".json":
        save_rows(rows, args.out)
        return
    plot(rows, args.out, title)
    save_rows(rows, args.out.with_suffix(".json"))


def save_rows(rows: list[dict], path: Path) -> None:
    """Write sweep rows with provenance (atomically): the file ``--rows`` reads."""
    save_json({"rows": rows, "provenance": provenance()}, path)


def read_rows(path: Path) -> list[dict]:
    """The rows of a sweep written with ``--out rows.json`` (a clear error naming the file otherwise)."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ValueError(f"--rows: no file {path}") from None
    except json.JSONDecodeError:
        data = None
    rows = data.get("rows") if isinstance(data, dict) else None
    if not isinstance(rows, list) or not all(isinstance(r, dict) and "nfe" in r for r in rows):
        raise ValueError(f"--rows: {path} is not a sweep's rows file (written by --out rows.json)")
    return rows


if __name__ == "__main__":
    from shared.entry import run_main

    run_main(main)
