"""The data's own floor: the metrics of held-out real data, measured exactly as a run's samples are measured.

A sample-based metric is never zero at a finite sample size: N fresh points from the true distribution have an
energy distance, an MMD and a Fréchet distance of their own to the reference. That value is the floor a perfect
model would reach with the same N, and the number to read every method against (a "data" row in each comparison
table). The held-out set stands where the samples stand and goes through the same ``evaluate_run``:

* 2-D toys: N fresh points from a stream of their own (``derive_seed(seed, "floor")``), against the same fresh
  reference as the runs'; NLL: the true density's NLL on the runs' test points (the data's entropy).
* digits / images: the first N test images, against the training set (the runs' reference); no NLL.

    python -m shared.pipeline.floor --ckpt results/ddpm/compare_digits_ddpm/seed0/checkpoint.pt --n 250 \\
        --feature-net results/feature_nets/digits_classifier.pt --out results/floor/digits/seed0/metrics.json

Writes a metrics JSON (``replication: data``) that the comparison table reads as its floor row.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def held_out(data, n: int, seed: int):
    """(N, *D) model-space held-out data and a sentence saying what it is."""
    from shared.data.toy2d import sample_toy
    from shared.data.transforms import to_unit, unit_to_model
    from shared.utils import derive_seed, make_generator

    if not data.cfg.is_image:
        x = sample_toy(data.cfg.name, n, make_generator(derive_seed(seed, "floor")))
        return x, f"{n} fresh points of {data.cfg.name} from a stream disjoint from training and from the reference"
    test = data.test_uint8()
    if len(test) < n:
        print(f"floor: {data.cfg.name} has {len(test)} test images; the floor uses all of them (not {n})", flush=True)
    test = test[:n]
    return unit_to_model(to_unit(test), data.cfg.data_range), f"the first {len(test)} {data.cfg.name} test images"


def floor(ckpt: Path, n: int, out: Path, feature_net: Path | None, cache_dir: Path, device) -> dict:
    """Measure held-out data of the run's data set (the run's seed, evaluation sizes and reference); write ``out``."""
    from shared.io.artifacts import FORMAT_VERSION
    from shared.io.provenance import provenance
    from shared.pipeline.evaluate import evaluate_run, mean_stderr
    from shared.pipeline.runner import load_run, write_json
    from shared.utils import derive_seed

    run = load_run(ckpt, None, "ema", device)
    data = run.data()
    x, what = held_out(data, n, run.seed)
    metrics, info = evaluate_run(
        data, run.cfg.evaluate, x, None, device=device, seed=derive_seed(run.seed, "evaluate"),
        feature_net=feature_net, cache_dir=cache_dir,
    )  # fmt: skip
    if not data.cfg.is_image and run.cfg.evaluate.nll_examples > 0:
        from shared.data.toy2d import toy_log_density

        logp = toy_log_density(data.cfg.name, data.test_points()[: run.cfg.evaluate.nll_examples])
        if logp is not None:
            metrics["nll_nats"] = mean_stderr(-logp)
            info["nll_protocol"] = "the true density's NLL on the runs' test points (the data's entropy)"
    info["held_out"] = what
    report = {
        "artifact": "metrics",
        "replication": "data",
        "format_version": FORMAT_VERSION,
        "experiment": f"floor of {run.experiment}",
        "dataset": data.cfg.name,
        "seed": run.seed,
        "n_samples": len(x),
        "metrics": metrics,
        "protocol": {**info, "nll_kind": "exact" if "nll_nats" in metrics else "none"},
        "sampler": {"sampler": "held-out data"},
        "provenance": provenance(),
    }
    write_json(report, out)
    print(f"wrote {out}: " + ", ".join(f"{k} {v['value']:.4g}" for k, v in metrics.items()), flush=True)
    return report


def main(argv: Sequence[str] | None = None) -> None:
    from shared.config import ConfigError
    from shared.entry import command_parser, guarded
    from shared.io.artifacts import check_output
    from shared.pipeline.cli import resolve_device
    from shared.pipeline.select import scoring_options

    p = command_parser("shared.pipeline.floor", __doc__)
    p.add_argument("--ckpt", required=True, type=Path, help="a checkpoint of the data set (its data config and seed)")
    p.add_argument("--n", required=True, type=int, help="held-out points or images (the runs' sample count)")
    p.add_argument("--out", required=True, type=Path, help="the metrics JSON to write")
    scoring_options(p, weights=False)
    args = p.parse_args(argv)

    def run() -> None:
        check_output(args.out)
        if args.n < 2:
            raise ConfigError(f"--n: expected an integer >= 2, got {args.n}")
        floor(args.ckpt, args.n, args.out, args.feature_net, args.cache_dir, resolve_device(args.device))

    guarded(run)


if __name__ == "__main__":
    main()
