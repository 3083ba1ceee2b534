"""Gaussian paths: the Score-SDE family, its discrete chains and flow matching's affine paths."""

from shared.maths.processes.base import GaussianProcess
from shared.maths.processes.discrete import DiscreteVE, DiscreteVP
from shared.maths.processes.flow import AffinePath, OTPath, StraightPath
from shared.maths.processes.sde import SDE, VESDE, VPSDE, ReverseSDE, SubVPSDE
from shared.maths.processes.sigma import SigmaPath

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
    "SigmaPath",
]
