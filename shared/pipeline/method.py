"""A generative method as the shared machinery sees it, and what every method can do with it.

``Method(net, loss, prior, field, sampler, grid, nll)`` (EDM's split): the training loop sees only ``net`` and
``loss``; sampling starts at ``prior``, integrates ``field`` with ``sampler`` on ``grid``; ``nll`` is optional.
A replication's ``build(cfg) -> Method`` says which of the shared pieces its paper uses, and a ``Spec`` names it
for the one CLI. Sampling and NFE counting are shared functions of a Method (``sample``, ``count_nfe``), so figure
scripts, sweeps and the CLI all sample the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from shared.maths.fields import Field
from shared.maths.likelihood import NLL
from shared.maths.losses import Loss
from shared.maths.priors import Prior
from shared.utils import Callback, Generator, PerSampleGenerator

NLLFn = Callable[[nn.Module, Tensor, torch.Generator], NLL]
"""(net, x (B, *D) in model space, generator) -> NLL (B,)."""


class Sampler(Protocol):
    """The one sampler signature: (field, x_prior (B, *D), ts (K+1,), *, generator, callback) -> x (B, *D).

    Options (step counts, tolerances, ...) are bound beforehand: ``shared.maths.samplers.bind`` gives a
    ``BoundSampler``, which also describes itself (``Method.describe``).
    """

    def __call__(
        self, field: Field, x: Tensor, ts: Tensor, *, generator: Generator = None, callback: Callable | None = None
    ) -> Tensor: ...


@dataclass
class Method:
    """A generative method (EDM's split of loss, network, preconditioning and sampler).

    Attributes:
        net: the raw trainable network; ``shared.pipeline.train.fit`` trains it and keeps its EMA.
        loss: per-example objective (net, x, generator) -> (B,).
        prior: where sampling starts (``shared.maths.priors.Prior``).
        field: the vector field of ``net`` (``shared.maths.fields.Field``), what the sampler integrates.
        sampler: a shared sampler with its options bound (``Sampler``; a ``BoundSampler`` describes itself).
        grid: the time grid (K+1,) the sampler walks, from the prior's end.
        nll: optional per-example NLL for likelihood evaluation (``NLLFn``).
        info: what the record needs beyond the sampler and its grid (e.g. the path, PFGM's z range).
    """

    net: nn.Module
    loss: Loss
    prior: Prior
    field: Field
    sampler: Sampler
    grid: Tensor
    nll: NLLFn | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """What samples and metrics record about sampling, made from what runs: the sampler's name and every
        option (``BoundSampler.describe``), its grid (points and ends) and the method's ``info``."""
        own = getattr(self.sampler, "describe", None)
        record = (
            own() if own is not None else {"sampler": getattr(self.sampler, "__name__", type(self.sampler).__name__)}
        )
        grid = {"grid_points": len(self.grid), "t_first": float(self.grid[0]), "t_last": float(self.grid[-1])}
        return {**record, **grid, **self.info}


def sample(
    method: Method,
    shape: Sequence[int],
    *,
    generator: Generator = None,
    device: torch.device | str = "cpu",
    callback: Callback = None,
    bf16: bool = False,
) -> Tensor:
    """Draw ``shape`` (B, *D) samples: prior draw, then the method's sampler on its grid (no autograd). ``bf16``:
    the net runs under bfloat16 autocast (its matmuls and convolutions); the sampler's own arithmetic, which mixes
    the net's output with float32 states, stays float32."""
    device_type = torch.device(device).type
    with torch.no_grad(), torch.autocast(device_type, dtype=torch.bfloat16, enabled=bf16):
        x_prior = method.prior.sample(shape, generator, device)
        return method.sampler(method.field, x_prior, method.grid.to(device), generator=generator, callback=callback)


def nll_of(method: Method) -> Callable[[Tensor, torch.Generator], NLL] | None:
    """The method's per-example NLL as the evaluation calls it, (x (B, *D), generator) -> NLL, without autograd at
    this level (a likelihood that needs it, the ODE's divergence, turns it on inside); None if the method has none."""
    if method.nll is None:
        return None

    def nll(x: Tensor, generator: torch.Generator) -> NLL:
        with torch.no_grad():
            return method.nll(method.net, x, generator)

    return nll


@contextmanager
def compiled(net: nn.Module, enabled: bool = True) -> Iterator[nn.Module]:
    """Inside the block the net's forward is ``torch.compile``'d (the module, its weights and its NFE hooks are
    the same object); outside it is the plain forward again."""
    if not enabled:
        yield net
        return
    net.forward = torch.compile(type(net).forward.__get__(net))
    try:
        yield net
    finally:
        del net.forward


@dataclass(frozen=True)
class Draw:
    """Samples of per-sample seeds: ``x`` (N, *D) float32 on the CPU, the mean NFE per sample (the mean over batches
    of the net's forward calls), and the wall seconds of the whole draw."""

    x: Tensor
    nfe_per_sample: float
    wall_s: float


def draw(
    method: Method,
    shape: Sequence[int],
    seeds: Sequence[int],
    batch_size: int,
    device: torch.device | str = "cpu",
    *,
    out: Tensor | None = None,
    progress: Callable[[int], None] | None = None,
    bf16: bool = False,
) -> Draw:
    """The one batched per-seed sampling loop (CLI, sweeps, reflow, figure scripts): sample i is drawn from
    ``seeds[i]`` alone (``PerSampleGenerator``), so any batch size gives the same samples, but for a sampler that
    uses batch statistics (Score-SDE's batch-mean Langevin norms).

    Args:
        shape: one sample's shape D.
        out: a preallocated (N, *D) CPU tensor to fill (no second copy of a large draw); default: a new one.
        progress: called with the number of samples drawn so far after each batch.
        bf16: the net under bfloat16 autocast (``sample``).
    """
    start = time.perf_counter()
    x = torch.empty(len(seeds), *shape) if out is None else out
    calls_per_batch = []
    for lo in range(0, len(seeds), batch_size):
        chunk = list(seeds[lo : lo + batch_size])
        with count_nfe(method.net) as calls:
            gen = PerSampleGenerator(chunk, device)
            batch = sample(method, (len(chunk), *shape), generator=gen, device=device, bf16=bf16)
        x[lo : lo + len(chunk)] = batch.float().cpu()
        calls_per_batch.append(calls[0])
        if progress is not None:
            progress(lo + len(chunk))
    nfe = sum(calls_per_batch) / len(calls_per_batch) if calls_per_batch else 0.0
    return Draw(x, float(nfe), time.perf_counter() - start)


@contextmanager
def count_nfe(net: nn.Module) -> Iterator[list[int]]:
    """Count the net's forward calls (NFE) inside the block: ``with count_nfe(net) as calls: ...; calls[0]``."""
    calls = [0]
    hook = net.register_forward_pre_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    try:
        yield calls
    finally:
        hook.remove()


@dataclass(frozen=True)
class Command:
    """A command a replication adds to its CLI beside train|sample|evaluate|figures: ``module.main(argv)`` parses
    its own options (``python -m replications.<paper> <command> --help``); imported only when it runs."""

    module: str
    help: str


@dataclass(frozen=True)
class Spec:
    """A replication as the CLI knows it: its name, its config schema, its builder and its sampler budgets.

    The checkpoint records ``module`` so that any tool can rebuild the method from a checkpoint alone.
    """

    name: str
    config: type
    build: Callable[[Any], Method]
    module: str  # the importable module that defines this Spec as ``SPEC``
    budgets: Mapping[str, Any] = field(
        default_factory=dict
    )  # sampler families for sweeps (``shared.pipeline.budgets``)
    commands: Mapping[str, Command] = field(default_factory=dict)  # the replication's own commands (e.g. reflow)


__all__ = ["Command", "Loss", "Method", "NLLFn", "Sampler", "Spec", "compiled", "count_nfe", "nll_of", "sample"]
