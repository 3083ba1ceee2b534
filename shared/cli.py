"""The one command line of every replication: ``python -m replications.<paper> train|sample|evaluate|figures``.

Each replication's ``__main__`` calls ``main(build, Config, "<paper>")``; Snakemake rules call these commands.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from shared.config import ConfigError, dump, from_dict, load, to_dict
from shared.data.source import DataSource
from shared.data.transforms import to_uint8
from shared.distributed import EXIT_RESUME, StopCondition, TrainingStopped
from shared.distributed import setup as setup_distributed
from shared.distributed import teardown as teardown_distributed
from shared.evaluate import evaluate_run
from shared.method import Method
from shared.provenance import provenance
from shared.train import fit, load_checkpoint, save_atomic
from shared.utils import PerSampleGenerator, default_device, derive_seed

EPILOG = """examples:
  python -m replications.{name} train --config replications/{name}/configs/smoke_toy.yaml --seed 0 \\
      --out results/{name}/smoke_toy/seed0/checkpoint.pt
  python -m replications.{name} sample --ckpt results/{name}/smoke_toy/seed0/checkpoint.pt --seeds 0-999 \\
      --out results/{name}/smoke_toy/seed0/samples.npz
  python -m replications.{name} evaluate --ckpt results/{name}/smoke_toy/seed0/checkpoint.pt \\
      --samples results/{name}/smoke_toy/seed0/samples.npz --out results/{name}/smoke_toy/seed0/metrics.json
  python -m replications.{name} figures --ckpt results/{name}/smoke_toy/seed0/checkpoint.pt \\
      --samples results/{name}/smoke_toy/seed0/samples.npz --out-dir results/{name}/smoke_toy/seed0/figures
"""


def parse_seeds(text: str) -> list[int]:
    """'0-999' -> [0, ..., 999] (inclusive); '3' -> [3]; '0,5,9' -> [0, 5, 9]."""
    try:
        if "-" in text:
            lo, hi = (int(v) for v in text.split("-", 1))
            if hi < lo:
                raise ValueError
            return list(range(lo, hi + 1))
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--seeds: expected a range like 0-999 or a list like 0,1,2; got {text!r}"
        ) from None


def _parser(name: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"python -m replications.{name}",
        description=f"Train, sample, evaluate and plot the {name} replication.",
        epilog=EPILOG.format(name=name),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)
    dev = {"default": None, "help": "torch device (default: cuda if available, else cpu)"}

    t = sub.add_parser("train", help="train from an experiment config (resumes automatically)")
    t.add_argument(
        "--config", required=True, type=Path, help="experiment YAML, e.g. replications/<paper>/configs/*.yaml"
    )
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override, e.g. train.lr=1e-4")
    t.add_argument("--seed", type=int, default=0, help="run seed (default: 0)")
    t.add_argument("--out", type=Path, help="final checkpoint path; its folder holds the run's state and logs")
    t.add_argument("--device", **dev)
    t.add_argument(
        "--max-minutes",
        type=float,
        default=None,
        help=f"checkpoint and exit with status {EXIT_RESUME} after this many minutes (chain jobs under a time limit)",
    )
    t.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")

    s = sub.add_parser("sample", help="draw samples with per-sample seeds (shards are batch-size independent)")
    s.add_argument("--ckpt", required=True, type=Path)
    s.add_argument("--seeds", required=True, type=parse_seeds, help="inclusive seed range, e.g. 0-999")
    s.add_argument("--out", required=True, type=Path, help="output .npz")
    s.add_argument("--weights", choices=("ema", "raw"), default="ema", help="which weights to use (default: ema)")
    s.add_argument("--batch-size", type=int, default=None, help="default: evaluate.sample_batch_size of the config")
    s.add_argument("--device", **dev)

    e = sub.add_parser("evaluate", help="compute the metrics of a run into a JSON file with provenance")
    e.add_argument("--ckpt", required=True, type=Path)
    e.add_argument("--samples", required=True, type=Path, nargs="+", help="one or more sample shards (.npz)")
    e.add_argument("--out", required=True, type=Path, help="output metrics .json")
    e.add_argument("--weights", choices=("ema", "raw"), default="ema")
    e.add_argument("--feature-net", type=Path, default=None, help="digits classifier for fd_digits")
    e.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "replications", help="FID stats cache")
    e.add_argument("--device", **dev)

    f = sub.add_parser("figures", help="sample grid / 2-D density, progressive generation, loss curve")
    f.add_argument("--ckpt", required=True, type=Path)
    f.add_argument("--samples", required=True, type=Path, nargs="+", help="one or more sample shards (.npz)")
    f.add_argument("--out-dir", required=True, type=Path)
    f.add_argument("--device", **dev)
    return p


def _load_run(ckpt_path: Path, build: Callable, config_cls: type, weights: str, device: torch.device):
    ckpt = load_checkpoint(ckpt_path)
    cfg = from_dict(config_cls, ckpt["config"], f"{ckpt_path} (stored config)")
    method: Method = build(cfg)
    method.net.load_state_dict(ckpt["ema_net" if weights == "ema" else "net"])
    method.net.to(device).eval()
    return ckpt, cfg, method


def _write_json(obj: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(obj, indent=2, default=float))
    os.replace(tmp, path)


def cmd_train(args, build, config_cls, name: str) -> None:
    cfg = load(args.config, config_cls, args.set)
    if args.dry_run:
        print(json.dumps(to_dict(cfg), indent=2))
        return
    if args.out is None:
        raise SystemExit("train: --out is required (the final checkpoint path)")
    ddp = setup_distributed(args.device, default_device())
    try:
        _train(args, cfg, build, name, ddp)
    except TrainingStopped as stopped:
        if ddp.is_main:
            print(f"{name}: {stopped} (exit status {EXIT_RESUME})", flush=True)
        raise SystemExit(EXIT_RESUME) from None
    finally:
        teardown_distributed()


def _train(args, cfg, build, name: str, ddp) -> None:
    """The train command once the process group (if any) is up; only rank 0 writes files."""
    device = ddp.device
    torch.manual_seed(derive_seed(args.seed, "init"))  # identical initial weights on every rank
    method: Method = build(cfg)
    run_dir = args.out.parent
    n_params = sum(p.numel() for p in method.net.parameters())
    if ddp.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        dump(cfg, run_dir / "config.yaml")
        where = f", {ddp.world} processes" if ddp.world > 1 else ""
        job = f", SLURM job {os.environ['SLURM_JOB_ID']}" if "SLURM_JOB_ID" in os.environ else ""
        print(
            f"{name}: {args.config.stem}, seed {args.seed}, {n_params / 1e6:.3f}M parameters, device {device}"
            f"{where}{job}",
            flush=True,
        )
    extra = {"replication": name, "experiment": args.config.stem, "seed": args.seed, "config": to_dict(cfg)}
    data = DataSource(cfg.data, args.seed)
    with StopCondition(args.max_minutes) as stop:
        state = fit(
            method.net, method.loss, data, cfg.train, run_dir, seed=args.seed, device=device, extra=extra, stop=stop
        )
    if not ddp.is_main:
        return
    ema_net = {k.removeprefix("module."): v for k, v in state["ema"].items() if k != "n_averaged"}
    final = {
        **extra,
        "net": state["net"],
        "ema_net": ema_net,
        "step": state["step"],
        "n_params": n_params,
        "provenance": provenance(),
    }
    save_atomic(final, args.out)
    print(f"wrote {args.out}", flush=True)


def _count_calls(net: torch.nn.Module) -> list[int]:
    counter = [0]
    net.register_forward_pre_hook(lambda *_: counter.__setitem__(0, counter[0] + 1))
    return counter


def cmd_sample(args, build, config_cls, name: str) -> None:
    device = torch.device(args.device) if args.device else default_device()
    ckpt, cfg, method = _load_run(args.ckpt, build, config_cls, args.weights, device)
    batch = args.batch_size or cfg.evaluate.sample_batch_size
    calls, chunks, nfe = _count_calls(method.net), [], []
    with torch.no_grad():
        for start in range(0, len(args.seeds), batch):
            seeds = args.seeds[start : start + batch]
            gen = PerSampleGenerator(seeds, device)
            before = calls[0]
            x_prior = method.prior_sample((len(seeds), *cfg.data.shape), gen, device)
            chunks.append(method.sample(method.net, x_prior, generator=gen).float().cpu())
            nfe.append(calls[0] - before)
            print(f"sampled {start + len(seeds)}/{len(args.seeds)}", flush=True)
    x = torch.cat(chunks)
    if not torch.isfinite(x).all():
        raise FloatingPointError(f"non-finite samples from {args.ckpt}; not writing {args.out}")
    meta = {
        "replication": name,
        "experiment": ckpt["experiment"],
        "seed": ckpt["seed"],
        "sample_seeds": f"{args.seeds[0]}-{args.seeds[-1]}",
        "weights": args.weights,
        "nfe_per_sample": float(np.mean(nfe)),
        "provenance": provenance(),
    }
    arrays = {"x": x.numpy(), "seeds": np.asarray(args.seeds), "meta": np.asarray(json.dumps(meta))}
    if cfg.data.is_image:
        arrays["uint8"] = to_uint8(x, cfg.data.data_range).numpy()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(f".{args.out.stem}.tmp{os.getpid()}.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, args.out)
    print(f"wrote {args.out} ({len(x)} samples, NFE {meta['nfe_per_sample']:.0f})", flush=True)


def load_samples(paths: list[Path]) -> tuple[torch.Tensor, dict]:
    """Samples (N, *D) concatenated over shards written by ``sample``, and the metadata of the set."""
    xs, metas = [], []
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"samples file not found: {path}")
        with np.load(path) as f:
            xs.append(torch.from_numpy(f["x"]))
            metas.append(json.loads(str(f["meta"])))
    meta = dict(metas[0])
    meta["sample_seeds"] = ", ".join(m["sample_seeds"] for m in metas)
    meta["nfe_per_sample"] = float(np.mean([m["nfe_per_sample"] for m in metas]))
    meta["shards"] = [str(p) for p in paths]
    return torch.cat(xs), meta


def cmd_evaluate(args, build, config_cls, name: str) -> None:
    device = torch.device(args.device) if args.device else default_device()
    ckpt, cfg, method = _load_run(args.ckpt, build, config_cls, args.weights, device)
    samples, sample_meta = load_samples(args.samples)
    data = DataSource(cfg.data, ckpt["seed"])
    nll_fn = None
    if method.nll is not None:

        def nll_fn(x, gen):
            with torch.no_grad():
                return method.nll(method.net, x, gen)

    metrics, info = evaluate_run(
        data,
        cfg.evaluate,
        samples,
        nll_fn,
        device=device,
        seed=derive_seed(ckpt["seed"], "evaluate"),
        feature_net=args.feature_net,
        cache_dir=args.cache_dir,
    )
    metrics["nfe_per_sample"] = {"value": sample_meta["nfe_per_sample"], "stderr": None, "n": len(samples)}
    report = {
        "replication": name,
        "experiment": ckpt["experiment"],
        "dataset": cfg.data.name,
        "seed": ckpt["seed"],
        "train_steps": ckpt["step"],
        "weights": args.weights,
        "n_samples": len(samples),
        "metrics": metrics,
        "protocol": info,
        "samples": sample_meta,
        "config": ckpt["config"],
        "checkpoint_provenance": ckpt["provenance"],
        "provenance": provenance(),
    }
    _write_json(report, args.out)
    summary = ", ".join(f"{k} {v['value']:.4g}" for k, v in metrics.items())
    print(f"wrote {args.out}: {summary}", flush=True)


def cmd_figures(args, build, config_cls, name: str) -> None:
    from shared import figures

    device = torch.device(args.device) if args.device else default_device()
    ckpt, cfg, method = _load_run(args.ckpt, build, config_cls, "ema", device)
    samples, _ = load_samples(args.samples)
    out, title = args.out_dir, f"{name} · {ckpt['experiment']}"
    out.mkdir(parents=True, exist_ok=True)
    log = args.ckpt.parent / "train_log.csv"
    if log.is_file():
        figures.loss_curve(log, out / "loss.png", title=title)
    if not cfg.data.is_image:
        data = DataSource(cfg.data, ckpt["seed"]).test_points()
        figures.scatter_2d(samples.numpy(), data.numpy(), out / "samples.png", title=title)
        return
    figures.image_grid(to_uint8(samples[:64], cfg.data.data_range).numpy(), out / "samples.png", title=title)
    frames, times = [], []
    n_show = 8

    def keep(state: dict) -> None:
        frames.append(to_uint8(state.get("x0", state["x"]).float().cpu(), cfg.data.data_range).numpy())
        times.append(float(state["t"]))

    with torch.no_grad():
        gen = PerSampleGenerator(range(n_show), device)
        x_prior = method.prior_sample((n_show, *cfg.data.shape), gen, device)
        method.sample(method.net, x_prior, generator=gen, callback=keep)
    pick = np.unique(np.linspace(0, len(frames) - 1, 10).round().astype(int))
    figures.progressive_strip(
        np.stack([frames[i] for i in pick]),
        [times[i] for i in pick],
        out / "progressive.png",
        title=f"{title}: along the sampler (predicted x0 where the sampler has one)",
    )


COMMANDS = {"train": cmd_train, "sample": cmd_sample, "evaluate": cmd_evaluate, "figures": cmd_figures}


def main(build: Callable, config_cls: type, name: str, argv: list[str] | None = None) -> None:
    """Parse ``argv`` and run one command; config and file errors exit with status 2 and a one-line message."""
    args = _parser(name).parse_args(argv)
    try:
        COMMANDS[args.command](args, build, config_cls, name)
    except (ConfigError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
