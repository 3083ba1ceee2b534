"""Experiment config of DDPM (Ho et al. 2020): shared sections plus the diffusion chain and the sampler.
The sampler is a tagged union (``kind``): Algorithm 2 (the default; a file without ``kind`` means it) or a few-step
sampler of the same checkpoint, DDIM or DPM-Solver++(2M): exponential integrators that read the chain's alpha and
sigma only. EDM's Heun needs the ODE's velocity, hence d alpha / dt, which a chain known on its steps does not have.
"""

# No ``from __future__ import annotations``: shared.config reads each ``kind`` Literal off the dataclass field.
from dataclasses import dataclass, field
from typing import Literal

from shared.config import PositiveInt
from shared.nets import MLPConfig, UNetConfig
from shared.pipeline.experiment import ExperimentConfig
from shared.pipeline.few_step_config import DDIMSamplerConfig, DPMSolver2MSamplerConfig


@dataclass(frozen=True)
class ChainConfig:
    """The forward chain: linear betas (Sec. 4)."""

    beta_1: float = 1e-4  # Sec. 4
    beta_T: float = 0.02  # Sec. 4
    T: int = 1000  # Sec. 4

    def __post_init__(self):
        if not 0 < self.beta_1 <= self.beta_T < 1 or self.T < 1:
            raise ValueError("process: need 0 < beta_1 <= beta_T < 1 and T >= 1")


@dataclass(frozen=True)
class AncestralSamplerConfig:
    """Ancestral sampling (Algorithm 2)."""

    kind: Literal["ancestral"] = "ancestral"
    n_steps: PositiveInt | None = None  # null: all T steps, as in the paper; fewer take an even stride
    variance: Literal["forward", "posterior"] = "forward"  # sigma_t^2 = beta_t (Sec. 3.2, CIFAR-10 choice)
    clip_x0: bool = True  # clip the predicted x0 to [-1, 1] as the official code does (images only)


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """A DDPM experiment."""

    net: MLPConfig | UNetConfig = field(default_factory=UNetConfig)
    process: ChainConfig = field(default_factory=ChainConfig)
    sample: AncestralSamplerConfig | DDIMSamplerConfig | DPMSolver2MSamplerConfig = field(
        default_factory=AncestralSamplerConfig
    )

    def __post_init__(self):
        super().__post_init__()
        if self.sample.n_steps is not None and self.sample.n_steps > self.process.T:
            raise ValueError(f"sample.n_steps: must be <= process.T {self.process.T}, got {self.sample.n_steps}")
