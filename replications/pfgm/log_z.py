"""PFGM's backward ODE with the change of variable t' = log z (App. B.2): dx/dt' = z E_x(x, z) / E_z(x, z)."""

from __future__ import annotations

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


def exact_field_xz(charges: Tensor) -> FieldXZ:
    """The exact Coulomb field of data points ``charges`` (M, N) at z = 0, split into (E_x, E_z)."""
    lifted = torch.cat([charges, charges.new_zeros(charges.shape[0], 1)], dim=1)

    def field(x: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
        e = coulomb_field(torch.cat([x.flatten(1), z[:, None]], dim=1), lifted)
        return e[:, :-1].reshape(x.shape), e[:, -1]

    return field


__all__ = ["FieldXZ", "exact_field_xz", "log_z_velocity"]
