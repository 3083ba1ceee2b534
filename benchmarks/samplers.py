"""Few-step samplers against the exact score: error against the data distribution at a given NFE, no training.

The data are Gaussian mixtures in 2-D and 3-D, whose score is known in closed form at every t of a Gaussian process
(``shared.maths.mixture``), so every error measured here is the sampler's own (discretisation, and the prior's mismatch,
which the reference shares). Each sampler family draws n samples from the same prior draw at NFE budgets
5 .. 500 (NFE counted on the "net", ``shared.pipeline.method.count_nfe``); dopri5 at rtol = atol = 1e-5 on the
probability-flow ODE (``shared.maths.ode.sample_flow``, Score-SDE App. D.2) is the reference. Errors:

* energy distance (V-statistic, ``shared.metrics.two_sample``) to an independent draw of n data points;
* W2 between fitted Gaussians per mode: samples assigned to the data's modes by their posterior, each mode's
  sample mean and covariance against the true one (the Gaussian 2-Wasserstein distance), averaged with the
  data's weights;
* the noise floor: both errors of n exact data draws (mean and sd over repetitions), i.e. the resolution.

A sampler is "within the reference's error" when both errors are at most the reference's plus one sd of the
floor. Targets (the issue's): a second-order sampler (Heun-EDM or DPM-Solver++(2M)) at <= 20 NFE, and DDIM at
<= 50 NFE, within the reference's error. Writes samplers.md, samplers.csv and samplers.png to --out.

    python benchmarks/samplers.py                      # about 2 minutes on 2 (shared) CPU cores
    python benchmarks/samplers.py --n 1000 --nfe 5 20 50 --dims 2
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pandas as pd
import torch
from torch import Tensor, nn
from torch.distributions import MultivariateNormal

from shared.maths.fields import ScoreField
from shared.maths.mixture import GaussianMixture
from shared.maths.processes import VESDE, VPSDE, DiscreteVP, GaussianProcess
from shared.maths.samplers import SAMPLERS, times_karras, times_logsnr
from shared.metrics.two_sample import energy_distance
from shared.pipeline.method import count_nfe
from shared.utils import derive_seed, make_generator

F64 = torch.float64


def mixture_2d() -> GaussianMixture:
    """Three anisotropic modes in 2-D, a few units apart."""
    means = [[-2.5, -1.0], [0.0, 2.0], [2.0, -0.5]]
    covs = [[[0.30, 0.10], [0.10, 0.15]], [[0.10, 0.0], [0.0, 0.40]], [[0.25, -0.12], [-0.12, 0.20]]]
    return GaussianMixture(torch.tensor([0.2, 0.3, 0.5]), torch.tensor(means), torch.tensor(covs))


def mixture_3d() -> GaussianMixture:
    """Four anisotropic modes in 3-D: C_k = A_k A_k^T + 0.02 I with fixed A_k."""
    means = torch.tensor([[-2.0, -1.0, 0.5], [1.5, 1.5, -1.0], [0.5, -2.0, 1.5], [-0.5, 1.0, 2.0]])
    a = torch.tensor(
        [
            [[0.5, 0.1, 0.0], [0.0, 0.3, 0.1], [0.1, 0.0, 0.4]],
            [[0.3, 0.0, 0.2], [0.1, 0.5, 0.0], [0.0, 0.1, 0.3]],
            [[0.4, -0.2, 0.0], [0.0, 0.3, 0.0], [0.2, 0.0, 0.3]],
            [[0.3, 0.0, 0.0], [0.2, 0.3, -0.1], [0.0, 0.0, 0.5]],
        ]
    )
    covs = a @ a.transpose(1, 2) + 0.02 * torch.eye(3)
    return GaussianMixture(torch.tensor([0.15, 0.35, 0.3, 0.2]), means, covs)


MIXTURES = {2: mixture_2d, 3: mixture_3d}

PROCESSES: dict[str, Callable[[], GaussianProcess]] = {
    "vp": lambda: VPSDE(beta_min=0.1, beta_max=20.0),  # Score-SDE App. C (= DDPM's betas, App. B)
    "ve": lambda: VESDE(sigma_min=0.01, sigma_max=50.0),  # Score-SDE App. C.1 (CIFAR-10)
    "ddpm": lambda: DiscreteVP.linear(1e-4, 0.02, 1000),  # DDPM Sec. 4: the chain whose limit is "vp"
}
REFERENCE_OF = {"vp": "vp", "ve": "ve", "ddpm": "vp"}  # the chain has no ODE: its reference is its limit's

# family -> (process, NFE budget) -> (sampler with its options, grid). Steps per budget: k = NFE, except Heun-EDM's
# k = (NFE + 1) // 2 (2k - 1 evaluations). Uniform grids are the process's own (Score-SDE: T -> eps; the chain's
# even stride, DDIM Sec. 4.2); Heun-EDM takes EDM's rho = 7 steps (Karras et al. 2022, Eq. 5), DPM-Solver++(2M)
# DPM-Solver's steps uniform in lambda = log(alpha / sigma) (Lu et al. 2022a).
FAMILIES: dict[str, Callable[[GaussianProcess, int], tuple[Callable, Tensor]]] = {
    "euler": lambda p, n: (SAMPLERS["euler"], p.time_grid(n)),
    "heun_edm": lambda p, n: (SAMPLERS["heun_edm"], times_karras(p, max(1, (n + 1) // 2))),
    "dpm_solver_2m": lambda p, n: (SAMPLERS["dpm_solver_2m"], times_logsnr(p, n)),
    "ddim": lambda p, n: (SAMPLERS["ddim"], p.time_grid(n)),
    "ddim_eta1": lambda p, n: (partial(SAMPLERS["ddim"], eta=1.0), p.time_grid(n)),
    "ancestral": lambda p, n: (SAMPLERS["ancestral"], p.time_grid(n)),
    "euler_maruyama": lambda p, n: (SAMPLERS["euler_maruyama"], p.time_grid(n)),
}
FAMILIES_OF = {
    "vp": ["euler", "heun_edm", "dpm_solver_2m", "ddim", "ancestral", "euler_maruyama"],
    "ve": ["euler", "heun_edm", "dpm_solver_2m", "ddim", "ancestral", "euler_maruyama"],
    "ddpm": ["ddim", "ddim_eta1", "ancestral"],
}
SECOND_ORDER = ("heun_edm", "dpm_solver_2m")
STOCHASTIC = ("ddim_eta1", "ancestral", "euler_maruyama")  # no path to compare with dopri5's


class ExactScore(nn.Module):
    """The mixture's closed-form score at every t, posing as a network so that ``count_nfe`` counts its calls.

    Samplers evaluate a whole batch at one t: then the marginal mixture at t (``GaussianMixture.at``) is built
    once per call (K covariance inverses instead of one solve per row); otherwise the per-row closed form.
    """

    def __init__(self, mixture: GaussianMixture, process: GaussianProcess):
        super().__init__()
        self.mixture, self.process = mixture, process
        self.score = mixture.score_field(process)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        if bool((t == t[0]).all()):
            return self.mixture.at(self.process, float(t[0])).score(x).to(x.dtype)
        return self.score(x, t)


def w2_gaussian(m1: Tensor, c1: Tensor, m2: Tensor, c2: Tensor) -> float:
    """2-Wasserstein distance between N(m1, c1) and N(m2, c2): |m1 - m2|^2 + tr(c1 + c2 - 2 (c2^½ c1 c2^½)^½)."""

    def sqrtm(c: Tensor) -> Tensor:
        lam, u = torch.linalg.eigh(c)
        return u @ torch.diag(lam.clamp_min(0).sqrt()) @ u.T

    r = sqrtm(c2)
    bures = torch.trace(c1 + c2 - 2 * sqrtm(r @ c1 @ r))
    return math.sqrt(max(float((m1 - m2).square().sum() + bures), 0.0))


def errors(x: Tensor, mixture: GaussianMixture, data: Tensor) -> dict[str, float]:
    """Energy distance to ``data``, weight-averaged per-mode W2 of fitted Gaussians, largest weight error."""
    if not torch.isfinite(x).all():
        return {"energy": math.nan, "w2_modes": math.nan, "weight_err": math.nan}
    modes = [MultivariateNormal(m, c) for m, c in zip(mixture.means, mixture.covs)]
    k = torch.stack([mode.log_prob(x) for mode in modes], 1).add(mixture.weights.log()).argmax(1)  # its data mode
    w2, weight_err = 0.0, 0.0
    for j, w in enumerate(mixture.weights.tolist()):
        xj = x[k == j]
        weight_err = max(weight_err, abs(len(xj) / len(x) - w))
        fit = w2_gaussian(xj.mean(0), torch.cov(xj.T), mixture.means[j], mixture.covs[j]) if len(xj) > 10 else math.inf
        w2 += w * fit
    return {"energy": energy_distance(x, data, unbiased=False), "w2_modes": w2, "weight_err": weight_err}


class Case:
    """One mixture under one process: the prior draw, the data draw and the exact score shared by all samplers."""

    def __init__(self, dim: int, kind: str, n: int, seed: int):
        self.dim, self.kind, self.seed = dim, kind, seed
        self.mixture, self.process = MIXTURES[dim](), PROCESSES[kind]()
        self.data = self.mixture.sample(n, make_generator(derive_seed(seed, "data", dim)))
        # the same draw for every process of a dim: N(0, I) for vp and ddpm, its scaled copy for ve
        prior = make_generator(derive_seed(seed, "prior", dim))
        self.x_prior = self.process.prior.sample((n, dim), prior, dtype=F64)
        self.net = ExactScore(self.mixture, self.process)
        self.field = ScoreField(self.net, self.process)

    def run(self, family: str, budget: int | str, sampler: Callable, ts: Tensor) -> tuple[dict, Tensor]:
        """Sample with the NFE counted on the net: (row of errors, samples (n, dim))."""
        gen = make_generator(derive_seed(self.seed, "noise", self.dim, self.kind, family, str(budget)))
        start = time.perf_counter()
        with torch.no_grad(), count_nfe(self.net) as calls:
            x = sampler(self.field, self.x_prior, ts.double(), generator=gen)
        row = {"dim": self.dim, "process": self.kind, "sampler": family, "budget": budget, "nfe": calls[0]}
        return {**row, **errors(x, self.mixture, self.data), "seconds": time.perf_counter() - start}, x

    def reference(self) -> tuple[dict, Tensor]:
        """dopri5 at rtol = atol = 1e-5 on the probability-flow ODE from T to eps (Score-SDE App. D.2)."""
        ts = torch.tensor([self.process.T, self.process.t_min], dtype=F64)
        return self.run("dopri5", "rtol=1e-5", partial(SAMPLERS["ode"], rtol=1e-5, atol=1e-5), ts)

    def sweep(self, nfes: list[int], x_ref: Tensor) -> list[dict]:
        """Every family of this process at every budget; path_err = mean |x - x_dopri5| from the shared prior draw
        (deterministic samplers only)."""
        rows = []
        for family in FAMILIES_OF[self.kind]:
            for nfe in nfes:
                row, x = self.run(family, nfe, *FAMILIES[family](self.process, nfe))
                path_err = math.nan if family in STOCHASTIC else float((x - x_ref).norm(dim=1).mean())
                rows.append({**row, "path_err": path_err})
        return rows


def noise_floor(dim: int, n: int, seeds: list[int], repeats: int) -> dict[str, float]:
    """Mean and sd of both errors of n exact data points (``repeats`` draws per seed, each against that seed's data
    draw): what n samples can resolve."""
    mixture, errs = MIXTURES[dim](), []
    for seed in seeds:
        data = mixture.sample(n, make_generator(derive_seed(seed, "data", dim)))
        for r in range(repeats):
            errs.append(errors(mixture.sample(n, make_generator(derive_seed(seed, "floor", dim, r))), mixture, data))
    df = pd.DataFrame(errs)
    return {f"{m}_{s}": float(getattr(df[m], s)()) for m in ("energy", "w2_modes") for s in ("mean", "std")}


def average(raw: pd.DataFrame) -> pd.DataFrame:
    """One row per (dim, process, sampler, budget): the errors' means over seeds, the NFE's maximum."""
    keys = ["dim", "process", "sampler", "budget"]
    agg = {"nfe": "max", "energy": "mean", "w2_modes": "mean", "weight_err": "mean", "path_err": "mean"}
    return raw.groupby(keys, sort=False).agg({**agg, "seconds": "sum"}).reset_index()


def mark_within(df: pd.DataFrame, floors: dict[int, dict]) -> pd.DataFrame:
    """Adds ``within_energy`` / ``within_w2``: that error at most the reference's (same dim, the process's
    reference) plus one sd of the noise floor, i.e. no worse than dopri5 at the resolution of n samples; and
    ``within_ref``: both."""
    refs = df[df.sampler == "dopri5"].set_index(["dim", "process"])
    ref = [refs.loc[(d, REFERENCE_OF[k])] for d, k in zip(df.dim, df.process)]
    out = df.copy()
    for metric, col in (("energy", "within_energy"), ("w2_modes", "within_w2")):
        bound = [r[metric] + floors[d][f"{metric}_std"] for r, d in zip(ref, df.dim)]
        out[col] = df[metric].to_numpy() <= bound
    out["within_ref"] = out.within_energy & out.within_w2
    return out


def targets(df: pd.DataFrame) -> list[tuple[str, bool]]:
    """The issue's targets, one verdict per (dim, process): a second-order sampler at <= 20 NFE and DDIM at
    <= 50 NFE within the reference's error in both errors (``mark_within``); the text also names the cells
    within it by the energy distance alone."""
    verdicts = []
    for (dim, kind), case in df[df.sampler != "dopri5"].groupby(["dim", "process"], sort=False):
        goals = [("second-order", SECOND_ORDER, 20)] if kind != "ddpm" else []
        for label, families, budget in [*goals, ("DDIM", ("ddim",), 50)]:
            cand = case[case.sampler.isin(families) & (case.nfe <= budget)]
            both = [f"{r.sampler}@{r.nfe}" for r in cand[cand.within_ref].itertuples()]
            energy = [f"{r.sampler}@{r.nfe}" for r in cand[cand.within_energy].itertuples()]
            text = (
                f"{dim}-D {kind}: {label} at <= {budget} NFE within dopri5's error: {', '.join(both) or 'none'}"
                f" (by the energy distance alone: {', '.join(energy) or 'none'})"
            )
            verdicts.append((text, bool(both)))
    return verdicts


def first_within(df: pd.DataFrame) -> pd.DataFrame:
    """The smallest measured NFE at which each sampler is within the reference's error (and stays so after)."""
    rows = []
    for (dim, kind, family), g in df[df.sampler != "dopri5"].groupby(["dim", "process", "sampler"], sort=False):
        g = g.sort_values("nfe")
        after = g.within_ref[::-1].cummin()[::-1]  # within at this NFE and at every larger one
        rows.append({"dim": dim, "process": kind, "sampler": family, "first NFE within": g.nfe[after].min()})
    table = pd.DataFrame(rows)
    ref = df[df.sampler == "dopri5"].set_index(["dim", "process"]).nfe
    table["dopri5 NFE"] = [int(ref.loc[(d, REFERENCE_OF[k])]) for d, k in zip(table.dim, table.process)]
    most = int(df.nfe[df.sampler != "dopri5"].max())
    table["first NFE within"] = table["first NFE within"].map(lambda v: f"> {most}" if pd.isna(v) else str(int(v)))
    return table


def plot(df: pd.DataFrame, floors: dict[int, dict], out: Path) -> None:
    """Both errors against NFE (log-log), one column per (dim, process); dopri5 and the floor as bands."""
    import seaborn as sns

    from shared.report.figures import plt, save

    sns.set_theme(style="whitegrid")
    cases = list(df.groupby(["dim", "process"], sort=False).groups)
    fig, axes = plt.subplots(2, len(cases), figsize=(3.6 * len(cases), 6.4), squeeze=False)
    colours = dict(zip(FAMILIES, sns.color_palette("tab10", len(FAMILIES))))
    for col, (dim, kind) in enumerate(cases):
        case = df[(df.dim == dim) & (df.process == kind) & (df.sampler != "dopri5")]
        ref = df[(df.dim == dim) & (df.process == REFERENCE_OF[kind]) & (df.sampler == "dopri5")].iloc[0]
        for row, (metric, label) in enumerate([("energy", "energy distance"), ("w2_modes", "W2 per mode")]):
            ax = axes[row, col]
            for family, g in case.groupby("sampler", sort=False):
                ax.plot(g.nfe, g[metric], marker="o", ms=3, lw=1.2, color=colours[family], label=family)
            ax.axhline(ref[metric], color="k", ls="--", lw=1, label=f"dopri5 ({ref.nfe} NFE)")
            ax.set_xscale("log")
            ax.set_yscale("log")
            mean, sd = floors[dim][f"{metric}_mean"], floors[dim][f"{metric}_std"]
            lo, hi = ax.get_ylim()  # the band may reach below 0 (sd > mean): clip it to the axis
            ax.axhspan(max(mean - sd, lo), mean + sd, color="0.6", alpha=0.3, label="exact draws (±1 sd)")
            ax.set_ylim(min(lo, mean + sd), hi)
            if row == 0:
                ax.set_title(f"{dim}-D mixture, {kind}", fontsize=9)
            else:
                ax.set_xlabel("NFE")
            if col == 0:
                ax.set_ylabel(label)
            ax.tick_params(which="both", labelsize=7)
    handles, labels = {}, {}
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            key = lab.split(" (")[0]
            handles.setdefault(key, h)
            labels.setdefault(key, "dopri5 (rtol = atol = 1e-5)" if key == "dopri5" else lab)
    fig.legend(list(handles.values()), list(labels.values()), loc="lower center", ncol=5, fontsize=8, frameon=False)
    fig.suptitle("Few-step samplers with the exact score of a Gaussian mixture (lower is better)", fontsize=10)
    fig.tight_layout(rect=(0, 0.07, 1, 0.97))
    save(fig, out, dpi=110)


def pivot(df: pd.DataFrame, metric: str, scale: float) -> pd.DataFrame:
    """One row per (dim, process, sampler), one column per NFE budget (the measured NFE may be lower)."""
    few = df[df.sampler != "dopri5"].copy()
    few[metric] = few[metric] * scale
    table = few.pivot_table(index=["dim", "process", "sampler"], columns="budget", values=metric, sort=False)
    table.columns = [f"NFE {c}" for c in table.columns]
    ref = df[df.sampler == "dopri5"].set_index(["dim", "process"])
    table["dopri5"] = [float(ref.loc[(d, REFERENCE_OF[k]), metric]) * scale for d, k, _ in table.index]
    return table.reset_index()


def main(argv: list[str] | None = None) -> None:
    """Parse the command line, run every case, write the table and the plot, print the targets' verdicts."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds of the prior, data and noise draws (averaged)"
    )
    p.add_argument("--n", type=int, default=2000, help="samples per sampler and budget (and data points)")
    p.add_argument("--nfe", type=int, nargs="+", default=[5, 10, 20, 50, 100, 500], help="NFE budgets")
    p.add_argument("--dims", type=int, nargs="+", default=[2, 3], choices=sorted(MIXTURES))
    p.add_argument("--processes", nargs="+", default=list(PROCESSES), choices=list(PROCESSES))
    p.add_argument("--floor-repeats", type=int, default=5, help="exact data draws per seed for the noise floor")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1: small tensors, shared CPUs)")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results", help="output folder")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()

    rows, floors = [], {}
    for dim in args.dims:
        floors[dim] = noise_floor(dim, args.n, args.seeds, args.floor_repeats)
        for seed in args.seeds:
            x_refs: dict[str, Tensor] = {}
            for kind in args.processes:
                ref_kind = REFERENCE_OF[kind]  # the chain's reference is its limit's dopri5 (same prior draw)
                if ref_kind not in x_refs:
                    row, x_refs[ref_kind] = Case(dim, ref_kind, args.n, seed).reference()
                    rows.append({**row, "seed": seed})
                rows += [{**r, "seed": seed} for r in Case(dim, kind, args.n, seed).sweep(args.nfe, x_refs[ref_kind])]
            print(f"{dim}-D, seed {seed}: done at {time.perf_counter() - start:.0f} s", flush=True)
    raw = pd.DataFrame(rows)
    df = average(raw)
    wall = time.perf_counter() - start

    df = mark_within(df, floors)
    verdicts = targets(df)
    machine = f"{platform.machine()}, {torch.get_num_threads()} torch thread(s), {os.cpu_count()} CPUs visible"
    args.out.mkdir(parents=True, exist_ok=True)
    raw.to_csv(args.out / "samplers.csv", index=False)
    plot(df, floors, args.out / "samplers.png")
    floor_text = "; ".join(
        f"{d}-D: energy {f['energy_mean'] * 1e3:.2f} ± {f['energy_std'] * 1e3:.2f} e-3, "
        f"W2 {f['w2_modes_mean']:.3f} ± {f['w2_modes_std']:.3f}"
        for d, f in floors.items()
    )
    md = [
        "# Few-step samplers against the exact score of a Gaussian mixture",
        "",
        f"`python benchmarks/samplers.py --seeds {' '.join(map(str, args.seeds))} --n {args.n}`: {wall:.0f} s of"
        f" sampling on {machine}. n = {args.n} samples per cell; every error is the mean over the {len(args.seeds)}"
        " seeds (samplers.csv has each seed's row); NFE budgets are targets, the NFE columns the measured counts.",
        f"Noise floor (n exact data draws, mean ± sd over {len(args.seeds) * args.floor_repeats}): {floor_text}.",
        "A cell is within dopri5's error when both of its mean errors are at most dopri5's plus one floor sd.",
        "",
        "## Targets",
        "",
        *[f"- {'PASS' if ok else 'FAIL'}: {text}" for text, ok in verdicts],
        "",
        "## Smallest NFE within dopri5's error",
        "",
        first_within(df).to_markdown(index=False),
        "",
        "## Energy distance (x 1e-3, V-statistic) by NFE budget",
        "",
        pivot(df, "energy", 1e3).to_markdown(index=False, floatfmt=".3g"),
        "",
        "## W2 between fitted and true Gaussians per mode (weight-averaged) by NFE budget",
        "",
        pivot(df, "w2_modes", 1.0).to_markdown(index=False, floatfmt=".3g"),
        "",
    ]
    (args.out / "samplers.md").write_text("\n".join(md))
    for text, ok in verdicts:
        print(("PASS " if ok else "FAIL ") + text)
    print(f"wrote {args.out}/samplers.md, .csv, .png in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
