"""A learning curve: the sample quality of every weight snapshot of a run, against its training step and its
training wall-clock seconds.

Each snapshot (``train.snapshot_every``) is scored as checkpoint selection scores it
(``shared.pipeline.select.score_snapshot``: the run's own sampler, the data's quality metric, the same per-sample
seeds for every snapshot, so the scores differ by the weights alone); nothing is selected. The final checkpoint is
the last point.

    python -m shared.pipeline.curve --ckpt results/ddpm/compare_digits_ddpm/seed0/checkpoint.pt --n 200 \\
        --feature-net results/feature_nets/digits.pt --out results/ddpm/compare_digits_ddpm/seed0/curve.csv

Writes a CSV: step, train_wall_s, metric, score, nfe_per_sample.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def curve(ckpt: Path, n: int, out: Path, weights: str, device, feature_net, cache_dir) -> list[dict]:
    """Score every snapshot of the run whose final checkpoint is ``ckpt`` on ``n`` samples; write ``out``."""
    from shared.io.atomic import save_text
    from shared.pipeline.runner import load_run, snapshots_of
    from shared.pipeline.select import SelectConfig, score_snapshot

    final = load_run(ckpt, None, weights, device)
    cfg = SelectConfig(rule="min_quality", n_samples=n)
    paths = list(snapshots_of(ckpt))
    if not paths or int(paths[-1].stem.removeprefix("step")) != final.ckpt["step"]:
        paths.append(ckpt)
    rows = []
    for k, path in enumerate(paths):
        run = load_run(path, final.spec, weights, device)
        metric, score, nfe = score_snapshot(run, cfg.rule, cfg, device, feature_net, cache_dir)
        rows.append({"step": int(run.ckpt["step"]), "train_wall_s": float(run.ckpt.get("train_wall_s") or "nan"),
                     "metric": metric, "score": score, "nfe_per_sample": nfe})  # fmt: skip
        print(f"snapshot {k + 1}/{len(paths)}: step {rows[-1]['step']} {metric} {score:.6g}", flush=True)
    text = "step,train_wall_s,metric,score,nfe_per_sample\n" + "".join(
        f"{r['step']},{r['train_wall_s']!r},{r['metric']},{r['score']!r},{r['nfe_per_sample']!r}\n" for r in rows
    )
    save_text(text, out)
    print(f"wrote {out} ({len(rows)} points)", flush=True)
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    from shared.config import ConfigError
    from shared.entry import command_parser, guarded
    from shared.io.artifacts import check_output
    from shared.pipeline.cli import resolve_device
    from shared.pipeline.select import scoring_options

    p = command_parser("shared.pipeline.curve", __doc__)
    p.add_argument("--ckpt", required=True, type=Path, help="the run's final checkpoint.pt (snapshots/ beside it)")
    p.add_argument("--n", required=True, type=int, help="samples per snapshot")
    p.add_argument("--out", required=True, type=Path, help="the CSV to write")
    scoring_options(p)
    args = p.parse_args(argv)

    def run() -> None:
        check_output(args.out)
        if args.n < 2:
            raise ConfigError(f"--n: expected an integer >= 2, got {args.n}")
        curve(args.ckpt, args.n, args.out, args.weights, resolve_device(args.device), args.feature_net, args.cache_dir)

    guarded(run)


if __name__ == "__main__":
    main()
