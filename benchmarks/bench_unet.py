"""DDPM's CIFAR-10 U-Net (35.7M) against huggingface diffusers' UNet2DModel built to the same architecture.

Both nets get the same training step (eps-prediction MSE, backward, clip at 1, Adam, EMA of the weights with torch's
AveragedModel), the same inputs and the same interleaved timer; then forward passes at the sampling batch; then our
training loop's fast paths (``TrainConfig`` switches) against our eager fp32 step.

FLOPs are counted by ``torch.utils.flop_counter.FlopCounterMode`` on one forward + backward: matmuls,
convolutions and attention (by their shapes); elementwise work (GroupNorm, SiLU, Adam, EMA) is not counted, so MFU
is the tensor-math utilisation. Peaks are the dense (no sparsity) figures of NVIDIA's data sheets.
"""

from __future__ import annotations

import copy

import torch
from timing import interleaved, peak_memory_gib, peak_memory_reset, peak_tflops, speedup, synchronize
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from shared.nets.unet import UNet, UNetConfig
from shared.pipeline.train import TrainConfig, autocast, make_ema, make_optimizer, place_batch, place_net


def diffusers_peer() -> nn.Module:
    """UNet2DModel with DDPM's CIFAR-10 architecture (Ho et al. 2020, App. B), called like ours: net(x, t)."""
    from diffusers import UNet2DModel  # the benchmark-only extra: pip install .[bench]

    class Peer(nn.Module):
        def __init__(self):
            super().__init__()
            self.unet = UNet2DModel(
                sample_size=32,
                in_channels=3,
                out_channels=3,
                block_out_channels=(128, 256, 256, 256),  # ch 128, ch_mult (1, 2, 2, 2)
                down_block_types=("DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"),  # attention at 16
                up_block_types=("UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
                layers_per_block=2,  # two residual blocks per level
                norm_num_groups=32,
                norm_eps=1e-6,
                dropout=0.1,
                flip_sin_to_cos=False,  # DDPM's sinusoidal embedding: sin first, then cos
                freq_shift=1,
                downsample_padding=0,
                attention_head_dim=None,  # one head over all channels
            )

        def forward(self, x, t):
            return self.unet(x, t).sample

    return Peer()


def ours() -> nn.Module:
    return UNet(UNetConfig(), 3, 32)


class TrainStep:
    """One training step of ``net`` on fixed inputs, set up as ``shared.pipeline.train.fit`` sets it up from ``cfg``
    (its fast-path switches bf16, channels_last, fused_adam, compile; its clipping, Adam and EMA)."""

    def __init__(self, net, x_t, t, eps, cfg: TrainConfig | None = None):
        cfg, device = cfg or TrainConfig(), x_t.device  # default: DDPM's (Adam 2e-4, clip 1, EMA 0.9999), eager fp32
        self.net, self.cfg = place_net(net, cfg, device), cfg
        self.x_t, self.t, self.eps = place_batch(x_t, cfg, device), t, eps
        self.model = torch.compile(self.net) if cfg.compile else self.net
        self.opt = make_optimizer(self.net, cfg)
        self.ema = make_ema(self.net, cfg.ema_decay, cfg.ema_warmup)
        self.net.train()

    def forward_backward(self):
        with autocast(self.cfg, self.x_t.device):
            pred = self.model(self.x_t, self.t)
        loss = (pred.float() - self.eps).pow(2).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        return loss

    def __call__(self):
        self.forward_backward()
        nn.utils.clip_grad_norm_(self.net.parameters(), self.cfg.grad_clip)
        self.opt.step()
        self.ema.update_parameters(self.net)


def count_flops(step: TrainStep) -> int:
    with FlopCounterMode(display=False) as counter:
        step.forward_backward()
    return counter.get_total_flops()


def inputs(batch: int, device: torch.device, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    x_t = torch.randn(batch, 3, 32, 32, generator=gen).to(device)
    t = torch.randint(0, 1000, (batch,), generator=gen).float().to(device)
    eps = torch.randn(batch, 3, 32, 32, generator=gen).to(device)
    return x_t, t, eps


def n_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def run(device: torch.device, train_batch: int, sample_batch: int, repeats: int, compile: bool) -> dict:
    """Both sections' figures: {"peer": ..., "fast_paths": ...}."""
    torch.manual_seed(0)
    mine, peer = ours().to(device), diffusers_peer().to(device)
    x_t, t, eps = inputs(train_batch, device)
    steps = {"ours": TrainStep(mine, x_t, t, eps), "diffusers": TrainStep(peer, x_t, t, eps)}
    flops = {name: count_flops(s) for name, s in steps.items()}
    train = interleaved(steps, device, repeats)
    mem = {}
    for name, s in steps.items():
        peak_memory_reset(device)
        s()
        synchronize(device)
        mem[name] = peak_memory_gib(device)

    xs, ts, _ = inputs(sample_batch, device, seed=1)
    for net in (mine, peer):
        net.eval()

    def forward(net):
        def call():
            with torch.inference_mode():
                net(xs, ts)

        return call

    fwd = interleaved({"ours": forward(mine), "diffusers": forward(peer)}, device, repeats)
    peer_out = {
        "params": {"ours": n_params(mine), "diffusers": n_params(peer)},
        "train_batch": train_batch,
        "sample_batch": sample_batch,
        "train_step": train,
        "train_speedup": speedup(train["diffusers"], train["ours"]),
        "forward": fwd,
        "forward_speedup": speedup(fwd["diffusers"], fwd["ours"]),
        "train_flops": flops,
        "peak_mem_gib": mem,
    }
    del steps, peer

    variants = {
        "eager fp32": {},
        "channels_last": {"channels_last": True},
        "bf16 autocast": {"bf16": True},
        "fused Adam": {"fused_adam": True},
        "channels_last + bf16 + fused Adam": {"channels_last": True, "bf16": True, "fused_adam": True},
    }
    if compile:
        variants["compile + channels_last + bf16 + fused Adam"] = {
            "compile": True,
            "channels_last": True,
            "bf16": True,
            "fused_adam": True,
        }
    mine.train()
    fast = {name: TrainStep(copy.deepcopy(mine), x_t, t, eps, TrainConfig(**kw)) for name, kw in variants.items()}
    timed = interleaved(fast, device, repeats, warmup=2 if compile else 1)
    fast_out = {}
    for name, s in fast.items():
        peak_memory_reset(device)
        s()
        synchronize(device)
        precision = "bf16" if variants[name].get("bf16") else "tf32"
        peak = peak_tflops(device, precision)
        achieved = flops["ours"] / timed[name]["median_s"] / 1e12
        fast_out[name] = {
            **timed[name],
            "speedup_vs_eager": speedup(timed["eager fp32"], timed[name]),
            "examples_per_s": train_batch / timed[name]["median_s"],
            "tflops": achieved,
            "mfu": achieved / peak if peak else None,
            "peak_mem_gib": peak_memory_gib(device),
        }
    return {"peer": peer_out, "fast_paths": fast_out}
