"""Score parameterisations of Song et al. (2021): how the network's output becomes a score (App. C, H)."""

from __future__ import annotations

import math

from torch import Tensor, nn

from shared.processes import SDE, VESDE
from shared.utils import VectorField, append_dims


class NoisePrecond:
    """VP / sub-VP (DDPM++): score = -net(x, 999 t) / sigma_t, the net predicting the noise (App. B, official code)."""

    def __init__(self, process: SDE):
        self.process = process

    def condition(self, t: Tensor) -> Tensor:
        """The net's conditioning 999 t: (B,)."""
        return 999.0 * t

    def score(self, net: nn.Module) -> VectorField:
        """The score field of ``net``: (B, *D), (B,) -> (B, *D)."""

        def score(x: Tensor, t: Tensor) -> Tensor:
            return -net(x, self.condition(t)) / append_dims(self.process.sigma(t), x.ndim)

        return score


class SigmaScalePrecond:
    """VE (NCSN++): the net is conditioned on log sigma_t and its output divided by sigma_t (``scale_by_sigma``).

    NCSN++ feeds log sigma to a Fourier embedding; our sinusoidal embedding wants values on DDPM's [0, 999] step
    scale, so log sigma is mapped affinely onto it (for the geometric VE schedule this equals 999 t).
    """

    def __init__(self, process: VESDE):
        self.process = process
        self.log_min, self.log_max = math.log(process.sigma_min), math.log(process.sigma_max)

    def condition(self, t: Tensor) -> Tensor:
        """999 (log sigma_t - log sigma_min) / (log sigma_max - log sigma_min): (B,)."""
        return 999.0 * (self.process.sigma(t).log() - self.log_min) / (self.log_max - self.log_min)

    def score(self, net: nn.Module) -> VectorField:
        """The score field of ``net``: (B, *D), (B,) -> (B, *D)."""

        def score(x: Tensor, t: Tensor) -> Tensor:
            return net(x, self.condition(t)) / append_dims(self.process.sigma(t), x.ndim)

        return score
