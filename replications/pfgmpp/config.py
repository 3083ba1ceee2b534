"""Experiment config of PFGM++ (Xu et al. 2023): EDM's sections (path, design, objective, likelihood) with the
kernel's augmentation dimension D, and the deterministic samplers of EDM's ODE."""

# No ``from __future__ import annotations``: shared.config reads each ``kind`` Literal off the dataclass field.
from dataclasses import dataclass, field
from typing import Literal

from shared.config import PositiveInt
from shared.nets import MLPConfig, UNetConfig
from shared.pipeline.denoiser_config import DenoiserObjectiveConfig, EDMDesignConfig, SigmaPathConfig
from shared.pipeline.experiment import ExperimentConfig
from shared.pipeline.few_step_config import DDIMSamplerConfig, DPMSolver2MSamplerConfig, HeunEDMSamplerConfig
from shared.pipeline.ode_config import LikelihoodConfig


@dataclass(frozen=True)
class StudentKernelConfig:
    """p_r(x | y) ∝ (||x - y||^2 + r^2)^(-(N + D) / 2), r = sigma sqrt(D) (Sec. 3-4). D = 1: PFGM."""

    kind: Literal["student"] = "student"
    D: PositiveInt = 128  # official train.py --aug_dim default; CIFAR-10's best: 2048 (README table)


@dataclass(frozen=True)
class GaussianKernelConfig:
    """D -> inf: N(y, sigma^2 I), EDM itself (Sec. 4, Prop. 4.1; the paper's "D = inf" rows)."""

    kind: Literal["gaussian"] = "gaussian"


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """A PFGM++ experiment."""

    net: MLPConfig | UNetConfig = field(default_factory=UNetConfig)
    path: SigmaPathConfig = field(default_factory=SigmaPathConfig)
    design: EDMDesignConfig = field(default_factory=EDMDesignConfig)  # the paper keeps EDM's (Sec. 6, App. C)
    kernel: StudentKernelConfig | GaussianKernelConfig = field(default_factory=StudentKernelConfig)
    objective: DenoiserObjectiveConfig = field(default_factory=DenoiserObjectiveConfig)
    # deterministic only: EDM's stochastic churn adds Gaussian noise, which is not this kernel's
    sample: HeunEDMSamplerConfig | DDIMSamplerConfig | DPMSolver2MSamplerConfig = field(
        default_factory=HeunEDMSamplerConfig
    )
    likelihood: LikelihoodConfig = field(default_factory=LikelihoodConfig)
