"""PFGM's figures with EXACT fields (no training): Fig. 1 idea and Fig. 2(a) (Xu et al. 2022).

    python -m replications.pfgm.exact_figures field --out replications/pfgm/figures/fig1_field.png
    python -m replications.pfgm.exact_figures disk --out replications/pfgm/figures/fig2a_disk.png

``field``: a heart-shaped 2-D point cloud as charges on z = 0 of R^3; forward field lines from the data up to the
hemisphere, and backward-ODE trajectories from the hemisphere prior landing on the heart. ``disk``: a uniform disk;
moved along the 2-D field (no extra dimension) particles collapse to the centre; with the extra dimension (the
backward ODE from the prior) they cover the disk: the radial CDF of the landing points against the disk's r^2.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from scipy import stats

from replications.pfgm.field_target import coulomb_field
from replications.pfgm.hemisphere import HemispherePrior
from replications.pfgm.log_z import exact_field_xz, log_z_velocity
from shared.entry import command_parser
from shared.io.artifacts import check_output
from shared.io.atomic import save_json
from shared.io.provenance import provenance
from shared.maths.fields import VelocityField
from shared.maths.ode import sample_euler, sample_ode
from shared.report.figures import save


def heart(n: int, gen: torch.Generator) -> torch.Tensor:
    """Points on a heart curve (scaled to about [-1, 1]^2), slightly blurred: (n, 2) float64."""
    t = torch.rand(n, generator=gen, dtype=torch.float64) * 2 * math.pi
    x = 16 * torch.sin(t) ** 3
    y = 13 * torch.cos(t) - 5 * torch.cos(2 * t) - 2 * torch.cos(3 * t) - torch.cos(4 * t)
    return torch.stack([x, y], 1) / 16 + 0.01 * torch.randn(n, 2, generator=gen, dtype=torch.float64)


def trajectories(v, x, t0, t1, n_out=60):
    """x along dx/dt' = v from t0 to t1 (log z): (n_out, B, 2) and the z of each row."""
    ts = torch.linspace(t0, t1, n_out, dtype=torch.float64)
    path = []
    sample_ode(v, x, ts, rtol=1e-6, atol=1e-6, callback=lambda s: path.append(s["x"]))
    return torch.stack([x, *path]), ts.exp()


def field_figure(out: Path, seed: int = 0) -> dict:
    from shared.report.figures import plt

    gen = torch.Generator().manual_seed(seed)
    charges = heart(600, gen)
    v = log_z_velocity(exact_field_xz(charges))
    z_max = 20.0
    up, z_up = trajectories(v, charges[::40].clone(), math.log(1e-3), math.log(z_max))
    start = HemispherePrior(2, z_max).sample((400, 2), gen, dtype=torch.float64)
    down, z_down = trajectories(v, start, math.log(z_max), math.log(1e-3))
    fig = plt.figure(figsize=(12, 5))
    ax = fig.add_subplot(1, 2, 1, projection="3d")
    ax.scatter(charges[:, 0], charges[:, 1], 0 * charges[:, 0], s=1, c="crimson")
    for k in range(up.shape[1]):
        ax.plot(up[:, k, 0], up[:, k, 1], z_up, lw=0.8, c="k")
    for k in range(0, down.shape[1], 20):
        ax.plot(down[:, k, 0], down[:, k, 1], z_down, lw=0.6, c="tab:blue", alpha=0.7)
    ax.set_xlim(-6, 6)
    ax.set_ylim(-6, 6)
    ax.set_zlim(0, z_max)
    ax.set_title("data on z = 0 (red): field lines up (black), backward ODE (blue)", fontsize=9)
    ax2 = fig.add_subplot(1, 2, 2)
    ax2.scatter(charges[:, 0], charges[:, 1], s=2, c="crimson", label="data (charges)")
    ax2.scatter(down[-1, :, 0], down[-1, :, 1], s=4, c="tab:blue", label="backward ODE from the prior, at z = 1e-3")
    ax2.set_aspect("equal")
    ax2.set_xlim(-1.6, 1.6)
    ax2.set_ylim(-1.6, 1.6)
    ax2.legend(fontsize=8, loc="lower left")
    dist = torch.cdist(down[-1], charges).min(1).values
    ax2.set_title(f"landing points: median distance to the data {float(dist.median()):.3f}", fontsize=9)
    fig.suptitle("PFGM, exact Poisson field of a 2-D heart lifted to 3-D (Fig. 1 idea)")
    save(fig, out, dpi=100)
    return {"median_landing_distance": float(dist.median()), "z_max": z_max, "n_prior": 400}


def disk_figure(out: Path, seed: int = 0) -> dict:
    from shared.report.figures import plt

    gen = torch.Generator().manual_seed(seed)
    n = 800
    r = torch.rand(n, generator=gen, dtype=torch.float64).sqrt()
    th = torch.rand(n, generator=gen, dtype=torch.float64) * 2 * math.pi
    charges = torch.stack([r * th.cos(), r * th.sin()], 1)  # uniform on the unit disk
    phi = torch.linspace(0, 2 * math.pi, 400, dtype=torch.float64)[:-1]
    start = 3 * torch.stack([phi.cos(), phi.sin()], 1)

    def field_2d(x, t):  # toward the charges along the 2-D Coulomb field (1/r: Eq. 3 in 2 dimensions), normalised
        e = -coulomb_field(x, charges)
        return e / e.norm(dim=1, keepdim=True)

    # unit speed along the field lines for an arc length of 3.5, 700 Euler steps
    flat = sample_euler(VelocityField(field_2d), start, torch.linspace(0.0, 3.5, 701, dtype=torch.float64))
    v = log_z_velocity(exact_field_xz(charges))
    z_max = 30.0
    lifted = sample_ode(
        v,
        HemispherePrior(2, z_max).sample((n, 2), gen, dtype=torch.float64),
        torch.tensor([math.log(z_max), math.log(1e-3)], dtype=torch.float64),
        rtol=1e-6,
        atol=1e-6,
    )
    ks_flat = stats.kstest(flat.norm(dim=1).clamp(max=1).pow(2).numpy(), "uniform")
    ks_lift = stats.kstest(lifted.norm(dim=1).clamp(max=1).pow(2).numpy(), "uniform")
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
    for ax, pts, title in ((axes[0], flat, "2-D field, no extra dimension"), (axes[1], lifted, "with z (PFGM)")):
        ax.scatter(charges[:, 0], charges[:, 1], s=2, c="crimson", alpha=0.4)
        ax.scatter(pts[:, 0], pts[:, 1], s=3, c="tab:blue")
        ax.set_aspect("equal")
        ax.set_xlim(-1.3, 1.3)
        ax.set_ylim(-1.3, 1.3)
        ax.set_title(title)
    grid = torch.linspace(0, 1, 101)
    for pts, name in ((flat, "no extra dimension"), (lifted, "with z")):
        r2 = pts.norm(dim=1).pow(2)
        axes[2].plot(grid, [(r2 <= g).double().mean() for g in grid], label=name)
    axes[2].plot(grid, grid, "k--", label="uniform disk: r^2")
    axes[2].set_xlabel("r^2")
    axes[2].set_ylabel("fraction of particles within r")
    axes[2].legend(fontsize=8)
    axes[2].set_title(f"KS distance to the disk: {ks_flat.statistic:.2f} vs {ks_lift.statistic:.3f}")
    fig.suptitle("PFGM Fig. 2(a): particles following the field of a uniform disk (red)")
    save(fig, out, dpi=100)
    return {
        "ks_no_augmentation": float(ks_flat.statistic),
        "ks_augmented": float(ks_lift.statistic),
        "ks_p_augmented": float(ks_lift.pvalue),
        "n": n,
    }


def main(argv: list[str] | None = None) -> None:
    p = command_parser("replications.pfgm.exact_figures", __doc__)
    sub = p.add_subparsers(dest="command", required=True)
    for name in ("field", "disk"):
        s = sub.add_parser(name)
        s.add_argument("--out", type=Path, required=True, help="PNG (a .json is written beside it)")
        s.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    check_output(args.out)  # a path that cannot be written: one line, exit 2, before any compute
    info = (field_figure if args.command == "field" else disk_figure)(args.out, args.seed)
    save_json({**info, "provenance": provenance()}, args.out.with_suffix(".json"))
    print(json.dumps(info), flush=True)


if __name__ == "__main__":
    from shared.entry import run_main

    run_main(main)
