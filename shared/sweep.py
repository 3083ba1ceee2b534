"""Sample quality against the sampling budget for any trained run: the same sampler family at several step
counts on the run's own time interval (the ends of its grid), measured by the data's quality metric.

    python -m shared.sweep --ckpt results/pfgm/smoke_digits/seed0/checkpoint.pt \\
        results/score_sde/smoke_digits/seed0/checkpoint.pt --sampler euler --steps 10 20 50 100 \\
        --feature-net results/feature_nets/digits.pt --out results/pfgm/figures/fd_vs_nfe_euler.png

Fixed-step ODE samplers (``euler``, ``heun``) integrate ``field.velocity`` uniformly in the method's own time
variable: t for the Score-SDE processes, log z for PFGM (PFGM Sec. 5.2's robustness study).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import torch

from shared.evaluate import sample_quality
from shared.method import count_nfe
from shared.provenance import provenance
from shared.runner import Run, load_run
from shared.samplers import SAMPLERS
from shared.utils import PerSampleGenerator


def quality_vs_steps(
    run: Run, sampler: str, steps: Sequence[int], n: int, feature_net: Path | None, batch_size: int = 500
) -> list[dict]:
    """One row per step count: {run, sampler, steps, nfe, metric, value} on n samples with seeds 0..n-1."""
    method = run.method
    t0, t1 = float(method.grid[0]), float(method.grid[-1])
    rows = []
    for k in steps:
        grid = torch.linspace(t0, t1, k + 1)
        chunks, nfe = [], 0
        with torch.no_grad(), count_nfe(method.net) as calls:
            for lo in range(0, n, batch_size):
                gen = PerSampleGenerator(range(lo, min(lo + batch_size, n)))
                x = method.prior.sample((len(gen), *run.shape), gen)
                chunks.append(SAMPLERS[sampler](method.field, x, grid, generator=gen))
            nfe = calls[0] / max(1, -(-n // batch_size))
        x = torch.cat(chunks)
        metric, value = sample_quality(run.data(), x, feature_net) if torch.isfinite(x).all() else ("nan", float("nan"))
        label = f"{run.spec.name}/{run.experiment}"
        rows.append({"run": label, "sampler": sampler, "steps": k, "nfe": nfe, "metric": metric, "value": value})
        print(f"{label} {sampler} {k} steps: NFE {nfe:.0f}, {metric} {value:.4g}", flush=True)
    return rows


def plot(rows: list[dict], out: Path, title: str) -> None:
    """Quality against NFE (log x), one line per run; the rows as a table beside the PNG (shared.report)."""
    import pandas as pd
    import seaborn as sns

    from shared.figures import plt, save
    from shared.report import write_table

    df = pd.DataFrame(rows)
    sns.set_theme(style="whitegrid")
    fig, ax = plt.subplots(figsize=(6, 4))
    sns.lineplot(data=df, x="nfe", y="value", hue="run", marker="o", ax=ax)
    ax.set_xscale("log")
    ax.set_xlabel("NFE per sample")
    ax.set_ylabel(f"{df['metric'].iloc[0]} (lower is better)")
    ax.set_title(title, fontsize=9)
    save(fig, out, dpi=110)
    write_table(df, out.with_suffix(""), title=title, notes=f"code {provenance()['git_commit'][:12]}")


def main(argv: list[str] | None = None) -> None:
    """Parse the command line, sweep every checkpoint, plot."""
    p = argparse.ArgumentParser(
        prog="python -m shared.sweep", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--ckpt", type=Path, nargs="+", required=True, help="final checkpoints of trained runs")
    p.add_argument("--sampler", choices=("euler", "heun"), default="euler")
    p.add_argument("--steps", type=int, nargs="+", default=[10, 20, 50, 100])
    p.add_argument("--n", type=int, default=500, help="samples per point (seeds 0..n-1)")
    p.add_argument("--feature-net", type=Path, default=None, help="digits classifier (digits runs)")
    p.add_argument("--out", type=Path, required=True, help="PNG; .md/.csv/.tex tables and a .json beside it")
    args = p.parse_args(argv)
    rows = []
    for ckpt in args.ckpt:
        rows += quality_vs_steps(load_run(ckpt), args.sampler, args.steps, args.n, args.feature_net)
    title = f"Sample quality against NFE, {args.sampler} steps uniform in each method's time ({args.n} samples)"
    plot(rows, args.out, title)
    args.out.with_suffix(".json").write_text(json.dumps({"rows": rows, "provenance": provenance()}, indent=2))


if __name__ == "__main__":
    main()
