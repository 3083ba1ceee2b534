"""Gaussian paths: the Score-SDE family, its discrete chains and flow matching's affine paths."""

from shared.processes.base import GaussianProcess
from shared.processes.discrete import DiscreteVE, DiscreteVP
from shared.processes.flow import AffinePath, OTPath, StraightPath
from shared.processes.sde import SDE, VESDE, VPSDE, ReverseSDE, SubVPSDE

__all__ = [
    "GaussianProcess",
    "AffinePath",
    "OTPath",
    "StraightPath",
    "SDE",
    "VPSDE",
    "SubVPSDE",
    "VESDE",
    "ReverseSDE",
    "DiscreteVP",
    "DiscreteVE",
]
