"""Reflow (Liu et al. 2023, Sec. 2, Alg. 1): the k-rectified flow's pairs (z0, z1 = flow(z0)) train the (k+1)-th.

    python -m replications.flow_matching reflow --ckpt results/flow_matching/smoke_toy_rectified/seed0/checkpoint.pt \\
        --out results/flow_matching/smoke_toy_rectified/seed0/reflow/checkpoint.pt [--set reflow.n_pairs=20000]

Steps: draw ``reflow.n_pairs`` noise z0 with per-sample seeds and integrate the trained flow with its own sampler
(dopri5 by default) to z1; regress a new velocity on the straight path between the pairs (``PairedCoupling``),
starting from the previous weights as the official code does (``reflow.init``); write a final checkpoint that the
ordinary CLI samples and evaluates, and ``reflow.json`` beside it: straightness S (``straightness.py``) and the
data's quality metric at 1 and 2 Euler steps and with the run's own sampler, before and after, on the same noise.

Only the seeds of the pairs are stored with z1 (``pairs.pt``, reused on resume); z0 is drawn again from them.
Run it on a reflowed checkpoint for the next k.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import torch
from torch import Tensor

from replications.flow_matching.config import Config
from replications.flow_matching.couplings import PairedCoupling
from replications.flow_matching.method import SPEC, build_loss
from replications.flow_matching.straightness import straightness
from shared.config import ConfigError, apply_overrides, from_dict, to_dict
from shared.data.source import DataSource
from shared.entry import command_parser
from shared.io.artifacts import check_output
from shared.io.provenance import provenance
from shared.maths.ode import sample_euler
from shared.maths.priors import Prior
from shared.pipeline.evaluate import sample_quality
from shared.pipeline.method import Method, count_nfe, draw
from shared.pipeline.runner import FORMAT_VERSION, load_run, write_json
from shared.pipeline.train import fit, load_checkpoint, save_atomic
from shared.utils import PerSampleGenerator, default_device, derive_seed, make_generator

PAIR_SEEDS = 1 << 30  # first seed of the pairs' noise: disjoint from the CLI's sample seeds 0..N-1
EVAL_SEEDS = 3 << 29  # first seed of the noise on which before / after are compared
PAIRS_FILE = "pairs.pt"


def noise_of(prior: Prior, shape: Sequence[int], seeds: Sequence[int], device) -> Tensor:
    """The prior draw (len(seeds), *shape) of each per-sample seed: what ``shared.pipeline.method.sample`` starts
    from."""
    return prior.sample((len(seeds), *shape), PerSampleGenerator(seeds, device), device)


def draw_pairs(method: Method, shape, seeds: Sequence[int], batch_size: int, device) -> tuple[Tensor, float]:
    """z1 = flow(z0) (N, *D) on CPU for the noise of ``seeds`` with the method's own sampler, and its NFE per sample."""
    out = torch.empty(len(seeds), *shape)  # filled in place: no second copy (4M CIFAR-10 pairs: 49 GB)
    drawn = draw(method, shape, seeds, batch_size, device, out=out)
    return drawn.x, drawn.nfe_per_sample


class PairSource:
    """Batches of stacked pairs (B, 2, *D) for ``shared.pipeline.train.fit`` (as DataSource's), deterministic in step.

    Args:
        seeds: (N,) the per-sample seeds of z0; z0 is redrawn from them, batch by batch.
        x1: (N, *D) the flow's images z1 of that noise.
        prior: the prior z0 was drawn from.
        seed: the run seed, keying which pairs each step sees.
    """

    def __init__(self, seeds: Tensor, x1: Tensor, prior: Prior, seed: int):
        if len(seeds) != len(x1):
            raise ValueError(f"PairSource: {len(seeds)} seeds for {len(x1)} images")
        self.seeds, self.x1, self.prior, self.seed = seeds, x1, prior, seed

    def batch(self, step: int, batch_size: int, rank: int = 0, world_size: int = 1) -> Tensor:
        """This rank's slice of the step's pairs (drawn with replacement): (B / world_size, 2, *D) on CPU."""
        gen = make_generator(derive_seed(self.seed, "reflow", step))
        idx = torch.randint(0, len(self.x1), (batch_size,), generator=gen)
        idx = idx[rank * batch_size // world_size : (rank + 1) * batch_size // world_size]
        x0 = noise_of(self.prior, self.x1.shape[1:], self.seeds[idx].tolist(), "cpu")
        return torch.stack([x0, self.x1[idx]], dim=1)


def assess(method: Method, data: DataSource, cfg: Config, feature_net: Path | None, device) -> dict:
    """Straightness and the data's quality metric at 1 and 2 Euler steps and with the run's sampler (+ its NFE)."""
    r = cfg.reflow
    seeds = list(range(EVAL_SEEDS, EVAL_SEEDS + r.eval_n))
    shape = cfg.data.shape
    per, chords, samples, nfe = [], [], {"euler_1": [], "euler_2": [], "sampler": []}, []
    with torch.no_grad():
        for lo in range(0, len(seeds), r.pair_batch_size):
            x0 = noise_of(method.prior, shape, seeds[lo : lo + r.pair_batch_size], device)
            s = straightness(method.field, x0, n_steps=r.straightness_steps)
            per.append(s.per_example.cpu())
            chords.append(s.chord_sq.cpu())
            for k in (1, 2):
                grid = torch.linspace(0.0, 1.0, k + 1, device=device)
                samples[f"euler_{k}"].append(sample_euler(method.field, x0, grid).float().cpu())
            with count_nfe(method.net) as calls:
                samples["sampler"].append(method.sampler(method.field, x0, method.grid.to(device)).float().cpu())
            nfe.append(calls[0])
    per, chords = torch.cat(per), torch.cat(chords)
    report = {"straightness": float(per.mean()), "straightness_relative": float(per.mean() / chords.mean())}
    for name, xs in samples.items():
        metric, value = sample_quality(data, torch.cat(xs), feature_net)
        report[name] = value
    report["metric"], report["sampler_nfe"] = metric, sum(nfe) / len(nfe)
    return report


def _load_pairs(path: Path, n: int, parent: Path) -> dict | None:
    """The cached pairs of this parent and size, or None."""
    if not path.is_file():
        return None
    cached = load_checkpoint(path)
    ok = cached.get("n") == n and cached.get("first_seed") == PAIR_SEEDS and cached.get("parent") == str(parent)
    return cached if ok else None


def reflow(
    ckpt: str | Path,
    out: str | Path,
    overrides: Sequence[str] = (),
    *,
    device: torch.device | str | None = None,
    feature_net: Path | None = None,
    report: Path | None = None,
) -> dict:
    """One reflow of the flow in ``ckpt``: pairs, retraining, a final checkpoint ``out`` and its report (returned).

    Args:
        ckpt: a final flow_matching checkpoint (the k-rectified flow; k = 1 for a run trained from data).
        out: the (k+1)-rectified flow's checkpoint; its folder holds pairs.pt, the training state and log.
        overrides: ``key=value`` applied to the stored config first (e.g. reflow.n_pairs=20000, sample.rtol=1e-3).
        device: where to generate and train (default: cuda if available).
        feature_net: the digits classifier for digits runs' fd_digits.
        report: the report's path (default: reflow.json beside ``out``).
    """
    ckpt, out = Path(ckpt), Path(out)
    device = torch.device(device) if device is not None else default_device()
    run = load_run(ckpt, SPEC, "ema", device)
    cfg = from_dict(Config, apply_overrides(copy.deepcopy(run.ckpt["config"]), overrides), f"{ckpt} + {overrides}")
    r = cfg.reflow
    torch.manual_seed(derive_seed(run.seed, "init"))
    teacher = SPEC.build(cfg)  # the stored weights under the (possibly overridden) sampler settings
    teacher.net.load_state_dict(run.method.net.state_dict())
    teacher.net.to(device).eval()
    run_dir = out.parent
    run_dir.mkdir(parents=True, exist_ok=True)
    k = int(run.ckpt.get("rectified_k", 1)) + 1
    base = run.ckpt.get("base_experiment", run.experiment)

    seeds = torch.arange(PAIR_SEEDS, PAIR_SEEDS + r.n_pairs)
    cached = _load_pairs(run_dir / PAIRS_FILE, r.n_pairs, ckpt)
    if cached is None:
        t0 = time.perf_counter()
        x1, pair_nfe = draw_pairs(teacher, cfg.data.shape, seeds.tolist(), r.pair_batch_size, device)
        cached = {"n": r.n_pairs, "first_seed": PAIR_SEEDS, "parent": str(ckpt), "x1": x1, "nfe": pair_nfe}
        cached["wall_s"] = time.perf_counter() - t0
        if not torch.isfinite(x1).all():
            raise FloatingPointError(f"non-finite pairs from {ckpt}")
        save_atomic(cached, run_dir / PAIRS_FILE)
        print(f"reflow: {r.n_pairs} pairs at {pair_nfe:.0f} NFE in {cached['wall_s']:.1f} s", flush=True)
    data = run.data()
    before = assess(teacher, data, cfg, feature_net, device)

    if r.dropout is not None:  # the new flow's own dropout (official reflow config: 0.1)
        if not hasattr(cfg.net, "dropout"):
            raise ConfigError(f"reflow.dropout: the {cfg.net.kind} net has no dropout; leave reflow.dropout null")
        cfg = replace(cfg, net=replace(cfg.net, dropout=r.dropout))
    torch.manual_seed(derive_seed(run.seed, "reflow", k))
    student = SPEC.build(cfg)
    if r.init == "previous":  # the EMA weights that drew the pairs
        student.net.load_state_dict(run.method.net.state_dict())
    elif r.init == "previous_raw":  # the raw weights (official run_lib_reflow.py L71)
        student.net.load_state_dict(run.ckpt["net"])
    extra = {
        "replication": SPEC.name,
        "spec_module": SPEC.module,
        "format_version": FORMAT_VERSION,
        "experiment": f"{base}_{k}rf",
        "base_experiment": base,
        "rectified_k": k,
        "parent_checkpoint": str(ckpt),
        "seed": run.seed,
        "config": to_dict(cfg),
    }
    source = PairSource(seeds, cached["x1"], teacher.prior, run.seed)
    loss = build_loss(cfg, PairedCoupling())
    state = fit(
        student.net, loss, source, r.train, run_dir, seed=derive_seed(run.seed, "reflow", k), device=device, extra=extra
    )
    ema_net = {key.removeprefix("module."): v for key, v in state["ema"].items() if key != "n_averaged"}
    student.net.load_state_dict(ema_net)
    student.net.to(device).eval()
    after = assess(student, data, cfg, feature_net, device)
    final = {
        **extra,
        "net": state["net"],
        "ema_net": ema_net,
        "step": state["step"],
        "train_wall_s": state["wall_s"],
        "n_params": sum(p.numel() for p in student.net.parameters()),
        "provenance": provenance(),
    }
    save_atomic(final, out)
    result = {
        "replication": SPEC.name,
        "experiment": extra["experiment"],
        "rectified_k": k,
        "parent_checkpoint": str(ckpt),
        "checkpoint": str(out),
        "n_pairs": r.n_pairs,
        "pair_nfe_per_sample": cached["nfe"],
        "pair_wall_s": cached.get("wall_s"),
        "reflow_train_steps": state["step"],
        "reflow_train_wall_s": state["wall_s"],
        "eval_n": r.eval_n,
        "metric": before["metric"],
        "before": before,
        "after": after,
        "config": to_dict(cfg),
        "provenance": provenance(),
    }
    write_json(result, report or run_dir / "reflow.json")
    print(format_report(result), flush=True)
    return result


def format_report(result: dict) -> str:
    """A small markdown table of the report: straightness and quality, before and after."""
    metric = result["metric"]
    lines = [
        f"{result['experiment']} ({result['rectified_k'] - 1}-rectified -> {result['rectified_k']}-rectified flow)",
        "| | straightness S | S / E||z1 - z0||^2 | "
        f"{metric}, 1 Euler step | 2 Euler steps | own sampler | own sampler NFE |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ("before", "after"):
        m = result[name]
        lines.append(
            f"| {name} | {m['straightness']:.4g} | {m['straightness_relative']:.4g} | {m['euler_1']:.4g} | "
            f"{m['euler_2']:.4g} | {m['sampler']:.4g} | {m['sampler_nfe']:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Parse ``argv`` and run one reflow."""
    p = command_parser("replications.flow_matching reflow", __doc__)
    p.add_argument("--ckpt", required=True, type=Path, help="the k-rectified flow's final checkpoint")
    p.add_argument("--out", required=True, type=Path, help="the (k+1)-rectified flow's checkpoint")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override, e.g. reflow.n_pairs=1000")
    p.add_argument("--feature-net", type=Path, default=None, help="digits classifier (digits runs)")
    p.add_argument("--report", type=Path, default=None, help="report JSON (default: reflow.json beside --out)")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    args = p.parse_args(argv)
    check_output(args.out)  # a path that cannot be written: one line, exit 2, before any compute
    reflow(args.ckpt, args.out, args.set, device=args.device, feature_net=args.feature_net, report=args.report)


if __name__ == "__main__":
    from shared.entry import run_main

    run_main(main)
