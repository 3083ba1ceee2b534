"""Score-matching objectives side by side: the same net, budget and seed trained by each, measured against the exact
score of the perturbed 8gaussians mixture.

    python -m replications.ncsn objectives --config replications/ncsn/configs/smoke_toy.yaml \\
        --out results/ncsn/objectives/objectives.md [--set key=value ...] [--seed 0 | --seeds 0 1 2]

Objectives (``objective.kind``), each on the config's noise ladder with lambda(sigma) = sigma^2 and summed over
dimensions, so that all four equal lambda ½ E||s_theta - grad log p_sigma||^2 up to a constant free of theta:
``dsm`` denoising (the paper's), ``esm`` Hyvärinen's explicit objective with the exact Jacobian trace, ``ssm_plain``
sliced with Gaussian projections (Song et al. 2019, Eq. 7) and ``ssm`` its variance-reduced form (Eq. 8, NCSN's
official sliced loss). The command sets ``objective.kind`` to each in turn (the config's own is not used); every
run starts from the same initial weights (seed) and sees the same batches.

Measured per objective:
  * Fisher divergence E_{x ~ p_sigma} ||s_theta(x, sigma) - grad log p_sigma(x)||^2 at every level of the ladder
    (``--fisher-points`` exact draws of the perturbed mixture per level, the same for every objective; the true
    score in closed form, ``shared.maths.mixture``), its mean over the levels and its lambda-weighted mean;
  * the energy distance of ``--n-samples`` annealed-Langevin samples (the Method's own sampler, per-sample seeds)
    to as many held-out points (``shared.pipeline.evaluate.sample_quality``);
  * seconds per training step (median over the steps of ``shared.pipeline.train.fit``, from the time between
    consecutive batch requests);
  * gradient variance: the trace of the covariance of the flattened parameter gradient of the minibatch loss over
    ``--grad-draws`` independent draws (batch, levels, noise, projections) at one fixed checkpoint shared by all
    objectives, the DSM-trained net (all four estimate the same expected gradient there), and at each objective's
    own final net (JSON only);
  * backward passes per example: vector-Jacobian products through the net per training step (DSM 1, explicit
    D + 1, sliced n_projections + 1; the last one, to the parameters, is a double backward for all but DSM).

Budget (defaults, before ``--set``): 400 Adam steps of batch 256 per objective, 500 samples with 30 Langevin steps
per level, 1000 points per level for the Fisher divergence, 16 gradient draws. On 2 CPU cores with
OMP_NUM_THREADS=1 the whole command takes about 15 s (most of it the explicit and sliced objectives' double
backward passes). Writes objectives.md, .csv, .json (provenance, config, seed) and .png beside ``--out``.

Several seeds (``--seeds 0 1 2``): each trains and measures all four objectives exactly as ``--seed`` alone would,
one seed after another; the table then shows every measured cell as mean ± the half-width of the 95 % t-interval
over the seeds, objectives.csv the means and half-widths (``<column>_hw``), objectives_seeds.csv one row per (seed,
objective), the JSON every seed's own results (``seeds``) beside the summary (``rows``), and the figure the means
with min..max bands and bars. One seed writes the files as before.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import Tensor, nn

from replications.ncsn.config import Config
from replications.ncsn.method import SPEC, build_ladder
from shared.config import ConfigError, InputError, load, to_dict
from shared.data.source import DataSource
from shared.data.toy2d import gaussians_components
from shared.entry import command_parser
from shared.io.artifacts import check_output
from shared.io.atomic import save_json, save_text
from shared.io.provenance import provenance
from shared.maths.mixture import GaussianMixture
from shared.maths.processes import DiscreteVE
from shared.pipeline.evaluate import sample_quality
from shared.pipeline.method import Method, draw
from shared.pipeline.train import fit
from shared.report.stats import LEVEL, t_interval
from shared.utils import default_device, derive_seed, make_generator

KINDS = ("dsm", "esm", "ssm_plain", "ssm")
LABELS = {
    "dsm": "denoising (DSM)",
    "esm": "explicit (Hyvärinen, exact trace)",
    "ssm_plain": "sliced (Eq. 7)",
    "ssm": "sliced, variance-reduced (Eq. 8)",
}
BUDGET = (  # the command's defaults, applied before the user's --set
    "train.steps=400",
    "train.batch_size=256",
    "train.log_every=100",
    "sample.n_steps_each=30",
)
SEED_VALUES = (  # a row's measured numbers, summarised over the seeds (the other fields are fixed by the objective)
    "fisher_mean", "fisher_weighted", "energy_distance", "s_per_step", "train_wall_s",
    "grad_variance", "grad_mean_norm", "grad_variance_own", "grad_mean_norm_own",
)  # fmt: skip
SEED_FIXED = ("kind", "objective", "sampler_nfe", "backward_passes")
SHARED_KEYS = ("seed", "rows", "wall_s")  # what differs between the seeds' reports; the rest is the same for all
GRAD_STEP = 1 << 40  # first data step of the gradient draws: disjoint from every training step's batch
ScoreFn = Callable[[Tensor, Tensor], Tensor]
"""x (B, D) float64, t (B,) -> score (B, D) float64."""


def eight_gaussians() -> GaussianMixture:
    """The "8gaussians" toy as a mixture: equal weights, the means of ``shared.data.toy2d``, std 0.5 / 1.414."""
    means, var = gaussians_components(torch.float64)
    eye = torch.eye(2, dtype=torch.float64)
    return GaussianMixture(torch.ones(8), means, var * eye.expand(8, 2, 2).clone())


def level_times(ladder: DiscreteVE) -> Tensor:
    """The ladder's level times t_i = i / L, sigma_1 (largest) first, as the sampler walks them."""
    return ladder.time_grid()[:-1]


def fisher_per_level(
    score: ScoreFn, mixture: GaussianMixture, ladder: DiscreteVE, n: int, generator: torch.Generator
) -> Tensor:
    """E_{x ~ p_sigma} ||score(x, t) - grad log p_sigma(x)||^2 at every level (L,) (sigma_1 first), estimated on n
    exact draws of the perturbed mixture per level; the draws depend only on ``generator``."""
    exact = mixture.score_field(ladder)
    out = []
    for t in level_times(ladder).tolist():
        x = mixture.at(ladder, t).sample(n, generator)  # float64
        tt = torch.full((n,), t, dtype=torch.float64)
        out.append((score(x, tt) - exact(x, tt)).square().sum(1).mean())
    return torch.stack(out)


def learned_score(method: Method, device: torch.device) -> ScoreFn:
    """The net's score s_theta(x, sigma) as a float64 function of float64 points (no autograd)."""

    def score(x: Tensor, t: Tensor) -> Tensor:
        with torch.no_grad():
            return method.field.score(x.float().to(device), t.float().to(device)).double().cpu()

    return score


def gradient_variance(
    net: nn.Module, loss, data: DataSource, batch_size: int, k: int, seed: int, device: torch.device
) -> tuple[float, float]:
    """(trace of the covariance of the flattened parameter gradient of the minibatch loss, norm of its mean) over k
    independent draws of batch and loss noise; the draws are keyed by (seed, i), the same for every objective."""
    params = [p for p in net.parameters() if p.requires_grad]
    net.train()
    grads = []
    for i in range(k):
        x = data.batch(GRAD_STEP + i, batch_size).to(device)
        net.zero_grad(set_to_none=True)
        loss(net, x, make_generator(derive_seed(seed, "grad_variance", i), device)).float().mean().backward()
        grads.append(torch.cat([p.grad.flatten() for p in params]).double().cpu())
    net.zero_grad(set_to_none=True)
    g = torch.stack(grads)
    mean = g.mean(0)
    return float((g - mean).square().sum() / (k - 1)), float(mean.norm())


class TimedSource:
    """A data source that stamps the time of every batch request: ``fit`` asks for one batch per step, so the
    differences of consecutive stamps are the steps' durations (forward, backward, Adam, EMA, logging)."""

    def __init__(self, data: DataSource):
        self.data, self.stamps = data, []

    def batch(self, step: int, batch_size: int, rank: int = 0, world_size: int = 1) -> Tensor:
        self.stamps.append(time.perf_counter())
        return self.data.batch(step, batch_size, rank, world_size)

    def step_seconds(self) -> list[float]:
        return [b - a for a, b in zip(self.stamps, self.stamps[1:])]


def backward_passes(cfg: Config) -> int:
    """Vector-Jacobian products through the net per example and training step, the parameters' one included."""
    dim = math.prod(cfg.data.shape)
    return {"dsm": 1, "esm": dim + 1}.get(cfg.objective.kind, cfg.objective.n_projections + 1)


@dataclass
class Trained:
    """One objective's run: its method (final EMA weights), its config and its step times."""

    kind: str
    cfg: Config
    method: Method
    step_seconds: list[float]
    wall_s: float


def train_objective(cfg: Config, kind: str, seed: int, device: torch.device) -> Trained:
    """Build NCSN with ``objective.kind = kind`` from the same initial weights and train it with the shared loop."""
    cfg = replace(cfg, objective=replace(cfg.objective, kind=kind))
    torch.manual_seed(derive_seed(seed, "init"))  # as the CLI's train: the same initial weights for every kind
    method = SPEC.build(cfg)
    source = TimedSource(DataSource(cfg.data, seed))
    with tempfile.TemporaryDirectory(prefix=f"ncsn_objectives_{kind}_") as tmp:  # state and log: thrown away
        state = fit(method.net, method.loss, source, cfg.train, tmp, seed=seed, device=device)
    ema = {key.removeprefix("module."): v for key, v in state["ema"].items() if key != "n_averaged"}
    method.net.load_state_dict(ema)  # the weights the CLI samples by default
    method.net.to(device).eval()
    return Trained(kind, cfg, method, source.step_seconds(), float(state["wall_s"]))


def load_config(path: Path, overrides: Sequence[str]) -> Config:
    """The experiment config with the command's budget and then ``overrides``; refuses what the measurement
    cannot compare (another data set, a mean reduction)."""
    cfg = load(path, Config, [*BUDGET, *overrides])
    if cfg.data.name != "8gaussians":
        name = cfg.data.name
        raise ConfigError(f"data.name: objectives needs 8gaussians (its perturbed score is closed form), got {name!r}")
    if cfg.objective.reduce != "sum":
        raise ConfigError("objective.reduce: objectives compares the ½||.||^2 summed over dimensions; use sum")
    return cfg


def measure(
    cfg: Config,
    seed: int,
    device: torch.device,
    *,
    n_samples: int = 500,
    fisher_points: int = 1000,
    grad_draws: int = 16,
    kinds: Sequence[str] = KINDS,
) -> dict:
    """Train every objective and measure it (see the module docstring); the report as a JSON-safe dict."""
    if n_samples < 2 or fisher_points < 1 or grad_draws < 2:
        raise ConfigError("objectives: need --n-samples >= 2, --fisher-points >= 1 and --grad-draws >= 2")
    if n_samples > cfg.data.n_test:
        held_out = cfg.data.n_test
        raise ConfigError(f"--n-samples {n_samples}: more than the {held_out} held-out points; raise data.n_test")
    mixture, ladder = eight_gaussians(), build_ladder(cfg.noise)
    sigmas = ladder.sigma(level_times(ladder).double())
    runs = []
    for kind in kinds:
        run = train_objective(cfg, kind, seed, device)
        print(f"objectives: {kind} trained, {run.wall_s:.1f} s", flush=True)
        runs.append(run)
    reference = runs[0]  # the fixed checkpoint of the gradient variance: the first objective's (DSM's) final net
    data = DataSource(cfg.data, seed)
    rows = []
    for run in runs:
        gen = make_generator(derive_seed(seed, "fisher"))  # the same draws of p_sigma for every objective
        fisher = fisher_per_level(learned_score(run.method, device), mixture, ladder, fisher_points, gen)
        if not torch.isfinite(fisher).all():
            raise FloatingPointError(f"objectives: non-finite Fisher divergence of {run.kind}")
        drawn = draw(run.method, cfg.data.shape, list(range(n_samples)), n_samples, device)
        if not torch.isfinite(drawn.x).all():
            raise FloatingPointError(f"objectives: non-finite samples of {run.kind}")
        metric, quality = sample_quality(data, drawn.x)
        batch, loss = cfg.train.batch_size, run.method.loss
        var_ref, mean_ref = gradient_variance(reference.method.net, loss, data, batch, grad_draws, seed, device)
        var_own, mean_own = gradient_variance(run.method.net, loss, data, batch, grad_draws, seed, device)
        run.method.net.eval()
        rows.append(
            {
                "kind": run.kind,
                "objective": LABELS[run.kind],
                "fisher_mean": float(fisher.mean()),
                "fisher_weighted": float((sigmas**2 * fisher).mean()),
                "fisher_per_level": fisher.tolist(),
                metric: quality,
                "sampler_nfe": drawn.nfe_per_sample,
                "s_per_step": statistics.median(run.step_seconds) if run.step_seconds else float("nan"),
                "train_wall_s": run.wall_s,
                "grad_variance": var_ref,
                "grad_mean_norm": mean_ref,
                "grad_variance_own": var_own,
                "grad_mean_norm_own": mean_own,
                "backward_passes": backward_passes(run.cfg),
            }
        )
    return {
        "replication": SPEC.name,
        "artifact": "objectives",
        "seed": seed,
        "sigmas": sigmas.tolist(),
        "n_samples": n_samples,
        "fisher_points": fisher_points,
        "grad_draws": grad_draws,
        "grad_checkpoint": f"{reference.kind} final net",
        "budget_defaults": list(BUDGET),
        "rows": rows,
        "config": to_dict(cfg),
        "provenance": provenance(),
    }


def combine(reports: Sequence[dict]) -> dict:
    """One report from the reports of several seeds (same config and measurement, in ``--seeds`` order): the seeds'
    own ``seed``, ``rows`` and ``wall_s`` under ``seeds`` (keyed by the seed), and as ``rows`` per objective the
    mean over the seeds of every measured number with its t-interval half-width (``_hw``), minimum and maximum
    (``_min``, ``_max``), the per-level Fisher divergences likewise. One report is returned as it is."""
    if len(reports) == 1:
        return reports[0]
    first = reports[0]
    rows = []
    for i, head in enumerate(first["rows"]):
        per_seed = [report["rows"][i] for report in reports]
        if any(r["kind"] != head["kind"] for r in per_seed):
            raise ValueError("combine: the seeds' reports list the objectives in different orders")
        row = {key: head[key] for key in SEED_FIXED}
        row["n_seeds"] = len(reports)
        for key in SEED_VALUES:
            values = [r[key] for r in per_seed]
            row[key], row[f"{key}_hw"] = t_interval(values)
            row[f"{key}_min"], row[f"{key}_max"] = min(values), max(values)
        levels = list(zip(*(r["fisher_per_level"] for r in per_seed)))  # (L, n): each level's value per seed
        intervals = [t_interval(level) for level in levels]
        row["fisher_per_level"] = [mean for mean, _ in intervals]
        row["fisher_per_level_hw"] = [hw for _, hw in intervals]
        row["fisher_per_level_min"] = [min(level) for level in levels]
        row["fisher_per_level_max"] = [max(level) for level in levels]
        rows.append(row)
    out = {key: v for key, v in first.items() if key not in SHARED_KEYS}
    out["seeds"] = {str(r["seed"]): {key: r[key] for key in SHARED_KEYS if key in r} for r in reports}
    out["interval"] = f"mean ± {LEVEL * 100:g} % t-interval half-width over the seeds (shared.report.stats)"
    out["rows"] = rows
    return out


def _cell(row: dict, key: str, fmt: str, hw_fmt: str | None = None, scale: float = 1.0) -> str:
    """``row[key]`` (times ``scale``) formatted by ``fmt``; with several seeds ``mean ± half-width``, trailing zeros
    kept ("8.20 ± 0.30"), the half-width formatted by ``hw_fmt`` (default ``fmt``)."""
    if f"{key}_hw" not in row:
        return format(row[key] * scale, fmt)
    keep = "#" if fmt.endswith("g") else ""
    return f"{row[key] * scale:{keep}{fmt}} ± {row[f'{key}_hw'] * scale:{keep}{hw_fmt or fmt}}"


def _seeds_text(report: dict) -> str:
    return f"seeds {', '.join(report['seeds'])}" if "seeds" in report else f"seed {report['seed']}"


def markdown(report: dict) -> str:
    """The table of the report, with what it measured."""
    cfg, n = report["config"], report["n_samples"]
    lines = [
        f"Score-matching objectives on 8gaussians (NCSN ladder sigma {cfg['noise']['sigma_1']:g} -> "
        f"{cfg['noise']['sigma_L']:g}, L = {cfg['noise']['L']}, lambda = sigma^2; {cfg['net']['kind']} net; "
        f"{cfg['train']['steps']} steps of batch {cfg['train']['batch_size']}; {_seeds_text(report)})",
        "",
        "| objective | Fisher divergence (mean over levels) | λ-weighted | energy distance | s / step "
        "| gradient variance | backward passes per example |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        lines.append(
            f"| {r['objective']} | {_cell(r, 'fisher_mean', '.3g', '.2g')} | "
            f"{_cell(r, 'fisher_weighted', '.3g', '.2g')} | {_cell(r, 'energy_distance', '.4f')} | "
            f"{_cell(r, 's_per_step', '.2f', scale=1e3)} ms | {_cell(r, 'grad_variance', '.3g', '.2g')} | "
            f"{r['backward_passes']} |"
        )
    lines.append("")
    if "seeds" in report:
        lines += [
            f"n = {len(report['seeds'])} seeds, mean ± {LEVEL * 100:g} % t-interval half-width (backward passes are "
            "fixed by the objective); each seed's values: objectives_seeds.csv, objectives.json.",
            "",
        ]
    lines += [
        f"Fisher divergence: E ||s_θ(x, σ) − ∇log p_σ(x)||² on {report['fisher_points']} exact draws of p_σ per level "
        "(the same for every objective), mean over the levels; λ-weighted: mean of σ² times it. Energy distance: "
        f"{n} annealed-Langevin samples ({cfg['sample']['n_steps_each']} steps per level) against {n} held-out "
        "points. s / step: median over the training steps. Gradient variance: trace of the covariance of the "
        f"parameter gradient of the minibatch loss over {report['grad_draws']} draws, all objectives at the same "
        f"checkpoint ({report['grad_checkpoint']}; at each one's own final net: objectives.json).",
    ]
    return "\n".join(lines) + "\n"


CSV_KEYS = [
    "kind", "objective", "fisher_mean", "fisher_weighted", "energy_distance", "s_per_step", "grad_variance",
    "grad_variance_own", "backward_passes", "sampler_nfe", "train_wall_s",
]  # fmt: skip


def table_csv(report: dict) -> str:
    """One row per objective; the Fisher divergence of each level as its own column. With several seeds: the means
    over the seeds under the same names, each measured one followed by its t-interval half-width (``<name>_hw``),
    and ``n_seeds``."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    levels = [f"fisher_sigma_{s:.4g}" for s in report["sigmas"]]
    if "seeds" not in report:
        writer.writerow(CSV_KEYS + levels)
        for r in report["rows"]:
            writer.writerow([r[k] for k in CSV_KEYS] + r["fisher_per_level"])
        return buf.getvalue()
    keys = [k for key in CSV_KEYS for k in ((key, f"{key}_hw") if key in SEED_VALUES else (key,))]
    writer.writerow(["n_seeds", *keys] + [c for level in levels for c in (level, f"{level}_hw")])
    for r in report["rows"]:
        per_level = [v for pair in zip(r["fisher_per_level"], r["fisher_per_level_hw"]) for v in pair]
        writer.writerow([r["n_seeds"], *(r[k] for k in keys)] + per_level)
    return buf.getvalue()


def seeds_csv(report: dict) -> str:
    """The long table of a several-seed report: one row per (seed, objective), the one-seed table's columns."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["seed", *CSV_KEYS] + [f"fisher_sigma_{s:.4g}" for s in report["sigmas"]])
    for seed, own in report["seeds"].items():
        for r in own["rows"]:
            writer.writerow([seed, *(r[k] for k in CSV_KEYS)] + r["fisher_per_level"])
    return buf.getvalue()


def _spread(rows: list[dict], key: str, scale: float = 1.0) -> list[list[float]]:
    """Error bars from each row's mean down to its minimum over the seeds and up to its maximum: [below, above]."""
    return [
        [(r[key] - r[f"{key}_min"]) * scale for r in rows],
        [(r[f"{key}_max"] - r[key]) * scale for r in rows],
    ]


def figure(report: dict, path: Path) -> None:
    """Fisher divergence per noise level (log-log), gradient variance and seconds per step per objective. With
    several seeds: the means over the seeds, with bands (Fisher divergence) and error bars (the others) from the
    smallest to the largest seed's value."""
    from shared.report.figures import plt, save

    rows, sigmas = report["rows"], report["sigmas"]
    several = "seeds" in report
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4), gridspec_kw={"width_ratios": [1.5, 1, 1]})
    for r, c in zip(rows, colors):
        axes[0].plot(sigmas, r["fisher_per_level"], "o-", color=c, label=r["objective"], ms=4)
        if several:
            low, high = r["fisher_per_level_min"], r["fisher_per_level_max"]
            axes[0].fill_between(sigmas, low, high, color=c, alpha=0.2, lw=0)
    axes[0].set(xscale="log", yscale="log", xlabel="noise level σ", ylabel="E ||s_θ − ∇log p_σ||²")
    title = "Fisher divergence to the true perturbed score"
    if several:
        title += f"\n(mean over {len(report['seeds'])} seeds; band: min..max over the seeds)"
    axes[0].set_title(title)
    axes[0].legend(fontsize=8)
    names = [r["kind"] for r in rows]
    pos = range(len(rows))
    own_pos = [p + 0.15 for p in pos] if several else pos  # beside the shared net's marker, bars apart
    if several:
        for p, r, c in zip(pos, rows, colors):
            spread = _spread([r], "grad_variance")
            axes[1].errorbar([p], [r["grad_variance"]], yerr=spread, fmt="none", ecolor=c, capsize=4, zorder=1)
        axes[1].errorbar(
            own_pos, [r["grad_variance_own"] for r in rows], yerr=_spread(rows, "grad_variance_own"), fmt="none",
            ecolor="k", capsize=3, lw=0.8, zorder=1,
        )  # fmt: skip
    axes[1].scatter(pos, [r["grad_variance"] for r in rows], s=80, c=colors[: len(rows)], label="at the DSM net")
    own = [r["grad_variance_own"] for r in rows]
    axes[1].scatter(own_pos, own, s=60, marker="D", facecolors="none", edgecolors="k", label="at its own net")
    axes[1].set(yscale="log", xticks=list(pos), xticklabels=names, xlim=(-0.5, len(rows) - 0.5))
    axes[1].set_ylabel("tr Cov[∇_θ minibatch loss]")
    axes[1].set_title(f"gradient variance ({report['grad_draws']} draws)")
    axes[1].margins(y=0.15)
    axes[1].legend(fontsize=8, loc="lower right")
    step_ms = [r["s_per_step"] * 1e3 for r in rows]
    error = {"yerr": _spread(rows, "s_per_step", 1e3), "capsize": 4} if several else {}
    bars = axes[2].bar(pos, step_ms, color=colors[: len(rows)], **error)
    for bar, r in zip(bars, rows):
        top = max(bar.get_height(), r["s_per_step_max"] * 1e3) if several else bar.get_height()
        axes[2].annotate(
            f"{r['backward_passes']} bwd", (bar.get_x() + bar.get_width() / 2, top),
            ha="center", va="bottom", fontsize=8,
        )  # fmt: skip
    axes[2].set(xticks=list(pos), xticklabels=names, ylabel="ms per training step (median)")
    axes[2].set_title("cost (backward passes per example)")
    cfg = report["config"]
    suptitle = (
        f"NCSN objectives on 8gaussians: {cfg['train']['steps']} steps of batch {cfg['train']['batch_size']}, "
        f"same net and initial weights, {_seeds_text(report)}"
    )
    if several:
        suptitle += " (mean; bands and bars: min..max over the seeds)"
    fig.suptitle(suptitle)
    fig.tight_layout()
    save(fig, path, dpi=110)


def write(report: dict, out: Path) -> None:
    """objectives.csv, .json, .png beside ``out`` (and objectives_seeds.csv with several seeds), then ``out`` (the
    markdown table) last: a run killed midway leaves no finished-looking table."""
    save_text(table_csv(report), out.with_suffix(".csv"))
    if "seeds" in report:
        save_text(seeds_csv(report), out.with_name(f"{out.stem}_seeds.csv"))
    save_json(report, out.with_suffix(".json"))
    figure(report, out.with_suffix(".png"))
    save_text(markdown(report), out)


def main(argv: list[str] | None = None) -> None:
    """Parse ``argv``, train and measure every objective for every seed, write the table, CSV, JSON and figure."""
    p = command_parser("replications.ncsn objectives", __doc__)
    p.add_argument("--config", required=True, type=Path, help="an 8gaussians NCSN config, e.g. configs/smoke_toy.yaml")
    p.add_argument("--out", required=True, type=Path, help="the markdown table; .csv, .json and .png beside it")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override, e.g. train.steps=1000")
    p.add_argument("--seed", type=int, default=None, help="run seed: initial weights, batches, noise (default: 0)")
    several = "several seeds, one after another: the table shows mean ± 95%% t-interval half-width (not with --seed)"
    p.add_argument("--seeds", type=int, nargs="+", default=None, metavar="S", help=several)
    p.add_argument("--n-samples", type=int, default=500, help="Langevin samples and held-out points (default: 500)")
    p.add_argument("--fisher-points", type=int, default=1000, help="draws of p_sigma per level (default: 1000)")
    p.add_argument("--grad-draws", type=int, default=16, help="gradients for the variance (default: 16)")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    args = p.parse_args(argv)
    if args.seed is not None and args.seeds is not None:
        raise InputError("--seed and --seeds: give one of them (--seeds S S ... for several seeds)")
    seeds = args.seeds if args.seeds is not None else [0 if args.seed is None else args.seed]
    if len(set(seeds)) < len(seeds):
        raise InputError(f"--seeds {' '.join(map(str, seeds))}: a seed given twice")
    check_output(args.out)  # a path that cannot be written: one line, exit 2, before any compute
    cfg = load_config(args.config, args.set)
    device = torch.device(args.device) if args.device else default_device()
    start = time.perf_counter()
    reports = []
    for i, seed in enumerate(seeds, 1):
        print(f"objectives: seed {seed} ({i} of {len(seeds)})", flush=True)
        begun = time.perf_counter()
        report = measure(
            cfg, seed, device, n_samples=args.n_samples, fisher_points=args.fisher_points, grad_draws=args.grad_draws
        )
        report["wall_s"] = time.perf_counter() - begun
        reports.append(report)
    report = combine(reports)
    report["wall_s"] = time.perf_counter() - start
    write(report, args.out)
    print(markdown(report), flush=True)


if __name__ == "__main__":
    from shared.entry import run_main

    run_main(main)
