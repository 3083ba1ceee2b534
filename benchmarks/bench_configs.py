"""Examples/s and the projected wall time of each paper config's full run (``train_step.measure``).

On a CPU the batch is shrunk (``--config-batch``) and the projection assumes examples/s does not depend on the batch
(on a GPU that underestimates the paper batch's throughput, so run there with the paper's batch: the default).
"""

from __future__ import annotations

import torch
from train_step import measure

PAPER_CONFIGS = [
    ("ddpm", "replications/ddpm/configs/cifar10.yaml"),
    ("ncsn", "replications/ncsn/configs/cifar10.yaml"),
    ("score_sde", "replications/score_sde/configs/cifar10_vp.yaml"),
    ("score_sde", "replications/score_sde/configs/cifar10_ve.yaml"),
    ("score_sde", "replications/score_sde/configs/cifar10_subvp.yaml"),
    ("pfgm", "replications/pfgm/configs/cifar10.yaml"),
    ("flow_matching", "replications/flow_matching/configs/cifar10.yaml"),
    ("ffjord", "replications/ffjord/configs/cifar10.yaml"),
]


def shrink(replication: str, batch: int | None) -> list[str]:
    """Overrides to measure at ``batch`` trained examples per step (PFGM: 32 charges each, as its 4096 / 128)."""
    if batch is None:
        return []
    if replication == "pfgm":
        return [f"train.batch_size={32 * batch}", f"target.small_batch={batch}", f"target.chunk_size={batch}"]
    return [f"train.batch_size={batch}"]


def run(device: torch.device, batch: int | None, sample_batch: int | None, steps: int, only: list[str] | None) -> list:
    rows = []
    for replication, config in PAPER_CONFIGS:
        if only and replication not in only:
            continue
        try:
            rows.append(measure(replication, config, shrink(replication, batch), device, steps, 1, sample_batch))
        except Exception as err:  # one config's failure (e.g. out of memory) must not hide the others' figures
            rows.append({"replication": replication, "config": config, "error": f"{type(err).__name__}: {err}"})
        print(f"  {replication} {config}: done", flush=True)
    return rows
