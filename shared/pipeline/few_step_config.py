"""Config sections of the few-step samplers that sample any field on a Gaussian path (diffusions and flow matching
alike): DDIM, DPM-Solver++(2M) and EDM's Heun. A replication adds them to its ``sample`` union, so a trained
checkpoint can be sampled another way from the command line::

    python -m replications.ddpm sample --ckpt .../checkpoint.pt --seeds 0-999 --out ddim50.npz \\
        --set "sample={kind: ddim, n_steps: 50}"

Each section builds its (grid, bound sampler) from the path alone (``build``); the sweeps' budget families
(``shared.pipeline.budgets``) build through the same sections, so a family at k steps is the section with
``n_steps = k``.
"""

# No ``from __future__ import annotations``: shared.config reads each ``kind`` Literal off the dataclass field.
from dataclasses import dataclass
from typing import Annotated, Literal

from shared.config import PositiveFloat, PositiveInt, Range


@dataclass(frozen=True)
class DDIMSamplerConfig:
    """DDIM (Song, Meng & Ermon 2021, Eq. 12; eta of Eq. 16) on the path's own grid (a chain's even stride, Sec.
    4.2): ``n_steps`` steps, one NFE each."""

    kind: Literal["ddim"] = "ddim"
    n_steps: PositiveInt = 50
    eta: Annotated[float, Range(ge=0, le=1)] = 0.0  # 0: the implicit model (deterministic); 1: ancestral
    clip_x0: bool = False  # clamp x0_hat to the data's range (images only; the replication says what the range is)

    def build(self, path, t_end: float | None = None, x0_range: tuple[float, float] | None = None):
        """(grid, sampler): ``path.time_grid(n_steps)`` ending at ``t_end`` (None: the path's own end), and DDIM
        with ``x0_range`` as its clamp if ``clip_x0`` (None: no clamp)."""
        from shared.maths.samplers import bind

        grid = path.time_grid(self.n_steps) if t_end is None else path.time_grid(self.n_steps, t_end=t_end)
        options = {"eta": self.eta}
        if self.clip_x0:
            options["clip_x0"] = x0_range
        return grid, bind("ddim", **options)

    @property
    def nfe(self) -> int:
        return self.n_steps


@dataclass(frozen=True)
class DPMSolver2MSamplerConfig:
    """DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2) on ``n_steps`` steps uniform in log-SNR, one NFE each."""

    kind: Literal["dpm_solver_2m"] = "dpm_solver_2m"
    n_steps: PositiveInt = 20

    def build(self, path, t_end: float | None = None, x0_range: tuple[float, float] | None = None):
        """(grid, sampler): ``times_logsnr(path, n_steps)``; ``t_end`` and ``x0_range`` are not used."""
        from shared.maths.samplers import bind, times_logsnr

        return times_logsnr(path, self.n_steps), bind(self.kind)

    @property
    def nfe(self) -> int:
        return self.n_steps


@dataclass(frozen=True)
class HeunEDMSamplerConfig:
    """EDM's Algorithm 1 (Karras et al. 2022): ``n_steps`` Heun steps on Eq. 5's levels, the last one Euler, so
    2 n_steps - 1 NFE."""

    kind: Literal["heun_edm"] = "heun_edm"
    n_steps: PositiveInt = 18  # EDM's CIFAR-10 setting: 18 steps, 35 NFE (Sec. 3, Table 2)
    rho: PositiveFloat = 7.0  # Eq. 5

    def build(self, path, t_end: float | None = None, x0_range: tuple[float, float] | None = None):
        """(grid, sampler): ``times_karras(path, n_steps, rho=rho)``; ``t_end`` and ``x0_range`` are not used."""
        from shared.maths.samplers import bind, times_karras

        return times_karras(path, self.n_steps, rho=self.rho), bind(self.kind)

    @property
    def nfe(self) -> int:
        return 2 * self.n_steps - 1


@dataclass(frozen=True)
class EDMStochasticSamplerConfig:
    """EDM's Algorithm 2 (Karras et al. 2022): Algorithm 1's steps, each after raising the level by gamma_i with
    fresh noise (S_churn, S_tmin, S_tmax, S_noise; Table 5), 2 n_steps - 1 NFE. S_churn = 0 is Algorithm 1."""

    kind: Literal["edm_stochastic"] = "edm_stochastic"
    n_steps: PositiveInt = 18
    rho: PositiveFloat = 7.0
    s_churn: Annotated[float, Range(ge=0)] = 0.0  # official generate.py defaults: deterministic
    s_tmin: Annotated[float, Range(ge=0)] = 0.0
    s_tmax: PositiveFloat | None = None  # None: no upper bound (official: inf)
    s_noise: PositiveFloat = 1.0

    def build(self, path, t_end: float | None = None, x0_range: tuple[float, float] | None = None):
        """(grid, sampler): ``times_karras(path, n_steps, rho=rho)`` and Algorithm 2 with its constants bound."""
        from shared.maths.samplers import bind, times_karras

        options = {"s_churn": self.s_churn, "s_tmin": self.s_tmin, "s_noise": self.s_noise}
        if self.s_tmax is not None:  # else the sampler's own: no upper bound
            options["s_tmax"] = self.s_tmax
        return times_karras(path, self.n_steps, rho=self.rho), bind(self.kind, **options)

    @property
    def nfe(self) -> int:
        return 2 * self.n_steps - 1


FewStepSamplerConfig = DDIMSamplerConfig | DPMSolver2MSamplerConfig | HeunEDMSamplerConfig | EDMStochasticSamplerConfig
FEW_STEP_SAMPLERS = (DDIMSamplerConfig, DPMSolver2MSamplerConfig, HeunEDMSamplerConfig, EDMStochasticSamplerConfig)

__all__ = [
    "FEW_STEP_SAMPLERS",
    "DDIMSamplerConfig",
    "DPMSolver2MSamplerConfig",
    "EDMStochasticSamplerConfig",
    "FewStepSamplerConfig",
    "HeunEDMSamplerConfig",
]
