"""Interleaved timing: every candidate and its reference run in turn, in the same process, rotated each repeat.

Machines are noisy (other jobs, clocks, thermal state); timing A for a minute and then B for a minute measures the
machine as much as the code. Interleaving exposes both to the same noise, and the min and median of >= 5 repeats say
how much of it there was.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch

from shared.pipeline.plan import PEAK_TFLOPS  # the data sheets' dense peaks: one home, the plan's


def synchronize(device: torch.device) -> None:
    """Wait for queued CUDA kernels, so that a wall clock measures the work and not its launch."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved(
    fns: dict[str, Callable[[], object]], device: torch.device, repeats: int = 5, warmup: int = 1
) -> dict[str, dict]:
    """Time each of ``fns`` ``repeats`` times, in turn, the order rotated by one each round.

    Returns:
        name -> {"min_s", "median_s", "times_s": [repeats]} (seconds per call).
    """
    names = list(fns)
    for _ in range(warmup):  # allocator, autotuning, lazy initialisation, caches
        for name in names:
            fns[name]()
    synchronize(device)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            synchronize(device)
            t0 = time.perf_counter()
            fns[name]()
            synchronize(device)
            times[name].append(time.perf_counter() - t0)
    return {n: {"min_s": min(v), "median_s": statistics.median(v), "times_s": v} for n, v in times.items()}


def speedup(reference: dict, ours: dict) -> dict:
    """reference time / our time, of the minima and of the medians: > 1 means ours is faster."""
    return {
        "min": reference["min_s"] / ours["min_s"],
        "median": reference["median_s"] / ours["median_s"],
    }


def peak_memory_reset(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_gib(device: torch.device) -> float | None:
    """Peak CUDA memory allocated since the last reset, GiB (None on CPU: see bench_pfgm's child processes)."""
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


def peak_tflops(device: torch.device, precision: str) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, peaks in PEAK_TFLOPS.items():  # most specific first
        if key in name:
            return peaks[precision]
    return None
