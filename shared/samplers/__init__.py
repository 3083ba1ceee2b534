"""Samplers share one signature: ``sample_x(model, x, ts, *, generator=None, callback=None, **options) -> x``.

``model`` is a VectorField (score, eps or velocity, as the sampler documents), ``x`` the prior draw (B, *D),
``ts`` a 1-D decreasing time grid built by the process (``process.time_grid``). ``callback(dict(i=, t=, x=, x0=))``
observes the trajectory; NFE is counted by wrapping the model in ``shared.utils.CountNFE``. No sampler disables
autograd: the caller decides (``torch.no_grad()``).
"""

from shared.samplers.ancestral import sample_ancestral

SAMPLERS = {"ancestral": sample_ancestral}

__all__ = ["SAMPLERS", "sample_ancestral"]
