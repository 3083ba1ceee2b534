"""FFJORD's continuous normalizing flow (Grathwohl et al. 2019): ODE blocks with learned end times, composed with
squeezes, factor-outs and the logit transform for images (multiscale, App. B.1), on the shared ODE machinery.

Block k integrates dx/dt = f_k(x, t) over [0, T_k]; we solve it on s in [0, 1] as dx/ds = T_k f_k(x, s T_k), the
same map, so every solve shares one interval and the net is the vector field ``net(x, s, block=k)``. T_k =
sqrt_T_k^2 is learned (official code: ``sqrt_end_time``; init 0.5 for toys, 1.0 for images).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from shared.maths.fields import Field, VelocityField
from shared.maths.ode import Regularizer, log_prob_ode, sample_ode
from shared.utils import Callback

Op = tuple  # ("ode", k) | ("squeeze",) | ("factor",)


def standard_normal_logp(z: Tensor) -> Tensor:
    """log N(z; 0, I) summed over all but the batch dim: (B, *D) -> (B,)."""
    return (-0.5 * z.pow(2) - 0.5 * math.log(2 * math.pi)).reshape(z.shape[0], -1).sum(1)


class LogitTransform:
    """y = logit(alpha + (1 - 2 alpha) x) for x in [0, 1] (Dinh et al. 2017, Sec. 4.1; FFJORD App. B.1)."""

    def __init__(self, alpha: float):
        self.alpha = alpha

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x (B, *D) in [0, 1] -> (y (B, *D), log|det dy/dx| (B,))."""
        s = self.alpha + (1 - 2 * self.alpha) * x
        y = torch.log(s) - torch.log1p(-s)
        logdet = math.log(1 - 2 * self.alpha) - torch.log(s) - torch.log1p(-s)  # dy/dx = (1 - 2 alpha) / (s (1 - s))
        return y, logdet.reshape(x.shape[0], -1).sum(1)

    def inverse(self, y: Tensor) -> Tensor:
        """y (B, *D) -> x (B, *D)."""
        return (torch.sigmoid(y) - self.alpha) / (1 - 2 * self.alpha)


class CNF(nn.Module):
    """A stack of ODE blocks and structural ops; ``forward(x, s, block)`` is block ``block``'s vector field."""

    def __init__(
        self,
        fields: Sequence[nn.Module],  # one dynamics net f_k(x, t) per ODE block
        plan: Sequence[Op],  # data -> latent: ("ode", k), ("squeeze",), ("factor",)
        shape: tuple[int, ...],  # one example's shape (C, H, W) or (D,)
        T: float,  # initial end time of every block
        train_T: bool,  # learn T_k
        logit_alpha: float | None = None,  # images: the logit transform's alpha (None: no transform)
    ):
        super().__init__()
        self.fields = nn.ModuleList(fields)
        self.plan, self.shape = tuple(plan), tuple(shape)
        sqrt_T = torch.full((len(fields),), math.sqrt(T))
        if train_T:
            self.sqrt_T = nn.Parameter(sqrt_T)
        else:
            self.register_buffer("sqrt_T", sqrt_T)
        self.pre = LogitTransform(logit_alpha) if logit_alpha is not None else None
        self.latent_shapes = self._trace_shapes()

    def _trace_shapes(self) -> list[tuple[int, ...]]:
        """Shapes of the factored-out pieces, in order, then of the final latent."""
        shape, out = self.shape, []
        for op in self.plan:
            if op[0] == "squeeze":
                c, h, w = shape
                shape = (4 * c, h // 2, w // 2)
            elif op[0] == "factor":
                c = shape[0] // 2
                out.append((shape[0] - c, *shape[1:]))
                shape = (c, *shape[1:])
        return out + [shape]

    @property
    def end_times(self) -> Tensor:
        """T_k = sqrt_T_k^2, (K,)."""
        return self.sqrt_T**2

    def forward(self, x: Tensor, s: Tensor, block: int = 0) -> Tensor:
        """dx/ds = T_k f_k(x, s T_k): x (B, *D_k), s (B,) -> (B, *D_k)."""
        T = self.end_times[block]
        return T * self.fields[block](x, s * T)

    def block_params(self, k: int) -> tuple[Tensor, ...]:
        """Parameters that block k's solve depends on (for the adjoint)."""
        extra = (self.sqrt_T,) if self.sqrt_T.requires_grad else ()
        return (*self.fields[k].parameters(), *extra)


def unwrap(net: nn.Module) -> CNF:
    """The CNF inside a DDP or EMA wrapper."""
    return net.module if hasattr(net, "module") else net


@dataclass(frozen=True)
class CNFLogProb:
    """log p(x) (B,) in nats, the latent z (B, *D) (pieces flattened in ``latent_shapes`` order, the layout
    ``cnf_sample`` reads), total NFE over the blocks, and each regulariser's integral (B,) summed over blocks."""

    log_prob: Tensor
    z: Tensor
    nfe: int
    regularization: tuple[Tensor, ...]


def _block_field(net: nn.Module, k: int) -> Callable[[Tensor, Tensor], Tensor]:
    return lambda x, s: net(x, s, block=k)  # through net.__call__: the CLI's forward hook counts every evaluation


class CNFField(Field):
    """The CNF as a field: a composition of velocity fields, one per ODE block, with the plan's squeezes and
    factor-outs between them. It has no Gaussian path, so no score, eps or x0, and one velocity only when it has one
    block; ``cnf_sample`` walks the whole composition, ``blocks[k]`` is block k's velocity field (s in [0, 1])."""

    kind = "velocity"

    def __init__(self, net: nn.Module):
        n_blocks = sum(op[0] == "ode" for op in unwrap(net).plan)
        self.blocks = tuple(VelocityField(_block_field(net, k)) for k in range(n_blocks))
        super().__init__(self.velocity)
        self.net = net

    def velocity(self, x: Tensor, t: Tensor) -> Tensor:
        if len(self.blocks) != 1:
            raise TypeError(
                f"CNFField: a CNF of {len(self.blocks)} blocks is a composition of velocity fields, not one: "
                "sample it with cnf_sample, or integrate field.blocks[k]"
            )
        return self.blocks[0].velocity(x, t)

    def score(self, x: Tensor, t: Tensor) -> Tensor:
        raise TypeError("CNFField: a CNF has no Gaussian path, hence no score (FFJORD learns the velocity only)")


def cnf_log_prob(
    net: nn.Module,
    x: Tensor,
    *,
    generator: torch.Generator | None,
    create_graph: bool = False,
    regularizers: Sequence[Regularizer] = (),
    **solver,
) -> CNFLogProb:
    """log p(x) = log N(z) + sum_k int div (Eq. 4) + log-det of the logit, data -> latent; x (B, *D).

    ``solver``: divergence, noise, method, atol, rtol, adjoint for ``shared.maths.ode.log_prob_ode``. Regulariser
    integrals are reported in each block's own time t in [0, T_k] (the s-integral divided by T_k).
    """
    cnf = unwrap(net)
    logp = torch.zeros(x.shape[0], device=x.device, dtype=x.dtype)
    regs = [torch.zeros_like(logp) for _ in regularizers]
    nfe, h, pieces = 0, x, []
    if cnf.pre is not None:
        h, logdet = cnf.pre.forward(h)
        logp = logp + logdet
    for op in cnf.plan:
        if op[0] == "ode":
            k = op[1]
            res = log_prob_ode(
                _block_field(net, k),
                h,
                0.0,
                1.0,
                lambda z: torch.zeros(z.shape[0], device=z.device, dtype=z.dtype),
                generator=generator,
                create_graph=create_graph,
                regularizers=regularizers,
                adjoint_params=cnf.block_params(k),
                **solver,
            )
            h, logp, nfe = res.z, logp + res.log_prob, nfe + res.nfe
            regs = [r + v / cnf.end_times[k] for r, v in zip(regs, res.regularization)]
        elif op[0] == "squeeze":
            h = F.pixel_unshuffle(h, 2)
        else:
            c = h.shape[1] // 2
            logp = logp + standard_normal_logp(h[:, c:])
            pieces.append(h[:, c:])
            h = h[:, :c]
    z = torch.cat([p.reshape(x.shape[0], -1) for p in (*pieces, h)], dim=1).reshape(x.shape)
    return CNFLogProb(log_prob=logp + standard_normal_logp(h), z=z, nfe=nfe, regularization=tuple(regs))


def _split_latent(cnf: CNF, z: Tensor) -> list[Tensor]:
    sizes = [math.prod(s) for s in cnf.latent_shapes]
    flat = z.reshape(z.shape[0], -1).split(sizes, dim=1)
    return [p.reshape(z.shape[0], *s) for p, s in zip(flat, cnf.latent_shapes)]


def _decode_structure(cnf: CNF, h: Tensor, ops: Sequence[Op], factored: list[Tensor]) -> Tensor:
    """Undo the squeezes/factor-outs in ``ops`` (reversed order) without the ODE blocks: a viewable image."""
    factored = list(factored)
    for op in ops:
        if op[0] == "squeeze":
            h = F.pixel_shuffle(h, 2)
        elif op[0] == "factor":
            h = torch.cat([h, factored.pop()], dim=1)
    return cnf.pre.inverse(h) if cnf.pre is not None else h


def cnf_sample(
    field: CNFField,
    z: Tensor,
    ts: Tensor,
    *,
    generator=None,
    callback: Callback = None,
    method: str = "dopri5",
    atol: float = 1e-5,
    rtol: float = 1e-5,
) -> Tensor:
    """Integrate every block backward from the Gaussian prior (s: ts[0] = 1 -> ts[-1] = 0), latent -> data;
    z (B, *D) -> x (B, *D). The shared sampler signature, for the CNF's composition of fields.

    ``callback`` sees, after each block, the state decoded through the remaining structural ops ("x") and the
    number of blocks still to run ("t"). ``generator`` is unused (the map is deterministic).
    """
    net = field.net
    cnf = unwrap(net)
    pieces = _split_latent(cnf, z)
    h, factored = pieces[-1], pieces[:-1]
    ops = list(reversed(cnf.plan))
    n_left = sum(op[0] == "ode" for op in ops)
    back = ts[[0, -1]]
    for i, op in enumerate(ops):
        if op[0] == "ode":
            h = sample_ode(_block_field(net, op[1]), h, back, method=method, atol=atol, rtol=rtol)
            n_left -= 1
            if callback is not None:
                callback({"i": i, "t": float(n_left), "x": _decode_structure(cnf, h, ops[i + 1 :], factored)})
        elif op[0] == "squeeze":
            h = F.pixel_shuffle(h, 2)
        else:
            h = torch.cat([h, factored.pop()], dim=1)
    return cnf.pre.inverse(h) if cnf.pre is not None else h
