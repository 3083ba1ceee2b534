"""NCSN's Fig. 3 (Song & Ermon 2019, Sec. 3.2.2) with the EXACT score, no training: on 0.8 N((5,5), I) +
0.2 N((-5,-5), I), plain Langevin dynamics gets the modes' weights wrong, annealed Langevin gets them right.

    python -m replications.ncsn.mixture_figure --out replications/ncsn/figures/fig3_mixture.png

Panels: exact samples | Langevin (step 0.1, 1000 steps, 1280 particles from U[-8, 8]^2) | annealed Langevin
(sigma geometric 20 -> 1, 10 levels, 100 steps each, step 0.1 (sigma_i / sigma_L)^2). Under each: the fraction of
particles in each mode.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from replications.ncsn.score_figure import fig3_mixture
from shared.entry import command_parser
from shared.io.artifacts import check_output
from shared.io.atomic import save_json
from shared.io.provenance import provenance
from shared.maths.fields import ScoreField
from shared.maths.processes import DiscreteVE
from shared.maths.samplers import sample_annealed_langevin, sample_langevin


def mode_fractions(x: torch.Tensor) -> tuple[float, float]:
    """Fractions of points on the (5, 5) side and on the (-5, -5) side of x1 + x2 = 0."""
    upper = float((x.sum(1) > 0).double().mean())
    return upper, 1 - upper


def mixture_figure(out: Path, n: int = 1280, seed: int = 0) -> dict:
    from shared.report.figures import plt, save

    mix = fig3_mixture()
    gen = torch.Generator().manual_seed(seed)
    start = torch.rand(n, 2, dtype=torch.float64, generator=gen) * 16 - 8
    ladder = DiscreteVE(torch.exp(torch.linspace(math.log(1.0), math.log(20.0), 10, dtype=torch.float64)))
    panels = {
        "exact samples": mix.sample(n, gen),
        "Langevin dynamics": sample_langevin(
            ScoreField(lambda x, t: mix.score(x)), start, torch.zeros(1), n_steps=1000, step_size=0.1, generator=gen
        ),
        "annealed Langevin dynamics": sample_annealed_langevin(
            ScoreField(mix.score_field(ladder), ladder),
            start,
            ladder.time_grid()[:-1],
            n_steps_each=100,
            step_lr=0.1,
            generator=gen,
        ),
    }
    fractions = {name: mode_fractions(x) for name, x in panels.items()}
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.2), sharex=True, sharey=True)
    for ax, (name, x) in zip(axes, panels.items()):
        ax.scatter(x[:, 0], x[:, 1], s=2, alpha=0.5)
        up, low = fractions[name]
        ax.set_title(name)
        ax.set_xlabel(f"mode (5,5): {up:.3f}   mode (-5,-5): {low:.3f}")
        ax.set_xlim(-9, 9)
        ax.set_ylim(-9, 9)
        ax.set_aspect("equal")
    fig.suptitle("0.8 N((5,5), I) + 0.2 N((-5,-5), I), exact scores (NCSN Fig. 3)")
    save(fig, out, dpi=100)
    info = {"fractions": fractions, "n": n, "seed": seed, "provenance": provenance()}
    save_json(info, out.with_suffix(".json"))
    return info


def main(argv: list[str] | None = None) -> None:
    p = command_parser("replications.ncsn.mixture_figure", __doc__)
    p.add_argument("--out", required=True, type=Path, help="PNG (a .json is written beside it)")
    p.add_argument("--n", type=int, default=1280, help="particles (Sec. 3.2.2: 1280)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    check_output(args.out)  # a path that cannot be written: one line, exit 2, before any compute
    print(json.dumps(mixture_figure(args.out, args.n, args.seed)["fractions"]), flush=True)


if __name__ == "__main__":
    from shared.entry import run_main

    run_main(main)
