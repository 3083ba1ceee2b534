"""Figures of Song et al. (2021), 'Score-Based Generative Modeling through SDEs', on CPU-sized problems.

    python -m replications.score_sde.figures paths --out results/score_sde/figures/paths.png
    python -m replications.score_sde.figures samplers --ckpt results/score_sde/smoke_toy/seed0/checkpoint.pt \\
        --out results/score_sde/smoke_toy/seed0/samplers.md
    python -m replications.score_sde.figures nfe --ckpt results/score_sde/smoke_toy/seed0/checkpoint.pt \\
        --out results/score_sde/figures/nfe_vs_tolerance.png

``paths``: Fig. 1-2 idea with the EXACT score of a 1-D Gaussian mixture (no training): forward-SDE, reverse-SDE and
probability-flow paths over the evolving density p_t, for the VE, VP and sub-VP SDEs. ``samplers``: Table 1 idea,
predictor-only / corrector-only / PC / ODE at a matched budget of score evaluations on a trained smoke run.
``nfe``: Fig. 3 idea, NFE of the probability-flow ODE solve against the solver tolerance.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import torch

from shared.entry import command_parser
from shared.io.artifacts import check_output
from shared.io.atomic import save_json
from shared.maths.fields import ScoreField, VelocityField
from shared.maths.mixture import GaussianMixture, bimodal_1d
from shared.maths.processes import SDE, VESDE, VPSDE, SubVPSDE
from shared.maths.samplers import (
    AncestralPredictor,
    Denoised,
    EulerMaruyamaPredictor,
    ReverseDiffusionPredictor,
    SNRLangevinCorrector,
    sample_flow,
    sample_pc,
)
from shared.pipeline.evaluate import sample_quality
from shared.pipeline.method import count_nfe
from shared.pipeline.runner import load_run
from shared.report.figures import save
from shared.utils import CountNFE, batch_time

PATH_PROCESSES = {  # sigma_max of VE kept at the data's scale so that all three fit one axis
    "VE": VESDE(sigma_min=0.01, sigma_max=4.0),
    "VP": VPSDE(beta_min=0.1, beta_max=20.0),
    "sub-VP": SubVPSDE(beta_min=0.1, beta_max=20.0),
}


def forward_paths(mix: GaussianMixture, process: SDE, ts: torch.Tensor, n: int, gen: torch.Generator) -> np.ndarray:
    """Forward-SDE paths (len(ts), n) from data, stepped with the exact kernels (Eq. 5), increasing ts."""
    x = mix.sample(n, gen)
    out = [x[:, 0].clone()]
    for i in range(len(ts) - 1):
        a, v = process.transition(batch_time(ts[i + 1], x), batch_time(ts[i], x))
        x = a[:, None] * x + v.sqrt()[:, None] * torch.randn(x.shape, generator=gen, dtype=x.dtype)
        out.append(x[:, 0].clone())
    return torch.stack(out).numpy()


def reverse_paths(mix, process, ts, n, gen, ode: bool) -> np.ndarray:
    """Reverse-SDE (reverse diffusion) or probability-flow paths (len(ts), n) from the prior, decreasing ts."""
    x = process.prior.sample((n, 1), gen, dtype=torch.float64)
    out = [x[:, 0].clone()]

    def keep(state):
        if state["i"] >= 0:
            out.append(state["x"][:, 0].clone())

    field = ScoreField(mix.score_field(process), process)
    if ode:
        sample_flow(field, x, ts, rtol=1e-6, atol=1e-6, callback=keep)
    else:
        sample_pc(
            field,
            x,
            ts,
            predictor=ReverseDiffusionPredictor(),
            corrector=None,
            generator=gen,
            callback=keep,
        )
    return torch.stack(out).numpy()


def density_image(mix: GaussianMixture, process: SDE, ts: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """p_t(x) on the (x, t) grid: (len(xs), len(ts)) in closed form."""
    x = torch.from_numpy(xs)[:, None]
    return np.stack([mix.at(process, float(t)).log_prob(x).exp().numpy() for t in ts], axis=1)


def plot_paths(out: Path, n: int = 24, seed: int = 0) -> None:
    """3 x 3 panels: rows VE / VP / sub-VP; columns forward SDE, reverse SDE, probability-flow ODE."""
    import matplotlib.pyplot as plt

    mix = bimodal_1d()
    fig, axes = plt.subplots(3, 3, figsize=(12, 9), sharex=True)
    for row, (name, process) in enumerate(PATH_PROCESSES.items()):
        t_up = torch.linspace(process.t_min, 1.0, 81, dtype=torch.float64)  # not 101: see the README (ODE grid)
        t_down = t_up.flip(0)
        lim = max(3.0, 2.5 * process.prior_std)
        xs = np.linspace(-lim, lim, 200)
        image = density_image(mix, process, t_up.numpy(), xs)
        gen = torch.Generator().manual_seed(seed)
        paths = [
            (t_up, forward_paths(mix, process, t_up, n, gen), "forward SDE (data -> prior)"),
            (t_down, reverse_paths(mix, process, t_down, n, gen, ode=False), "reverse SDE (exact score)"),
            (t_down, reverse_paths(mix, process, t_down, n, gen, ode=True), "probability-flow ODE"),
        ]
        for col, (ts, p, title) in enumerate(paths):
            ax = axes[row, col]
            ax.imshow(image**0.5, origin="lower", aspect="auto", cmap="Blues", extent=(process.t_min, 1.0, -lim, lim))
            ax.plot(ts.numpy(), p, color="k", lw=0.6, alpha=0.7)
            ax.set_ylim(-lim, lim)
            ax.set_title(f"{name}: {title}", fontsize=9)
            ax.grid(False)
        axes[row, 0].set_ylabel("x")
    for ax in axes[-1]:
        ax.set_xlabel("t")
    fig.suptitle("Exact-score paths over the density p_t (sqrt shading) of 0.4 N(-1.5, 0.3²) + 0.6 N(1.5, 0.3²)")
    save(fig, out, dpi=110)


def sampler_table(
    ckpt_path: Path, out: Path, n: int | None, steps: int | None, feature_net: Path | None, seed: int = 0
) -> list:
    """Table 1 idea on a trained run: each sampler at about 2 * steps score evaluations (ODE: adaptive)."""
    run = load_run(ckpt_path, device="cpu")
    cfg, field = run.cfg, run.method.field
    image = cfg.data.is_image  # images: fewer samples and steps, to keep the smoke pipeline CPU-sized
    n = n or (100 if image else 1000)
    steps = steps or (25 if image else 50)
    process = field.process
    snr = getattr(cfg.sample, "snr", 0.16)
    norms = getattr(cfg.sample, "norms", "example")
    t_end = getattr(cfg.sample, "eps", None)  # where the run's own sampler ends (null: the process's eps)
    rows = []
    samplers = {  # name -> (grid steps, predictor, corrector)
        f"P{2 * steps} reverse diffusion": (2 * steps, ReverseDiffusionPredictor(), None),
        f"P{2 * steps} ancestral": (2 * steps, AncestralPredictor(), None),
        f"P{2 * steps} Euler-Maruyama": (2 * steps, EulerMaruyamaPredictor(), None),
        f"C{2 * steps} Langevin only": (2 * steps, None, SNRLangevinCorrector(snr, 1, norms)),
        f"PC{steps} reverse diffusion + Langevin": (
            steps,
            ReverseDiffusionPredictor(),
            SNRLangevinCorrector(snr, 1, norms),
        ),
    }
    with torch.no_grad():
        x_prior = process.prior.sample((n, *cfg.data.shape), torch.Generator().manual_seed(seed))
        for name, (k, pred, corr) in samplers.items():
            with count_nfe(run.method.net) as calls:
                pc = partial(sample_pc, predictor=pred, corrector=corr)
                x = Denoised(pc)(
                    field, x_prior, process.time_grid(k, t_end=t_end), generator=torch.Generator().manual_seed(seed + 1)
                )
            metric, value = sample_quality(run.data(), x, feature_net)
            rows.append({"sampler": name, "nfe": calls[0], metric: value})
        ts = process.time_grid(1, t_end=t_end)
        with count_nfe(run.method.net) as calls:
            x = Denoised(sample_flow)(field, x_prior, ts)
        metric, value = sample_quality(run.data(), x, feature_net)
        rows.append({"sampler": "ODE (dopri5, rtol = atol = 1e-5)", "nfe": calls[0], metric: value})
    import pandas as pd

    from shared.report.summary import write_table

    title = f"Samplers on {run.experiment} (seed {run.seed}, {n} samples; lower is better)"
    print(write_table(pd.DataFrame(rows), out, title=title))
    return rows


def nfe_vs_tolerance(ckpts: list[Path], out: Path, n: int, tolerances: list[float]) -> dict:
    """Fig. 3 idea: NFE of the probability-flow solve against rtol = atol, exact mixture scores and trained runs."""
    import matplotlib.pyplot as plt

    curves = {}
    mix = GaussianMixture(
        torch.tensor([0.3, 0.7]),
        torch.tensor([[-2.0, 0.5], [1.5, -1.0]]),
        torch.tensor([[[0.2, 0.05], [0.05, 0.1]], [[0.15, -0.06], [-0.06, 0.3]]]),
    )
    fields = {f"exact score, {k}": (ScoreField(mix.score_field(p), p), (2,)) for k, p in PATH_PROCESSES.items()}
    for path in ckpts:
        run = load_run(path, device="cpu")
        fields[f"trained: {run.experiment}"] = (run.method.field, run.shape)
    with torch.no_grad():
        for name, (field, shape) in fields.items():
            process = field.process
            x = process.prior.sample((n, *shape), torch.Generator().manual_seed(0))
            ts = torch.tensor([process.T, process.t_min])
            curves[name] = []
            for tol in tolerances:
                counted = CountNFE(field.velocity)
                sample_flow(VelocityField(counted), x, ts, rtol=tol, atol=tol)
                curves[name].append(counted.nfe)
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, nfe in curves.items():
        ax.plot(tolerances, nfe, marker="o", label=name)
    ax.set_xscale("log")
    ax.set_xlabel("rtol = atol (dopri5)")
    ax.set_ylabel("NFE")
    ax.set_title("Probability-flow ODE: NFE against solver tolerance")
    ax.legend(fontsize=7)
    save(fig, out, dpi=110)
    save_json({"tolerances": tolerances, "nfe": curves}, out.with_suffix(".json"))
    return curves


def main(argv: list[str] | None = None) -> None:
    """Parse ``argv`` and draw one figure or table."""
    p = command_parser("replications.score_sde.figures", __doc__)
    sub = p.add_subparsers(dest="command", required=True)
    a = sub.add_parser("paths", help="exact-score forward / reverse / probability-flow paths (no training)")
    a.add_argument("--out", type=Path, required=True)
    a.add_argument("--n", type=int, default=24, help="paths per panel")
    s = sub.add_parser("samplers", help="Table 1 idea: samplers at a matched budget on a trained run")
    s.add_argument("--ckpt", type=Path, required=True)
    s.add_argument("--out", type=Path, required=True, help="markdown table (a .csv is written beside it)")
    s.add_argument("--n", type=int, default=None, help="samples per sampler (default: 1000 for toys, 100 for images)")
    s.add_argument(
        "--steps", type=int, default=None, help="PC steps; predictor/corrector-only get twice as many (50 / 25)"
    )
    s.add_argument("--feature-net", type=Path, default=None, help="digits classifier (digits runs)")
    f = sub.add_parser("nfe", help="Fig. 3 idea: NFE against ODE tolerance")
    f.add_argument("--ckpt", type=Path, nargs="*", default=[], help="trained runs to add to the exact-score curves")
    f.add_argument("--out", type=Path, required=True, help="PNG (a .json is written beside it)")
    f.add_argument("--n", type=int, default=500)
    f.add_argument("--tolerances", type=float, nargs="+", default=[1e-1, 1e-2, 1e-3, 1e-4, 1e-5])
    args = p.parse_args(argv)
    check_output(args.out)  # a path that cannot be written: one line, exit 2, before any compute
    with torch.no_grad():  # restored on return or error (main may run inside another program)
        if args.command == "paths":
            plot_paths(args.out, args.n)
        elif args.command == "samplers":
            sampler_table(args.ckpt, args.out, args.n, args.steps, args.feature_net)
        else:
            nfe_vs_tolerance(args.ckpt, args.out, args.n, args.tolerances)


if __name__ == "__main__":
    from shared.entry import run_main

    run_main(main)
