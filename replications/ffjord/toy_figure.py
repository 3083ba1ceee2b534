"""FFJORD's 2-D figure (Grathwohl et al. 2019, Fig. 2): data | learned density (exact log-density) | samples per
toy set, with each set's test NLL beside the true distribution's entropy (Monte Carlo, where the density is known).

    python -m replications.ffjord.toy_figure panel --ckpt results/ffjord/toy_rings/seed0/checkpoint.pt --out p.npz
    python -m replications.ffjord.toy_figure assemble --panels p1.npz p2.npz ... --out fig.png --table table.md
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from replications.ffjord.method import SPEC, build
from shared.data.toy2d import sample_toy, toy_log_density
from shared.io.artifacts import check_output
from shared.io.atomic import save_npz
from shared.io.provenance import provenance
from shared.pipeline.method import draw
from shared.pipeline.runner import load_run
from shared.utils import derive_seed, make_generator

LIM = 4.0  # the figure's window [-4, 4]^2, as the paper's


def _mean_se(v: torch.Tensor) -> tuple[float, float]:
    v = v.double()
    return float(v.mean()), float(v.std() / math.sqrt(v.numel()))


def panel(
    ckpt_path: Path, out: Path, grid: int, n_samples: int, n_test: int, n_entropy: int, tol: float | None = None
) -> None:
    """Histogram, exact log-density on a grid, samples, test NLL and entropy of one trained toy run -> .npz.

    ``tol`` sets the solver's atol = rtol for this evaluation (official ``--test_atol/--test_rtol``); None keeps the
    training tolerances.
    """
    run = load_run(ckpt_path, SPEC)
    cfg, ckpt = run.cfg, run.ckpt
    if tol is not None:  # the same weights under the evaluation tolerance
        cfg = replace(cfg, ode=replace(cfg.ode, atol=tol, rtol=tol))
        method = build(cfg)
        method.net.load_state_dict(run.method.net.state_dict())
        method.net.eval()
    else:
        method = run.method
    name, seed = cfg.data.name, run.seed
    hist_pts = sample_toy(name, 200_000, make_generator(derive_seed(seed, "figure-data")))
    hist, _, _ = np.histogram2d(*hist_pts.numpy().T, bins=grid, range=[[-LIM, LIM], [-LIM, LIM]])
    with torch.no_grad():
        ax = torch.linspace(-LIM, LIM, grid)
        xx, yy = torch.meshgrid(ax, ax, indexing="xy")
        pts = torch.stack([xx.flatten(), yy.flatten()], dim=1)
        gen = make_generator(0)
        logp = torch.cat([-method.nll(method.net, p, gen).nats for p in pts.split(5000)]).reshape(grid, grid)
        drawn = draw(method, (2,), range(n_samples), n_samples)  # one batch, counted as the CLI counts it
        samples = drawn.x
        test = sample_toy(name, n_test, make_generator(derive_seed(seed, "figure-test")))
        nll = torch.cat([method.nll(method.net, p, gen).nats for p in test.split(1000)])
    true = toy_log_density(name, sample_toy(name, n_entropy, make_generator(derive_seed(seed, "figure-entropy"))))
    entropy = _mean_se(-true) if true is not None else (float("nan"), float("nan"))
    info = {
        "name": name,
        "experiment": ckpt["experiment"],
        "train_steps": ckpt["step"],
        "nll_nats": _mean_se(nll),
        "entropy_nats": entropy,
        "sample_nfe": drawn.nfe_per_sample,
        "end_time": float(method.net.end_times.detach().sum()),
        "eval_tol": [cfg.ode.atol, cfg.ode.rtol],
        "checkpoint": str(ckpt_path),
        "provenance": provenance(),
    }
    save_npz(
        {"hist": hist.T, "logp": logp.numpy(), "samples": samples.numpy(), "info": np.asarray(json.dumps(info))}, out
    )
    print(json.dumps(info), flush=True)


def assemble(panels: list[Path], out: Path, table: Path) -> None:
    """Rows: data histogram, learned density, samples; one column per toy set. Writes the PNG and a Markdown table."""
    from shared.report import figures
    from shared.report.figures import plt

    loaded = [dict(np.load(p)) for p in panels]
    infos = [json.loads(str(p["info"])) for p in loaded]
    n = len(loaded)
    fig, axes = plt.subplots(3, n, figsize=(1.6 * n, 1.6 * 3 + 0.3), squeeze=False)
    ext = [-LIM, LIM, -LIM, LIM]
    for j, (p, info) in enumerate(zip(loaded, infos)):
        axes[0, j].imshow(p["hist"], origin="lower", extent=ext, cmap="viridis")
        axes[1, j].imshow(np.exp(p["logp"]), origin="lower", extent=ext, cmap="viridis")
        s = p["samples"]
        hist, _, _ = np.histogram2d(s[:, 0], s[:, 1], bins=p["hist"].shape[0], range=[[-LIM, LIM], [-LIM, LIM]])
        axes[2, j].imshow(hist.T, origin="lower", extent=ext, cmap="viridis")
        axes[0, j].set_title(info["name"], fontsize=8)
        for i in range(3):
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
            axes[i, j].grid(False)
    for i, label in enumerate(["data", "FFJORD density", "FFJORD samples"]):
        axes[i, 0].set_ylabel(label, fontsize=8)
    fig.subplots_adjust(wspace=0.03, hspace=0.03)
    figures.save(fig, out, dpi=90)  # a commit-size PNG (< 300 KB)
    import pandas as pd

    from shared.report.summary import write_table

    rows = []
    for info in infos:
        nll, ent = info["nll_nats"], info["entropy_nats"]
        ent_s = "unknown (no closed-form density)" if math.isnan(ent[0]) else f"{ent[0]:.3f} ± {ent[1]:.3f}"
        rows.append(
            {
                "set": info["name"],
                "train steps": info["train_steps"],
                "test NLL (nats)": f"{nll[0]:.3f} ± {nll[1]:.3f}",
                "true entropy (nats, MC)": ent_s,
                "sampling NFE": info["sample_nfe"],
                "sum T_k": round(info["end_time"], 3),
            }
        )
    commits = sorted({info.get("provenance", {}).get("git_commit", "unknown")[:12] for info in infos})
    tols = sorted({str(tuple(info.get("eval_tol", ("training tolerance",)))) for info in infos})
    notes = f"Evaluated at (atol, rtol) {', '.join(tols)}; code {', '.join(commits)}."
    print(write_table(pd.DataFrame(rows), table, notes=notes), flush=True)


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run ``panel`` or ``assemble``."""
    p = argparse.ArgumentParser(prog="python -m replications.ffjord.toy_figure", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    a = sub.add_parser("panel", help="one toy set's histogram, density, samples and NLL -> .npz")
    a.add_argument("--ckpt", required=True, type=Path)
    a.add_argument("--out", required=True, type=Path)
    a.add_argument("--grid", type=int, default=120, help="density grid / histogram bins per axis")
    a.add_argument("--n-samples", type=int, default=20_000)
    a.add_argument("--n-test", type=int, default=5000, help="fresh test points for the NLL")
    a.add_argument("--n-entropy", type=int, default=1_000_000, help="Monte Carlo points for the true entropy")
    a.add_argument("--tol", type=float, default=None, help="solver atol = rtol of the evaluation (default: training's)")
    b = sub.add_parser("assemble", help="the figure and the NLL/entropy table from panels")
    b.add_argument("--panels", required=True, type=Path, nargs="+")
    b.add_argument("--out", required=True, type=Path)
    b.add_argument("--table", type=Path, default=None, help="Markdown NLL table (default: toy_nll.md beside --out)")
    args = p.parse_args(argv)
    check_output(args.out)  # a path that cannot be written: one line, exit 2, before any compute
    if args.command == "panel":
        panel(args.ckpt, args.out, args.grid, args.n_samples, args.n_test, args.n_entropy, args.tol)
    else:
        assemble(args.panels, args.out, args.table or args.out.with_name("toy_nll.md"))


if __name__ == "__main__":
    from shared.entry import run_main

    run_main(main)
