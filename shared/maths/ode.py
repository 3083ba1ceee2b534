"""The one integration room: ODE sampling and log-likelihood of any velocity field from any prior.

``sample_ode`` integrates dx/dt = v(x, t) (torchdiffeq, on the tensors' device); ``log_prob_ode`` adds the
log-density along the path (instantaneous change of variables, Chen et al. 2018, Thm. 1; FFJORD, Grathwohl et al.
2019, Eq. 4 with Hutchinson's estimator, Eq. 7). On top, the samplers of a ``Field`` with the shared signature:
``sample_flow`` (adaptive), ``sample_euler`` and ``sample_heun`` (fixed steps on the grid), and ``FlowNLL``, the
NLL of a method whose field has a velocity. The probability-flow ODE of Score-SDE (Song et al. 2021, App. D.2),
PFGM's log-z ODE and FFJORD's learned dynamics all run here. The RNODE regularisers (Finlay et al. 2020, Eq. 3)
are integrated alongside as extra states.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal, Protocol

import torch
from torch import Tensor

from shared.maths.fields import Field
from shared.maths.likelihood import NLL
from shared.utils import Callback, CountNFE, Generator, VectorField, append_dims, batch_time

_ADAPTIVE = {"dopri5", "dopri8", "bosh3", "fehlberg2", "adaptive_heun"}


def solver_options(method: str, times: Tensor) -> dict:
    """Keep an adaptive solver's evaluations inside [t0, t1]: torchdiffeq otherwise probes far outside the
    interval when choosing its first step and steps past the end before interpolating back, where fields
    such as the VP process's sigma(t) are undefined (t < 0). Only the end is forced as a step, so the NFE does
    not depend on how densely the caller observes the path (outputs in between are interpolated)."""
    if method not in _ADAPTIVE:
        return {}
    return {"step_t": times[-1:], "first_step": float((times[-1] - times[0]).abs()) / 100}


def _trace_exact(out: Tensor, x: Tensor, create_graph: bool) -> Tensor:
    """sum_i d out_i / d x_i (B,) of an already evaluated out = f(x) (B, *D), by D backward passes."""
    flat = out.reshape(out.shape[0], -1)
    div = torch.zeros(out.shape[0], device=x.device, dtype=out.dtype)
    for i in range(flat.shape[1]):
        g = torch.autograd.grad(flat[:, i].sum(), x, retain_graph=True, create_graph=create_graph)[0]
        div = div + g.reshape(g.shape[0], -1)[:, i]
    return div


def _probe_jacobian(out: Tensor, x: Tensor, noise: Tensor, create_graph: bool) -> Tensor:
    """noise^T (d out / d x) (B, *D), one vector-Jacobian product."""
    return torch.autograd.grad(out, x, noise, retain_graph=True, create_graph=create_graph)[0]


def _eval_tracked(f: VectorField, x: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
    """(x as a leaf that requires grad, f(x, t)) inside enable_grad, ready for vector-Jacobian products."""
    x = x if x.requires_grad else x.requires_grad_(True)
    return x, f(x, t)


def divergence_exact(f: VectorField, x: Tensor, t: Tensor, create_graph: bool = False) -> tuple[Tensor, Tensor]:
    """f(x, t) and its exact divergence sum_i d f_i / d x_i by D backward passes (low dimension only).

    Args:
        f: vector field, (B, *D), (B,) -> (B, *D).
        x: (B, *D).
        t: (B,).
        create_graph: keep the graph of the divergence (to train through it).

    Returns:
        (f(x, t) (B, *D), divergence (B,)).
    """
    with torch.enable_grad():
        x, out = _eval_tracked(f, x, t)
        div = _trace_exact(out, x, create_graph)
    return out, div


def divergence_hutchinson(
    f: VectorField, x: Tensor, t: Tensor, noise: Tensor, create_graph: bool = False
) -> tuple[Tensor, Tensor]:
    """f(x, t) and Hutchinson's unbiased divergence estimate noise^T (df/dx) noise, one vector-Jacobian product.

    Args:
        f: vector field.
        x: (B, *D).
        t: (B,).
        noise: (B, *D) Rademacher or Gaussian probe, fixed for a whole solve (FFJORD Sec. 3.1).
        create_graph: keep the graph of the estimate (to train through it).

    Returns:
        (f(x, t) (B, *D), estimate (B,)).
    """
    with torch.enable_grad():
        x, out = _eval_tracked(f, x, t)
        vjp = _probe_jacobian(out, x, noise, create_graph)
    return out, (vjp * noise).reshape(x.shape[0], -1).sum(1)


class Regularizer(Protocol):
    """An integrand r(t) >= 0 integrated as an extra state: (f (B, *D), noise^T df/dx or None) -> (B,)."""

    needs_jacobian: bool

    def __call__(self, dx: Tensor, eps_jac: Tensor | None) -> Tensor: ...


class KineticEnergy:
    """||f(x(t), t)||^2, whose integral is RNODE's kinetic energy (Finlay et al. 2020, Eq. 3, first term)."""

    needs_jacobian = False

    def __call__(self, dx: Tensor, eps_jac: Tensor | None) -> Tensor:
        """dx (B, *D) -> (B,)."""
        return dx.pow(2).reshape(dx.shape[0], -1).sum(1)


class JacobianFrobenius:
    """||eps^T df/dx||^2, unbiased for ||df/dx||_F^2 (E[eps eps^T] = I); RNODE's Jacobian term (Eq. 3, second term)."""

    needs_jacobian = True

    def __call__(self, dx: Tensor, eps_jac: Tensor | None) -> Tensor:
        """eps_jac (B, *D) -> (B,)."""
        return eps_jac.pow(2).reshape(eps_jac.shape[0], -1).sum(1)


def probe_noise(x: Tensor, kind: Literal["rademacher", "gaussian"], generator: torch.Generator | None) -> Tensor:
    """A Hutchinson probe shaped like x: Rademacher (+-1) or standard Gaussian."""
    if kind == "gaussian":
        return torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    if kind == "rademacher":
        return torch.randint(0, 2, x.shape, generator=generator, device=x.device).to(x.dtype) * 2 - 1
    raise ValueError(f"noise must be 'rademacher' or 'gaussian', got {kind!r}")


@dataclass(frozen=True)
class ODELogProb:
    """Result of ``log_prob_ode``: log-density of the inputs (B,) in nats, their image z at t1, the NFE, and the
    integrals over [t0, t1] of the requested regularisers, one (B,) tensor each (in the order given)."""

    log_prob: Tensor
    z: Tensor
    nfe: int
    regularization: tuple[Tensor, ...] = ()


@contextmanager
def _step_underflow_as_error(method: str, rtol: float, atol: float) -> Iterator[None]:
    """torchdiffeq's bare ``assert`` on a vanishing adaptive step, as a FloatingPointError that says what to try."""
    try:
        yield
    except AssertionError as err:
        if "underflow in dt" not in str(err):
            raise
        raise FloatingPointError(
            f"the adaptive ODE solve ({method}, rtol {rtol:g}, atol {atol:g}) stalled: its step size underflowed to 0 "
            "(a stiff or non-finite field; an undertrained net?); train longer or use a fixed-step solver"
        ) from None


def log_prob_ode(
    f: VectorField,
    x: Tensor,
    t0: float,
    t1: float,
    prior_logp: Callable[[Tensor], Tensor],
    *,
    divergence: Literal["exact", "hutchinson"] = "hutchinson",
    noise: Literal["rademacher", "gaussian"] = "rademacher",
    method: str = "dopri5",
    atol: float = 1e-5,
    rtol: float = 1e-5,
    generator: torch.Generator | None = None,
    adjoint: bool = False,
    create_graph: bool = False,
    regularizers: Sequence[Regularizer] = (),
    adjoint_params: Sequence[Tensor] | None = None,
) -> ODELogProb:
    """log p_{t0}(x) = log p_{t1}(z) + int_{t0}^{t1} div f(x(t), t) dt, with dx/dt = f from x(t0) = x.

    Args:
        f: the vector field (B, *D), (B,) -> (B, *D); a torch.nn.Module when ``adjoint`` is set (or pass
            ``adjoint_params``).
        x: data at t0, (B, *D).
        t0: start time (data side), t1: end time (prior side); either order.
        prior_logp: log-density at t1, (B, *D) -> (B,).
        divergence: "exact" (D backward passes) or "hutchinson" (one probe drawn once for the whole solve).
        noise: Hutchinson probe distribution (also the probe of a Jacobian regulariser).
        method, atol, rtol: torchdiffeq solver settings (dopri5 with 1e-5 by default, as Score-SDE and FFJORD).
        generator: source of the probe.
        adjoint: integrate with the adjoint method (memory O(1) in the solver steps) for training.
        create_graph: keep the graph through the divergence, so the result can be differentiated (training).
        regularizers: integrands (e.g. ``KineticEnergy()``, ``JacobianFrobenius()``) integrated as extra states.
        adjoint_params: the parameters the adjoint differentiates (default: ``f.parameters()``).

    Returns:
        ODELogProb(log_prob (B,), z (B, *D), nfe, regularization (one (B,) integral per regulariser)).

    Example:
        >>> sde = VPSDE()
        >>> f = ScoreField(score, sde).velocity                     # the probability-flow ODE (Eq. 13)
        >>> res = log_prob_ode(f, x, sde.t_min, 1.0, sde.prior.log_prob, divergence="exact")
        >>> res.log_prob  # (B,) nats
    """
    counted = CountNFE(f)
    need_jac = any(r.needs_jacobian for r in regularizers)
    probe = probe_noise(x, noise, generator) if divergence == "hutchinson" or need_jac else None

    def augmented(t: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        x_t = state[0]
        tt = batch_time(t, x_t)
        tracked = torch.is_grad_enabled() and x_t.requires_grad  # else: no_grad eval or the adjoint's forward pass
        with torch.enable_grad():
            x_t = x_t if tracked else x_t.detach().requires_grad_(True)  # a fresh leaf, never a no_grad view
            dx = counted(x_t, tt)
            eps_jac = _probe_jacobian(dx, x_t, probe, create_graph) if probe is not None else None
            if divergence == "exact":
                div = _trace_exact(dx, x_t, create_graph)
            else:
                div = (eps_jac * probe).reshape(x_t.shape[0], -1).sum(1)
            regs = [r(dx, eps_jac) for r in regularizers]
        out = (dx, div, *regs)
        return out if create_graph else tuple(v.detach() for v in out)

    times = torch.tensor([t0, t1], device=x.device, dtype=x.dtype)
    zeros = tuple(torch.zeros(x.shape[0], device=x.device, dtype=x.dtype) for _ in range(1 + len(regularizers)))
    from torchdiffeq import odeint, odeint_adjoint  # here, not at import: it pulls in scipy (0.6 s per process)

    solve = odeint_adjoint if adjoint else odeint
    if adjoint:
        params = tuple(adjoint_params) if adjoint_params is not None else tuple(f.parameters())
        extra = {"adjoint_params": params}
    else:
        extra = {}
    options = solver_options(method, times)
    with _step_underflow_as_error(method, rtol, atol):
        states = solve(augmented, (x, *zeros), times, method=method, atol=atol, rtol=rtol, options=options, **extra)
    z, integral = states[0][-1], states[1][-1]
    # the regularisers are integrated in the direction t0 -> t1; report them as positive integrals
    sign = 1.0 if t1 >= t0 else -1.0
    regs = tuple(sign * s[-1] for s in states[2:])
    return ODELogProb(log_prob=prior_logp(z) + integral, z=z, nfe=counted.nfe, regularization=regs)


def sample_ode(
    velocity: VectorField,
    x: Tensor,
    ts: Tensor,
    *,
    method: str = "dopri5",
    atol: float = 1e-5,
    rtol: float = 1e-5,
    callback: Callback = None,
) -> Tensor:
    """Integrate dx/dt = velocity(x, t) from ts[0] to ts[-1] with torchdiffeq; returns x at ts[-1] (B, *D).

    ``ts`` is the output grid (the callback sees x at each of its points); an adaptive solver picks its own
    steps in between, so count NFE with ``shared.utils.CountNFE``.
    """

    def rhs(t: Tensor, x_t: Tensor) -> Tensor:
        return velocity(x_t, batch_time(t, x_t))

    from torchdiffeq import odeint  # here, not at import: it pulls in scipy (0.6 s per process)

    ts = ts.to(device=x.device, dtype=x.dtype)
    with _step_underflow_as_error(method, rtol, atol):
        xs = odeint(rhs, x, ts, method=method, atol=atol, rtol=rtol, options=solver_options(method, ts))
    if callback is not None:
        for i in range(1, len(ts)):
            callback({"i": i - 1, "t": ts[i], "x": xs[i]})
    return xs[-1]


def sample_flow(
    field: Field,
    x: Tensor,
    ts: Tensor,
    *,
    method: str = "dopri5",
    rtol: float = 1e-5,
    atol: float = 1e-5,
    generator: Generator = None,
    callback: Callback = None,
) -> Tensor:
    """Integrate ``field.velocity`` from ts[0] (prior side) to ts[-1] with an adaptive solver.

    For a score field this is the probability-flow ODE dx/dt = f - g^2 score / 2 (Song et al. 2021, Eq. 13;
    dopri5 at rtol = atol = 1e-5, App. D.2). Only the ends of ``ts`` matter to the solver; points in between are
    output times the callback sees (``solver_options`` forces only the end as a step, so they cost no NFE).

    Args:
        field: any field with a velocity (score and eps fields convert through their process).
        x: prior draw (B, *D).
        ts: decreasing (or, for forward flows, increasing) times (K + 1,), K >= 1.
        method, rtol, atol: torchdiffeq solver settings.
        generator: unused (the ODE is deterministic); accepted for the shared signature.
        callback: dict(i, t, x) at each output time of ``ts``, then dict(i=-1, t, x, nfe) after the solve.

    Returns:
        x at ts[-1] (B, *D).
    """
    velocity = CountNFE(field.velocity)
    x = sample_ode(velocity, x, ts, method=method, atol=atol, rtol=rtol, callback=callback)
    if callback is not None:
        callback({"i": -1, "t": ts[-1], "x": x, "nfe": velocity.nfe})
    return x


def sample_euler(
    field: Field, x: Tensor, ts: Tensor, *, generator: Generator = None, callback: Callback = None
) -> Tensor:
    """Fixed-step Euler on the grid: x <- x + (t_{i+1} - t_i) v(x, t_i); NFE = len(ts) - 1.

    Args:
        field: any field with a velocity; x: start (B, *D); ts: the grid (K + 1,), either direction.
        callback: dict(i, t, x) after every step.
    """
    for i in range(len(ts) - 1):
        t = batch_time(ts[i], x)
        x = x + append_dims(batch_time(ts[i + 1], x) - t, x.ndim) * field.velocity(x, t)
        if callback is not None:
            callback({"i": i, "t": ts[i + 1], "x": x})
    return x


def sample_heun(
    field: Field, x: Tensor, ts: Tensor, *, generator: Generator = None, callback: Callback = None
) -> Tensor:
    """Fixed-step Heun (explicit trapezoid, 2nd order) on the grid; NFE = 2 (len(ts) - 1).

    x' = x + h v(x, t_i); x <- x + h (v(x, t_i) + v(x', t_{i+1})) / 2 with h = t_{i+1} - t_i.
    """
    for i in range(len(ts) - 1):
        t, s = batch_time(ts[i], x), batch_time(ts[i + 1], x)
        h = append_dims(s - t, x.ndim)
        d = field.velocity(x, t)
        x_pred = x + h * d
        x = x + 0.5 * h * (d + field.velocity(x_pred, s))
        if callback is not None:
            callback({"i": i, "t": ts[i + 1], "x": x})
    return x


class FlowNLL:
    """-log p(x) in nats over model space through the flow of a field: data at t0, prior at t1 (NLL, a density).

    Args:
        field_of: net -> Field (a preconditioning's ``field``).
        prior_log_prob: log-density at t1, (B, *D) -> (B,).
        t0, t1: the data end and the prior end of the flow.
        solver: ``log_prob_ode`` options (divergence, noise, method, rtol, atol).
    """

    def __init__(self, field_of: Callable[[torch.nn.Module], Field], prior_log_prob, t0: float, t1: float, **solver):
        self.field_of, self.prior_log_prob = field_of, prior_log_prob
        self.t0, self.t1, self.solver = t0, t1, solver

    def __call__(self, net: torch.nn.Module, x: Tensor, generator: torch.Generator) -> NLL:
        """x (B, *D) -> NLL (B,)."""
        velocity = self.field_of(net).velocity
        res = log_prob_ode(velocity, x, self.t0, self.t1, self.prior_log_prob, generator=generator, **self.solver)
        return NLL(-res.log_prob.detach(), discrete=False)
