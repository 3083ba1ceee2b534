"""Experiment config of consistency models (Song et al. 2023): shared sections plus the path and parametrization the
model shares with its teacher, the objective (distillation or training, a tagged union) and the few-step sampler."""

# No ``from __future__ import annotations``: shared.config reads each ``kind`` Literal off the dataclass field.
from dataclasses import dataclass, field
from typing import Literal

from shared.config import PositiveFloat, PositiveInt, UnitInterval
from shared.nets import MLPConfig, UNetConfig
from shared.pipeline.experiment import ExperimentConfig
from shared.pipeline.path_config import OTPathConfig, PathConfig


@dataclass(frozen=True)
class ParametrizationConfig:
    """What the net predicts, as its teacher's (the student starts from the teacher's weights): a velocity on the
    path, conditioned on 999 t (flow matching's ``VelocityPrediction(ScaledTime(999))``)."""

    kind: Literal["velocity"] = "velocity"
    sigma_data: PositiveFloat = 0.5  # c_skip's sigma_data: App. C; official data_std = 0.5 (configs/cifar10_ve_cd.py)


@dataclass(frozen=True)
class DistillationConfig:
    """Consistency distillation (Alg. 2): pairs of adjacent grid points, the later one reached by one teacher step."""

    kind: Literal["cd"] = "cd"
    teacher: str = (
        ""  # the teacher's final checkpoint (a run on the same path and parametrization); set by the workflow
    )
    n_points: PositiveInt = 18  # N, the discretization's points (official num_scales = 18 on CIFAR-10)
    solver: Literal["heun", "ddim"] = "heun"  # the teacher's ODE step Phi (official solver = "heun"; ddim: CM's Euler)
    target_ema: UnitInterval = (
        0.0  # mu of the target theta^- (official CIFAR-10 CD: none, i.e. stopgrad(theta), mu = 0)
    )
    metric: Literal["l2", "l1"] = (
        "l2"  # d(x, y): the paper's best is LPIPS (not in the core); launch.sh also has l2 / l1
    )
    rho: PositiveFloat = 7.0  # the grid's Karras exponent (official model.rho)

    def __post_init__(self):
        if self.n_points < 2:
            raise ValueError(f"objective.n_points: need at least 2 grid points, got {self.n_points}")


@dataclass(frozen=True)
class TrainingConfig:
    """Consistency training (Alg. 3): no teacher; the later point shares the earlier one's noise, and the grid
    grows with training: N(k) and mu(k) of App. C (official "adaptive" / "progressive" schedule)."""

    kind: Literal["ct"] = "ct"
    s0: PositiveInt = 2  # official start_scales (configs/cifar10_ve_ct_adaptive.py)
    s1: PositiveInt = 150  # official end_scales
    mu0: UnitInterval = 0.9  # official start_ema
    metric: Literal["l2", "l1"] = "l2"
    rho: PositiveFloat = 7.0


ObjectiveConfig = DistillationConfig | TrainingConfig


@dataclass(frozen=True)
class SamplerConfig:
    """Multistep consistency sampling (Alg. 1): ``n_steps`` evaluations; the intermediate levels tau (noise-to-signal
    ratios, EDM's sigma) are ``levels`` or, if null, Karras levels (rho 7) between the boundary and ``sigma_max``."""

    kind: Literal["consistency"] = "consistency"
    n_steps: PositiveInt = 1
    levels: tuple[PositiveFloat, ...] | None = None  # tau_1 > ... > tau_{n_steps - 1}
    sigma_max: PositiveFloat = 80.0  # T of the paper (official t_max = 80) for the default levels

    def __post_init__(self):
        if self.levels is not None and len(self.levels) != self.n_steps - 1:
            raise ValueError(f"sample.levels: need n_steps - 1 = {self.n_steps - 1} levels, got {len(self.levels)}")


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """A consistency model's experiment."""

    net: MLPConfig | UNetConfig = field(default_factory=UNetConfig)
    path: PathConfig = field(default_factory=OTPathConfig)
    parametrization: ParametrizationConfig = field(default_factory=ParametrizationConfig)
    objective: ObjectiveConfig = field(default_factory=DistillationConfig)
    sample: SamplerConfig = field(default_factory=SamplerConfig)
