"""Experiment config of FFJORD (Grathwohl et al. 2019): shared sections plus the dynamics net, the ODE solve and the
optional RNODE regularisers (Finlay et al. 2020; beyond the paper, off by default)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from shared.config import ODEMethod, PositiveInt
from shared.pipeline.experiment import ExperimentConfig

Activation = Literal["tanh", "softplus"]


@dataclass(frozen=True)
class ConcatSquashConfig:
    """Dynamics of the 2-D toys: ConcatSquash linear layers (official train_toy.py: 64-64-64, tanh)."""

    kind: Literal["concatsquash"] = "concatsquash"
    hidden: tuple[int, ...] = (64, 64, 64)
    activation: Activation = "tanh"
    n_blocks: int = 1  # stacked CNFs (official --num_blocks 1 for toys)

    def __post_init__(self):
        if not self.hidden or min(self.hidden) < 1 or self.n_blocks < 1:
            raise ValueError("net: hidden widths and n_blocks must be >= 1")


@dataclass(frozen=True)
class MultiscaleConfig:
    """Multiscale image CNF (Sec. 4.2 / App. B.1): per scale n_blocks CNFs, squeeze, n_blocks CNFs, factor out half."""

    kind: Literal["multiscale"] = "multiscale"
    hidden: tuple[int, ...] = (64, 64, 64)  # conv channels of each dynamics net (App. B.1: 3 layers of 64)
    activation: Activation = "softplus"
    n_blocks: int = 2  # CNFs before and after each squeeze (official --num_blocks 2)
    n_scales: PositiveInt | None = None  # null: halve while the side is >= 4 (28 -> 3 scales, 32 -> 4, 8 -> 2)
    alpha: float = 1e-6  # logit transform alpha + (1 - 2 alpha) x (App. B.1: 1e-6 MNIST, 0.05 CIFAR-10)

    def __post_init__(self):
        if not self.hidden or min(self.hidden) < 1 or self.n_blocks < 1:
            raise ValueError("net: hidden widths and n_blocks must be >= 1")
        if not 0.0 <= self.alpha < 0.5:
            raise ValueError(f"net.alpha must be in [0, 0.5), got {self.alpha}")


@dataclass(frozen=True)
class ODEConfig:
    """The solve: learnable end time, solver and tolerances, divergence estimator (Sec. 3, 4)."""

    T: float = 0.5  # initial end time (official: 0.5 toys, 1.0 images); T = sqrt_T^2 is learned if train_T
    train_T: bool = True
    method: ODEMethod = "dopri5"
    atol: float = 1e-5  # Sec. 4: tolerances 1e-5
    rtol: float = 1e-5
    adjoint: bool = False  # backpropagate with the adjoint method (memory O(1) in the solver steps)
    divergence: Literal["exact", "hutchinson"] = "hutchinson"  # training estimator (Eq. 7); eval is exact in 2-D
    noise: Literal["rademacher", "gaussian"] = "rademacher"

    def __post_init__(self):
        if self.T <= 0 or self.atol <= 0 or self.rtol <= 0:
            raise ValueError("ode: T, atol and rtol must be > 0")


@dataclass(frozen=True)
class RegularizeConfig:
    """RNODE coefficients (Finlay et al. 2020, Eq. 3): lambda_K int ||f||^2 dt + lambda_J int ||df/dx||_F^2 dt."""

    kinetic: float = 0.0
    jacobian_frobenius: float = 0.0

    def __post_init__(self):
        if self.kinetic < 0 or self.jacobian_frobenius < 0:
            raise ValueError("regularize: coefficients must be >= 0")


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """A FFJORD experiment."""

    net: ConcatSquashConfig | MultiscaleConfig = field(default_factory=ConcatSquashConfig)
    ode: ODEConfig = field(default_factory=ODEConfig)
    regularize: RegularizeConfig = field(default_factory=RegularizeConfig)
