"""The couplings that pair noise x0 with data x1 for flow matching's regression (the paths themselves are the core's
``shared.maths.processes.flow``): the independent one (noise drawn apart from the data; Lipman's CFM and the 1-rectified
flow) or the pairs (z0, z1) a trained flow made (reflow, Liu et al. 2023, Sec. 2).
"""

from __future__ import annotations

import torch
from torch import Tensor

from shared.utils import randn_like


class IndependentCoupling:
    """(x0, x1) = (N(0, I) noise drawn with ``generator``, the data batch): Lipman Eq. 23; Liu's 1-rectified flow."""

    def __call__(self, x: Tensor, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        """x (B, *D) -> (x0, x1), each (B, *D)."""
        return randn_like(x, generator), x


class PairedCoupling:
    """(x0, x1) = the pairs (z0, z1) a trained flow made, stacked as x (B, 2, *D) (reflow, Liu Sec. 2)."""

    def __call__(self, x: Tensor, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        """x (B, 2, *D) -> (z0, z1), each (B, *D)."""
        if x.ndim < 3 or x.shape[1] != 2:
            raise ValueError(f"PairedCoupling: expected stacked pairs (B, 2, *D), got {tuple(x.shape)}")
        return x[:, 0], x[:, 1]


Coupling = IndependentCoupling | PairedCoupling

__all__ = ["Coupling", "IndependentCoupling", "PairedCoupling"]
