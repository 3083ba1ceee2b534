"""The Poisson field of PFGM (Xu et al. 2022): data as unit charges on the z = 0 plane of R^{N+1}.

``coulomb_field`` is the exact field of a point cloud (Eq. 3, the gradient of the Green's function in N + 1
dimensions, up to the constant), ``poisson_target`` the empirical normalised field of a large batch that the net
regresses (Alg. 1), computed without the (B, M, N + 1) difference tensor.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def coulomb_field(x_tilde: Tensor, charges: Tensor) -> Tensor:
    """E(x~) = (1 / M) sum_j (x~ - x~_j) / ||x~ - x~_j||^{N+1} (Eq. 3 up to its constant), pointing away from the data.

    Args:
        x_tilde: points (B, N + 1). charges: (M, N + 1) (data at z = 0: a zero last column).

    Returns:
        (B, N + 1).
    """
    # sum_j w_ij (x~_i - x~_j) with w_ij = d_ij^{-(N+1)}, as x~_i sum_j w_ij - W x~: (B, M) distances, never the
    # (B, M, N + 1) differences (exact distances: no matrix-product shortcut for them)
    w = torch.cdist(x_tilde, charges, compute_mode="donot_use_mm_for_euclid_dist").pow(-x_tilde.shape[1])
    return (x_tilde * w.sum(1, keepdim=True) - w @ charges) / charges.shape[0]


def poisson_target(x_tilde: Tensor, data: Tensor, gamma: float = 5.0, chunk_size: int = 128) -> Tensor:
    """Alg. 1: the normalised empirical field at x~ of the charges (data, 0), the regression target of PFGM.

    Weights c_ij = d_ij^{-(N+1)} / sum_k d_ik^{-(N+1)} (a softmax of -(N+1) log d_ij, stable for N = 3072; equal to
    the paper's (min_k d_ik / d_ij)^{N+1} normalised), E_i = sum_j c_ij (x_j, 0) - x~_i (the weights sum to one),
    target sqrt(N) E / (||E|| + gamma). It points toward the data: -E of ``coulomb_field``'s direction.

    Memory: per chunk of ``chunk_size`` points, the (chunk, M) distances and weights, i.e. about
    2 * chunk_size * M floats beyond the inputs: 2 * 128 * 4096 * 4 B = 4 MiB at CIFAR-10's 128 / 4096 (N = 3072),
    where materialising the (128, 4096, 3073) differences takes 6.4 GB per copy.

    Args:
        x_tilde: perturbed points (B, N + 1). data: the large batch (M, N) of charges.
        gamma: Alg. 1's gamma (App. B.1.1: 5). chunk_size: points whose weights are held at once.

    Returns:
        (B, N + 1).
    """
    n = data.shape[1]
    charges = torch.cat([data, data.new_zeros(data.shape[0], 1)], dim=1)
    out = []
    for chunk in x_tilde.split(chunk_size):
        dist = torch.cdist(chunk, charges, compute_mode="donot_use_mm_for_euclid_dist")  # (b, M), exact
        weights = torch.softmax(-(n + 1) * dist.clamp_min(1e-30).log(), dim=1)
        field = weights @ charges - chunk  # sum_j c_ij (x~_j - x~_i)
        out.append(math.sqrt(n) * field / (field.norm(dim=1, keepdim=True) + gamma))
    return torch.cat(out)


__all__ = ["coulomb_field", "poisson_target"]
