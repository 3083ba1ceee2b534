"""The training loop shared by every replication: it knows a net, a per-example loss and a data source, nothing else.

Adam with linear warmup, gradient clipping, an EMA of the weights (torch's AveragedModel), seeded per step,
atomic checkpoints resumed automatically, CSV log, rank-aware for DDP. Fast paths, each a config switch that
leaves the results equal within rounding (tests/shared/test_train_fast_paths.py): bf16 autocast, torch.compile of
the net, channels_last memory format, fused Adam and batches built by DataLoader workers into pinned memory.

Randomness is keyed by noise group, not by process: the global batch of a step is split into ``noise_groups``
equal groups, and group g draws its examples, its loss noise and its dropout from streams seeded by
(seed, step, g). Each process computes the groups of its rank (gradients accumulated, then averaged by DDP), so a
run with ``noise_groups = G`` gives the same loss curve on 1, 2, ... or G processes (any divisor of G).
"""

from __future__ import annotations

import csv
import io
import math
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from shared.config import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, UnitInterval, validate
from shared.data.source import DataSource
from shared.io.artifacts import FORMAT_VERSION, load_state, load_train_state, read_torch
from shared.io.atomic import save_text, save_torch
from shared.maths.losses import Loss  # the per-example objective the loop averages
from shared.pipeline.distributed import StopCondition, TrainingStopped, any_rank, mean_over_ranks
from shared.pipeline.resume import check_resumable
from shared.utils import derive_seed, make_generator, seed_global

STATE_FILE = "train_state.pt"
LOG_FILE = "train_log.csv"


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (defaults: DDPM's CIFAR-10 run, Ho et al. 2020, App. B)."""

    steps: PositiveInt = 800_000
    batch_size: PositiveInt = 128
    lr: PositiveFloat = 2e-4
    warmup_steps: NonNegativeInt = 5000  # linear warmup of the learning rate
    # after warmup: constant (DDPM), cosine decay to 0, or linear decay to 0 (a polynomial decay of power 1)
    lr_schedule: Literal["constant", "cosine", "linear"] = "constant"
    grad_clip: PositiveFloat | None = 1.0  # max global gradient norm; null disables
    ema_decay: UnitInterval = 0.9999
    # The EMA's decay at update n is min(ema_decay, (1 + n) / (10 + n)): the num_updates rule of the score_sde,
    # PFGM and RectifiedFlow code (models/ema.py). Without it a decay of 0.999999 keeps 45 % of the initial weights
    # after 800k steps; with it the average forgets them within the first steps.
    ema_warmup: bool = False
    adam_betas: tuple[UnitInterval, UnitInterval] = (0.9, 0.999)
    adam_eps: PositiveFloat = 1e-8
    weight_decay: NonNegativeFloat = 0.0
    checkpoint_every: PositiveInt = 5000  # steps between resumable checkpoints
    # steps between weight snapshots (EMA and raw, weights only: snapshots/step<N>.pt, each a checkpoint that
    # sample / evaluate / select read); 0: none. The papers that select a checkpoint need them (evaluate.selection).
    snapshot_every: NonNegativeInt = 0
    log_every: PositiveInt = 100  # steps between CSV rows (and text progress lines off a terminal)
    # Matched compute in seconds: stop at the first step whose training wall seconds (over all resumed segments) reach
    # this budget; `steps` stays the cap and the checkpoint records the step reached. 0: no time budget. The stopping
    # step then depends on the machine and its load: a run with a time budget is not reproducible step for step.
    time_budget_s: NonNegativeFloat = 0.0
    # Fast paths (benchmarks/README.md has their measured speed-ups): none changes what is computed beyond rounding.
    bf16: bool = False  # autocast the forward pass to bfloat16 (CUDA; also CPUs with bf16 units)
    compile: bool = False  # torch.compile the net's forward and backward (checkpoints keep the plain weights)
    channels_last: bool = False  # NHWC memory format for the net and 4-D batches (tensor-core / oneDNN convolutions)
    fused_adam: bool = False  # Adam as one fused kernel over all parameters (CUDA, and CPU from torch 2.4)
    loader_workers: NonNegativeInt = 0  # > 0: batches built ahead by this many DataLoader processes, pinned on CUDA
    # Random streams per step: the global batch is split into this many groups, each seeded by (seed, step, group);
    # the run is then identical on any process count dividing it (one process accumulates all groups).
    # null: one group per process (fastest; results then depend on the number of processes).
    noise_groups: PositiveInt | None = None

    def __post_init__(self):
        validate(self, "train")  # the ranges declared above, also for configs built in code
        if self.noise_groups is not None and self.batch_size % self.noise_groups:
            raise ValueError(
                f"train.noise_groups: must divide train.batch_size {self.batch_size}, got {self.noise_groups}"
            )

    def groups_per_rank(self, world: int) -> int:
        """How many noise groups each of ``world`` processes computes per step."""
        groups = self.noise_groups or world
        if groups % world or self.batch_size % groups:
            raise ValueError(
                f"train.noise_groups {groups} must be a multiple of the {world} processes and divide "
                f"train.batch_size {self.batch_size}"
            )
        return groups // world


def rank_and_world() -> tuple[int, int]:
    """(rank, world size) of torch.distributed, or (0, 1) when it is not initialised."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def save_atomic(obj: dict, path: Path) -> None:
    """torch.save to a temporary file in the same folder, fsync, then rename over ``path`` (``shared.io.artifacts``)."""
    save_torch(obj, path)


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """Load a checkpoint or state written by ``fit``/``train`` (``weights_only``; failures are ArtifactErrors)."""
    return read_torch(path, "a checkpoint or training state", map_location=map_location)


def learning_rate(cfg: TrainConfig, step: int) -> float:
    """Linear warmup to cfg.lr over warmup_steps (DDPM App. B), then constant or cosine decay to 0 at cfg.steps."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.lr_schedule == "constant":
        return cfg.lr
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps))
    if cfg.lr_schedule == "linear":
        return cfg.lr * (1.0 - progress)
    return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * progress))


def make_ema(net: nn.Module, decay: float, warmup: bool = False) -> AveragedModel:
    """Exponential moving average of the weights and buffers: torch's AveragedModel with an EMA rule.

    AveragedModel copies the net at its first update and at the next ones passes how many updates came before
    (``n_averaged``, saved in its state), so update n = n_averaged + 1 blends ema <- d ema + (1 - d) net. With
    ``warmup``, d = min(decay, (1 + n) / (10 + n)), computed on the device (no host sync per step).
    """
    if not warmup:
        return AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)

    @torch.no_grad()
    def blend(ema_params: list[Tensor], params: list[Tensor], n_averaged: Tensor) -> None:
        n = n_averaged.double() + 1
        weight = 1 - torch.clamp((1 + n) / (10 + n), max=decay)  # 1 - d
        for e, p in zip(ema_params, params, strict=True):
            if e.is_floating_point():
                e.lerp_(p, weight.to(e.dtype))
            else:
                e.copy_(p)

    return AveragedModel(net, multi_avg_fn=blend, use_buffers=True)


def place_net(net: nn.Module, cfg: TrainConfig, device: torch.device) -> nn.Module:
    """The net on ``device``, its 4-D weights in NHWC order when ``cfg.channels_last``."""
    return net.to(device, memory_format=torch.channels_last) if cfg.channels_last else net.to(device)


def place_batch(x: Tensor, cfg: TrainConfig, device: torch.device) -> Tensor:
    """A batch (B, *D) on ``device`` (asynchronously from pinned memory), NHWC when 4-D and ``cfg.channels_last``."""
    x = x.to(device, non_blocking=True)
    return x.contiguous(memory_format=torch.channels_last) if cfg.channels_last and x.dim() == 4 else x


def make_optimizer(net: nn.Module, cfg: TrainConfig) -> torch.optim.Adam:
    """Adam with the config's betas, eps and weight decay; one fused kernel when ``cfg.fused_adam``."""
    fused = {"fused": True} if cfg.fused_adam else {}
    return torch.optim.Adam(
        net.parameters(), lr=cfg.lr, betas=cfg.adam_betas, eps=cfg.adam_eps, weight_decay=cfg.weight_decay, **fused
    )


def autocast(cfg: TrainConfig, device: torch.device):
    """The forward pass's autocast: bfloat16 when ``cfg.bf16``, else a no-op."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16)


def fit(
    net: nn.Module,
    loss: Loss,
    data: DataSource,
    cfg: TrainConfig,
    out_dir: str | Path,
    *,
    seed: int,
    device: torch.device,
    extra: dict | None = None,
    stop: StopCondition | None = None,
    normalize_config: Callable[[dict], dict] | None = None,
    on_snapshot: Callable[[dict], None] | None = None,
) -> dict:
    """Train ``net`` to ``cfg.steps``, resuming from ``out_dir/train_state.pt`` when present.

    Args:
        net: the raw trainable network (wrapped in DDP here when torch.distributed is initialised).
        loss: per-example objective (net, x, generator) -> (B,).
        data: batch source, deterministic in (seed, step).
        cfg: optimisation settings.
        out_dir: run folder for the resumable state and the CSV log.
        seed: run seed; every step's randomness derives from (seed, step), so resuming reproduces the run.
        device: where to train.
        extra: JSON-safe metadata stored in every checkpoint (resolved config, provenance).
        stop: when it asks (a signal, a time budget), the state is saved after the current step and
            ``TrainingStopped`` is raised; rerunning resumes there.
        normalize_config: the stored config resolved with this code's defaults (``shared.pipeline.resume``).
        on_snapshot: called on rank 0 with {"net", "ema", "step", "wall_s"} every ``cfg.snapshot_every`` steps and
            at the last step (when ``snapshot_every`` > 0): the caller writes the weights where it keeps them.

    A loss with state of its own defines ``state_dict()`` / ``load_state_dict(d)`` (kept in the training state, so a
    resumed run is exact) and ``after_step(net, step)``, called with the raw net after each optimizer step and EMA
    update (``step``: the steps done).

    Returns:
        The final state dict: {"net", "ema", "optimizer", "step", "wall_s", "extra"} (and "loss", as above).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rank, world = rank_and_world()
    per_rank = cfg.groups_per_rank(world)
    n_groups = per_rank * world
    net = place_net(net, cfg, device)
    ema = make_ema(net, cfg.ema_decay, cfg.ema_warmup)
    opt = make_optimizer(net, cfg)
    state_path, log_path = out_dir / STATE_FILE, out_dir / LOG_FILE
    step, wall_before, interval = 0, 0.0, {}
    if state_path.is_file():
        # refuses another run's state; a config key added since, at its default, is no change
        state = load_train_state(state_path, extra, map_location=device)
        check_resumable(state, state_path, (extra or {}).get("config"), normalize_config)
        fix = f"delete {state_path} to train from step 0, or restore the config it was written with"
        load_state(net, state["net"], state_path, "its weights do not fit this run's net", fix)
        load_state(ema, state["ema"], state_path, "its EMA weights do not fit this run's net", fix)
        load_state(opt, state["optimizer"], state_path, "its optimizer state does not fit this run's net", fix)
        if "loss" in state and hasattr(loss, "load_state_dict"):  # a loss with state of its own (a target net)
            loss.load_state_dict(state["loss"])
        step = int(state["step"])
        wall_before = float(state.get("wall_s", 0.0))  # training seconds of the earlier segments
        interval = state.get("log_interval") or {}  # the steps since the last log row, so the next row is exact
        if rank == 0:
            print(f"resuming from {state_path} at step {step}", flush=True)
    ddp = nn.parallel.DistributedDataParallel(net) if world > 1 else net
    model = torch.compile(ddp) if cfg.compile else ddp  # the loss calls model; state_dict and EMA stay on net
    if rank == 0:
        _truncate_log(log_path, step)
    batches = _batches(data, cfg, step, rank, per_rank, n_groups, device)

    def snapshot(interval: dict | None = None) -> dict:
        return {
            "artifact": "train_state",
            "format_version": FORMAT_VERSION,
            "net": net.state_dict(),
            "ema": ema.state_dict(),
            "optimizer": opt.state_dict(),
            **({"loss": loss.state_dict()} if hasattr(loss, "state_dict") else {}),
            "step": step,
            "wall_s": elapsed(),  # training wall seconds over all resumed segments
            "extra": extra or {},
            "log_interval": interval or {},
        }

    def log_interval() -> dict:
        """The part of the next log row already trained (every rank joins): its steps' losses (one process: each
        value, so the resumed row is bit-identical; several: their mean over the ranks, equal to rounding) and rank
        0's loss statistics. A resumed run starts from it, so its log equals an uninterrupted run's."""
        if not running:
            return {}
        losses = [v.item() for v in running] if world == 1 else [mean_over_ranks(torch.stack(running).mean()).item()]
        return {"n": len(running), "losses": losses, "stats": {k: list(v) for k, v in extras.items()}}

    interactive = sys.stderr.isatty()
    bar = tqdm(total=cfg.steps, initial=step, disable=rank != 0 or not interactive, desc="train", unit="step")
    text_every = max(1, cfg.steps // 20)
    t_start = time.monotonic()  # durations on the monotonic clock: a wall-clock step (NTP) cannot move a budget

    def elapsed() -> float:
        """Training seconds over all resumed segments: the earlier segments' and this one's."""
        return wall_before + time.monotonic() - t_start

    # losses (and loss statistics) of the steps since the last log row; a resumed run restores them
    losses = [float(v) for v in interval.get("losses", [])]
    if len(losses) != int(interval.get("n", 0)):  # saved by several processes: n steps of their mean
        losses = losses[:1] * int(interval.get("n", 0))
    running = [torch.tensor(v, dtype=torch.float32, device=device) for v in losses]
    extras = {k: list(v) for k, v in (interval.get("stats") or {}).items()}
    net.train()

    def out_of_time() -> bool:  # every rank agrees (rank 0's clock would do; any_rank keeps them in step)
        return bool(cfg.time_budget_s) and any_rank(elapsed() >= cfg.time_budget_s, device)

    if step < cfg.steps and out_of_time():  # resumed after the budget was spent: the state is the final one
        bar.close()
        return snapshot()
    while step < cfg.steps:
        lr = learning_rate(cfg, step)
        for group in opt.param_groups:
            group["lr"] = lr
        opt.zero_grad(set_to_none=True)
        value = torch.zeros((), device=device)
        for j in range(per_rank):
            g = rank * per_rank + j  # this process's j-th noise group
            seed_global(derive_seed(seed, "global", step, g), device)  # dropout etc. reproducible on resume
            gen = make_generator(derive_seed(seed, "loss", step, g), device)
            x = place_batch(next(batches), cfg, device)  # data.batch(step, batch_size, g, n_groups)
            sync = world == 1 or j == per_rank - 1  # DDP all-reduces the gradients once, after the last group
            with nullcontext() if sync else ddp.no_sync():
                with autocast(cfg, device):
                    per_example = loss(model, x, gen)
                group_loss = per_example.float().mean()
                (group_loss / per_rank if per_rank > 1 else group_loss).backward()
            value = value + group_loss.detach() / per_rank
        grad_norm = (
            nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip) if cfg.grad_clip is not None else _grad_norm(net)
        )
        opt.step()
        ema.update_parameters(net)
        step += 1
        if hasattr(loss, "after_step"):  # e.g. a consistency model's EMA target, a distillation's next teacher
            loss.after_step(net, step)
        running.append(value.detach())
        for key, v in (loss.stats() if hasattr(loss, "stats") else {}).items():
            extras.setdefault(key, []).append(float(v))
        last = step == cfg.steps or out_of_time()
        log_now = step % cfg.log_every == 0 or last
        if log_now:  # every rank joins the reduction; rank 0 writes the mean over the global batch
            mean_loss = mean_over_ranks(torch.stack(running).mean()).item()
            running.clear()
            if not math.isfinite(mean_loss):
                raise FloatingPointError(f"loss is {mean_loss} at step {step}; lower train.lr or check the data")
        if rank == 0:
            bar.update(1)
            if log_now:
                means = {k: sum(v) / len(v) for k, v in extras.items()}
                extras.clear()
                seconds = elapsed()  # over all segments, as the state's wall_s
                _append_log(log_path, step, mean_loss, lr, float(grad_norm), seconds, means)
                bar.set_postfix(loss=f"{mean_loss:.4g}")
            if not interactive and (step % text_every == 0 or last):
                rate = step / max(time.monotonic() - t_start, 1e-9)
                print(f"step {step}/{cfg.steps} lr {lr:.3g} ({rate:.1f} step/s)", flush=True)
        if on_snapshot is not None and rank == 0 and cfg.snapshot_every:
            if step % cfg.snapshot_every == 0 or last:
                on_snapshot(snapshot())  # before the state: a resumed run never misses one
        if step % cfg.checkpoint_every == 0 or last:
            partial = log_interval()  # every rank joins its reduction
            if rank == 0:
                save_atomic(snapshot(partial), state_path)
        if last and step < cfg.steps:
            if rank == 0:
                print(f"time budget train.time_budget_s={cfg.time_budget_s:g} spent at step {step}", flush=True)
            break
        if stop is not None and any_rank(stop.requested(), device) and step < cfg.steps:
            partial = log_interval()
            if rank == 0:
                save_atomic(snapshot(partial), state_path)
                print(f"stopping at step {step}: {stop.reason or 'another rank was asked to stop'}", flush=True)
            if world > 1:
                dist.barrier()
            bar.close()
            raise TrainingStopped(step, stop.reason or "another rank was asked to stop")
    bar.close()
    return snapshot()


class _StepBatches(torch.utils.data.Dataset):
    """Item i: the batch of this rank's i-th (step, noise group) pair, as ``DataSource.batch`` builds it."""

    def __init__(self, data: DataSource, batch_size: int, first_step: int, rank: int, per_rank: int, n_groups: int):
        self.data, self.batch_size, self.first_step = data, batch_size, first_step
        self.rank, self.per_rank, self.n_groups = rank, per_rank, n_groups

    def __getitem__(self, i: int) -> Tensor:
        step, j = self.first_step + i // self.per_rank, i % self.per_rank
        return self.data.batch(step, self.batch_size, self.rank * self.per_rank + j, self.n_groups)


def _batches(data: DataSource, cfg: TrainConfig, step: int, rank: int, per_rank: int, n_groups: int, device):
    """The batches of steps ``step`` .. ``cfg.steps`` in order: built inline, or ahead by DataLoader workers.

    Every batch is a function of (seed, step, group), so workers change when a batch is built, never what it holds.
    """
    items = _StepBatches(data, cfg.batch_size, step, rank, per_rank, n_groups)
    count = (cfg.steps - step) * per_rank
    if cfg.loader_workers == 0 or count <= 0:
        return (items[i] for i in range(count))
    items[0]  # the first batch built here loads a lazily read data set once; forked workers then share it
    loader = torch.utils.data.DataLoader(
        items,
        batch_size=None,  # each item is already a batch
        sampler=range(count),
        num_workers=cfg.loader_workers,
        pin_memory=device.type == "cuda",  # page-locked host memory: the copy to the GPU runs asynchronously
        prefetch_factor=4,
        persistent_workers=False,
    )
    return iter(loader)


def _grad_norm(net: nn.Module) -> Tensor:
    norms = [p.grad.detach().norm() for p in net.parameters() if p.grad is not None]
    return torch.stack(norms).norm() if norms else torch.zeros(())


def _append_log(
    path: Path, step: int, loss: float, lr: float, grad_norm: float, seconds: float, extra: dict[str, float]
) -> None:
    new = not path.is_file()
    keys = sorted(extra)
    with open(path, "a", newline="") as fh:
        writer = csv.writer(fh)
        if new:
            writer.writerow(["step", "loss", "lr", "grad_norm", "seconds", *keys])
        row = [step, f"{loss:.6g}", f"{lr:.6g}", f"{grad_norm:.6g}", f"{seconds:.2f}"]
        writer.writerow(row + [f"{extra[k]:.6g}" for k in keys])


def _truncate_log(path: Path, step: int) -> None:
    """Drop CSV rows past ``step`` (written after the last checkpoint of an interrupted run)."""
    if not path.is_file():
        return
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    keep = [rows[0]] + [r for r in rows[1:] if r and int(r[0]) <= step]
    buf = io.StringIO()
    csv.writer(buf).writerows(keep)
    save_text(buf.getvalue(), path)  # atomically: a kill here keeps the old log
