"""DDPM's output parameterisation: the network predicts the noise eps (Ho et al. 2020, Eq. 11)."""

from __future__ import annotations

from torch import Tensor, nn

from shared.processes import DiscreteVP
from shared.utils import VectorField, append_dims


class EpsPrecond:
    """eps_theta(x_t, t) = net(x_t, i - 1) for t = i / T: the net sees the 0-based step index (official code)."""

    def __init__(self, chain: DiscreteVP):
        self.chain = chain

    def eps(self, net: nn.Module, x: Tensor, t: Tensor) -> Tensor:
        """Predicted noise (B, *D) at x_t (B, *D), t (B,)."""
        return net(x, t * self.chain.n_steps - 1)

    def score(self, net: nn.Module) -> VectorField:
        """The score implied by eps: grad log p_t(x) = -eps / sigma_t (Song et al. 2021, App. B)."""

        def score(x: Tensor, t: Tensor) -> Tensor:
            return -self.eps(net, x, t) / append_dims(self.chain.sigma(t), x.ndim)

        return score
