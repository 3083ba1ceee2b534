"""PFGM's field target (Alg. 1) per training batch: ours (``replications.pfgm.field_target.poisson_target``: exact
distances and a softmax, chunk by chunk) against the official approach of materialising the (B, M, N + 1) differences
of every perturbed point to every charge. Time per batch (interleaved) and peak memory: on CUDA the allocator's peak,
on CPU the growth of the peak resident set of a child process that computes one batch.
"""

from __future__ import annotations

import json
import math
import resource
import subprocess
import sys
from pathlib import Path

import torch
from timing import interleaved, peak_memory_gib, peak_memory_reset, speedup, synchronize

from replications.pfgm.field_target import poisson_target

N = 3 * 32 * 32  # CIFAR-10


def materialised_target(x_tilde: torch.Tensor, data: torch.Tensor, gamma: float = 5.0) -> torch.Tensor:
    """Alg. 1 written as the official code computes it, through the (B, M, N + 1) difference tensor."""
    n = data.shape[1]
    charges = torch.cat([data, data.new_zeros(data.shape[0], 1)], dim=1)
    diff = charges[None] - x_tilde[:, None]  # (B, M, N + 1)
    dist = diff.norm(dim=-1)  # (B, M)
    log_w = -(n + 1) * dist.log()
    weights = torch.exp(log_w - log_w.max(dim=1, keepdim=True).values)  # (min_k d_ik / d_ij)^{N+1}
    weights = weights / weights.sum(dim=1, keepdim=True)
    field = (diff * weights[..., None]).sum(1)  # (B, N + 1)
    return math.sqrt(n) * field / (field.norm(dim=1, keepdim=True) + gamma)


IMPLS = {"ours": poisson_target, "materialised": materialised_target}


def batch_inputs(small: int, large: int, device: torch.device):
    gen = torch.Generator().manual_seed(0)
    data = torch.rand(large, N, generator=gen).mul(2).sub(1).to(device)
    x_tilde = torch.cat([data[:small] + 0.5 * torch.randn(small, N, generator=gen).to(device),
                         torch.rand(small, 1, generator=gen).to(device)], dim=1)  # fmt: skip
    return x_tilde, data


def peak_rss_bytes() -> int:
    """This process's peak resident set (VmHWM: unlike ru_maxrss, not inherited from the parent across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # not Linux: kB on most systems


def child(impl: str, small: int, large: int) -> None:
    """Print the peak-RSS growth (bytes) of one batch of ``impl`` in this fresh process."""
    x_tilde, data = batch_inputs(small, large, torch.device("cpu"))
    before = peak_rss_bytes()
    IMPLS[impl](x_tilde, data)
    after = peak_rss_bytes()
    print(json.dumps({"peak_growth_bytes": after - before}))


def cpu_peak_gib(impl: str, small: int, large: int) -> float:
    cmd = [sys.executable, str(Path(__file__)), impl, str(small), str(large)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])["peak_growth_bytes"] / 2**30


def run(device: torch.device, small: int, large: int, repeats: int) -> dict:
    x_tilde, data = batch_inputs(small, large, device)
    timed = interleaved({name: (lambda f=f: f(x_tilde, data)) for name, f in IMPLS.items()}, device, repeats)
    agree = (poisson_target(x_tilde, data) - materialised_target(x_tilde, data)).abs().max().item()
    out = {"small_batch": small, "large_batch": large, "dims": N, "max_abs_difference": agree}
    for name, f in IMPLS.items():
        if device.type == "cuda":
            peak_memory_reset(device)
            base = torch.cuda.memory_allocated(device)
            f(x_tilde, data)
            synchronize(device)
            mem = peak_memory_gib(device) - base / 2**30
        else:
            mem = cpu_peak_gib(name, small, large)
        out[name] = {**timed[name], "peak_mem_gib": mem}
    out["speedup"] = speedup(timed["materialised"], timed["ours"])
    return out


if __name__ == "__main__":  # the child process of cpu_peak_gib
    child(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
