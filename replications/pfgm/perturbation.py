"""PFGM's training points (Alg. 2, App. B.1.1): data lifted off the plane z = 0 at exponentially spread scales."""

from __future__ import annotations

import torch
from torch import Tensor


def perturb(
    x: Tensor,
    generator: torch.Generator | None,
    *,
    sigma: float = 0.01,
    tau: float = 0.03,
    M: int = 291,
    restrict_M: bool = True,
) -> tuple[Tensor, Tensor]:
    """x~ = (x + ||eps_x|| (1 + tau)^m u, |eps_z| (1 + tau)^m) with m ~ U[0, M] (Alg. 2).

    eps_x ~ N(0, sigma^2 I_N), eps_z ~ N(0, sigma^2), u uniform on the unit sphere of R^N. ``restrict_M``: points
    whose |eps_z| < 0.005 draw m from U[0, 0.7 M] instead (App. B.1.1), so that tiny z are not sent far away.

    Args:
        x: data (B, *D); generator: torch.Generator. sigma, tau, M: App. B.1.1 (0.01, 0.03, 291 for CIFAR-10).

    Returns:
        (perturbed x (B, *D), z (B,)).
    """
    b = x.shape[0]
    kw = {"generator": generator, "device": x.device, "dtype": x.dtype}
    z = torch.randn(b, **kw).abs() * sigma
    m = torch.rand(b, **kw) * M
    if restrict_M:
        m = torch.where(z < 0.005, torch.rand(b, **kw) * (0.7 * M), m)
    multiplier = (1 + tau) ** m
    radius = (torch.randn(x.shape, **kw) * sigma).flatten(1).norm(dim=1) * multiplier
    u = torch.randn(x.shape, **kw)
    u = u / u.flatten(1).norm(dim=1).reshape(b, *[1] * (x.ndim - 1))
    return x + radius.reshape(b, *[1] * (x.ndim - 1)) * u, z * multiplier


__all__ = ["perturb"]
