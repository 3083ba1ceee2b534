"""Learning curves of a comparison: every method's sample quality against training steps (left) and against
training wall-clock seconds (right), one line per method (the mean over its seeds at each snapshot, a band from the
lowest to the highest seed), the data's floor as a dashed line when given. The inputs are the runs' ``curve.csv``
(``shared.pipeline.curve``)."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import pandas as pd

from shared.io.artifacts import ArtifactError, load_metrics
from shared.report.compare.args import labelled_parser, parse_labelled

COLUMNS = ("step", "train_wall_s", "metric", "score")


def read_curves(paths: list[Path], labels: list[str]) -> pd.DataFrame:
    """One row per (method, seed file, snapshot): method, step, train_wall_s, metric, score."""
    frames = []
    fix = "write it with python -m shared.pipeline.curve"
    for path, label in zip(paths, labels):
        if not Path(path).is_file():
            raise ArtifactError(path, "does not exist", fix)
        try:
            df = pd.read_csv(path)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
            df = pd.DataFrame()
        if not set(COLUMNS) <= set(df.columns):
            raise ArtifactError(path, f"is not a learning curve (a CSV with columns {', '.join(COLUMNS)})", fix)
        frames.append(df.assign(method=label, source=str(path)))
    return pd.concat(frames, ignore_index=True)


def main(argv: list[str] | None = None) -> None:
    p = labelled_parser("curves", __doc__, "curves", "curve.csv (every run and seed)", "PNG (and its .csv)")
    p.add_argument("--floor", nargs="*", type=Path, default=None, help="the data's floor metrics (one per seed)")
    args = parse_labelled(p, argv, "curves")
    df = read_curves(args.curves, args.labels)
    import matplotlib.ticker

    from shared.report.figures import plt, save

    metric = df["metric"].mode().iloc[0]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for i, (method, g) in enumerate(df.groupby("method", sort=False)):
        by_step = g.groupby("step")
        mean, low, high = by_step["score"].mean(), by_step["score"].min(), by_step["score"].max()
        seconds = by_step["train_wall_s"].mean()
        color = f"C{i % 10}"  # past ten methods the colours repeat: squares on dashed lines tell those apart
        style = "o-" if i < 10 else "s--"
        for ax, x in ((axes[0], mean.index), (axes[1], seconds.loc[mean.index])):
            ax.plot(x, mean.values, style, ms=3, color=color, label=f"{method} (n = {g['source'].nunique()})")
            ax.fill_between(x, low.values, high.values, color=color, alpha=0.15, lw=0)
    floor = [load_metrics(f)["metrics"].get(metric, {}).get("value") for f in args.floor or []]
    floor = [v for v in floor if v is not None]
    level = sum(floor) / len(floor) if floor else None
    scores = df["score"][df["score"].map(math.isfinite)]
    positive = scores[scores > 0]
    for ax in axes:
        if level is not None:
            ax.axhline(level, color="k", ls="--", lw=1, label="data (held-out)" if ax is axes[0] else None)
        if len(positive) and positive.max() / positive.min() > 100:
            # log above the floor's scale, linear around zero (an unbiased distance near the floor can be < 0)
            linthresh = 2 * abs(level) if level else float(positive.quantile(0.1))
            ax.set_yscale("symlog", linthresh=linthresh)  # linear within twice the floor: its noise band
            ax.set_ylim(bottom=max(-linthresh, min(0.0, float(scores.min()))))
        ax.grid(alpha=0.3)
    seconds = df["train_wall_s"][df["train_wall_s"] > 0]
    if len(seconds) and seconds.max() / seconds.min() > 30:
        axes[1].set_xscale("log")  # a CNF's seconds are 10-30x the others': keep both readable
        axes[1].xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # decades only: no crowded labels
    axes[0].set_xlabel("training step")
    axes[1].set_xlabel("training wall-clock seconds (this machine)")
    axes[0].set_ylabel(f"{metric} (lower is better)")
    axes[1].legend(*axes[0].get_legend_handles_labels(), fontsize=7, frameon=False, loc="center left",
                   bbox_to_anchor=(1.02, 0.5))  # fmt: skip
    if args.title:
        title = textwrap.fill(args.title, 150)
        fig.suptitle(title, fontsize=8, y=1.0 + 0.035 * title.count("\n"))  # above the axes, however many lines
    save(fig, args.out, dpi=110)
    df.to_csv(args.out.with_suffix(".csv"), index=False)
    print(f"wrote {args.out}")
