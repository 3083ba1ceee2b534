"""NCSN's Fig. 2 idea (Song & Ermon 2019, Sec. 3.2): the data score against the score a small net learns from
samples, on the mixture 0.8 N((5, 5), I) + 0.2 N((-5, -5), I): the estimate is good near the modes and wrong in
the low-density region between them, where the training data say nothing.

    python -m replications.ncsn.score_figure --out replications/ncsn/figures/fig2_scores.png

The net (the shared MLP) is trained with denoising score matching at one small noise level (sigma = 0.1, a
stand-in for the paper's sliced score matching on clean data) for ``--steps`` Adam steps (about a minute on CPU).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from shared.entry import command_parser
from shared.io.artifacts import check_output
from shared.io.atomic import save_json
from shared.io.provenance import provenance
from shared.maths.losses import DSMLoss, SigmaSquared
from shared.maths.mixture import GaussianMixture
from shared.maths.precond import ScaledTime, ScorePrediction
from shared.maths.processes import DiscreteVE
from shared.nets import MLPConfig, build_net
from shared.utils import make_generator


def fig3_mixture() -> GaussianMixture:
    """0.8 N((5, 5), I) + 0.2 N((-5, -5), I) (Sec. 3.2)."""
    eye = torch.eye(2, dtype=torch.float64)
    return GaussianMixture(torch.tensor([0.8, 0.2]), torch.tensor([[5.0, 5.0], [-5.0, -5.0]]), torch.stack([eye, eye]))


def train_score_net(mix: GaussianMixture, steps: int, sigma: float, seed: int) -> tuple[torch.nn.Module, DSMLoss]:
    """A small MLP s_theta(x) trained by DSM at one noise level on fresh mixture samples each step."""
    torch.manual_seed(seed)
    ladder = DiscreteVE(torch.tensor([sigma]))
    precond = ScorePrediction(ScaledTime(0.0), ladder)  # one level: the condition is constant
    net = build_net(MLPConfig(hidden=128, depth=3, emb_dim=16), (2,))
    loss = DSMLoss(ladder, precond, SigmaSquared(), reduce="sum")
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    gen = make_generator(seed)
    for _ in range(steps):
        x = mix.sample(256, gen).float()
        opt.zero_grad()
        loss(net, x, gen).mean().backward()
        opt.step()
    return net, loss


def score_figure(out: Path, steps: int = 3000, seed: int = 0, sigma: float = 0.1) -> dict:
    """Three panels: density with the true score, learned score, and the error |s_theta - grad log p|."""
    from shared.report.figures import plt, save

    mix = fig3_mixture()
    net, loss = train_score_net(mix, steps, sigma, seed)
    lim, n = 8.0, 21
    ax1 = torch.linspace(-lim, lim, n, dtype=torch.float64)
    xx, yy = torch.meshgrid(ax1, ax1, indexing="xy")
    pts = torch.stack([xx.flatten(), yy.flatten()], 1)
    t = torch.ones(len(pts))
    with torch.no_grad():
        true = mix.score(pts)
        learned = loss.precond.field(net).score(pts.float(), t).double()
    fine = torch.linspace(-lim, lim, 200, dtype=torch.float64)
    fx, fy = torch.meshgrid(fine, fine, indexing="xy")
    dens = mix.log_prob(torch.stack([fx.flatten(), fy.flatten()], 1)).exp().reshape(200, 200).numpy()
    err = (learned - true).norm(dim=1) / true.norm(dim=1).clamp_min(1.0)  # relative, but not at the modes' centres
    logp = mix.log_prob(pts)
    high = logp > torch.quantile(logp, 0.8)  # the densest fifth of the grid
    low = logp < torch.quantile(logp, 0.2)
    stats = {
        "relative_error_high_density": float(err[high].median()),
        "relative_error_low_density": float(err[low].median()),
    }
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.3))
    for ax, field, title in ((axes[0], true, "data score ∇ log p(x)"), (axes[1], learned, "learned score s_θ(x)")):
        ax.imshow(dens, origin="lower", extent=(-lim, lim, -lim, lim), cmap="Oranges")
        f = field / field.norm(dim=1, keepdim=True).clamp_min(1e-9) ** 0.5  # compress long arrows
        ax.quiver(pts[:, 0], pts[:, 1], f[:, 0], f[:, 1], color="k", width=0.003)
        ax.set_title(title)
    im = axes[2].imshow(
        err.reshape(n, n).clamp(max=2).numpy(), origin="lower", extent=(-lim, lim, -lim, lim), cmap="magma"
    )
    axes[2].contour(fine.numpy(), fine.numpy(), dens, levels=4, colors="w", linewidths=0.6)
    axes[2].set_title("error |s_θ − ∇log p| / max(|∇log p|, 1)\n(white: density contours)")
    fig.colorbar(im, ax=axes[2], fraction=0.046)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
    fig.suptitle(
        f"0.8 N((5,5), I) + 0.2 N((-5,-5), I), DSM at sigma = {sigma}, {steps} steps\nmedian relative error "
        f"{stats['relative_error_high_density']:.2f} where the density is high, "
        f"{stats['relative_error_low_density']:.2f} where it is low",
        y=1.05,
    )
    save(fig, out, dpi=100)
    info = {**stats, "steps": steps, "sigma": sigma, "seed": seed, "provenance": provenance()}
    save_json(info, out.with_suffix(".json"))
    return info


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and draw the figure."""
    p = command_parser("replications.ncsn.score_figure", __doc__)
    p.add_argument("--out", required=True, type=Path, help="PNG (a .json is written beside it)")
    p.add_argument("--steps", type=int, default=3000, help="Adam steps of the small score net")
    p.add_argument("--sigma", type=float, default=0.1, help="the one noise level of DSM")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    check_output(args.out)  # a path that cannot be written: one line, exit 2, before any compute
    info = score_figure(args.out, args.steps, args.seed, args.sigma)
    print(json.dumps({k: v for k, v in info.items() if k != "provenance"}), flush=True)


if __name__ == "__main__":
    from shared.entry import run_main

    run_main(main)
