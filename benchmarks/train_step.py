"""Time a replication's training step and a sampling-size network evaluation on synthetic data; print JSON."""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import time

import torch

from shared.config import load
from shared.train import learning_rate, make_ema
from shared.utils import default_device


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--replication", required=True, help="e.g. ddpm")
    p.add_argument("--config", required=True)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--steps", type=int, default=20, help="timed steps (after 3 warm-up steps)")
    p.add_argument("--device", default=None)
    args = p.parse_args()

    config_cls = importlib.import_module(f"replications.{args.replication}.config").Config
    build = importlib.import_module(f"replications.{args.replication}.method").build
    cfg = load(args.config, config_cls, args.set)
    device = torch.device(args.device) if args.device else default_device()
    method = build(cfg)
    net = method.net.to(device)
    ema = make_ema(net, cfg.train.ema_decay)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.train.lr)
    x = torch.randn(cfg.train.batch_size, *cfg.data.shape, device=device).clamp(-1, 1)
    gen = torch.Generator(device=device).manual_seed(0)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()

    def step(k: int) -> None:
        for g in opt.param_groups:
            g["lr"] = learning_rate(cfg.train, k)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.train.bf16):
            loss = method.loss(net, x, gen).float().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.train.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.train.grad_clip)
        opt.step()
        ema.update_parameters(net)

    for k in range(3):
        step(k)
    sync(device)
    t0 = time.perf_counter()
    for k in range(args.steps):
        step(k)
    sync(device)
    train_s = (time.perf_counter() - t0) / args.steps

    net.eval()
    xb = torch.randn(cfg.evaluate.sample_batch_size, *cfg.data.shape, device=device)
    c = torch.full((xb.shape[0],), 500.0, device=device)
    with torch.no_grad():
        net(xb, c)
        sync(device)
        t0 = time.perf_counter()
        for _ in range(5):
            net(xb, c)
        sync(device)
    eval_s = (time.perf_counter() - t0) / 5
    out = {
        "replication": args.replication,
        "config": args.config,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({platform.processor()})",
        "threads": torch.get_num_threads(),
        "params_M": round(sum(p.numel() for p in net.parameters()) / 1e6, 3),
        "batch_size": cfg.train.batch_size,
        "train_steps_per_s": round(1 / train_s, 3),
        "train_examples_per_s": round(cfg.train.batch_size / train_s, 1),
        "full_run_hours": round(cfg.train.steps * train_s / 3600, 2),
        "sample_batch": xb.shape[0],
        "net_evals_per_s_at_sample_batch": round(1 / eval_s, 2),
        "peak_cuda_mem_GiB": round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
        if device.type == "cuda"
        else None,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
