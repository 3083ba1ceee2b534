"""Checkpoint selection: score every weight snapshot of a run by its paper's rule and keep the one the rule picks.

The papers did not all report their last checkpoint. DDPM reports "the minimum FID value over the course of
training" (Ho et al. 2020, App. B); Score-SDE's Table 3 the checkpoint with the smallest FID (Song et al. 2021,
Sec. 4.4), its Table 2 the last; NCSN computed FID on 1,000 samples every 5,000 iterations (Song & Ermon 2019,
App. B.2); FFJORD's official code keeps the checkpoint with the best test bits/dim (rtqichen/ffjord,
train_cnf.py). A run that keeps snapshots (``train.snapshot_every``) is scored here, snapshot by snapshot, with
its own sampler and its data's quality metric (``shared.pipeline.evaluate.sample_quality``) or its NLL on held-out
data; the selected snapshot is written as a checkpoint that says how it was chosen, and the full evaluation
(50k samples) then runs on it.

    python -m shared.pipeline.select --ckpt results/ddpm/cifar10/seed0/checkpoint.pt \\
        --out results/ddpm/cifar10_best/seed0/selected.pt          # the config's select.rule and sizes

Writes ``selected.pt`` (the chosen snapshot + ``selection``: rule, metric, step, scores), ``quality_vs_step.csv``
and ``quality_vs_step.png`` beside it.
"""

# No ``from __future__ import annotations``: shared.config reads the ``rule`` Literal off the dataclass field.
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from shared.config import ConfigError, NonNegativeInt, PositiveInt

RULES = ("last", "min_quality", "min_nll")


@dataclass(frozen=True)
class SelectConfig:
    """Which snapshot a run's numbers come from (needs ``train.snapshot_every`` > 0 unless the rule is "last")."""

    rule: Literal["last", "min_quality", "min_nll"] = "last"  # min_quality: the smallest FID / fd / distance
    n_samples: PositiveInt = 1000  # samples per snapshot for min_quality (NCSN App. B.2: 1,000)
    nll_examples: PositiveInt = 1000  # held-out examples per snapshot for min_nll
    first_step: NonNegativeInt = 0  # score only snapshots at or after this step (Score-SDE: checkpoints 9 to 26)


def select_index(steps: Sequence[int], scores: Sequence[float], rule: str) -> int:
    """The index of the snapshot ``rule`` picks: "last" the largest step; "min_quality" / "min_nll" the smallest
    finite score (the earlier step on a tie). Raises ValueError for an unknown rule or no finite score."""
    if rule not in RULES:
        raise ValueError(f"select.rule: expected one of {list(RULES)}, got {rule!r}")
    if not steps:
        raise ValueError("no snapshots to select from")
    if rule == "last":
        return max(range(len(steps)), key=lambda i: steps[i])
    finite = [i for i, s in enumerate(scores) if s is not None and math.isfinite(s)]
    if not finite:
        raise ValueError(f"no snapshot has a finite score for {rule}")
    return min(finite, key=lambda i: (scores[i], steps[i]))


def score_snapshot(run, rule: str, cfg: SelectConfig, device, feature_net, cache_dir) -> tuple[str, float, float]:
    """(metric, score, NFE per sample) of one loaded snapshot: its samples' quality, or its held-out NLL."""
    import torch

    from shared.pipeline.evaluate import bits_per_dim_of_test_images, nll_in_batches, sample_quality
    from shared.pipeline.method import draw, nll_of
    from shared.utils import derive_seed

    data = run.data()
    if rule == "min_nll":
        nll_fn = nll_of(run.method)
        if nll_fn is None:
            raise ConfigError(f"{run.spec.name} defines no likelihood: select.rule min_nll does not apply")
        seed = derive_seed(run.seed, "select")
        if data.cfg.is_image:  # test bits/dim, as the metrics report it (FFJORD's rule)
            bpd, _ = bits_per_dim_of_test_images(data, nll_fn, run.cfg.evaluate, cfg.nll_examples, device, seed)
            return "bits_per_dim", float(bpd.double().mean()), 0.0
        x = data.test_points()[: cfg.nll_examples].to(device)
        nats, _ = nll_in_batches(nll_fn, x, run.cfg.evaluate.nll_batch_size, seed)
        return "nll_nats", float(nats.double().mean()), 0.0
    seeds = range(cfg.n_samples)  # the same seeds for every snapshot: the scores differ by the weights alone
    drawn = draw(run.method, run.shape, seeds, run.cfg.evaluate.sample_batch_size, device)
    if not torch.isfinite(drawn.x).all():
        return "non-finite samples", math.inf, drawn.nfe_per_sample
    metric, value = sample_quality(data, drawn.x, feature_net, cache_dir)
    return metric, value, drawn.nfe_per_sample


def select(
    ckpt: Path, out: Path, rule: str | None, n: int | None, weights: str, device, feature_net, cache_dir
) -> dict:
    """Score the snapshots of the run whose final checkpoint is ``ckpt``, write the chosen one to ``out`` (with its
    ``selection``) and the scores beside it; returns the selection record."""
    import dataclasses

    from shared.io import artifacts
    from shared.io.atomic import save_text, save_torch
    from shared.pipeline.runner import load_run, snapshots_of

    final = load_run(ckpt, None, weights, device)
    cfg = final.cfg.select if hasattr(final.cfg, "select") else SelectConfig()
    cfg = dataclasses.replace(cfg, rule=rule or cfg.rule)
    if n is not None:
        cfg = dataclasses.replace(cfg, n_samples=n, nll_examples=n)
    paths = [p for p in snapshots_of(ckpt) if int(p.stem.removeprefix("step")) >= cfg.first_step]
    if cfg.rule == "last":
        paths = []  # the final checkpoint is the last step: no snapshot need be read
    elif not paths:
        raise artifacts.ArtifactError(
            ckpt.parent / "snapshots",
            f"holds no snapshots at or after step {cfg.first_step}; train with train.snapshot_every > 0 to select by "
            "a score",
        )
    paths = paths or [ckpt]
    rows = []
    for k, path in enumerate(paths):
        run = load_run(path, final.spec, weights, device)
        if cfg.rule == "last":
            metric, score, nfe = "step", float(run.ckpt["step"]), 0.0
        else:
            metric, score, nfe = score_snapshot(run, cfg.rule, cfg, device, feature_net, cache_dir)
        rows.append({"step": int(run.ckpt["step"]), "metric": metric, "score": score, "nfe": nfe, "path": str(path)})
        print(f"snapshot {k + 1}/{len(paths)}: step {rows[-1]['step']} {metric} {score:.6g}", flush=True)
    try:
        best = select_index([r["step"] for r in rows], [r["score"] for r in rows], cfg.rule)
    except ValueError as err:  # every snapshot diverged
        raise FloatingPointError(f"{ckpt.parent}: {err}") from None
    record = {
        "rule": cfg.rule,
        "metric": rows[best]["metric"],
        "step": rows[best]["step"],
        "snapshot": rows[best]["path"],
        "n_samples": cfg.n_samples if cfg.rule == "min_quality" else None,
        "nll_examples": cfg.nll_examples if cfg.rule == "min_nll" else None,
        "weights": weights,
        "scores": [{k: r[k] for k in ("step", "score", "nfe")} for r in rows],
    }
    chosen = artifacts.load_checkpoint(Path(rows[best]["path"]), final.spec.name)
    csv = "step,metric,score,nfe_per_sample\n" + "".join(
        f"{r['step']},{r['metric']},{r['score']!r},{r['nfe']!r}\n" for r in rows
    )
    save_text(csv, out.parent / "quality_vs_step.csv")
    _figure(rows, best, cfg.rule, final.experiment, out.parent / "quality_vs_step.png")
    save_torch({**chosen, "selection": record}, out)  # last: its presence means the selection is complete
    print(f"selected step {record['step']} by {cfg.rule}: wrote {out}", flush=True)
    return record


def _figure(rows: list[dict], best: int, rule: str, experiment: str, path: Path) -> None:
    """Score against training step, the selected snapshot marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from shared.report.figures import save

    fig, ax = plt.subplots(figsize=(5, 3.2))
    steps, scores = [r["step"] for r in rows], [r["score"] for r in rows]
    ax.plot(steps, scores, "o-", color="tab:blue")
    ax.plot([steps[best]], [scores[best]], "o", ms=12, mfc="none", mec="tab:red", label=f"selected ({rule})")
    positive = [v for v in scores if math.isfinite(v)]
    if positive and min(positive) > 0 and max(positive) / min(positive) > 100:
        ax.set_yscale("log")  # early snapshots are orders of magnitude worse: the late ones stay readable
    else:
        ax.ticklabel_format(axis="y", useOffset=False)  # close scores as they are, not as offsets from one
    ax.set_xlabel("training step")
    ax.set_ylabel(rows[best]["metric"])
    ax.set_title(f"{experiment}: quality over training")
    ax.legend(frameon=False)
    save(fig, path)


def scoring_options(p, weights: bool = True) -> None:
    """The options of every command that scores a checkpoint's samples (select, curve, floor): --weights, the digits
    classifier, the FID statistics' cache, the device."""
    if weights:
        p.add_argument("--weights", choices=("ema", "raw"), default="ema")
    p.add_argument("--feature-net", type=Path, default=None, help="digits classifier (fd_digits)")
    p.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "replications", help="FID stats cache")
    p.add_argument("--device", default=None)


def main(argv: Sequence[str] | None = None) -> None:
    from shared.entry import command_parser, guarded
    from shared.io.artifacts import check_output
    from shared.pipeline.cli import resolve_device

    p = command_parser("shared.pipeline.select", __doc__)
    p.add_argument("--ckpt", required=True, type=Path, help="the run's final checkpoint.pt (snapshots/ beside it)")
    p.add_argument("--out", required=True, type=Path, help="the selected checkpoint to write (e.g. selected.pt)")
    p.add_argument("--rule", choices=RULES, default=None, help="default: the config's select.rule")
    p.add_argument("--n", type=int, default=None, help="samples (or NLL examples) per snapshot; default: the config's")
    scoring_options(p)
    args = p.parse_args(argv)

    def run() -> None:
        check_output(args.out)
        if args.n is not None and args.n < 1:
            raise ConfigError(f"--n: expected an integer >= 1, got {args.n}")
        select(
            args.ckpt, args.out, args.rule, args.n, args.weights, resolve_device(args.device), args.feature_net,
            args.cache_dir,
        )  # fmt: skip

    guarded(run)


if __name__ == "__main__":
    main()
