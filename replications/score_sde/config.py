"""Experiment config of Score-SDE (Song et al. 2021): shared sections plus the SDE, the objective and the sampler.

The SDE and the sampler are tagged unions (``kind``), like the net configs; a wrong kind fails at load time.
"""

# No ``from __future__ import annotations``: shared.config reads each ``kind`` Literal off the dataclass field.
from dataclasses import dataclass, field
from typing import Literal

from shared.config import NonNegativeInt, PositiveFloat, PositiveInt
from shared.nets import MLPConfig, UNetConfig
from shared.pipeline.experiment import ExperimentConfig
from shared.pipeline.few_step_config import FewStepSamplerConfig
from shared.pipeline.ode_config import LikelihoodConfig
from shared.pipeline.ode_config import ODESamplerConfig as SharedODESamplerConfig


def _check_common(n_steps: int, eps: float) -> None:
    if n_steps < 1 or not 0 < eps < 1:
        raise ValueError("process: need N >= 1 and 0 < eps < 1")


def _check_end_time(eps: float | None) -> None:
    if eps is not None and not 0 < eps < 1:
        raise ValueError(f"sample.eps: the end time of sampling must be in (0, T = 1), got {eps}")


@dataclass(frozen=True)
class VESDEConfig:
    """Variance exploding SDE (Eq. 9), sigma_min -> sigma_max geometric (Eq. 30)."""

    kind: Literal["ve"] = "ve"
    sigma_min: float = 0.01  # App. C.1, CIFAR-10
    sigma_max: float = 50.0  # App. C.1, CIFAR-10 (technique 1 of Song & Ermon 2020)
    N: int = 1000  # discretisation steps for sampling (App. C)
    eps: float = 1e-5  # time cutoff: t ~ U[eps, 1], sampling ends at eps (App. C)

    def __post_init__(self):
        _check_common(self.N, self.eps)
        if not 0 < self.sigma_min < self.sigma_max:
            raise ValueError("process: need 0 < sigma_min < sigma_max")


@dataclass(frozen=True)
class VPSDEConfig:
    """Variance preserving SDE (Eq. 11), beta linear from beta_min to beta_max."""

    kind: Literal["vp"] = "vp"
    beta_min: float = 0.1  # App. C: beta_bar_min = N * 1e-4 of DDPM
    beta_max: float = 20.0  # App. C: beta_bar_max = N * 0.02 of DDPM
    N: int = 1000
    eps: float = 1e-5

    def __post_init__(self):
        _check_common(self.N, self.eps)
        if not 0 < self.beta_min < self.beta_max:
            raise ValueError("process: need 0 < beta_min < beta_max")


@dataclass(frozen=True)
class SubVPSDEConfig(VPSDEConfig):
    """sub-VP SDE (Eq. 12): the VP drift, a smaller diffusion; same beta schedule."""

    kind: Literal["subvp"] = "subvp"


ProcessConfig = VESDEConfig | VPSDEConfig | SubVPSDEConfig


@dataclass(frozen=True)
class ObjectiveConfig:
    """Continuous denoising score matching (Eq. 7)."""

    weighting: Literal["sigma2", "likelihood"] = "sigma2"  # lambda = sigma_t^2 (Sec. 3.3) or g(t)^2 (Song 2021b)
    reduce: Literal["mean", "sum"] = "mean"  # over dimensions; "sum" is the official code's 0.5 * sum


@dataclass(frozen=True)
class PCSamplerConfig:
    """Predictor-corrector sampling (Algorithm 1; App. G)."""

    kind: Literal["pc"] = "pc"
    predictor: Literal["reverse_diffusion", "euler_maruyama", "ancestral", "probability_flow", "none"] = (
        "reverse_diffusion"  # App. G: reverse diffusion for PC
    )
    corrector: Literal["langevin", "none"] = "langevin"  # App. G
    snr: PositiveFloat = 0.16  # App. G: r = 0.16 for VE on CIFAR-10, 0.01 for VP
    n_corrector_steps: NonNegativeInt = 1  # M = 1 (App. G)
    corrector_first: bool = False  # Algorithm 1: predictor then corrector; the official code: corrector first
    norms: Literal["example", "batch"] = "example"  # Langevin step norms: Algorithm 4, or the official batch mean
    n_steps: PositiveInt | None = None  # null: the process's N
    # End time of sampling: the grid runs from T to it. null: the process's eps, the training cutoff. The paper
    # samples VP / sub-VP at 1e-3 but trains at 1e-5 (App. C; official run_lib.py sampling_eps), VE at 1e-5
    eps: PositiveFloat | None = None
    denoise: bool = True  # Tweedie's E[x0 | x_eps] at the end (the official code's noise removal)

    def __post_init__(self):
        _check_end_time(self.eps)


@dataclass(frozen=True)
class ODESamplerConfig(SharedODESamplerConfig):
    """Probability-flow ODE with an adaptive solver (Sec. 4.3; App. D.4: scipy's RK45 at rtol = atol = 1e-5;
    torchdiffeq's dopri5 is the same Dormand-Prince 5(4) pair)."""

    eps: PositiveFloat | None = None  # end time of the solve; null: the process's eps (App. D.4: 1e-3 for VP)
    denoise: bool = False  # App. G denoises at the end "in all experiments": the paper configs set it

    def __post_init__(self):
        _check_end_time(self.eps)


# LikelihoodConfig: the probability-flow log-likelihood (App. D.2: Skilling-Hutchinson, scipy's RK45 at 1e-5, from
# t = eps = 1e-5: the process's eps, as the official likelihood.py's default).


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """A Score-SDE experiment."""

    net: MLPConfig | UNetConfig = field(default_factory=UNetConfig)
    process: ProcessConfig = field(default_factory=VPSDEConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    # PC or the probability-flow ODE (the paper's), or a few-step sampler of the same checkpoint (DDIM,
    # DPM-Solver++(2M), EDM's Heun; these end at the path's own end, the process's eps)
    sample: PCSamplerConfig | ODESamplerConfig | FewStepSamplerConfig = field(default_factory=PCSamplerConfig)
    likelihood: LikelihoodConfig = field(default_factory=LikelihoodConfig)
