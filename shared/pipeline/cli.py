"""The one command line of every replication: ``python -m replications.<paper> train|sample|evaluate|figures``,
and the commands a replication adds (``Spec.commands``, e.g. ``python -m replications.flow_matching reflow``).

This module is the argparse face only; ``shared.pipeline.runner`` does the work. Each replication's ``__main__`` calls
``main(SPEC)`` with its ``shared.pipeline.method.Spec``; Snakemake rules call these commands.

A bad input (config value, file, path, option, device) stops the command before any compute with one line,
``error: <file or key>: <what is wrong>; <what to do>``, and exit status 2; nothing that looks finished is left.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import re
import sys
from pathlib import Path

import torch

from shared.config import ConfigError, load, to_dict
from shared.entry import guarded
from shared.io.artifacts import check_output
from shared.pipeline import runner, sweep
from shared.pipeline.distributed import EXIT_RESUME, TrainingStopped
from shared.pipeline.distributed import setup as setup_distributed
from shared.pipeline.distributed import teardown as teardown_distributed
from shared.pipeline.method import Spec
from shared.utils import default_device

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


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def minutes(text: str) -> float:
    """An argparse type: a finite number of minutes >= 0 (0: checkpoint after the first step and stop)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected a number of minutes >= 0, got {text!r}")
    return value


def run_name(text: str) -> str:
    """A run's name: letters, digits, _ and - (it names folders and table rows)."""
    if not re.fullmatch(r"[A-Za-z0-9_\-]+", text):
        raise argparse.ArgumentTypeError(f"expected letters, digits, _ or -, got {text!r}")
    return text


def resolve_device(name: str | None) -> torch.device:
    """The torch device of ``--device`` (None: $REPLICATIONS_DEVICE, else cuda if available, else cpu), checked.

    Raises:
        ConfigError: not a device name, or a device this machine does not have.
    """
    env = os.environ.get("REPLICATIONS_DEVICE")
    what = f"--device {name}" if name else f"REPLICATIONS_DEVICE={env}" if env else "device"
    try:
        dev = torch.device(name) if name else default_device()
    except (RuntimeError, ValueError):
        raise ConfigError(f"{what}: not a torch device (e.g. cpu, cuda, cuda:1)") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"{what}: no CUDA GPU is available on this machine; use --device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"{what}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"{what}: MPS is not available on this machine; use --device cpu")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"{what}: unsupported device type {dev.type!r}; use cpu or cuda")
    return dev


def _parser(spec: Spec) -> argparse.ArgumentParser:
    name = spec.name
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
    t.add_argument("--experiment", type=run_name, default=None, help="the run's name (default: the config's stem)")
    t.add_argument("--seed", type=int, default=0, help="run seed (default: 0)")
    t.add_argument("--out", type=Path, help="final checkpoint path; its folder holds the run's state and logs")
    t.add_argument("--device", **dev)
    t.add_argument(
        "--max-minutes",
        type=minutes,
        default=None,
        help=f"checkpoint and exit with status {EXIT_RESUME} after this many minutes (chain jobs under a time limit)",
    )
    t.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")

    s = sub.add_parser(
        "sample",
        help="draw samples with per-sample seeds (batch-size independent unless the sampler uses batch statistics, "
        "e.g. Score-SDE's batch-mean Langevin norms)",
    )
    s.add_argument("--ckpt", required=True, type=Path)
    s.add_argument("--seeds", required=True, type=parse_seeds, help="inclusive seed range, e.g. 0-999")
    s.add_argument("--out", required=True, type=Path, help="output .npz")
    s.add_argument("--weights", choices=("ema", "raw"), default="ema", help="which weights to use (default: ema)")
    s.add_argument(
        "--batch-size", type=positive_int, default=None, help="default: evaluate.sample_batch_size of the config"
    )
    s.add_argument("--device", **dev)
    _variant_options(s)

    e = sub.add_parser("evaluate", help="compute the metrics of a run into a JSON file with provenance")
    e.add_argument("--ckpt", required=True, type=Path)
    e.add_argument("--samples", required=True, type=Path, nargs="+", help="one or more sample shards (.npz)")
    e.add_argument("--out", required=True, type=Path, help="output metrics .json")
    e.add_argument("--weights", choices=("ema", "raw"), default="ema")
    e.add_argument("--feature-net", type=Path, default=None, help="digits classifier for fd_digits")
    e.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "replications", help="FID stats cache")
    e.add_argument("--device", **dev)
    _variant_options(e)
    _sweep_options(e)

    f = sub.add_parser("figures", help="sample grid / 2-D density, progressive generation, loss curve")
    f.add_argument("--ckpt", required=True, type=Path)
    f.add_argument("--samples", required=True, type=Path, nargs="+", help="one or more sample shards (.npz)")
    f.add_argument("--out-dir", required=True, type=Path)
    f.add_argument("--device", **dev)
    _variant_options(f)
    for command, own in spec.commands.items():  # listed in --help; main() hands them their arguments unparsed
        sub.add_parser(command, help=f"{own.help} (python -m replications.{name} {command} --help)", add_help=False)
    return p


def _variant_options(p: argparse.ArgumentParser) -> None:
    """--set / --experiment of the commands that read a trained checkpoint: sample it another way."""
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="sample-time override of the stored config (sample.*, likelihood.*, evaluate.*), e.g. "
        "'sample={kind: ode, rtol: 1e-5, atol: 1e-5}'; recorded in the samples and metrics",
    )
    p.add_argument(
        "--experiment",
        type=run_name,
        default=None,
        help="the name its samples and metrics carry (a variant of the trained run; default: the trained one)",
    )


def positive_float(text: str) -> float:
    """An argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def _sweep_options(p: argparse.ArgumentParser) -> None:
    """--sweep and its settings: the run's quality against NFE (``shared.pipeline.sweep``) in the same job."""
    g = p.add_argument_group(
        "quality against NFE (optional): the rows of python -m shared.pipeline.sweep --ckpt CKPT --out ROWS.json, "
        "swept in this job on the run it has loaded"
    )
    g.add_argument("--sweep", type=Path, default=None, metavar="ROWS.json", help="write the sweep's rows here")
    g.add_argument(
        "--sweep-family", nargs="+", default=["all"], help="sampler families (the run's Spec.budgets) or all"
    )
    g.add_argument("--sweep-values", type=positive_float, nargs="+", default=list(sweep.DEFAULT_VALUES))
    g.add_argument("--sweep-tolerances", type=positive_float, nargs="+", default=None, help="tolerance families' grid")
    g.add_argument("--sweep-n", type=positive_int, default=sweep.DEFAULT_N, help="samples per point (seeds 0..n-1)")
    g.add_argument("--sweep-label", default=None, help="the rows' run label (default: <paper>/<experiment>)")


def _load(args, spec: Spec, weights: str, device: torch.device) -> runner.Run:
    return runner.load_run(args.ckpt, spec, weights, device, args.set, args.experiment)


def _device(args) -> torch.device:
    return resolve_device(args.device)


def cmd_train(args, spec: Spec) -> None:
    cfg = load(args.config, spec.config, args.set)
    if args.dry_run:
        print(json.dumps(to_dict(cfg), indent=2))
        return
    if args.out is None:
        raise ConfigError("train: --out is required (the final checkpoint path)")
    check_output(args.out)
    ddp = setup_distributed(_device(args), default_device())
    try:
        runner.train(spec, cfg, args.config, args.seed, args.out, ddp, args.max_minutes, args.experiment)
    except TrainingStopped as stopped:
        if ddp.is_main:
            print(f"{spec.name}: {stopped} (exit status {EXIT_RESUME})", flush=True)
        raise SystemExit(EXIT_RESUME) from None
    finally:
        teardown_distributed()


def cmd_sample(args, spec: Spec) -> None:
    device = _device(args)
    check_output(args.out)
    run = _load(args, spec, args.weights, device)
    batch = args.batch_size or run.cfg.evaluate.sample_batch_size
    runner.write_samples(run, args.seeds, batch, device, args.out, args.weights)


def cmd_evaluate(args, spec: Spec) -> None:
    device = _device(args)
    check_output(args.out)
    if args.sweep is not None:
        check_output(args.sweep, option="--sweep")
    run = _load(args, spec, args.weights, device)
    if args.sweep is not None and not sweep.chosen_families(run, args.sweep_family):
        raise ConfigError(
            f"--sweep-family: {run.spec.name} declares none of {args.sweep_family}; "
            f"choose from {sorted(run.spec.budgets)} or all"
        )
    if args.feature_net is not None:  # checked now, not after the likelihood has run (the samples are read first)
        from shared.metrics.digits_features import load_classifier

        load_classifier(args.feature_net)
    runner.evaluate(run, args.samples, args.out, args.weights, args.feature_net, args.cache_dir, device)
    if args.sweep is not None:
        rows = sweep.sweep_run(
            run, args.sweep_family, args.sweep_values, args.sweep_n, args.feature_net, args.sweep_label,
            sweep.BATCH_SIZE, device, args.sweep_tolerances,
        )  # fmt: skip
        sweep.save_rows(rows, args.sweep)


def cmd_figures(args, spec: Spec) -> None:
    device = _device(args)
    check_output(args.out_dir, folder=True, option="--out-dir")
    run = _load(args, spec, "ema", device)
    runner.figures(run, args.samples, args.out_dir, device)


COMMANDS = {"train": cmd_train, "sample": cmd_sample, "evaluate": cmd_evaluate, "figures": cmd_figures}


def main(spec: Spec, argv: list[str] | None = None) -> None:
    """Parse ``argv`` and run one command of ``spec``'s replication.

    Bad inputs (config, files, paths, device) and I/O errors print one line and exit with status 2; a run that
    diverges (non-finite loss or samples) prints one line and exits with status 1.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in spec.commands:  # the replication's own command parses its own options
        own = importlib.import_module(spec.commands[argv[0]].module)

        def run() -> None:
            own.main(argv[1:])

    else:
        args = _parser(spec).parse_args(argv)

        def run() -> None:
            COMMANDS[args.command](args, spec)

    guarded(run)
