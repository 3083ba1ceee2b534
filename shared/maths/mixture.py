"""Gaussian mixtures with exact densities and scores, also at every t of a Gaussian process (closed-form truths).

If x0 ~ sum_k w_k N(mu_k, C_k) and x_t = alpha_t x0 + sigma_t z, then p_t = sum_k w_k N(alpha_t mu_k,
alpha_t^2 C_k + sigma_t^2 I) (Eq. 29-33 kernels): densities, scores and samples in closed form, no training.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from shared.maths.processes import GaussianProcess
from shared.utils import VectorField


class GaussianMixture:
    """sum_k w_k N(mu_k, C_k) in D dimensions: weights (K,), means (K, D), covariances (K, D, D), float64."""

    def __init__(self, weights: Tensor, means: Tensor, covs: Tensor):
        self.weights = weights.double() / weights.sum()
        self.means, self.covs = means.double(), covs.double()

    def at(self, process: GaussianProcess, t: float) -> GaussianMixture:
        """The marginal p_t of the process started from this mixture (a mixture again)."""
        tt = torch.tensor([float(t)], dtype=torch.float64)
        a, s = float(process.alpha(tt)), float(process.sigma(tt))
        eye = torch.eye(self.means.shape[1], dtype=torch.float64)
        return GaussianMixture(self.weights, a * self.means, a**2 * self.covs + s**2 * eye)

    def _terms(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """log(w_k N(x; mu_k, C_k)) (B, K) and C_k^-1 (x - mu_k) (B, K, D)."""
        d = x.double()[:, None, :] - self.means[None]
        prec = torch.linalg.inv(self.covs)
        pd = torch.einsum("kij,bkj->bki", prec, d)
        dim = self.means.shape[1]
        logn = -0.5 * (d * pd).sum(-1) - 0.5 * torch.logdet(self.covs) - 0.5 * dim * math.log(2 * math.pi)
        return logn + self.weights.log(), pd

    def log_prob(self, x: Tensor) -> Tensor:
        """log p(x): (B, D) -> (B,)."""
        return torch.logsumexp(self._terms(x)[0], dim=1)

    def score(self, x: Tensor) -> Tensor:
        """grad log p(x) = -sum_k r_k(x) C_k^-1 (x - mu_k): (B, D) -> (B, D)."""
        logw, pd = self._terms(x)
        return -(torch.softmax(logw, dim=1)[:, :, None] * pd).sum(1)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n draws (n, D)."""
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        z = torch.randn(n, self.means.shape[1], dtype=torch.float64, generator=generator)
        chol = torch.linalg.cholesky(self.covs)
        return self.means[k] + torch.einsum("nij,nj->ni", chol[k], z)

    def score_field(self, process: GaussianProcess) -> VectorField:
        """The exact score of p_t at every t: (B, D), (B,) -> (B, D)."""

        def score(x: Tensor, t: Tensor) -> Tensor:
            a, s = process.alpha(t).double(), process.sigma(t).double()
            cov_t = a[:, None, None, None] ** 2 * self.covs[None] + (s**2)[:, None, None, None] * torch.eye(
                self.means.shape[1], dtype=torch.float64
            )
            d = x.double()[:, None, :] - a[:, None, None] * self.means[None]
            pd = torch.linalg.solve(cov_t, d.unsqueeze(-1)).squeeze(-1)
            logn = -0.5 * (d * pd).sum(-1) - 0.5 * torch.logdet(cov_t)
            r = torch.softmax(logn + self.weights.log(), dim=1)
            return -(r[:, :, None] * pd).sum(1).to(x.dtype)

        return score


def bimodal_1d() -> GaussianMixture:
    """The 1-D two-mode mixture of the path figures: 0.4 N(-1.5, 0.3^2) + 0.6 N(1.5, 0.3^2) (Fig. 1's spirit)."""
    return GaussianMixture(torch.tensor([0.4, 0.6]), torch.tensor([[-1.5], [1.5]]), torch.tensor([[[0.09]], [[0.09]]]))
