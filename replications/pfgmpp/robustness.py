"""Sample quality against the augmentation dimension D: PFGM++'s robustness claim (Xu et al. 2023, Sec. 5 and 6.3),
measured on the same net, budget, data and seeds for every D.

    python -m replications.pfgmpp robustness --config replications/pfgmpp/configs/smoke_toy.yaml \\
        --out results/pfgmpp/robustness/robustness_8gaussians.md [--D 1 4 32 inf] [--steps 4 8] \\
        [--alphas 0 0.1 0.2] [--seeds 0 1 2] [--set key=value ...] [--feature-net results/feature_nets/digits.pt]

Each D (``inf``: EDM's Gaussian kernel, the paper's "D = inf" rows) trains from the same initial weights on the same
batches (``shared.pipeline.train.fit``), then is sampled with EDM's Heun on Eq. 5's levels from its own prior:

  * at each ``--steps`` (2 k - 1 NFE): the paper's claim that small D tolerates large steps (Sec. 6; official
    generate_steps.py);
  * at the config's steps with Gaussian noise alpha sigma_i eps added to x before every step i (``--alphas``): the
    paper's controlled experiment on modelling errors (Sec. 6, robustness; official generate_alpha.py L126).

Quality is the data's own metric (energy distance on the toys, fd_digits on digits: ``sample_quality``) of
``--n-samples`` samples with per-sample seeds, the same seeds for every D. Several seeds: mean ± 95 % t-interval
half-width. The data's floor (the same metric of as many held-out real examples) is in the table and figure.
Writes <out>.md (table), .csv, .json (config, seeds, provenance) and .png; the table last.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
from torch import Tensor

from replications.pfgmpp.config import Config, GaussianKernelConfig, StudentKernelConfig
from replications.pfgmpp.method import SPEC
from shared.config import ConfigError, InputError, load, to_dict
from shared.data.source import DataSource
from shared.entry import command_parser
from shared.io.artifacts import check_output
from shared.io.atomic import save_json, save_text
from shared.io.provenance import provenance
from shared.maths.fields import Field
from shared.maths.samplers.steps import euler_step, heun_step
from shared.pipeline.cli import positive_int
from shared.pipeline.few_step_config import HeunEDMSamplerConfig
from shared.pipeline.method import Method, draw
from shared.pipeline.train import fit
from shared.report.stats import t_interval
from shared.utils import Callback, Generator, default_device, derive_seed, randn


def sample_heun_perturbed(
    field: Field, x: Tensor, ts: Tensor, *, generator: Generator = None, callback: Callback = None, alpha: float = 0.0
) -> Tensor:
    """EDM's Heun (last step Euler) with x <- x + alpha t_i eps before step i (t = sigma on EDM's path): PFGM++'s
    injected modelling error (official generate_alpha.py L126). alpha = 0 is ``sample_heun_edm``."""
    n_steps = len(ts) - 1
    for i in range(n_steps):
        t, s = ts[i : i + 1].to(x), ts[i + 1 : i + 2].to(x)
        if alpha > 0:
            x = x + alpha * t * randn(x.shape, generator, device=x.device, dtype=x.dtype)
        x = heun_step(field, x, t, s) if i < n_steps - 1 else euler_step(field, x, t, s)
        if callback is not None:
            callback({"i": i, "t": ts[i + 1], "x": x})
    return x


def parse_D(text: str) -> int | None:
    """'inf' -> None (the Gaussian kernel), else a positive integer D (``shared.pipeline.cli.positive_int``)."""
    if text.lower() in ("inf", "infinity"):
        return None
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"--D {text!r}: a positive integer or inf") from None


def label(D: int | None) -> str:
    return "inf" if D is None else str(D)


def with_D(cfg: Config, D: int | None) -> Config:
    return replace(cfg, kernel=GaussianKernelConfig() if D is None else StudentKernelConfig(D=D))


def train_D(cfg: Config, seed: int, device: torch.device) -> Method:
    """PFGM++ at this config's D, from the seed's initial weights (the same for every D), its EMA weights loaded."""
    torch.manual_seed(derive_seed(seed, "init"))
    method = SPEC.build(cfg)
    with tempfile.TemporaryDirectory(prefix="pfgmpp_robustness_") as tmp:  # state and log: thrown away
        state = fit(method.net, method.loss, DataSource(cfg.data, seed), cfg.train, tmp, seed=seed, device=device)
    ema = {k.removeprefix("module."): v for k, v in state["ema"].items() if k != "n_averaged"}
    method.net.load_state_dict(ema)
    method.net.to(device).eval()
    return method


def measure(cfg: Config, Ds, steps, alphas, seed, device, n_samples, feature_net) -> tuple[float, list[dict]]:
    """One seed: the data's floor (the metric of ``n_samples`` held-out real examples,
    ``shared.pipeline.floor.held_out``: what a perfect model scores at this sample size), then per D the quality at
    each step count and each alpha (module docstring)."""
    from shared.pipeline.evaluate import sample_quality
    from shared.pipeline.floor import held_out

    data, path = DataSource(cfg.data, seed), cfg.path.build()
    metric, floor = sample_quality(data, held_out(data, n_samples, seed)[0], feature_net)
    seeds = list(range(n_samples))
    rows = []
    for D in Ds:
        begun = time.perf_counter()
        method = train_D(with_D(cfg, D), seed, device)
        row = {"D": label(D), "seed": seed}
        for k in steps:
            grid, sampler = HeunEDMSamplerConfig(n_steps=k, rho=cfg.sample.rho).build(path)
            drawn = draw(replace(method, grid=grid, sampler=sampler), cfg.data.shape, seeds, n_samples, device)
            row[f"steps_{k}"] = sample_quality_of(data, drawn.x, feature_net, D, f"{k} steps")
            row[f"nfe_{k}"] = drawn.nfe_per_sample
        grid = HeunEDMSamplerConfig(n_steps=cfg.sample.n_steps, rho=cfg.sample.rho).build(path)[0]
        for a in alphas:
            noisy = replace(
                method, grid=grid, sampler=lambda f, x, ts, a=a, **kw: sample_heun_perturbed(f, x, ts, alpha=a, **kw)
            )
            drawn = draw(noisy, cfg.data.shape, seeds, n_samples, device)
            row[f"alpha_{a:g}"] = sample_quality_of(data, drawn.x, feature_net, D, f"alpha {a:g}")
        row["metric"], row["wall_s"] = metric, time.perf_counter() - begun
        print(f"robustness: seed {seed}, D = {label(D)}: {row}", flush=True)
        rows.append(row)
    return floor, rows


def sample_quality_of(data, x, feature_net, D, what) -> float:
    """The data's metric of samples x; inf where a sample is not finite (a heavy-tailed prior at few steps can
    overflow: the table says so)."""
    from shared.pipeline.evaluate import sample_quality

    if not torch.isfinite(x).all():
        print(f"robustness: D = {label(D)}, {what}: non-finite samples", flush=True)
        return math.inf
    return sample_quality(data, x, feature_net)[1]


def columns(steps, alphas) -> list[str]:
    return [f"steps_{k}" for k in steps] + [f"alpha_{a:g}" for a in alphas]


def summarise(per_seed: list[list[dict]], keys: list[str]) -> list[dict]:
    """Per D: mean and 95 % t half-width over the seeds of every column."""
    out = []
    for rows in zip(*per_seed):
        summary = {"D": rows[0]["D"], "metric": rows[0]["metric"]}
        for key in keys:
            mean, hw = t_interval([r[key] for r in rows])
            summary[key], summary[f"{key}_hw"] = mean, hw
        out.append(summary)
    return out


def header(key: str, cfg: Config) -> str:
    if key.startswith("steps_"):
        k = int(key.removeprefix("steps_"))
        return f"{k} steps ({2 * k - 1} NFE)"
    return f"α = {key.removeprefix('alpha_')} ({cfg.sample.n_steps} steps)"


def markdown(report: dict, cfg: Config) -> str:
    keys, rows = report["columns"], report["rows"]

    def fmt(v: float, hw: float) -> str:
        return "∞ (diverged)" if math.isinf(v) else (f"{v:.4g}" if math.isnan(hw) else f"{v:.4g} ± {hw:.2g}")

    lines = [
        f"PFGM++ on {cfg.data.name}: {rows[0]['metric']} (lower is better) against D, "
        f"{cfg.train.steps} steps of batch {cfg.train.batch_size}, {report['n_samples']} samples, "
        f"seeds {report['seeds']}" + (" (mean ± 95 % t-interval half-width)" if len(report["seeds"]) > 1 else ""),
        "",
        "| D | " + " | ".join(header(k, cfg) for k in keys) + " |",
        "|---|" + "---|" * len(keys),
    ]
    lines += ["| " + r["D"] + " | " + " | ".join(fmt(r[k], r[f"{k}_hw"]) for k in keys) + " |" for r in rows]
    floor = report["floor"]
    lines += ["", f"Data floor (held-out real data, same metric and size): {fmt(floor['mean'], floor['hw'])}."]
    return "\n".join(lines) + "\n"


def table_csv(report: dict) -> str:
    buf = io.StringIO()
    keys = ["D", "metric"] + [c for k in report["columns"] for c in (k, f"{k}_hw")]
    writer = csv.DictWriter(buf, fieldnames=keys, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(report["rows"])
    return buf.getvalue()


def figure(report: dict, cfg: Config, path: Path) -> None:
    """Quality against D (log axis; D = inf at the right): one line per step count, one per injected alpha."""
    from shared.report.figures import plt, save

    rows = report["rows"]
    finite = [int(r["D"]) for r in rows if r["D"] != "inf"]
    top = max(finite) * 8 if finite else 1
    xs = [top if r["D"] == "inf" else int(r["D"]) for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    groups = [[k for k in report["columns"] if k.startswith(p)] for p in ("steps_", "alpha_")]
    values = [r[k] for r in rows for k in report["columns"] if math.isfinite(r[k])] + [report["floor"]["mean"]]
    positive = min(values) > 0
    titles = [
        "fewer steps (larger discretisation error)",
        f"noise α σ_i ε injected each step ({cfg.sample.n_steps} steps)",
    ]
    for ax, keys, title in zip(axes, groups, titles):
        for key in keys:
            ys = [r[key] for r in rows]
            hw = [0.0 if math.isnan(r[f"{key}_hw"]) else r[f"{key}_hw"] for r in rows]
            ax.errorbar(xs, ys, yerr=hw, marker="o", capsize=3, label=header(key, cfg))
        ax.axhline(report["floor"]["mean"], color="k", ls="--", lw=1, label="data floor (held-out data)")
        ax.set(xscale="log", xlabel="augmentation dimension D", title=title)
        # an energy distance is an unbiased estimate and may dip below 0: a log axis would drop those points
        ax.set_yscale("log") if positive else ax.set_yscale("symlog", linthresh=1e-3)
        ax.set_xticks(xs, [r["D"].replace("inf", "∞ (EDM)") for r in rows])
        ax.xaxis.set_minor_locator(plt.NullLocator())
        for axis in (ax.yaxis,):  # plain numbers on the log axis (60, not 6 x 10^1)
            axis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}"))
            axis.set_minor_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}" if str(f"{v:g}")[0] in "25" else ""))
        ax.legend(fontsize=8)
    axes[0].set_ylabel(f"{rows[0]['metric']} (lower is better)")
    seeds = report["seeds"]
    fig.suptitle(
        f"PFGM++ on {cfg.data.name}: quality against D ({cfg.train.steps} steps, "
        + (f"{len(seeds)} seeds, mean ± 95 % t-interval)" if len(seeds) > 1 else f"seed {seeds[0]})")
    )
    fig.tight_layout()
    save(fig, path, dpi=110)


def main(argv: list[str] | None = None) -> None:
    """Parse ``argv``; train and sample every D for every seed; write the table, CSV, JSON and figure."""
    p = command_parser("replications.pfgmpp robustness", __doc__)
    p.add_argument("--config", required=True, type=Path, help="a PFGM++ config, e.g. configs/smoke_toy.yaml")
    p.add_argument("--out", required=True, type=Path, help="the markdown table; .csv, .json and .png beside it")
    p.add_argument("--D", type=parse_D, nargs="+", default=[1, 4, 32, None], help="dimensions D (inf: EDM)")
    p.add_argument("--steps", type=int, nargs="+", default=[4, 8], help="Heun step counts (default: 4 8)")
    p.add_argument(
        "--alphas", type=float, nargs="*", default=[0.0, 0.1, 0.2], help="injected noise (default: 0 0.1 0.2)"
    )
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="run seeds (default: 0)")
    p.add_argument("--n-samples", type=int, default=500, help="samples per measurement (default: 500)")
    p.add_argument("--feature-net", type=Path, default=None, help="the digits feature net (fd_digits)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override, e.g. train.steps=600")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    args = p.parse_args(argv)
    if any(k < 1 for k in args.steps) or any(a < 0 for a in args.alphas) or args.n_samples < 2:
        raise InputError("--steps >= 1, --alphas >= 0 and --n-samples >= 2")
    if len(set(args.seeds)) < len(args.seeds) or len(set(args.D)) < len(args.D):
        raise InputError("--seeds / --D: a value given twice")
    check_output(args.out)
    cfg = load(args.config, Config, args.set)
    if cfg.data.quality_metric == "fd_digits" and args.feature_net is None:
        raise InputError(f"{cfg.data.name}: fd_digits needs --feature-net (results/feature_nets/digits.pt)")
    if cfg.data.quality_metric == "two_sample" and args.n_samples > cfg.data.n_test:
        raise ConfigError(f"--n-samples {args.n_samples}: more than data.n_test = {cfg.data.n_test} held-out points")
    device = torch.device(args.device) if args.device else default_device()
    start = time.perf_counter()
    Ds = sorted(args.D, key=lambda d: math.inf if d is None else d)
    floors, per_seed = zip(
        *(measure(cfg, Ds, args.steps, args.alphas, s, device, args.n_samples, args.feature_net) for s in args.seeds)
    )
    keys = columns(args.steps, args.alphas)
    floor_mean, floor_hw = t_interval(floors)
    report = {
        "replication": SPEC.name,
        "artifact": "robustness",
        "seeds": args.seeds,
        "n_samples": args.n_samples,
        "columns": keys,
        "rows": summarise(per_seed, keys),
        "per_seed": list(per_seed),
        "floor": {"mean": floor_mean, "hw": floor_hw},
        "config": to_dict(cfg),
        "wall_s": time.perf_counter() - start,
        "provenance": provenance(),
    }
    out = args.out
    save_text(table_csv(report), out.with_suffix(".csv"))
    save_json(report, out.with_suffix(".json"))
    figure(report, cfg, out.with_suffix(".png"))
    text = markdown(report, cfg)
    save_text(text, out)
    print(text, flush=True)


if __name__ == "__main__":
    from shared.entry import run_main

    run_main(main)
