"""Small tensor and run utilities used across the core: shapes, seeds, devices, NFE counting."""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

VectorField = Callable[[Tensor, Tensor], Tensor]
"""A time-dependent field ``f(x, t)``: x (B, *D), t (B,) -> (B, *D). Nets are called (x, t), never (t, x)."""


def append_dims(v: Tensor, ndim: int) -> Tensor:
    """Append trailing singleton dims so ``v`` broadcasts against a tensor with ``ndim`` dims.

    Args:
        v: (B,) per-example values.
        ndim: number of dims of the target, e.g. ``x.ndim``.

    Returns:
        v viewed as (B, 1, ..., 1) with ``ndim`` dims in total.
    """
    missing = ndim - v.ndim
    if missing < 0:
        raise ValueError(f"append_dims: input has {v.ndim} dims, target only {ndim}")
    return v.reshape(*v.shape, *([1] * missing))


def batch_time(t: float | Tensor, x: Tensor) -> Tensor:
    """Broadcast a scalar (or (B,)) time to a (B,) tensor on x's device and dtype."""
    t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
    return t.expand(x.shape[0]) if t.ndim == 0 else t


def derive_seed(*parts: int | str) -> int:
    """A stable 63-bit seed from a tuple (e.g. (run_seed, "data", step)); independent streams per purpose."""
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def seed_global(seed: int, device: torch.device | str = "cpu") -> None:
    """Seed the global generators a net's own randomness draws from (dropout): the CPU's, and the accelerator's that
    ``device`` names. ``torch.manual_seed`` does the same for the CPU but also queues a seeding, with a recorded stack
    trace, for every accelerator backend not initialised: on a CPU-only machine about 1 ms a call, and a queue that
    grows by one entry per training step for the whole run."""
    torch.default_generator.manual_seed(seed)
    dev = torch.device(device)
    if dev.type == "cuda":
        with torch.cuda.device(dev):
            torch.cuda.manual_seed(seed)
    elif dev.type == "mps":
        torch.mps.manual_seed(seed)


def make_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A fresh ``torch.Generator`` on ``device`` seeded with ``seed``."""
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    return gen


_MASK32 = 0xFFFFFFFF


def _mul32(x: Tensor, c: int) -> Tensor:
    """(x * c) mod 2^32 for int64 x in [0, 2^32), without overflowing int64 (c split in 16-bit halves)."""
    lo = x * (c & 0xFFFF)
    hi = ((x * (c >> 16)) & 0xFFFF) << 16
    return (lo + hi) & _MASK32


def hash32(x: Tensor) -> Tensor:
    """A 32-bit integer mixing function (Wellons' 'lowbias32'), elementwise on int64 tensors in [0, 2^32)."""
    x = x ^ (x >> 16)
    x = _mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


class PerSampleGenerator:
    """Counter-based noise keyed by one seed per example (EDM's per-sample seeds, vectorised).

    Row i of every draw is a hash of (seeds[i], draw number, element index), so a sample depends only on its own
    seed: identical whatever the batch size, the order of rows or the sharding of a seed range over jobs, and
    on any device. Normals come from Box-Muller on two 24-bit uniforms (tails cut at about 5.9 sigma).
    """

    def __init__(self, seeds: Sequence[int], device: torch.device | str = "cpu"):
        self.seeds = torch.as_tensor(list(seeds), dtype=torch.int64) & _MASK32
        self.device = torch.device(device)
        self.draws = 0

    def __len__(self) -> int:
        return self.seeds.numel()

    def _uniform(self, key: Tensor, stream: int) -> Tensor:
        h = hash32(hash32(key ^ (stream * 0x9E3779B9 & _MASK32)) ^ self._draw_key)
        return ((h >> 8).double() + 0.5) / float(1 << 24)

    def randn(self, shape: Sequence[int], dtype: torch.dtype = torch.float32) -> Tensor:
        """Standard normals (len(seeds), *shape[1:]); each call advances the per-row counter."""
        if shape[0] != len(self):
            raise ValueError(f"PerSampleGenerator has {len(self)} seeds, asked for {shape[0]} rows")
        numel = math.prod(shape[1:])
        seeds = self.seeds.to(self.device)
        self._draw_key = hash32(torch.tensor(self.draws, dtype=torch.int64, device=self.device) & _MASK32)
        self.draws += 1
        idx = torch.arange(numel, dtype=torch.int64, device=self.device)
        key = hash32(seeds[:, None]) ^ idx[None, :]
        key = hash32(key & _MASK32)
        u1, u2 = self._uniform(key, 1), self._uniform(key, 2)
        z = torch.sqrt(-2.0 * torch.log(u1)) * torch.cos(2.0 * math.pi * u2)
        return z.to(dtype).reshape(tuple(shape))


Generator = torch.Generator | PerSampleGenerator | None
Callback = Callable[[dict], None] | None  # a sampler's observer of its trajectory: dict(i=, t=, x=, ...) per step


def randn(shape: Sequence[int], generator: Generator, *, device: torch.device | str, dtype=torch.float32) -> Tensor:
    """Standard normal noise of ``shape`` from a ``torch.Generator``, a ``PerSampleGenerator`` or the global RNG."""
    if isinstance(generator, PerSampleGenerator):
        return generator.randn(shape, dtype=dtype).to(device)
    return torch.randn(tuple(shape), generator=generator, device=device, dtype=dtype)


def randn_like(x: Tensor, generator: Generator) -> Tensor:
    """Standard normal noise shaped like x (see ``randn``)."""
    return randn(x.shape, generator, device=x.device, dtype=x.dtype)


def default_device() -> torch.device:
    """CUDA when present, else CPU (overridable with the environment variable ``REPLICATIONS_DEVICE``)."""
    name = os.environ.get("REPLICATIONS_DEVICE")
    if name:
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class CountNFE:
    """Wrap a vector field and count its function evaluations (NFE), leaving the sampler's return type alone.

    Example:
        >>> f = CountNFE(lambda x, t: -x)
        >>> _ = f(torch.zeros(3, 2), torch.zeros(3)); f.nfe
        1
    """

    def __init__(self, f: VectorField):
        self.f = f
        self.nfe = 0

    def __call__(self, x: Tensor, t: Tensor) -> Tensor:
        self.nfe += 1
        return self.f(x, t)
