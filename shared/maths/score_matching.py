"""Score matching without a denoising target: Hyvärinen's explicit objective and sliced score matching.

For a score model s_theta and data x ~ p (here: data perturbed to a noise level, x_t = alpha_t x0 + sigma_t z),
Hyvärinen (2005, Thm. 1) shows that ½ E || s_theta(x) - grad log p(x) ||^2 equals, up to a constant free of theta,

    J_explicit = E_p [ tr(grad_x s_theta(x)) + ½ || s_theta(x) ||^2 ]                 (Hyvärinen 2005, Eq. 4)

whose Jacobian trace costs D backward passes. Sliced score matching (Song, Garg, Shi & Ermon, UAI 2019) replaces the
trace by random projections v with E[v v^T] = I (Gaussian or Rademacher), one backward pass each:

    J_sliced    = E_p E_v [ v^T grad_x (v^T s_theta(x)) + ½ (v^T s_theta(x))^2 ]          (Song et al. 2019, Eq. 7)
    J_sliced_vr = E_p E_v [ v^T grad_x (v^T s_theta(x)) ] + ½ E_p || s_theta(x) ||^2      (Eq. 8, variance reduced)

All three, like denoising score matching (``shared.maths.losses.DSMLoss``), are minimised by the score of the
(perturbed) data. On a noise ladder (NCSN) each example draws its level t from the process, the objective is taken
at x_t with respect to x_t, and weighted by lambda = sigma_t^2, as NCSN's official sliced loss does
(ermongroup/ncsn, losses/sliced_sm.py L145-171: ``anneal_sliced_score_estimation_vr``, Gaussian projections, one
particle, ``(loss1 + loss2) * sigma**2``). A process with one level is score matching at one sigma.

Every objective here is a per-example (B,) loss with the training loop's signature (net, x0, generator) -> (B,).
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor, nn

from shared.maths.precond import Precond
from shared.maths.processes.base import GaussianProcess
from shared.utils import randn_like

ScoreFn = Callable[[Tensor], Tensor]
"""x (B, *D) -> s(x) (B, *D), differentiable in x."""

Projection = Literal["gaussian", "rademacher"]


def jacobian_trace(s: Tensor, x: Tensor, create_graph: bool = True) -> Tensor:
    """tr(grad_x s(x)) per example (B,), exactly: one backward pass per dimension (D of them).

    Args:
        s: s(x) (B, *D), computed from ``x`` (which requires grad); examples independent of one another.
        x: (B, *D).
    """
    flat = s.flatten(1)
    trace = torch.zeros(x.shape[0], dtype=s.dtype, device=s.device)
    for i in range(flat.shape[1]):
        (grad,) = torch.autograd.grad(flat[:, i].sum(), x, create_graph=create_graph, retain_graph=True)
        trace = trace + grad.flatten(1)[:, i]
    return trace


def projections(x: Tensor, kind: Projection, generator: torch.Generator) -> Tensor:
    """Random directions v (B, *D) with E[v v^T] = I: standard normal, or Rademacher (+-1 with probability ½)."""
    v = randn_like(x, generator)
    return v if kind == "gaussian" else torch.sign(v)  # the sign of a normal is a fair coin


def explicit_objective(score: ScoreFn, x: Tensor, create_graph: bool = True) -> Tensor:
    """tr(grad s(x)) + ½ ||s(x)||^2 per example (B,) (Hyvärinen 2005, Eq. 4); ``x`` (B, *D) must require grad."""
    s = score(x)
    return jacobian_trace(s, x, create_graph) + 0.5 * s.flatten(1).square().sum(1)


def projected_terms(s: Tensor, x: Tensor, v: Tensor, create_graph: bool = True) -> tuple[Tensor, Tensor, Tensor]:
    """(v^T grad(v^T s) (B,), (v^T s)^2 (B,), ||s||^2 (B,)) for one projection v (B, *D) of s = s(x) (B, *D),
    already computed from ``x``: several projections share one forward pass (the graph is kept for the next)."""
    (grad_vs,) = torch.autograd.grad((s * v).sum(), x, create_graph=create_graph, retain_graph=True)
    return (v * grad_vs).flatten(1).sum(1), (v * s).flatten(1).sum(1).square(), s.flatten(1).square().sum(1)


def sliced_terms(score: ScoreFn, x: Tensor, v: Tensor, create_graph: bool = True) -> tuple[Tensor, Tensor, Tensor]:
    """:func:`projected_terms` of ``score`` at x (B, *D) for one projection v (B, *D) of each example."""
    return projected_terms(score(x), x, v, create_graph)


def sliced_objective(score: ScoreFn, x: Tensor, v: Tensor, create_graph: bool = True) -> Tensor:
    """v^T grad(v^T s) + ½ (v^T s)^2 per example (B,) (Song et al. 2019, Eq. 7)."""
    quad, proj_sq, _ = sliced_terms(score, x, v, create_graph)
    return quad + 0.5 * proj_sq


def sliced_vr_objective(score: ScoreFn, x: Tensor, v: Tensor, create_graph: bool = True) -> Tensor:
    """v^T grad(v^T s) + ½ ||s||^2 per example (B,) (Song et al. 2019, Eq. 8: E_v[(v^T s)^2] = ||s||^2, exactly)."""
    quad, _, norm_sq = sliced_terms(score, x, v, create_graph)
    return quad + 0.5 * norm_sq


class ScoreMatchingLoss(abc.ABC):
    """lambda(t) J(s_theta(., t); x_t) per example (B,): t from the process, x_t = alpha_t x0 + sigma_t z, the
    objective differentiated in x_t, lambda = sigma_t^2 (NCSN's weighting; 1 on a process without noise levels).

    Args:
        process: the noise levels (``sample_t``, ``perturb``, ``sigma``); one level = score matching at one sigma.
        precond: how the net becomes a field; the objective uses its ``score``.
    """

    def __init__(self, process: GaussianProcess, precond: Precond):
        self.process, self.precond = process, precond

    @abc.abstractmethod
    def objective(self, score: ScoreFn, x: Tensor, generator: torch.Generator) -> Tensor:
        """The per-example objective (B,) of ``score`` at x (B, *D) (x requires grad)."""

    def __call__(self, net: nn.Module, x0: Tensor, generator: torch.Generator) -> Tensor:
        """x0 (B, *D) -> per-example loss (B,)."""
        t = self.process.sample_t(x0.shape[0], generator, x0.device)
        x_t = self.process.perturb(x0, t, randn_like(x0, generator)).detach().requires_grad_(True)
        field = self.precond.field(net)
        weight = self.process.sigma(t).square().to(x0.dtype)  # lambda = sigma_t^2 (B,)
        return weight * self.objective(lambda x: field.score(x, t), x_t, generator)


class ExplicitScoreMatching(ScoreMatchingLoss):
    """Hyvärinen's objective with the exact Jacobian trace (D backward passes: small D only)."""

    def objective(self, score, x, generator):
        return explicit_objective(score, x)


class SlicedScoreMatching(ScoreMatchingLoss):
    """Sliced score matching (Eq. 7), averaged over ``n_projections`` directions per example.

    Args:
        projection: "gaussian" (NCSN's official code) or "rademacher".
    """

    def __init__(
        self, process: GaussianProcess, precond: Precond, n_projections: int = 1, projection: Projection = "gaussian"
    ):
        super().__init__(process, precond)
        if n_projections < 1:
            raise ValueError(f"n_projections must be >= 1, got {n_projections}")
        self.n_projections, self.projection = n_projections, projection

    def combine(self, quad: Tensor, proj_sq: Tensor, norm_sq: Tensor) -> Tensor:
        """One projection's objective from its terms (Eq. 7)."""
        return quad + 0.5 * proj_sq

    def objective(self, score, x, generator):
        s = score(x)  # one forward pass; each projection differentiates it once
        total = 0.0
        for _ in range(self.n_projections):
            total = total + self.combine(*projected_terms(s, x, projections(x, self.projection, generator)))
        return total / self.n_projections


class SlicedScoreMatchingVR(SlicedScoreMatching):
    """Sliced score matching, variance reduced (Eq. 8): NCSN's ``anneal_sliced_score_estimation_vr``."""

    def combine(self, quad, proj_sq, norm_sq):
        return quad + 0.5 * norm_sq


__all__ = [
    "ExplicitScoreMatching",
    "ScoreMatchingLoss",
    "SlicedScoreMatching",
    "SlicedScoreMatchingVR",
    "explicit_objective",
    "jacobian_trace",
    "projected_terms",
    "projections",
    "sliced_objective",
    "sliced_terms",
    "sliced_vr_objective",
]
