"""Time a replication's training step and a sampling-size network evaluation on synthetic data; print JSON.

The step is the training loop's (loss, backward, clipping, Adam, EMA) with the config's fast-path switches
(train.bf16, train.channels_last, train.fused_adam, train.compile); the full-run projection scales the measured
examples/s to the config's own batch and steps.

    python benchmarks/train_step.py --replication ddpm --config replications/ddpm/configs/cifar10.yaml --steps 20
    python benchmarks/train_step.py --replication ddpm --config replications/ddpm/configs/cifar10.yaml \\
        --device cpu --set train.batch_size=8 --steps 3
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import time

import torch
from timing import peak_tflops, synchronize
from torch.utils.flop_counter import FlopCounterMode

from shared.config import load
from shared.pipeline.train import autocast, learning_rate, make_ema, make_optimizer, place_batch, place_net
from shared.utils import default_device


def synthetic_batch(cfg, n: int, device: torch.device) -> torch.Tensor:
    """n examples of the config's data shape and range: images uniform in the model range, toy points N(0, I)."""
    if not cfg.data.is_image:
        return torch.randn(n, *cfg.data.shape, device=device)
    x01 = torch.rand(n, *cfg.data.shape, device=device)
    return x01 if cfg.data.data_range == "[0,1]" else 2 * x01 - 1


def measure(
    replication: str,
    config: str,
    overrides: list[str],
    device: torch.device,
    steps: int = 20,
    warmup: int = 3,
    sample_batch: int | None = None,
    paper_overrides: list[str] | None = None,
) -> dict:
    """Seconds per training step and per net evaluation; the full run projected from examples/s.

    ``overrides`` shrink the config for the measurement (e.g. the batch, on a CPU); the projection uses the config
    with ``paper_overrides`` only (default: none), assuming examples/s does not depend on the batch.
    """
    config_cls = importlib.import_module(f"replications.{replication}.config").Config
    build = importlib.import_module(f"replications.{replication}.method").build
    cfg = load(config, config_cls, overrides)
    paper = load(config, config_cls, paper_overrides or [])
    method = build(cfg)
    tc = cfg.train
    net = place_net(method.net, tc, device)
    model = torch.compile(net) if tc.compile else net
    ema = make_ema(net, tc.ema_decay, tc.ema_warmup)
    opt = make_optimizer(net, tc)
    x = place_batch(synthetic_batch(cfg, tc.batch_size, device), tc, device)
    gen = torch.Generator(device=device).manual_seed(0)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()

    def step(k: int) -> int:
        """One step of shared.pipeline.train.fit's; returns the examples the loss averaged (PFGM: its small batch)."""
        for g in opt.param_groups:
            g["lr"] = learning_rate(tc, k)
        with autocast(tc, device):
            per_example = method.loss(model, x, gen)
        opt.zero_grad(set_to_none=True)
        per_example.float().mean().backward()
        if tc.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(net.parameters(), tc.grad_clip)
        opt.step()
        ema.update_parameters(net)
        return per_example.shape[0]

    net.train()
    try:
        with FlopCounterMode(display=False) as counter:  # matmuls, convolutions, attention of one forward + backward
            with autocast(tc, device):
                method.loss(net, x, gen).float().mean().backward()
        flops = counter.get_total_flops()
    except RuntimeError:  # FFJORD: its loss calls autograd.grad, which the counter's module hooks cannot follow
        flops = None
    for k in range(warmup):
        examples = step(k)
    synchronize(device)
    t0 = time.perf_counter()
    for k in range(steps):
        step(k)
    synchronize(device)
    train_s = (time.perf_counter() - t0) / steps
    examples_per_s = examples / train_s
    paper_examples = paper.train.batch_size * examples // tc.batch_size  # the same share of the paper's batch

    net.eval()
    xb = torch.randn(sample_batch or cfg.evaluate.sample_batch_size, *cfg.data.shape, device=device)
    c = torch.full((xb.shape[0],), 0.5, device=device)  # a conditioning value inside every net's range
    with torch.inference_mode():
        net(xb, c)
        synchronize(device)
        t0 = time.perf_counter()
        for _ in range(3):
            net(xb, c)
        synchronize(device)
    eval_s = (time.perf_counter() - t0) / 3
    peak = peak_tflops(device, "bf16" if tc.bf16 else "tf32")
    return {
        "replication": replication,
        "config": config,
        "overrides": overrides,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({platform.processor()})",
        "threads": torch.get_num_threads(),
        "params_M": round(sum(p.numel() for p in net.parameters()) / 1e6, 3),
        "batch_size": tc.batch_size,
        "examples_per_step": examples,
        "train_steps_per_s": 1 / train_s,
        "train_examples_per_s": examples_per_s,
        "train_tflops_per_step": flops / 1e12 if flops else None,
        "train_tflop_per_s": flops / train_s / 1e12 if flops else None,
        "mfu": flops / train_s / 1e12 / peak if flops and peak else None,
        "paper_steps": paper.train.steps,
        "paper_examples_per_step": paper_examples,
        "full_run_hours": paper.train.steps * paper_examples / examples_per_s / 3600,
        "sample_batch": xb.shape[0],
        "net_evals_per_s_at_sample_batch": 1 / eval_s,
        "sample_images_per_s_per_nfe": xb.shape[0] / eval_s,
        "peak_cuda_mem_GiB": torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--replication", required=True, help="e.g. ddpm")
    p.add_argument("--config", required=True)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config overrides")
    p.add_argument("--steps", type=int, default=20, help="timed steps (after 3 warm-up steps)")
    p.add_argument("--sample-batch", type=int, default=None, help="default: the config's evaluate.sample_batch_size")
    p.add_argument("--device", default=None)
    args = p.parse_args()
    device = torch.device(args.device) if args.device else default_device()
    print(json.dumps(measure(args.replication, args.config, args.set, device, args.steps, 3, args.sample_batch)))


if __name__ == "__main__":
    main()
