"""Samplers share one signature: ``sample_x(model, x, ts, *, process, generator=None, callback=None, **options) -> x``.

``model`` is a VectorField (score, eps or velocity, as the sampler documents), ``x`` the prior draw (B, *D),
``ts`` a 1-D decreasing time grid built by the process (``process.time_grid``). ``callback(dict(i=, t=, x=, ...))``
observes the trajectory; NFE is counted by wrapping the model in ``shared.utils.CountNFE``. No sampler disables
autograd: the caller decides (``torch.no_grad()``).
"""

from shared.samplers.ancestral import sample_ancestral
from shared.samplers.ode import sample_probability_flow
from shared.samplers.sde import (
    CORRECTORS,
    PREDICTORS,
    AncestralPredictor,
    EulerMaruyamaPredictor,
    LangevinCorrector,
    ProbabilityFlowPredictor,
    ReverseDiffusionPredictor,
    sample_ancestral_sde,
    sample_euler_maruyama,
    sample_langevin,
    sample_pc,
    sample_reverse_diffusion,
)

SAMPLERS = {
    "ancestral": sample_ancestral,  # DDPM Algorithm 2 (discrete chains and SDEs alike)
    "ancestral_sde": sample_ancestral_sde,  # Score-SDE Eq. 45 as a predictor-only sampler
    "euler_maruyama": sample_euler_maruyama,
    "reverse_diffusion": sample_reverse_diffusion,
    "langevin": sample_langevin,
    "pc": sample_pc,
    "probability_flow": sample_probability_flow,
}

__all__ = [
    "SAMPLERS",
    "PREDICTORS",
    "CORRECTORS",
    "AncestralPredictor",
    "EulerMaruyamaPredictor",
    "LangevinCorrector",
    "ProbabilityFlowPredictor",
    "ReverseDiffusionPredictor",
    "sample_ancestral",
    "sample_ancestral_sde",
    "sample_euler_maruyama",
    "sample_langevin",
    "sample_pc",
    "sample_probability_flow",
    "sample_reverse_diffusion",
]
