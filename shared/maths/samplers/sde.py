"""Reverse-SDE samplers of Song et al. (2021), 'Score-Based Generative Modeling through SDEs' (Sec. 4.2, App. F-G).

Predictors step the reverse-time SDE from t down to s < t; correctors run score-based MCMC at one time. Both are
small callables with ONE interface, ``step(field, x, t, s, *, process, generator) -> (x, x_mean)``, where
``x_mean`` is the step without its final noise. ``sample_pc`` composes any predictor with any corrector
(Algorithm 1); Euler-Maruyama, reverse diffusion, ancestral and Langevin-only sampling are its special cases.
All noise comes from ``shared.utils.randn_like``, so per-sample generators give batch-independent shards.
"""

from __future__ import annotations

from typing import Literal, Protocol

from torch import Tensor

from shared.maths.fields import Field
from shared.maths.processes.base import GaussianProcess
from shared.maths.processes.sde import SDE
from shared.utils import Callback, Generator, append_dims, batch_time, randn_like


class Step(Protocol):
    """A predictor (moves x from t to s) or a corrector (stays at t; s gives the grid spacing |t - s|)."""

    def __call__(
        self, field: Field, x: Tensor, t: Tensor, s: Tensor, *, process: GaussianProcess, generator: Generator
    ) -> tuple[Tensor, Tensor]: ...


class EulerMaruyamaPredictor:
    """x_s = x + [f - g^2 score] (s - t) + g sqrt(t - s) z: Euler-Maruyama on the reverse SDE (Eq. 6, App. D)."""

    def __call__(self, field, x, t, s, *, process: SDE, generator: Generator = None):
        drift, g = process.reverse(field.score).sde(x, t)
        dt = append_dims(s - t, x.ndim)  # negative: time runs backwards
        x_mean = x + drift * dt
        return x_mean + append_dims(g, x.ndim) * (-dt).sqrt() * randn_like(x, generator), x_mean


class ReverseDiffusionPredictor:
    """Reverse diffusion (Eq. 46-47, App. E): x_s = x - f_i + G_i^2 score + G_i z, from the forward step s -> t.

    The forward discretisation x_t = a x_s + sqrt(v) z is the process's exact kernel (``transition``), so
    f_i = (a - 1) x and G_i^2 = v: SMLD's sigma_t^2 - sigma_s^2 for VE and DDPM's beta_i for VP (App. B).
    """

    def __call__(self, field, x, t, s, *, process: GaussianProcess, generator: Generator = None):
        a, v = process.transition(t, s)
        a, v = append_dims(a, x.ndim), append_dims(v, x.ndim)
        x_mean = (2 - a) * x + v * field.score(x, t)  # x - f_i + G_i^2 score
        return x_mean + v.sqrt() * randn_like(x, generator), x_mean


class AncestralPredictor:
    """Ancestral sampling (Eq. 45, App. F): x_s ~ q(x_s | x_t, x0_hat), x0_hat = Tweedie's E[x0 | x_t].

    For VE this is the paper's x + (sigma_t^2 - sigma_s^2) score with posterior variance; for VP it is DDPM's
    (x + beta score) / sqrt(1 - beta) step, with the forward variance beta_i (``variance="forward"``) as in
    the official code, or the posterior one.
    """

    def __init__(self, variance: Literal["forward", "posterior"] = "posterior"):
        self.variance = variance

    def __call__(self, field, x, t, s, *, process: GaussianProcess, generator: Generator = None):
        x0 = field.x0(x, t)
        x_mean, post_var = process.posterior(x0, x, t, s)
        var = process.transition(t, s)[1] if self.variance == "forward" else post_var
        return x_mean + append_dims(var.sqrt(), x.ndim) * randn_like(x, generator), x_mean


class ProbabilityFlowPredictor:
    """One deterministic reverse-diffusion step of the probability-flow ODE (Eq. 13): x - f_i + G_i^2 score / 2."""

    def __call__(self, field, x, t, s, *, process: GaussianProcess, generator: Generator = None):
        a, v = process.transition(t, s)
        x_mean = (2 - append_dims(a, x.ndim)) * x + 0.5 * append_dims(v, x.ndim) * field.score(x, t)
        return x_mean, x_mean


class SNRLangevinCorrector:
    """Langevin MCMC at time t (Algorithm 4-5): x += eps score + sqrt(2 eps) z, eps = 2 alpha_i (r |z| / |score|)^2.

    r is the signal-to-noise ratio ``snr``; alpha_i = a^2 of the kernel over one grid step |t - s| (1 - beta_i
    for VP, 1 for VE). The norms are per example, as in Algorithm 4; the official code averages them over the
    batch (``norms="batch"``), which makes a sample depend on its batch-mates but tames the step in low
    dimension, where a per-example |score| near zero (a mode's centre) gives a huge step.
    """

    def __init__(self, snr: float = 0.16, n_steps: int = 1, norms: Literal["example", "batch"] = "example"):
        self.snr, self.n_steps = snr, n_steps  # r = 0.16 for VE on CIFAR-10 (App. G), M = 1 corrector step
        self.norms = norms

    def __call__(self, field, x, t, s, *, process: GaussianProcess, generator: Generator = None):
        alpha = process.transition(t.maximum(s), t.minimum(s))[0] ** 2
        x_mean = x
        for _ in range(self.n_steps):
            grad, z = field.score(x, t), randn_like(x, generator)
            z_norm, g_norm = z.flatten(1).norm(dim=1), grad.flatten(1).norm(dim=1)
            if self.norms == "batch":
                z_norm, g_norm = z_norm.mean().expand_as(z_norm), g_norm.mean().expand_as(g_norm)
            ratio = z_norm / g_norm.clamp_min(1e-12)
            eps = append_dims(2 * alpha * (self.snr * ratio) ** 2, x.ndim)
            x_mean = x + eps * grad
            x = x_mean + (2 * eps).sqrt() * z
        return x, x_mean


PREDICTORS = {
    "euler_maruyama": EulerMaruyamaPredictor,
    "reverse_diffusion": ReverseDiffusionPredictor,
    "ancestral": AncestralPredictor,
    "probability_flow": ProbabilityFlowPredictor,
}
CORRECTORS = {"langevin": SNRLangevinCorrector}


def sample_pc(
    field: Field,
    x: Tensor,
    ts: Tensor,
    *,
    predictor: Step | None = ReverseDiffusionPredictor(),  # noqa: B008 (stateless)
    corrector: Step | None = SNRLangevinCorrector(),  # noqa: B008 (stateless)
    corrector_first: bool = False,
    generator: Generator = None,
    callback: Callback = None,
) -> Tensor:
    """Predictor-corrector sampling (Algorithm 1): at every grid step, a predictor step t -> s, then a corrector.

    Algorithm 1 runs the predictor first and the corrector at the new time; the official code runs the corrector
    first, at the current time, then the predictor (``corrector_first=True``). A missing predictor only moves
    the time (corrector-only sampling, Table 1's "C2000"); a missing corrector gives predictor-only sampling.

    Args:
        field: the model's field; predictors and correctors use ``field.score`` and its forward process.
        x: prior draw x_T (B, *D).
        ts: decreasing grid (N + 1,) from T to the cutoff eps (``process.time_grid``).
        predictor: default reverse diffusion (the paper's PC choice, App. G); None for corrector-only sampling.
        corrector: default ``SNRLangevinCorrector(snr=0.16)`` (VE's choice, App. G); None for predictor-only sampling.
        corrector_first: the official code's order (corrector at t, then predictor t -> s).
        generator: noise source (a torch.Generator or a PerSampleGenerator).
        callback: called after every grid step with dict(i, t, x, x_mean) (x_mean = the step without its noise).

    Returns:
        The final sample (B, *D).

    Example:
        >>> sde = VESDE(sigma_min=0.01, sigma_max=50.0)
        >>> x = sample_pc(ScoreField(score, sde), sde.prior.sample((16, 2)), sde.time_grid(1000),
        ...               predictor=ReverseDiffusionPredictor(), corrector=SNRLangevinCorrector(snr=0.16))
    """
    kw = {"process": field.process_for("predictor-corrector sampling"), "generator": generator}
    for i in range(len(ts) - 1):
        t, s = batch_time(ts[i], x), batch_time(ts[i + 1], x)
        x_mean = x
        if corrector is not None and corrector_first:
            x, x_mean = corrector(field, x, t, s, **kw)
        if predictor is not None:
            x, x_mean = predictor(field, x, t, s, **kw)
        if corrector is not None and not corrector_first:
            x, x_mean = corrector(field, x, s, t, **kw)  # Algorithm 1, lines 6-9: at the new time s
        if callback is not None:
            callback({"i": i, "t": ts[i + 1], "x": x, "x_mean": x_mean})
    return x


def sample_euler_maruyama(field: Field, x: Tensor, ts: Tensor, **options) -> Tensor:
    """Predictor-only sampling with Euler-Maruyama on the reverse SDE (``sample_pc`` options apply)."""
    return sample_pc(field, x, ts, predictor=EulerMaruyamaPredictor(), corrector=None, **options)


def sample_reverse_diffusion(field: Field, x: Tensor, ts: Tensor, **options) -> Tensor:
    """Predictor-only sampling with reverse diffusion (Eq. 46-47; Table 1, "P1000")."""
    return sample_pc(field, x, ts, predictor=ReverseDiffusionPredictor(), corrector=None, **options)


def sample_ancestral_sde(field: Field, x: Tensor, ts: Tensor, **options) -> Tensor:
    """Predictor-only ancestral sampling (Eq. 45; Table 1, "ancestral sampling")."""
    return sample_pc(field, x, ts, predictor=AncestralPredictor(), corrector=None, **options)


def sample_corrector_only(
    field: Field,
    x: Tensor,
    ts: Tensor,
    *,
    snr: float = 0.16,
    n_steps: int = 1,
    norms: Literal["example", "batch"] = "example",
    **options,
) -> Tensor:
    """Corrector-only sampling with Score-SDE's SNR-controlled Langevin corrector (Algorithm 4) at every grid time
    (Table 1, "C2000"). Not NCSN's annealed Langevin dynamics, whose step is eps sigma_i^2 / sigma_L^2 (Alg. 1):
    that one is ``shared.maths.samplers.langevin.sample_annealed_langevin``."""
    return sample_pc(field, x, ts, predictor=None, corrector=SNRLangevinCorrector(snr, n_steps, norms), **options)


__all__ = [
    "AncestralPredictor",
    "CORRECTORS",
    "EulerMaruyamaPredictor",
    "SNRLangevinCorrector",
    "PREDICTORS",
    "ProbabilityFlowPredictor",
    "ReverseDiffusionPredictor",
    "Step",
    "sample_ancestral_sde",
    "sample_euler_maruyama",
    "sample_corrector_only",
    "sample_pc",
    "sample_reverse_diffusion",
]
