"""Experiment config of NCSN (Song & Ermon 2019): shared sections plus the noise ladder and annealed Langevin."""

# No ``from __future__ import annotations``: shared.config reads each ``kind`` Literal off the dataclass field.
from dataclasses import dataclass, field
from typing import Literal

from replications.ncsn.nets import RefineNetConfig
from shared.nets import MLPConfig, UNetConfig
from shared.pipeline.experiment import ExperimentConfig


@dataclass(frozen=True)
class LadderConfig:
    """The noise levels {sigma_i}: a geometric sequence from sigma_1 (largest) down to sigma_L (Sec. 4.2)."""

    sigma_1: float = 1.0  # Sec. 5: sigma_1 = 1
    sigma_L: float = 0.01  # Sec. 5: sigma_L = 0.01
    L: int = 10  # Sec. 5: L = 10

    def __post_init__(self):
        if not 0 < self.sigma_L < self.sigma_1 or self.L < 2:
            raise ValueError("noise: need 0 < sigma_L < sigma_1 and L >= 2")


@dataclass(frozen=True)
class ObjectiveConfig:
    """Score matching over the ladder, lambda(sigma) = sigma^2 (Eq. 6-7; official ``anneal_power: 2``).

    kind: "dsm" denoising score matching (the paper's, official configs/anneal.yml L7 ``algo: 'dsm'``) or "ssm"
    sliced score matching, variance reduced, Gaussian projections (the official code's other choice,
    runners/anneal_runner.py L141-145 -> losses/sliced_sm.py ``anneal_sliced_score_estimation_vr``). Not in the
    official code, for the side-by-side of ``objectives.py``: "ssm_plain" sliced score matching without the
    variance reduction (Song et al. 2019, Eq. 7) and "esm" Hyvärinen's explicit objective with the exact Jacobian
    trace (D backward passes; small D only). All three sliced / explicit kinds are ``shared.maths.score_matching``.
    """

    kind: Literal["dsm", "ssm", "ssm_plain", "esm"] = "dsm"
    reduce: Literal["sum", "mean"] = "sum"  # DSM: Eq. 5's 1/2 ||.||^2 summed over dimensions (the official loss)
    n_projections: int = 1  # ssm / ssm_plain: projections per example (official n_particles = 1)

    def __post_init__(self):
        if self.n_projections < 1:
            raise ValueError(f"objective.n_projections must be >= 1, got {self.n_projections}")
        if self.kind != "dsm" and self.reduce != "sum":
            raise ValueError(f"objective.reduce: {self.kind} sums over dimensions (its trace); use sum")


@dataclass(frozen=True)
class ALDConfig:
    """Annealed Langevin dynamics (Algorithm 1), started from uniform noise."""

    n_steps_each: int = 100  # Sec. 5: T = 100 steps per noise level
    step_lr: float = 2e-5  # eps of Alg. 1, alpha_i = eps sigma_i^2 / sigma_L^2 (Sec. 5 prints 2e-5; the official
    # step equals eps = 4e-5 in this form, which the paper configs set: protocol.yaml)
    denoise: bool = False  # final x + sigma_L^2 s(x, sigma_L): not in the paper (NCSNv2 adds it); FID moves a lot
    init_low: float = 0.0  # Sec. 5 / App. B: start from U[0, 1] (images in [0, 1])
    init_high: float = 1.0

    def __post_init__(self):
        if self.n_steps_each < 1 or self.step_lr <= 0 or not self.init_high > self.init_low:
            raise ValueError("sample: need n_steps_each >= 1, step_lr > 0 and init_high > init_low")


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """An NCSN experiment."""

    net: RefineNetConfig | UNetConfig | MLPConfig = field(default_factory=RefineNetConfig)
    noise: LadderConfig = field(default_factory=LadderConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    sample: ALDConfig = field(default_factory=ALDConfig)
