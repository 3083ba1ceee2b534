"""Experiment config of progressive distillation (Salimans & Ho 2022): shared sections plus the path and
parametrization the student shares with its teacher, the halving schedule and the student's DDIM sampler."""

# No ``from __future__ import annotations``: shared.config reads each ``kind`` Literal off the dataclass field.
from dataclasses import dataclass, field
from typing import Literal

from shared.config import PositiveInt
from shared.nets import MLPConfig, UNetConfig
from shared.pipeline.experiment import ExperimentConfig
from shared.pipeline.few_step_config import DDIMSamplerConfig
from shared.pipeline.path_config import OTPathConfig, PathConfig


@dataclass(frozen=True)
class ParametrizationConfig:
    """What the student predicts: its teacher's parametrization (it starts from the teacher's weights), a velocity on
    the path conditioned on 999 t (flow matching's)."""

    kind: Literal["velocity"] = "velocity"


@dataclass(frozen=True)
class DistillationConfig:
    """Algorithm 2: rounds of training, each halving the sampler's steps from ``start_steps`` to ``final_steps``; the
    training's steps are split evenly over the rounds (the last one takes the remainder)."""

    teacher: str = ""  # the teacher's final checkpoint (same path, parametrization and net); set by the workflow
    start_steps: PositiveInt = (
        1024  # the teacher's DDIM steps (Sec. 5: 1024 for CIFAR-10's first student... see README)
    )
    final_steps: PositiveInt = 1  # the last student's steps
    weighting: Literal["truncated_snr", "snr"] = "truncated_snr"  # Sec. 4: max(SNR, 1) ("truncated SNR")

    def __post_init__(self):
        ratio = self.start_steps // self.final_steps
        if self.start_steps % self.final_steps or ratio < 2 or ratio & (ratio - 1):
            raise ValueError(
                f"objective: start_steps / final_steps must be a power of 2 >= 2, got {self.start_steps} / "
                f"{self.final_steps}"
            )

    @property
    def rounds(self) -> int:
        return (self.start_steps // self.final_steps).bit_length() - 1


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """A progressive distillation experiment."""

    net: MLPConfig | UNetConfig = field(default_factory=UNetConfig)
    path: PathConfig = field(default_factory=OTPathConfig)
    parametrization: ParametrizationConfig = field(default_factory=ParametrizationConfig)
    objective: DistillationConfig = field(default_factory=DistillationConfig)
    sample: DDIMSamplerConfig = field(default_factory=lambda: DDIMSamplerConfig(n_steps=1))

    def __post_init__(self):
        super().__post_init__()
        if self.train.steps < self.objective.rounds:
            raise ValueError(f"train.steps: need at least one step a round ({self.objective.rounds} rounds)")
