"""Experiment config of flow matching (Lipman et al. 2023) and rectified flow (Liu et al. 2023): shared sections
plus the probability path, the objective's reduction, the ODE sampler, the likelihood solve and reflow.

The path and the sampler are tagged unions (``kind``), like the net configs; a wrong kind fails at load time.
"""

# No ``from __future__ import annotations``: shared.config reads each ``kind`` Literal off the dataclass field.
from dataclasses import dataclass, field
from typing import Literal

from shared.nets import MLPConfig, UNetConfig
from shared.pipeline.experiment import ExperimentConfig
from shared.pipeline.few_step_config import FewStepSamplerConfig
from shared.pipeline.ode_config import EulerSamplerConfig, HeunSamplerConfig, LikelihoodConfig, ODESamplerConfig
from shared.pipeline.path_config import OTPathConfig, PathConfig, RectifiedPathConfig  # noqa: F401 (re-exported)
from shared.pipeline.train import TrainConfig

# The path (PathConfig): Lipman's OT path or Liu's straight interpolation, in shared.pipeline.path_config (the
# distillations of a flow build the same paths).


@dataclass(frozen=True)
class ObjectiveConfig:
    """Velocity regression || v(x_t, t) - u_t ||^2 (Lipman Eq. 23, Liu Eq. 1), t ~ U[0, 1]."""

    reduce: Literal["mean", "sum"] = "mean"  # over dims: "mean" as the official RF code (reduce_mean); "sum": the norm


# Lipman Sec. 6: dopri5; Liu Sec. 4: RK45; rtol = atol = 1e-5: Lipman App. E, the official RF code's ode_tol
# (unverified for Lipman). Euler / Heun: uniform in t (Liu Sec. 4: N = 1 Euler step is one-step generation).
# DDIM, DPM-Solver++(2M), EDM's Heun: the same checkpoint through the path's conversions (shared.maths.fields).
SamplerConfig = ODESamplerConfig | EulerSamplerConfig | HeunSamplerConfig | FewStepSamplerConfig


# LikelihoodConfig: log p_1(x) by the change of variables from t = 1 back to the prior at t = 0 (Lipman Sec. 6).


def _reflow_train() -> TrainConfig:
    return TrainConfig(steps=1000, batch_size=256, lr=2e-3, warmup_steps=100, ema_decay=0.995, checkpoint_every=500)


@dataclass(frozen=True)
class ReflowConfig:
    """Reflow (Liu et al. 2023, Sec. 2, Alg. 1): pairs (z0, z1 = flow(z0)) of the trained flow, then retrain."""

    n_pairs: int = 10_000  # Liu et al.: 4M pairs for CIFAR-10 (official README: "at least 1M")
    pair_batch_size: int = 1000  # noise draws integrated at once when making pairs
    # Start of the new flow: "previous" = the previous flow's EMA weights (the pairs' teacher), "previous_raw" = its
    # raw weights (official run_lib_reflow.py L71 loads the checkpoint's 'model', not its 'ema'), "scratch" = new.
    init: Literal["previous", "previous_raw", "scratch"] = "previous"
    # Dropout of the new flow's net; None keeps the net's (official reflow config inherits 0.1, the 1-RF has 0.15).
    dropout: float | None = None
    train: TrainConfig = field(default_factory=_reflow_train)
    eval_n: int = 2000  # noise draws for straightness and 1- / 2-step quality, before and after
    straightness_steps: int = 100  # grid points of the straightness integral in t (trapezoid)

    def __post_init__(self):
        if self.n_pairs < 1 or self.pair_batch_size < 1 or self.eval_n < 2 or self.straightness_steps < 1:
            raise ValueError("reflow: need n_pairs, pair_batch_size, straightness_steps >= 1 and eval_n >= 2")
        if self.dropout is not None and not 0 <= self.dropout < 1:
            raise ValueError(f"reflow.dropout must be in [0, 1) or null, got {self.dropout}")


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """A flow matching / rectified flow experiment."""

    net: MLPConfig | UNetConfig = field(default_factory=UNetConfig)
    path: PathConfig = field(default_factory=OTPathConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    sample: SamplerConfig = field(default_factory=ODESamplerConfig)
    likelihood: LikelihoodConfig = field(default_factory=LikelihoodConfig)
    reflow: ReflowConfig = field(default_factory=ReflowConfig)
