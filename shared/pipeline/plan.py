"""What a workflow config will cost before it starts: per run, its training, snapshots, selection and sampling, in
counted FLOPs and projected GPU-hours on a named GPU.

    python -m shared.pipeline.plan --configfile workflows/config/paper.yaml          # make paper-plan
    python -m shared.pipeline.plan --configfile workflows/config/paper.yaml --gpu A100 --mfu 0.4

How it counts, per run of the config's ``runs``:

* one net evaluation: the FLOPs of a forward pass at batch 1, counted by ``torch.utils.flop_counter`` on the meta
  device (matmuls, convolutions, attention; elementwise work is not counted);
* training: steps x examples per step x 3 forward passes (forward + backward; DDPM's U-Net counts 2.92, the
  benchmarks' measured train step); PFGM's net sees its perturbed small batch; FFJORD trains through an adaptive
  solver whose NFE is known only once it runs, so its training is not projected;
* sampling: samples x seeds x NFE per sample, the NFE counted by running the run's own sampler once with a stand-in
  net (an adaptive solver's NFE is assumed: ``--adaptive-nfe``, labelled so); a run with ``select`` scores every
  snapshot from ``select.first_step`` on ``select.n_samples`` samples the same way (min_quality), or the NLL of
  ``select.nll_examples`` held-out examples by an adaptive solve, each step a forward and a vector-Jacobian product
  (min_nll);
* disk: the final checkpoint (EMA + raw weights), the resumable state (+ Adam's two moments), and each snapshot.

GPU-hours = FLOPs / (the GPU's dense TF32 peak, or bf16 with train.bf16, x ``--mfu``): a projection from counted
FLOPs at a stated MFU, labelled "projected" until a device run measures the throughput (benchmarks/README.md).
Likelihood evaluation (bits/dim) is not included.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from collections.abc import Sequence
from pathlib import Path

import torch

from shared.config import ConfigError, load, read_yaml

# Dense peak TFLOP/s by (device-name substring, precision), most specific first; data sheets (sparse figures halved).
# fp32 eager convolutions and matmuls run on TF32 tensor cores (cudnn.allow_tf32 is True by default).
PEAK_TFLOPS = {
    "H200": {"tf32": 494.7, "bf16": 989.4},  # H200 SXM data sheet
    "H100 PCIe": {"tf32": 378.0, "bf16": 756.0},  # H100 PCIe data sheet
    "H100": {"tf32": 494.7, "bf16": 989.4},  # H100 SXM data sheet
    "A100": {"tf32": 156.0, "bf16": 312.0},  # A100 data sheet
}
ADAPTIVE = ("ode", "cnf")  # samplers whose NFE depends on the solution (dopri5 / RK45 at a tolerance)
FORWARD_AND_BACKWARD = 3  # FLOPs of a training example in forward passes (backward = 2 forwards)


def gpu_key(gpu: str) -> str:
    """The ``PEAK_TFLOPS`` key that ``gpu`` names (most specific first), e.g. "H100" for "NVIDIA H100 80GB HBM3"."""
    for key in PEAK_TFLOPS:
        if key.lower() in gpu.lower():
            return key
    raise ConfigError(f"--gpu {gpu}: unknown GPU; known: {', '.join(PEAK_TFLOPS)}")


def peak_of(gpu: str, precision: str) -> float:
    """The dense peak TFLOP/s of ``gpu`` at ``precision``."""
    return PEAK_TFLOPS[gpu_key(gpu)][precision]


def forward_flops(net: torch.nn.Module, shape: Sequence[int]) -> float:
    """FLOPs of one forward pass of ``net`` on one example of ``shape``, counted on the meta device (no memory)."""
    from torch.utils.flop_counter import FlopCounterMode

    net = net.to("meta")
    x, c = torch.empty(1, *shape, device="meta"), torch.full((1,), 0.5, device="meta")
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        net(x, c)
    return float(counter.get_total_flops())


def sampler_nfe(method, shape: Sequence[int], adaptive_nfe: float) -> tuple[float, str]:
    """(NFE per sample, label) of a method's sampler: counted by running it once on one sample with a stand-in net
    (x -> 0.1 x, same shape), or ``adaptive_nfe`` for an adaptive solver, labelled "assumed"."""
    from shared.pipeline.method import draw

    name = method.describe().get("sampler")
    if name in ADAPTIVE:
        return adaptive_nfe, f"{name}, {adaptive_nfe:g} NFE assumed"
    net = method.net
    net.forward = lambda x, c: 0.1 * x  # the instance's forward: every call still passes the NFE hook
    try:
        nfe = draw(method, tuple(shape), [0], 1).nfe_per_sample
    finally:
        del net.forward
    return nfe, f"{name}, {nfe:g} NFE"


def _resolve(run: dict, runs: list[dict]) -> tuple[str, list[str], bool]:
    """(the experiment whose config file a run uses, its sample-time overrides, whether it trains)."""
    exp, sets = run["experiment"], list(run.get("set") or [])
    trains = not run.get("checkpoint_of")
    seen = {exp}
    while True:
        entry = next((r for r in runs if r["replication"] == run["replication"] and r["experiment"] == exp), None)
        parent = entry and (entry.get("checkpoint_of") or entry.get("reflow_of"))
        if not parent or parent in seen:
            return exp, sets, trains
        seen.add(parent)
        exp = parent


def plan_run(run: dict, runs: list[dict], default_n: int, adaptive_nfe: float, root: Path) -> dict:
    """The cost of one run of a workflow config: FLOPs, NFE and disk (GPU-hours are the caller's)."""
    rep = run["replication"]
    base, sets, trains = _resolve(run, runs)
    spec = importlib.import_module(f"replications.{rep}.method").SPEC
    path = root / "replications" / rep / "configs" / f"{base}.yaml"
    if not path.is_file():
        raise ConfigError(f"runs: {rep}/{run['experiment']}: no config {path}")
    cfg = load(path, spec.config, sets)
    reflow = run.get("reflow_of")
    if reflow:  # the reflowed flow trains with the reflow section's budget, on pairs of its parent
        cfg = dataclasses.replace(cfg, train=cfg.reflow.train)
    method = spec.build(cfg)
    shape = tuple(cfg.data.shape)
    n_params = sum(p.numel() for p in method.net.parameters())
    nfe, sampler = sampler_nfe(method, shape, adaptive_nfe)
    fwd = forward_flops(method.net, shape)
    seeds = len(run.get("seeds", [0]))
    n = run.get("n_samples", default_n) * seeds
    tc = cfg.train
    examples = getattr(getattr(cfg, "target", None), "small_batch", tc.batch_size)  # PFGM: its perturbed batch
    if not trains:
        train_flops, training = 0.0, "- (samples another run's checkpoint)"
    elif rep == "ffjord":  # the CNF trains through an adaptive solve: its NFE per step is not known in advance
        train_flops, training = math.nan, f"{tc.steps:,} x {tc.batch_size} (adaptive NFE: not projected)"
    else:
        train_flops = float(tc.steps) * examples * FORWARD_AND_BACKWARD * fwd * seeds
        training = f"{tc.steps:,} x {tc.batch_size}"
    if reflow and trains:
        train_flops += cfg.reflow.n_pairs * adaptive_nfe * fwd * seeds  # the pairs: the parent's ODE from noise
        training += f" + {cfg.reflow.n_pairs:,} pairs"
    snapshots = math.ceil(tc.steps / tc.snapshot_every) if trains and tc.snapshot_every else 0
    rule = cfg.select.rule if run.get("select") is True else run.get("select")
    scored = sum(1 for k in range(1, snapshots + 1) if min(k * tc.snapshot_every, tc.steps) >= cfg.select.first_step)
    select_flops = 0.0
    if rule == "min_quality":
        select_flops = scored * cfg.select.n_samples * nfe * fwd * seeds
    elif rule == "min_nll":  # an adaptive likelihood solve per example and draw: a forward and a VJP a step
        draws = max(1, cfg.evaluate.dequantization_draws)
        select_flops = scored * cfg.select.nll_examples * draws * adaptive_nfe * FORWARD_AND_BACKWARD * fwd * seeds
    weights = 4 * n_params  # float32 bytes
    disk = (2 * weights + 4 * weights + 2 * weights * snapshots) * seeds if trains else 0
    return {
        "run": f"{rep}/{run['experiment']}",
        "params": n_params,
        "precision": "bf16" if tc.bf16 else "tf32",
        "training": training,
        "train_flops": train_flops,
        "snapshots": snapshots,
        "disk_gb": disk / 1e9,
        "sampling": f"{n:,} x {sampler}",
        "sample_flops": n * nfe * fwd,
        "select": rule or "last",
        "select_flops": select_flops,
    }


def table(rows: list[dict], gpu: str, mfu: float) -> str:
    """The plan as Markdown, GPU-hours projected on ``gpu`` at ``mfu``, with a total row."""

    def hours(flops: float, precision: str) -> float:
        return flops / (peak_of(gpu, precision) * 1e12 * mfu) / 3600

    def fmt(h: float) -> str:
        return "n/a" if math.isnan(h) else f"{h:,.1f}"

    peaks = ", ".join(f"{k} {v:g}" for k, v in PEAK_TFLOPS[gpu_key(gpu)].items())
    lines = [
        f"Projected on one {gpu} at MFU {mfu:.0%} of its dense peak ({peaks} TFLOP/s), from counted FLOPs: no device "
        "run has measured the throughput yet.",
        "",
        "| run | params | steps x batch | train GPU-h | snapshots (disk GB) | selection GPU-h | samples x sampler "
        "| sampling GPU-h | total GPU-h |",
        "|:--|--:|:--|--:|:--|--:|:--|--:|--:|",
    ]
    total = {"train": 0.0, "select": 0.0, "sample": 0.0, "disk": 0.0}
    for r in rows:
        t, s, q = (hours(r[k], r["precision"]) for k in ("train_flops", "select_flops", "sample_flops"))
        run_total = sum(v for v in (t, s, q) if not math.isnan(v))
        total["train"] += 0.0 if math.isnan(t) else t
        total["select"] += s
        total["sample"] += q
        total["disk"] += r["disk_gb"]
        lines.append(
            f"| {r['run']} | {r['params'] / 1e6:.1f}M | {r['training']} | {fmt(t)} | {r['snapshots']} "
            f"({r['disk_gb']:.1f}) | {fmt(s) if r['select'] != 'last' else '-'} ({r['select']}) | {r['sampling']} "
            f"| {fmt(q)} | {run_total:,.1f} |"
        )
    grand = total["train"] + total["select"] + total["sample"]
    lines.append(
        f"| **total** | | | {total['train']:,.1f} | ({total['disk']:.1f}) | {total['select']:,.1f} | "
        f"| {total['sample']:,.1f} | **{grand:,.1f}** |"
    )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    from shared.entry import command_parser, guarded
    from shared.io.artifacts import check_output

    p = command_parser("shared.pipeline.plan", __doc__)
    p.add_argument("--configfile", type=Path, nargs="+", default=[Path("workflows/config/paper.yaml")])
    p.add_argument("--gpu", default="H100", help=f"one of {', '.join(PEAK_TFLOPS)} (default: H100, SXM)")
    p.add_argument("--mfu", type=float, default=0.35, help="assumed model FLOPs utilisation (default: 0.35)")
    p.add_argument("--adaptive-nfe", type=float, default=150.0, help="assumed NFE of an adaptive solve (default 150)")
    p.add_argument("--out", type=Path, default=None, help="also write the table here (Markdown)")
    args = p.parse_args(argv)

    def run() -> None:
        if not 0 < args.mfu <= 1:
            raise ConfigError(f"--mfu: expected a fraction in (0, 1], got {args.mfu}")
        if not args.adaptive_nfe > 0:
            raise ConfigError(f"--adaptive-nfe: expected a positive number, got {args.adaptive_nfe}")
        gpu_key(args.gpu)  # an unknown GPU is refused before any counting
        if args.out is not None:
            check_output(args.out)
        config: dict = {}
        for path in args.configfile:
            if not path.is_file():
                raise ConfigError(f"--configfile {path}: no such file")
            data = read_yaml(path)
            if not isinstance(data, dict) or not isinstance(data.get("runs", []), list):
                raise ConfigError(f"--configfile {path}: expected a workflow config (a mapping with a list of runs)")
            config.update(data)  # later files replace earlier keys, as Snakemake's --configfile does
        runs = config.get("runs") or []
        known = {p.parent.name for p in (Path(__file__).resolve().parents[2] / "replications").glob("*/__main__.py")}
        for r in runs:
            if not isinstance(r, dict) or r.get("replication") not in known or not r.get("experiment"):
                raise ConfigError(f"runs: {r!r}: needs replication (one of {', '.join(sorted(known))}) and experiment")
        default_n = (config.get("sample") or {}).get("n_samples", 1000)
        root = Path(__file__).resolve().parents[2]
        rows = [plan_run(r, runs, default_n, args.adaptive_nfe, root) for r in runs]
        text = table(rows, args.gpu, args.mfu)
        print(text, end="")
        if args.out is not None:
            from shared.io.atomic import save_text

            save_text(text, args.out)

    guarded(run)


if __name__ == "__main__":
    main()
