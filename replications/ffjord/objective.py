"""FFJORD's maximum-likelihood objective (Grathwohl et al. 2019, Eq. 4 with Hutchinson's estimator, Eq. 7), the
optional RNODE regularisers (Finlay et al. 2020, Eq. 3; beyond the paper), and the evaluation NLL."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from replications.ffjord.cnf import cnf_log_prob, unwrap
from shared.maths.likelihood import NLL
from shared.maths.ode import JacobianFrobenius, KineticEnergy, Regularizer


class FFJORDLoss:
    """-log p(x) per example (B,), through the ODE solve; ``stats()`` reports the solve's NFE and the end times."""

    def __init__(self, solver: dict):
        self.solver = dict(solver)
        self._stats: dict[str, float] = {}

    def regularizers(self) -> Sequence[tuple[float, Regularizer]]:
        """(coefficient, integrand) pairs added to the NLL; none for the paper's objective."""
        return ()

    def __call__(self, net: nn.Module, x: Tensor, generator: torch.Generator) -> Tensor:
        """x (B, *D) in model space -> loss (B,) in nats."""
        regs = self.regularizers()
        res = cnf_log_prob(
            net, x, generator=generator, create_graph=True, regularizers=[r for _, r in regs], **self.solver
        )
        loss = -res.log_prob
        stats = {"nfe": float(res.nfe), "end_time": float(unwrap(net).end_times.detach().sum())}
        for (coef, reg), value in zip(regs, res.regularization):
            loss = loss + coef * value
            stats[type(reg).__name__] = float(value.detach().mean())
        self._stats = stats
        return loss

    def stats(self) -> dict[str, float]:
        """The last step's forward NFE (all blocks), total end time sum_k T_k, and regulariser values."""
        return dict(self._stats)


class RNODELoss(FFJORDLoss):
    """-log p(x) + lambda_K int ||f||^2 dt + lambda_J int ||df/dx||_F^2 dt (Finlay et al. 2020, Eq. 3)."""

    def __init__(self, solver: dict, kinetic: float, jacobian_frobenius: float):
        super().__init__(solver)
        self.kinetic, self.jacobian_frobenius = kinetic, jacobian_frobenius

    def regularizers(self) -> Sequence[tuple[float, Regularizer]]:
        """The nonzero RNODE terms."""
        terms = [(self.kinetic, KineticEnergy()), (self.jacobian_frobenius, JacobianFrobenius())]
        return [(c, r) for c, r in terms if c > 0]


class FFJORDNLL:
    """-log p(x) in nats over model space (NLL(discrete=False)); exact divergence for low-dimensional data."""

    def __init__(self, solver: dict):
        self.solver = dict(solver)

    def __call__(self, net: nn.Module, x: Tensor, generator: torch.Generator) -> NLL:
        """x (B, *D) -> NLL (B,)."""
        res = cnf_log_prob(net, x, generator=generator, create_graph=False, **self.solver)
        return NLL(-res.log_prob.detach(), discrete=False)
