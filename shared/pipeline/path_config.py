"""Config sections of flow matching's Gaussian paths (``shared.maths.processes.flow``), for every replication that
trains on one or distils a model trained on one: flow matching and rectified flow, consistency models and
progressive distillation of such a teacher. Each section builds its path (``build``)."""

# No ``from __future__ import annotations``: shared.config reads each ``kind`` Literal off the dataclass field.
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class OTPathConfig:
    """Lipman et al.'s conditional OT path x_t = (1 - (1 - sigma_min) t) x0 + t x1 (Eq. 20-23)."""

    kind: Literal["ot"] = "ot"
    sigma_min: float = 1e-4  # Eq. 20: std of p_1(x | x1); "small" in the paper, the value is ours (unverified)

    def __post_init__(self):
        if not 0 <= self.sigma_min < 1:
            raise ValueError(f"path.sigma_min must be in [0, 1), got {self.sigma_min}")

    def build(self):
        from shared.maths.processes.flow import OTPath

        return OTPath(self.sigma_min)


@dataclass(frozen=True)
class RectifiedPathConfig:
    """Liu et al.'s straight interpolation x_t = t x1 + (1 - t) x0 (Eq. 1)."""

    kind: Literal["rectified"] = "rectified"

    def build(self):
        from shared.maths.processes.flow import StraightPath

        return StraightPath()


PathConfig = OTPathConfig | RectifiedPathConfig

__all__ = ["OTPathConfig", "PathConfig", "RectifiedPathConfig"]
