"""The one objective of both papers: regress the net's velocity on the path's target (Lipman et al. 2023, Eq. 23
for the OT path; Liu et al. 2023, Eq. 1 for rectified flow and every reflow)."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from replications.flow_matching.couplings import Coupling, IndependentCoupling
from shared.maths.precond import Precond
from shared.maths.processes.flow import AffinePath


class FlowMatchingLoss:
    """E_{t ~ U[0, 1], (x0, x1) ~ coupling} || v_theta(x_t, t) - u_t(x0, x1) ||^2 per example (B,).

    Args:
        path: the probability path (``OTPath`` or ``StraightPath``): x_t and the target u_t.
        precond: how the net becomes a velocity (``shared.maths.precond.VelocityPrediction``).
        coupling: which (x0, x1) a batch pairs: ``IndependentCoupling`` (CFM, 1-rectified flow) or
            ``PairedCoupling`` (reflow).
        reduce: over dimensions, "mean" (the official rectified flow code) or "sum" (the squared norm as written).
    """

    def __init__(
        self,
        path: AffinePath,
        precond: Precond,
        coupling: Coupling | None = None,
        reduce: Literal["mean", "sum"] = "mean",
    ):
        self.path, self.precond = path, precond
        self.coupling = coupling if coupling is not None else IndependentCoupling()
        self.reduce = reduce

    def __call__(self, net: nn.Module, x: Tensor, generator: torch.Generator | None) -> Tensor:
        """x: data (B, *D), or stacked pairs (B, 2, *D) for ``PairedCoupling`` -> per-example loss (B,)."""
        x0, x1 = self.coupling(x, generator)
        t = torch.rand(x1.shape[0], generator=generator, device=x1.device, dtype=x1.dtype)
        x_t = self.path.interpolate(x0, x1, t)
        sq = (self.precond(net, x_t, t) - self.path.target(x0, x1, t)).pow(2).flatten(1)
        return sq.mean(1) if self.reduce == "mean" else sq.sum(1)


__all__ = ["FlowMatchingLoss"]
