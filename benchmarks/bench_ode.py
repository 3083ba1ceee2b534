"""The probability-flow ODE solve: ours (torchdiffeq dopri5 on the device, ``shared.maths.ode.sample_flow``) against the
official codes' approach (scipy's ``solve_ivp`` RK45 on the host, the state copied device -> numpy -> device at every
evaluation, as score_sde's ``ode_sampler`` and PFGM's do), at equal tolerance.

The data are a Gaussian with a diagonal covariance in CIFAR-10's 3 x 32 x 32 dimensions, so the score is exact at
every t (no net: the solvers' own cost is what differs) and so is the ODE's solution: under the VP SDE each
coordinate's x_t - alpha_t m moves in proportion to its marginal std, x_eps = alpha_eps m + (x_T - alpha_T m)
std_eps / std_T. Both solvers are Dormand-Prince 5(4); the NFE differ by the first step and error norm.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.integrate import solve_ivp
from timing import interleaved, speedup

from shared.maths.fields import ScoreField
from shared.maths.ode import sample_flow
from shared.maths.processes import VPSDE

T_END = 1e-3  # Score-SDE integrates the PF-ODE from T = 1 down to eps = 1e-3 (App. D.2)


class DiagonalGaussian:
    """N(m, diag(s^2)) pushed through a Gaussian process: exact score at every t."""

    def __init__(self, process: VPSDE, shape: tuple[int, ...], device: torch.device, seed: int = 0):
        gen = torch.Generator().manual_seed(seed)
        self.process = process
        self.m = (0.5 * torch.randn(shape, generator=gen)).to(device)
        self.s2 = (0.05 + 0.2 * torch.rand(shape, generator=gen)).to(device)

    def var(self, t: torch.Tensor) -> torch.Tensor:
        a, s = self.process.alpha(t), self.process.sigma(t)
        return a**2 * self.s2 + s**2

    def score(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """(B, *D), t (B,) -> (B, *D)."""
        tt = t.reshape(-1, *([1] * (x.dim() - 1)))
        return -(x - self.process.alpha(tt) * self.m) / self.var(tt)

    def exact(self, x_T: torch.Tensor, t0: float, t1: float) -> torch.Tensor:
        a0, a1 = (self.process.alpha(torch.tensor(v, device=x_T.device)) for v in (t0, t1))
        v0, v1 = (self.var(torch.tensor(v, device=x_T.device)) for v in (t0, t1))
        return a1 * self.m + (x_T - a0 * self.m) * (v1 / v0).sqrt()


def scipy_rk45(field: ScoreField, x: torch.Tensor, t0: float, t1: float, rtol: float, atol: float):
    """The official codes' sampler: RK45 over the flattened batch on the host, one round trip per evaluation."""
    shape, device = x.shape, x.device

    def f(t: float, y: np.ndarray) -> np.ndarray:
        xt = torch.from_numpy(y).reshape(shape).to(device, torch.float32)
        vt = torch.full((shape[0],), t, device=device)
        with torch.no_grad():
            return field.velocity(xt, vt).cpu().numpy().reshape(-1).astype(np.float64)

    sol = solve_ivp(f, (t0, t1), x.cpu().numpy().reshape(-1), rtol=rtol, atol=atol, method="RK45")
    return torch.from_numpy(sol.y[:, -1]).reshape(shape).to(device, torch.float32), sol.nfev


def run(device: torch.device, batch: int, repeats: int, rtol: float = 1e-5, atol: float = 1e-5) -> dict:
    process = VPSDE()
    gauss = DiagonalGaussian(process, (3, 32, 32), device)
    field = ScoreField(gauss.score, process)
    x_T = torch.randn(batch, 3, 32, 32, generator=torch.Generator().manual_seed(1)).to(device)
    ts = torch.tensor([1.0, T_END], device=device)
    out: dict = {}

    def ours():
        done = {}
        with torch.no_grad():
            x = sample_flow(field, x_T, ts, method="dopri5", rtol=rtol, atol=atol, callback=done.update)
        out["ours"] = (x, done["nfe"])  # the solver's own count, as scipy's nfev

    def official():
        x, nfe = scipy_rk45(field, x_T, 1.0, T_END, rtol, atol)
        out["scipy RK45"] = (x, nfe)

    timed = interleaved({"ours": ours, "scipy RK45": official}, device, repeats)
    exact = gauss.exact(x_T, 1.0, T_END)
    result = {"batch": batch, "dims": 3 * 32 * 32, "rtol": rtol, "atol": atol}
    for name, (x, nfe) in out.items():
        err = (x - exact).abs()
        rms = err.pow(2).mean().sqrt().item()
        result[name] = {**timed[name], "nfe": int(nfe), "max_abs_err": err.max().item(), "rms_err": rms}
    result["speedup"] = speedup(timed["scipy RK45"], timed["ours"])
    return result
