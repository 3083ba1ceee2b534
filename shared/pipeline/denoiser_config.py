"""Config sections of EDM's denoiser training (Karras et al. 2022, Table 1), for every replication that trains a
denoiser D(x; sigma) on EDM's path: EDM itself (its three columns) and PFGM++ (Xu et al. 2023, which keeps EDM's
column and swaps the kernel). A design section builds its (scalings, p_train(sigma), lambda(sigma)).

Constants: Table 1 and the official NVlabs/edm code (training/networks.py VPPrecond / VEPrecond / EDMPrecond,
training/loss.py VPLoss / VELoss / EDMLoss, generate.py edm_sampler).
"""

# No ``from __future__ import annotations``: shared.config reads each ``kind`` Literal off the dataclass field.
from dataclasses import dataclass
from typing import Literal

from shared.config import PositiveFloat, PositiveInt


@dataclass(frozen=True)
class SigmaPathConfig:
    """EDM's sampling range: x_t = x0 + t eps, t = sigma from sigma_max down to sigma_min, then 0 (Table 1, EDM)."""

    sigma_min: PositiveFloat = 0.002  # Sec. 3 / generate.py edm_sampler
    sigma_max: PositiveFloat = 80.0  # Sec. 3 / generate.py edm_sampler

    def __post_init__(self):
        if not self.sigma_min < self.sigma_max:
            raise ValueError(f"path: need sigma_min < sigma_max, got {self.sigma_min}, {self.sigma_max}")

    def build(self):
        from shared.maths.processes.sigma import SigmaPath

        return SigmaPath(self.sigma_min, self.sigma_max)


@dataclass(frozen=True)
class EDMDesignConfig:
    """Table 1, "EDM": c_skip / c_out / c_in from sigma_data, c_noise = ln(sigma) / 4, ln sigma ~ N(P_mean, P_std^2),
    lambda = 1 / c_out^2 (official EDMPrecond, EDMLoss)."""

    kind: Literal["edm"] = "edm"
    sigma_data: PositiveFloat = 0.5  # Sec. 5; EDMPrecond / EDMLoss sigma_data
    p_mean: float = -1.2  # EDMLoss P_mean
    p_std: PositiveFloat = 1.2  # EDMLoss P_std

    def build(self):
        from shared.maths.denoising import EDMWeight, LogNormalLevels
        from shared.maths.precond import EDMScalings

        return EDMScalings(self.sigma_data), LogNormalLevels(self.p_mean, self.p_std), EDMWeight(self.sigma_data)


@dataclass(frozen=True)
class VPDesignConfig:
    """Table 1, "VP": eps-prediction scalings, t ~ U(eps_t, 1) through the VP schedule, lambda = 1 / sigma^2
    (official VPPrecond, VPLoss)."""

    kind: Literal["vp"] = "vp"
    beta_d: PositiveFloat = 19.9  # VPPrecond / VPLoss beta_d
    beta_min: PositiveFloat = 0.1  # VPPrecond / VPLoss beta_min
    M: PositiveInt = 1000  # VPPrecond M: c_noise = (M - 1) t
    eps_t: PositiveFloat = 1e-5  # VPLoss epsilon_t

    def build(self):
        from shared.maths.denoising import InverseSigma2, VPLevels
        from shared.maths.precond import VPScalings

        schedule = VPScalings(self.beta_d, self.beta_min, self.M)
        return schedule, VPLevels(schedule, self.eps_t), InverseSigma2()


@dataclass(frozen=True)
class VEDesignConfig:
    """Table 1, "VE": score scalings (c_out = sigma), ln sigma ~ U(ln sigma_min, ln sigma_max), lambda = 1 / sigma^2
    (official VEPrecond, VELoss)."""

    kind: Literal["ve"] = "ve"
    sigma_min: PositiveFloat = 0.02  # VELoss sigma_min
    sigma_max: PositiveFloat = 100.0  # VELoss sigma_max

    def build(self):
        from shared.maths.denoising import InverseSigma2, LogUniformLevels
        from shared.maths.precond import VEScalings

        return VEScalings(), LogUniformLevels(self.sigma_min, self.sigma_max), InverseSigma2()


DesignConfig = EDMDesignConfig | VPDesignConfig | VEDesignConfig


@dataclass(frozen=True)
class DenoiserObjectiveConfig:
    """How lambda || D - y ||^2 is reduced over dimensions: "sum" (official: ``loss.sum()``) or "mean"."""

    reduce: Literal["sum", "mean"] = "sum"


__all__ = [
    "DenoiserObjectiveConfig",
    "DesignConfig",
    "EDMDesignConfig",
    "SigmaPathConfig",
    "VEDesignConfig",
    "VPDesignConfig",
]
