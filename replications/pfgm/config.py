"""Experiment config of PFGM (Xu et al. 2022): shared sections plus the perturbation, the Poisson-field target, the
hemisphere prior and the log-z ODE samplers."""

# No ``from __future__ import annotations``: shared.config reads each ``kind`` Literal off the dataclass field.
from dataclasses import dataclass, field
from typing import Literal

from shared.config import PositiveFloat
from shared.nets import MLPConfig, UNetConfig
from shared.pipeline.experiment import ExperimentConfig
from shared.pipeline.ode_config import EulerSamplerConfig, HeunSamplerConfig
from shared.pipeline.ode_config import LikelihoodConfig as SharedLikelihoodConfig
from shared.pipeline.ode_config import ODESamplerConfig as SharedODESamplerConfig


@dataclass(frozen=True)
class PerturbConfig:
    """Training points off the data (Alg. 2, App. B.1.1): z = |N(0, sigma^2)| (1 + tau)^m, m ~ U[0, M]."""

    sigma: float = 0.01  # App. B.1.1
    tau: float = 0.03  # App. B.1.1
    M: int = 291  # App. B.1.1: CIFAR-10
    restrict_M: bool = True  # App. B.1.1: z < 0.005 -> m ~ U[0, 0.7 M]

    def __post_init__(self):
        if self.sigma <= 0 or self.tau <= 0 or self.M < 1:
            raise ValueError("perturb: need sigma > 0, tau > 0 and M >= 1")


@dataclass(frozen=True)
class FieldConfig:
    """The empirical normalised Poisson field of the large batch (Alg. 1)."""

    gamma: float = 5.0  # Alg. 1 / App. B.1.1: target sqrt(N) E / (||E|| + gamma)
    small_batch: int = 128  # App. B.1.1: perturbed points per step; train.batch_size is the large batch of charges
    chunk_size: int = 128  # points whose field is computed at once: peak memory ~ chunk_size * batch_size floats
    z_exp: float = 5.0  # App. B.2.3 (official default 5): below it the ODEs use the z-part implied by x; 0: off

    def __post_init__(self):
        if self.gamma < 0 or self.small_batch < 1 or self.chunk_size < 1 or self.z_exp < 0:
            raise ValueError("target: need gamma >= 0, small_batch >= 1, chunk_size >= 1 and z_exp >= 0")


@dataclass(frozen=True)
class ObjectiveConfig:
    """How each example's squared error over the N + 1 dims is reduced before the batch mean (Alg. 2, line 9).

    "sum": the squared norm as Alg. 2 writes it (the default; the smoke configs train with it). "half_sum":
    0.5 * the sum, the official CIFAR-10 run (losses.py L69 with training.reduce_mean False,
    default_cifar10_configs.py L19); with gradient clipping at 1.0 the factor changes how much is clipped.
    "mean": the official reduce_mean True (the mean over the N + 1 dims).
    """

    reduce: Literal["sum", "half_sum", "mean"] = "sum"


@dataclass(frozen=True)
class PriorConfig:
    """Uniform on the hemisphere of radius z_max projected to the plane z = z_max (App. B.2), radii clipped."""

    z_max: float = 40.0  # App. B.2: CIFAR-10
    upper_norm: float = 3000.0  # App. B.2: CIFAR-10
    z_min: float = 1e-3  # App. B.2: the backward ODE ends at z = 1e-3

    def __post_init__(self):
        if not 0 < self.z_min < self.z_max or self.upper_norm <= 1:
            raise ValueError("prior: need 0 < z_min < z_max and upper_norm > 1")


@dataclass(frozen=True)
class ODESamplerConfig(SharedODESamplerConfig):
    """The backward ODE dx/dt' = z E_x / E_z in t' = log z, adaptive (App. B.2: RK45 at 1e-4)."""

    rtol: PositiveFloat = 1e-4  # App. B.2
    atol: PositiveFloat = 1e-4  # App. B.2


# EulerSamplerConfig / HeunSamplerConfig: fixed steps uniform in log z (the robustness study, Sec. 5.2: N = 100).


@dataclass(frozen=True)
class LikelihoodConfig(SharedLikelihoodConfig):
    """Forward ODE from z_min to z_max with the change of variables (App. D.3 re-derived); one probe per solve."""

    rtol: PositiveFloat = 1e-4
    atol: PositiveFloat = 1e-4


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """A PFGM experiment."""

    net: MLPConfig | UNetConfig = field(default_factory=UNetConfig)
    perturb: PerturbConfig = field(default_factory=PerturbConfig)
    target: FieldConfig = field(default_factory=FieldConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    prior: PriorConfig = field(default_factory=PriorConfig)
    sample: ODESamplerConfig | EulerSamplerConfig | HeunSamplerConfig = field(default_factory=ODESamplerConfig)
    likelihood: LikelihoodConfig = field(default_factory=LikelihoodConfig)
