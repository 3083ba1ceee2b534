"""One benchmark command: speed and memory of the shared core, each figure a ratio against a reference run in the
same process, interleaved, min and median of >= 5 repeats (``timing.interleaved``).

Sections:
  unet     DDPM's CIFAR-10 U-Net against diffusers' UNet2DModel of the same architecture: training step (forward,
           backward, clipping, Adam, EMA) and forward at the sampling batch; then the training loop's fast paths
           against eager fp32, with FLOPs, MFU (CUDA) and peak memory (bench_unet.py)
  ode      probability-flow ODE: torchdiffeq dopri5 on the device against scipy RK45 on the host (bench_ode.py)
  fid      FID feature extraction, images/s, against clean-fid's own path (bench_fid.py)
  pfgm     PFGM's field target per batch against the materialised (B, M, N + 1) differences (bench_pfgm.py)
  configs  examples/s and projected full-run wall time of every paper config (bench_configs.py)

Writes <out>/<date>-<host>.md and .json (with commit, machine, torch and the arguments). The defaults fit a 2-core
CPU in under 10 minutes; on a GPU the sizes are the papers' (see --help of each size).

    make bench                                   # CPU, all sections
    make bench BENCH_ARGS="--device cuda"        # on a GPU: paper batch sizes, torch.compile included
    python benchmarks/bench.py --sections unet ode --repeats 7
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import socket
import sys
import time
from pathlib import Path

import pandas as pd
import torch

from shared.io.provenance import provenance

SECTIONS = ("unet", "ode", "fid", "pfgm", "configs")
# (CPU, CUDA) defaults: small enough for 2 CPU cores; the papers' sizes on a GPU.
SIZES = {
    "train_batch": (16, 128),  # DDPM App. B: 128
    "sample_batch": (32, 1000),  # our DDPM config's evaluate.sample_batch_size
    "ode_batch": (64, 256),
    "fid_images": (32, 5000),
    "fid_batch": (32, 250),
    "pfgm_small": (32, 128),  # PFGM App. B.1.1: 128 perturbed points against 4096 charges
    "pfgm_large": (4096, 4096),
    "config_batch": (4, None),  # None: each config's own batch
}


def run_provenance(args, device: torch.device) -> dict:
    """``shared.io.provenance`` (commit, packages, host, time) with the device, threads, diffusers and the arguments."""
    try:
        diffusers = importlib.metadata.version("diffusers")
    except importlib.metadata.PackageNotFoundError:
        diffusers = "not installed"
    return {
        **provenance(),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu: {cpu_name()}",
        "cpu_threads": torch.get_num_threads(),
        "diffusers": diffusers,
        "args": vars(args),
    }


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} cores)"
    except OSError:
        pass
    return f"{platform.processor() or platform.machine()} ({os.cpu_count()} cores)"


def table(rows: list[dict]) -> str:
    return pd.DataFrame(rows).to_markdown(index=False, floatfmt=".4g")


def ms(t: dict) -> str:
    return f"{1e3 * t['min_s']:.1f} / {1e3 * t['median_s']:.1f}"


def timed(v) -> bool:
    """Whether a result entry is a timed candidate (not a size or a ratio)."""
    return isinstance(v, dict) and "median_s" in v


def against(title: str, rows: list[dict], reference: str, ratio: dict, note: str = "") -> list[str]:
    """A section: heading, table, and the speed-up against the reference (its time / ours)."""
    end = f"; {note.strip()}" if note else "."
    line = f"Speed-up ({reference} / ours): min {ratio['min']:.3g}, median {ratio['median']:.3g}{end}"
    return [f"## {title}", "", table(rows), "", line, ""]


def report(res: dict) -> str:
    """The Markdown page of one run."""
    p = res["provenance"]
    commit = p["git_commit"]
    lines = [
        f"# Benchmark {p['created']}",
        "",
        f"commit `{commit[:7]}`{' (uncommitted changes)' if commit.endswith('+dirty') else ''}, {p['device']}, "
        f"{p['cpu_threads']} torch threads, torch {p['packages']['torch']}, Python {p['python']}, host `{p['host']}`.",
        "Times are min / median over the repeats (ms), every pair interleaved in one process; "
        "speed-up = reference time / ours (> 1: ours faster).",
        "",
    ]
    if "unet" in res:
        u, f = res["unet"]["peer"], res["unet"]["fast_paths"]
        lines += [
            "## DDPM CIFAR-10 U-Net against diffusers' UNet2DModel (same architecture)",
            "",
            f"Parameters: ours {u['params']['ours']:,}, diffusers {u['params']['diffusers']:,}. Training FLOPs per "
            f"step (forward + backward, counted): ours {u['train_flops']['ours'] / 1e9:.1f} G, diffusers "
            f"{u['train_flops']['diffusers'] / 1e9:.1f} G at batch {u['train_batch']}.",
            "",
            table(
                [
                    {
                        "measure": f"train step, batch {u['train_batch']}",
                        "ours (ms)": ms(u["train_step"]["ours"]),
                        "diffusers (ms)": ms(u["train_step"]["diffusers"]),
                        "speed-up min": u["train_speedup"]["min"],
                        "speed-up median": u["train_speedup"]["median"],
                    },
                    {
                        "measure": f"forward, batch {u['sample_batch']}",
                        "ours (ms)": ms(u["forward"]["ours"]),
                        "diffusers (ms)": ms(u["forward"]["diffusers"]),
                        "speed-up min": u["forward_speedup"]["min"],
                        "speed-up median": u["forward_speedup"]["median"],
                    },
                ]
            ),
            "",
            f"### Training-loop fast paths (our U-Net, batch {u['train_batch']})",
            "",
            table(
                [
                    {
                        "variant": name,
                        "step (ms)": ms(v),
                        "speed-up median": v["speedup_vs_eager"]["median"],
                        "examples/s": v["examples_per_s"],
                        "TFLOP/s": v["tflops"],
                        "MFU": v["mfu"] if v["mfu"] is not None else "n/a (CPU)",
                        "peak mem (GiB)": v["peak_mem_gib"] if v["peak_mem_gib"] is not None else "n/a (CPU)",
                    }
                    for name, v in f.items()
                ]
            ),
            "",
        ]
    if "ode" in res:
        o = res["ode"]
        rows = [
            {"solver": n, "wall (ms)": ms(o[n]), "NFE": o[n]["nfe"], "max abs error": o[n]["max_abs_err"],
             "rms error": o[n]["rms_err"]}
            for n in ("ours", "scipy RK45")
        ]  # fmt: skip
        title = f"Probability-flow ODE, exact Gaussian score, {o['dims']} dims, batch {o['batch']}, tol {o['rtol']:g}"
        lines += against(title, rows, "scipy", o["speedup"])
    if "fid" in res:
        fi = res["fid"]
        rows = [{"path": n, "time (ms)": ms(v), "images/s": v["images_per_s"]} for n, v in fi.items() if timed(v)]
        title = f"FID feature extraction, {fi['images']} images 32x32, batch {fi['batch']}"
        lines += against(title, rows, "clean-fid", fi["speedup"])
    if "pfgm" in res:
        pf = res["pfgm"]
        rows = [
            {"implementation": n, "time per batch (ms)": ms(pf[n]), "peak memory (GiB)": pf[n]["peak_mem_gib"]}
            for n in ("ours", "materialised")
        ]
        title = f"PFGM field target, {pf['small_batch']} points against {pf['large_batch']} charges, N = {pf['dims']}"
        note = f" the two targets agree to {pf['max_abs_difference']:.2g} (max abs difference)."
        lines += against(title, rows, "materialised", pf["speedup"], note)
    if "configs" in res:
        rows, failed = [], []
        for r in res["configs"]:
            if "error" in r:
                failed.append(f"- `{r['config']}` failed: {r['error']}")
                continue
            rows.append(
                {
                    "config": r["config"].removeprefix("replications/"),
                    "params (M)": r["params_M"],
                    "measured batch": r["examples_per_step"],
                    "examples/s": r["train_examples_per_s"],
                    "TFLOP/s": f"{r['train_tflop_per_s']:.4g}" if r["train_tflop_per_s"] is not None else "not counted",
                    "MFU": r["mfu"] if r["mfu"] is not None else ("n/a (CPU)" if "cpu" in r["device"] else "-"),
                    "paper steps x examples": f"{r['paper_steps']:,} x {r['paper_examples_per_step']}",
                    "projected full run (h)": r["full_run_hours"],
                    "net evals/s": r["net_evals_per_s_at_sample_batch"],
                    "sample batch": r["sample_batch"],
                    "peak mem (GiB)": r["peak_cuda_mem_GiB"] if r["peak_cuda_mem_GiB"] is not None else "n/a (CPU)",
                }
            )
        lines += ["## Paper configs: training throughput and projected full run", "", table(rows), "", *failed]
    lines += [f"Total benchmark wall time: {res['wall_s']:.0f} s.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda[:i]")
    p.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    p.add_argument("--repeats", type=int, default=5, help="timed repeats of every measurement (>= 5)")
    p.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="time the torch.compile fast path too (default: on CUDA only; on a CPU it compiles for minutes)",
    )
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    for key, (cpu, cuda) in SIZES.items():
        flag = f"--{key.replace('_', '-')}"
        p.add_argument(flag, type=int, default=None, help=f"default: {cpu} on CPU, {cuda} on CUDA")
    args = p.parse_args(argv)
    if args.repeats < 5:
        p.error(f"--repeats must be >= 5 (min and median of at least five), got {args.repeats}")
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        p.error(f"--device {args.device}: CUDA is not available on this machine")
    if args.threads:
        torch.set_num_threads(args.threads)
    size = {k: getattr(args, k) or v[device.type == "cuda"] for k, v in SIZES.items()}
    compile_ = device.type == "cuda" if args.compile is None else args.compile
    if "unet" in args.sections:
        try:
            import diffusers  # noqa: F401
        except ImportError:
            p.error("the unet section needs diffusers, the benchmark-only extra: pip install -e '.[bench]'")

    sys.path.insert(0, str(Path(__file__).parent))
    import bench_configs
    import bench_fid
    import bench_ode
    import bench_pfgm
    import bench_unet

    t0 = time.time()
    res: dict = {"provenance": run_provenance(args, device), "sizes": size}
    if "unet" in args.sections:
        print("unet: ours against diffusers, then the fast paths", flush=True)
        res["unet"] = bench_unet.run(device, size["train_batch"], size["sample_batch"], args.repeats, compile_)
    if "ode" in args.sections:
        print("ode: torchdiffeq against scipy", flush=True)
        res["ode"] = bench_ode.run(device, size["ode_batch"], args.repeats)
    if "fid" in args.sections:
        print("fid: feature extraction", flush=True)
        res["fid"] = bench_fid.run(device, size["fid_images"], size["fid_batch"], args.repeats)
    if "pfgm" in args.sections:
        print("pfgm: field target", flush=True)
        res["pfgm"] = bench_pfgm.run(device, size["pfgm_small"], size["pfgm_large"], args.repeats)
    if "configs" in args.sections:
        print("configs: paper configs", flush=True)
        res["configs"] = bench_configs.run(device, size["config_batch"], size["config_batch"], 2, None)
    res["wall_s"] = time.time() - t0

    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"{datetime.date.today().isoformat()}-{socket.gethostname()}"
    text = report(res)
    tmp_md, tmp_json = stem.with_suffix(".md.tmp"), stem.with_suffix(".json.tmp")
    tmp_md.write_text(text)
    tmp_json.write_text(json.dumps(res, indent=1, default=str))
    tmp_md.replace(stem.with_suffix(".md"))  # written whole or not at all
    tmp_json.replace(stem.with_suffix(".json"))
    print(text)
    print(f"wrote {stem}.md and {stem}.json")


if __name__ == "__main__":
    main()
