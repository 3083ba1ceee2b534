"""PFGM's backward ODE with the change of variable t' = log z (App. B.2): dx/dt' = z E_x(x, z) / E_z(x, z)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from replications.pfgm.field_target import coulomb_field
from shared.utils import VectorField, append_dims

FieldXZ = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]
"""(x (B, *D), z (B,)) -> (E_x (B, *D), E_z (B,)): a Poisson field split into its data part and its z part."""


def log_z_velocity(field_xz: FieldXZ) -> VectorField:
    """The velocity in t' = log z: dx/dt' = (dx/dz) (dz/dt') = (E_x / E_z) z, z = exp(t') (App. B.2)."""

    def velocity(x: Tensor, t: Tensor) -> Tensor:
        z = t.exp()
        e_x, e_z = field_xz(x, z)
        return append_dims(z / e_z, x.ndim) * e_x

    return velocity


def implied_e_z(e_x: Tensor, z: Tensor, gamma: float) -> Tensor:
    """The z-part of the normalised field implied by its x-part (App. B.2.3), solved exactly: (B,).

    The target is f = sqrt(N) E / (||E|| + gamma) with E_z = -z exactly (per-row weights sum to 1 and every
    charge sits at z = 0, Alg. 1). From q = ||f_x|| / sqrt(N) = r / (sqrt(r^2 + z^2) + gamma), r = ||E_x||, the
    quadratic (1 - q^2) r^2 - 2 q gamma r + q^2 (gamma^2 - z^2) = 0 gives
    r = q (gamma + sqrt(q^2 gamma^2 + (1 - q^2) z^2)) / (1 - q^2), then f_z = -sqrt(N) z / (sqrt(r^2 + z^2) + gamma).
    (The paper's code keeps only the z -> 0 root r = gamma q / (1 - q); this one is exact at every z.)

    Args:
        e_x: the predicted x-part f_x (B, *D).
        z: (B,) > 0.
        gamma: the target's gamma (Alg. 1).
    """
    if gamma <= 0:
        raise ValueError("implied_e_z needs gamma > 0 (with gamma = 0, ||f_x|| / sqrt(N) -> 1 carries no r)")
    sqrt_n = math.sqrt(e_x[0].numel())
    q = (e_x.flatten(1).norm(dim=1) / sqrt_n).clamp(max=1 - 1e-6)  # the target's q = r / (||E|| + gamma) < 1
    r = q * (gamma + (q.square() * gamma**2 + (1 - q.square()) * z.square()).sqrt()) / (1 - q.square())
    return -sqrt_n * z / ((r.square() + z.square()).sqrt() + gamma)


def substitute_below(field_xz: FieldXZ, z_exp: float, gamma: float) -> FieldXZ:
    """The field with its z-part replaced by ``implied_e_z`` where z < z_exp (App. B.2.3: z_exp = 5; gamma > 0).

    Near the data plane the predicted E_z is tiny and its relative error large, and the backward ODE divides by
    it; the x-part fixes the exact value instead.
    """

    def field(x: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
        e_x, e_z = field_xz(x, z)
        return e_x, torch.where(z < z_exp, implied_e_z(e_x, z, gamma), e_z)

    return field


def exact_field_xz(charges: Tensor) -> FieldXZ:
    """The exact Coulomb field of data points ``charges`` (M, N) at z = 0, split into (E_x, E_z)."""
    lifted = torch.cat([charges, charges.new_zeros(charges.shape[0], 1)], dim=1)

    def field(x: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
        e = coulomb_field(torch.cat([x.flatten(1), z[:, None]], dim=1), lifted)
        return e[:, :-1].reshape(x.shape), e[:, -1]

    return field


__all__ = ["FieldXZ", "exact_field_xz", "implied_e_z", "log_z_velocity", "substitute_below"]
