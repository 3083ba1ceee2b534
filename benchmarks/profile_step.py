"""torch.profiler of one training step of DDPM's CIFAR-10 U-Net (forward, backward, clipping, Adam, EMA): the
top ops by self time, as a Markdown table.

    python benchmarks/profile_step.py                       # CPU, batch 16, eager fp32
    python benchmarks/profile_step.py --bf16 --fused-adam   # with fast paths
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).parent))
from bench_unet import TrainStep, inputs, ours  # noqa: E402

from shared.pipeline.train import TrainConfig  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--top", type=int, default=5)
    p.add_argument("--bf16", action="store_true")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--fused-adam", action="store_true")
    args = p.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    switches = TrainConfig(bf16=args.bf16, channels_last=args.channels_last, fused_adam=args.fused_adam)
    step = TrainStep(ours().to(device), *inputs(args.batch, device), switches)
    for _ in range(2):
        step()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
    key = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    events = sorted(prof.key_averages(), key=lambda e: getattr(e, key), reverse=True)
    total = sum(getattr(e, key) for e in events)
    print(f"total self time {total / 1e3:.0f} ms ({device.type}, batch {args.batch})\n")
    print("| op | self time (ms) | share | calls |\n|---|---:|---:|---:|")
    for e in events[: args.top]:
        t = getattr(e, key)
        print(f"| {e.key} | {t / 1e3:.1f} | {100 * t / total:.1f} % | {e.count} |")


if __name__ == "__main__":
    main()
