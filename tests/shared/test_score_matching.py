"""Score-matching objectives against Gaussian closed forms (shared.maths.score_matching).

Data x0 ~ N(0, S) perturbed at one level sigma is N(0, C), C = S + sigma^2 I, whose score is -C^{-1} x. A linear
score model s(x) = -A x has Jacobian -A, so Hyvärinen's objective is J(A) = -tr(A) + ½ tr(A^T A C) in expectation,
with gradient A C - I: zero exactly at A = C^{-1}, the true score. Sliced score matching equals it in expectation over
the projections; for Gaussian projections its variance exceeds the variance-reduced form's by ½||s||^4 - 2 s^T A s.
"""

import math

import pytest
import torch
from torch import nn

from shared.maths.precond import LevelIndex, ScorePrediction
from shared.maths.processes.discrete import DiscreteVE
from shared.maths.score_matching import (
    ExplicitScoreMatching,
    SlicedScoreMatching,
    SlicedScoreMatchingVR,
    explicit_objective,
    jacobian_trace,
    sliced_terms,
)

SIGMA = 0.5
S = torch.tensor([[2.0, 0.6], [0.6, 1.0]], dtype=torch.float64)
C = S + SIGMA**2 * torch.eye(2, dtype=torch.float64)


class LinearScore(nn.Module):
    """s(x, level) = -A x."""

    def __init__(self, a: torch.Tensor):
        super().__init__()
        self.a = nn.Parameter(a.clone())

    def forward(self, x, level):
        return -x @ self.a.T


def one_level():
    ladder = DiscreteVE(torch.tensor([SIGMA]))
    return ladder, ScorePrediction(LevelIndex(1), ladder)


def data(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 2, generator=g, dtype=torch.float64) @ torch.linalg.cholesky(S).T, g


def test_the_exact_trace_and_the_explicit_objective_of_a_linear_score():
    a = torch.tensor([[1.5, -0.3], [0.2, 0.7]], dtype=torch.float64)
    x = torch.randn(5, 2, dtype=torch.float64, requires_grad=True)
    assert torch.allclose(jacobian_trace(-x @ a.T, x), torch.full((5,), -2.2, dtype=torch.float64))
    got = explicit_objective(lambda y: -y @ a.T, x)
    assert torch.allclose(got, -2.2 + 0.5 * (x @ a.T).square().sum(1))


@pytest.mark.parametrize("loss_cls", [ExplicitScoreMatching, SlicedScoreMatching, SlicedScoreMatchingVR])
def test_each_objective_is_hyvarinens_in_expectation_and_stationary_at_the_true_score(loss_cls):
    """The loss's mean over 40k perturbed examples is sigma^2 J(A) (closed form, within 5 standard errors), and
    its gradient in A is sigma^2 (A C - I): ~0 at A = C^{-1}, -sigma^2 (I - C) at A = I."""
    ladder, precond = one_level()
    loss = loss_cls(ladder, precond)
    x0, g = data(40_000)
    for a, name in ((torch.linalg.inv(C), "true"), (torch.eye(2, dtype=torch.float64), "identity")):
        net = LinearScore(a)
        values = loss(net, x0, g)
        closed = SIGMA**2 * (-torch.trace(a) + 0.5 * torch.trace(a.T @ a @ C))
        stderr = values.std() / math.sqrt(len(values))
        assert abs(values.mean() - closed) < 5 * stderr + 1e-9, (name, values.mean(), closed)
        values.mean().backward()
        expected = SIGMA**2 * (a @ C - torch.eye(2, dtype=torch.float64))
        assert torch.allclose(net.a.grad, expected, atol=0.03), (name, net.a.grad, expected)


def test_sliced_equals_explicit_over_projections_and_the_variance_reduction_is_its_closed_form():
    """At fixed points, the mean over 40k Gaussian projections of each sliced objective is the explicit objective;
    the variance over projections differs by ½||s||^4 - 2 s^T A s (Gaussian quadratic forms: Var v^T M v = 2 tr M^2,
    Cov = 2 tr(PQ)). The variance-reduced form wins when ½||s||^4 > 2 s^T A s, i.e. far from the mode, and, averaged
    over data at the true score, when ½ (tr B)^2 > tr B^2 (B = C^{-1}): in high dimension, not always in two."""
    a = torch.linalg.inv(C)
    x = torch.tensor([[0.3, -0.2], [6.0, 4.0]], dtype=torch.float64)
    reps = 40_000
    xs = x.repeat_interleave(reps, 0).requires_grad_(True)
    v = torch.randn(xs.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    quad, proj_sq, norm_sq = (t.detach().view(2, reps) for t in sliced_terms(lambda y: -y @ a.T, xs, v, False))
    sliced, vr = quad + 0.5 * proj_sq, quad + 0.5 * norm_sq
    explicit = -torch.trace(a) + 0.5 * (x @ a.T).square().sum(1)
    for est in (sliced, vr):
        assert torch.allclose(est.mean(1), explicit, atol=5 * (est.std(1).max() / math.sqrt(reps)).item())
    s = -x @ a.T
    predicted = 0.5 * s.square().sum(1).square() - 2 * ((s @ a) * s).sum(1)
    measured = sliced.var(1) - vr.var(1)
    assert torch.allclose(measured, predicted, rtol=0.1, atol=0.05)
    assert predicted[0] < 0 < predicted[1]  # near the mode the plain form is the less noisy; far from it, VR
    b = torch.linalg.inv(C)
    assert 0.5 * torch.trace(b) ** 2 < torch.trace(b @ b)  # this anisotropic 2-D case: VR loses on average
    b16 = torch.eye(16)
    assert 0.5 * torch.trace(b16) ** 2 > torch.trace(b16 @ b16)  # isotropic 16-D: VR wins by a factor of 8


def test_score_matching_on_a_ladder_weights_each_level_by_sigma_squared():
    """Two levels drawn uniformly: the mean loss of s = -x is ½ sum_sigma sigma^2 (-2 + ½ tr(S + sigma^2 I))."""
    sigmas = (0.1, 1.0)
    ladder = DiscreteVE(torch.tensor(sigmas))
    loss = ExplicitScoreMatching(ladder, ScorePrediction(LevelIndex(2), ladder))
    values = loss(LinearScore(torch.eye(2, dtype=torch.float64)), *data(100_000, seed=5))
    eye = torch.eye(2, dtype=torch.float64)
    closed = sum(0.5 * s**2 * (-2 + 0.5 * torch.trace(S + s**2 * eye)) for s in sigmas)
    assert abs(values.mean() - closed) < 5 * values.std() / math.sqrt(len(values))
