"""Samplers share one signature: ``sample_x(field, x, ts, *, generator=None, callback=None, **options) -> x``.

``field`` is a ``shared.maths.fields.Field`` (each sampler asks it for the kind it needs: ``field.score``,
``field.velocity``, ``field.x0``), ``x`` the prior draw (B, *D), ``ts`` a 1-D time grid built apart from the
solver (``process.time_grid``; for the few-step solvers EDM's ``times_karras`` or DPM-Solver's ``times_logsnr``).
Options are bound with ``bind(name, **options)`` (a ``BoundSampler``: checked options, and a ``describe()`` that
samples and metrics record); no sampler takes a process: one whose formula needs alpha_t, sigma_t
or a posterior takes the field's own (``field.process_for``), so the two cannot disagree.
``callback(dict(i=, t=, x=, ...))`` observes the trajectory; NFE is counted on the net
(``shared.pipeline.method.count_nfe``).
No sampler disables autograd: the caller decides (``torch.no_grad()``).

``SAMPLERS`` is the one registry: a replication's config names a sampler and its options, never a class.
"""

from shared.maths.ode import sample_euler, sample_flow, sample_heun
from shared.maths.samplers.ancestral import sample_ancestral
from shared.maths.samplers.annealed import inpaint_annealed_langevin, sample_annealed_langevin, sample_langevin
from shared.maths.samplers.bound import BoundSampler, describe_value
from shared.maths.samplers.consistency import sample_consistency
from shared.maths.samplers.ddim import sample_ddim
from shared.maths.samplers.denoise import Denoised, denoised
from shared.maths.samplers.dpm_solver import sample_dpm_solver_2m, times_logsnr
from shared.maths.samplers.edm import (
    noise_to_signal,
    sample_edm_stochastic,
    sample_heun_edm,
    sigmas_karras,
    times_karras,
    times_of_sigmas,
)
from shared.maths.samplers.sde import (
    CORRECTORS,
    PREDICTORS,
    AncestralPredictor,
    EulerMaruyamaPredictor,
    ProbabilityFlowPredictor,
    ReverseDiffusionPredictor,
    SNRLangevinCorrector,
    sample_ancestral_sde,
    sample_corrector_only,
    sample_euler_maruyama,
    sample_pc,
    sample_reverse_diffusion,
)

SAMPLERS = {
    "ancestral": sample_ancestral,  # DDPM Algorithm 2 (discrete chains and SDEs alike)
    "ancestral_sde": sample_ancestral_sde,  # Score-SDE Eq. 45 as a predictor-only sampler
    "euler_maruyama": sample_euler_maruyama,
    "reverse_diffusion": sample_reverse_diffusion,
    "corrector_only": sample_corrector_only,  # Score-SDE's SNR Langevin corrector alone (Table 1, "C2000")
    "pc": sample_pc,
    "ode": sample_flow,  # adaptive ODE solve of field.velocity (probability flow, CNFs, PFGM)
    "euler": sample_euler,  # fixed-step ODE
    "heun": sample_heun,
    "ald": sample_annealed_langevin,  # NCSN Algorithm 1
    "langevin": sample_langevin,  # plain Langevin dynamics at one time (NCSN Eq. 4)
    "ddim": sample_ddim,  # DDIM Eq. 12 / 16: eta= (0 deterministic, 1 ancestral)
    "heun_edm": sample_heun_edm,  # EDM Algorithm 1 (Heun, last step Euler); grid from times_karras
    "edm_stochastic": sample_edm_stochastic,  # EDM Algorithm 2 (churn, then Heun); grid from times_karras
    "dpm_solver_2m": sample_dpm_solver_2m,  # DPM-Solver++(2M), Algorithm 2; grid from times_logsnr
    "consistency": sample_consistency,  # consistency models' Algorithm 1 (1 NFE a grid step)
}


def bind(name: str, **options) -> BoundSampler:
    """The registry's sampler ``name`` with ``options`` bound (checked against its parameters now)."""
    if name not in SAMPLERS:
        raise KeyError(f"no sampler {name!r}; the registry has {', '.join(sorted(SAMPLERS))}")
    return BoundSampler(name, SAMPLERS[name], options)


__all__ = [
    "SAMPLERS",
    "BoundSampler",
    "Denoised",
    "denoised",
    "bind",
    "describe_value",
    "PREDICTORS",
    "CORRECTORS",
    "AncestralPredictor",
    "EulerMaruyamaPredictor",
    "SNRLangevinCorrector",
    "ProbabilityFlowPredictor",
    "ReverseDiffusionPredictor",
    "inpaint_annealed_langevin",
    "noise_to_signal",
    "sigmas_karras",
    "times_karras",
    "times_logsnr",
    "times_of_sigmas",
    "sample_consistency",
    "sample_ddim",
    "sample_dpm_solver_2m",
    "sample_heun_edm",
    "sample_edm_stochastic",
    "sample_ancestral",
    "sample_annealed_langevin",
    "sample_langevin",
    "sample_ancestral_sde",
    "sample_corrector_only",
    "sample_euler",
    "sample_euler_maruyama",
    "sample_flow",
    "sample_heun",
    "sample_pc",
    "sample_reverse_diffusion",
]
