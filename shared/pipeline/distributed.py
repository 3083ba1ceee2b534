"""Multi-process training and preemption: process-group set-up from torchrun / srun, and a stop condition.

One SLURM job may run N training processes (``torchrun --nproc-per-node N`` or ``srun --ntasks N``); each finds
its rank in the environment, takes the GPU of its local rank (or the CPU) and joins a process group (NCCL on
CUDA, gloo on CPU). Without those variables nothing is initialised and training runs in one process.

``StopCondition`` turns SIGTERM / SIGUSR1 (SLURM's time-limit, preemption and ``--signal`` warnings), SIGINT (Ctrl-C,
which reaches the jobs Snakemake runs locally too) and an optional wall-clock budget into "checkpoint at the end of
this step and exit with ``EXIT_RESUME``"; the rerun of the same command resumes from that checkpoint. A second
Ctrl-C stops at once.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass

import torch
import torch.distributed as dist

EXIT_RESUME = 75
"""Exit status of a training run stopped early with its state saved (EX_TEMPFAIL): rerun it to continue."""

STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)  # SIGINT: Ctrl-C, also through Snakemake


@dataclass(frozen=True)
class Dist:
    """Where this process sits: rank, number of processes, rank on its node, and its torch device."""

    rank: int
    world: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_ranks(env: dict[str, str] | None = None) -> tuple[int, int, int]:
    """(rank, world, local rank) from torchrun's variables, else srun's, else (0, 1, 0)."""
    env = os.environ if env is None else env
    if "WORLD_SIZE" in env and "RANK" in env:
        return int(env["RANK"]), int(env["WORLD_SIZE"]), int(env.get("LOCAL_RANK", 0))
    if int(env.get("SLURM_NTASKS", "1")) > 1 and "SLURM_PROCID" in env:
        return int(env["SLURM_PROCID"]), int(env["SLURM_NTASKS"]), int(env.get("SLURM_LOCALID", 0))
    return 0, 1, 0


def setup(device: str | torch.device | None, default: torch.device) -> Dist:
    """Join the process group when launched with several processes; pick this rank's device.

    Args:
        device: explicit device from the command line (``cpu`` forces gloo), or None.
        default: the device used when ``device`` is None (CUDA when present, else CPU).
    """
    rank, world, local_rank = env_ranks()
    dev = torch.device(device) if device else default
    if world > 1 and dev.type == "cuda":
        dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)
    if world > 1 and not (dist.is_available() and dist.is_initialized()):
        if "MASTER_ADDR" not in os.environ:  # srun launch: one node, a port derived from the job id
            os.environ["MASTER_ADDR"] = "127.0.0.1"
            os.environ["MASTER_PORT"] = str(20000 + int(os.environ.get("SLURM_JOB_ID", "0")) % 20000)
        dist.init_process_group(
            backend="nccl" if dev.type == "cuda" else "gloo", init_method="env://", rank=rank, world_size=world
        )
    return Dist(rank, world, local_rank, dev)


def teardown() -> None:
    """Leave the process group, if one was joined."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def any_rank(flag: bool, device: torch.device) -> bool:
    """True on every rank when ``flag`` is true on at least one (a no-op without a process group)."""
    if not (dist.is_available() and dist.is_initialized()):
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def mean_over_ranks(value: torch.Tensor) -> torch.Tensor:
    """The mean of a scalar over all ranks (itself without a process group)."""
    if not (dist.is_available() and dist.is_initialized()):
        return value
    t = value.detach().clone().float()
    dist.all_reduce(t)
    return t / dist.get_world_size()


class StopCondition:
    """Asks training to checkpoint and stop: after SIGTERM / SIGUSR1, or once ``max_minutes`` have passed.

    Handlers only set a flag, so the step that is running finishes; ``fit`` checks ``requested()`` after every
    step, saves, and raises ``TrainingStopped``. Use as a context manager to restore the previous handlers.
    """

    def __init__(self, max_minutes: float | None = None):
        self.deadline = time.monotonic() + 60.0 * max_minutes if max_minutes is not None else None
        self.reason: str | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopCondition:
        for sig in STOP_SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum, frame) -> None:
        self.reason = f"received {signal.Signals(signum).name}"
        if signum == signal.SIGINT:  # a second Ctrl-C stops at once (KeyboardInterrupt), without saving
            signal.signal(signal.SIGINT, self._previous.get(signal.SIGINT, signal.default_int_handler))
            print("Ctrl-C: stopping after this step with the state saved (Ctrl-C again: stop now)", flush=True)

    def requested(self) -> bool:
        """True once a stop signal arrived or the time budget is spent (this process's view)."""
        if self.reason is None and self.deadline is not None and time.monotonic() >= self.deadline:
            self.reason = "reached the time budget (--max-minutes)"
        return self.reason is not None


class TrainingStopped(Exception):
    """Raised by ``fit`` after saving the resumable state because a ``StopCondition`` asked it to stop."""

    def __init__(self, step: int, reason: str):
        super().__init__(f"stopped at step {step}: {reason}; state saved, rerun the same command to resume")
        self.step, self.reason = step, reason
