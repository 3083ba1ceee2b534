"""Forward noising processes: Gaussian perturbation kernels, the Score-SDE family and its discrete chains."""

from shared.processes.base import GaussianProcess
from shared.processes.discrete import DiscreteVE, DiscreteVP
from shared.processes.sde import SDE, VESDE, VPSDE, ReverseSDE, SubVPSDE

__all__ = ["GaussianProcess", "SDE", "VPSDE", "SubVPSDE", "VESDE", "ReverseSDE", "DiscreteVP", "DiscreteVE"]
