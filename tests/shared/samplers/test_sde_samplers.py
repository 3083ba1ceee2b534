"""Score-SDE samplers (Song et al. 2021) driven by the EXACT score of a 2-D Gaussian mixture reproduce the mixture.

For x0 ~ sum_k w_k N(mu_k, C_k) and any Gaussian kernel, p_t = sum_k w_k N(alpha_t mu_k, alpha_t^2 C_k + sigma_t^2 I)
(closed form at every t), so the score is known exactly for VE, VP and sub-VP; the samples' mixture weights,
component means and covariances must match the data's. One-step identities check each predictor against the
paper's formulas written out in plain torch.
"""

import math
from functools import partial

import pytest
import torch

from shared.maths.fields import ScoreField
from shared.maths.processes import VESDE, VPSDE, SubVPSDE
from shared.maths.samplers import (
    SAMPLERS,
    AncestralPredictor,
    Denoised,
    EulerMaruyamaPredictor,
    ReverseDiffusionPredictor,
    SNRLangevinCorrector,
    sample_pc,
)
from shared.utils import PerSampleGenerator

W = torch.tensor([0.3, 0.7], dtype=torch.float64)
MU = torch.tensor([[-2.0, 0.5], [1.5, -1.0]], dtype=torch.float64)
COV = torch.tensor([[[0.20, 0.05], [0.05, 0.10]], [[0.15, -0.06], [-0.06, 0.30]]], dtype=torch.float64)


def mixture_terms(x, a, s):
    """Per-component log N(x; a mu_k, a^2 C_k + s^2 I) + log w_k (B, K) and precision-weighted residuals (B, K, 2).

    The symmetric 2x2 covariances [[p, q], [q, r]] are inverted in closed form ([[r, -q], [-q, p]] / det), checked
    against torch.linalg below: batched LAPACK calls on 2x2 matrices were half of each sampler test's time."""
    cov_t = a[:, None, None, None] ** 2 * COV[None] + (s**2)[:, None, None, None] * torch.eye(2, dtype=x.dtype)
    p, q, r = cov_t[..., 0, 0], cov_t[..., 0, 1], cov_t[..., 1, 1]  # (B, K)
    det = p * r - q * q
    d = x[:, None, :] - a[:, None, None] * MU[None]  # (B, K, 2)
    pd = torch.stack([r * d[..., 0] - q * d[..., 1], p * d[..., 1] - q * d[..., 0]], dim=-1) / det[..., None]
    logn = -0.5 * (d * pd).sum(-1) - 0.5 * det.log() - math.log(2 * math.pi)
    return logn + W.log(), pd


def test_mixture_terms_closed_form_is_linalgs():
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(64, 2, generator=gen, dtype=torch.float64) * 3
    a, s = torch.rand(64, generator=gen, dtype=torch.float64), torch.rand(64, generator=gen, dtype=torch.float64) * 5
    logw, pd = mixture_terms(x, a, s)
    cov_t = a[:, None, None, None] ** 2 * COV[None] + (s**2)[:, None, None, None] * torch.eye(2, dtype=x.dtype)
    d = x[:, None, :] - a[:, None, None] * MU[None]
    want_pd = torch.einsum("bkij,bkj->bki", torch.linalg.inv(cov_t), d)
    want = -0.5 * (d * want_pd).sum(-1) - 0.5 * torch.logdet(cov_t) - math.log(2 * math.pi) + W.log()
    torch.testing.assert_close(pd, want_pd, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(logw, want, rtol=1e-12, atol=1e-12)


def exact_score(process):
    def score(x, t):
        logw, pd = mixture_terms(x, process.alpha(t), process.sigma(t))
        r = torch.softmax(logw, dim=1)
        return -(r[:, :, None] * pd).sum(1)

    return ScoreField(score, process)


def check_mixture(x, tol_w=0.03, tol_mu=0.08, tol_cov=0.06):
    """Assign samples to components by their posterior under the data and compare weights, means, covariances."""
    assert torch.isfinite(x).all()
    logw, _ = mixture_terms(x, torch.ones(len(x), dtype=x.dtype), torch.zeros(len(x), dtype=x.dtype))
    k = logw.argmax(1)
    for j in range(2):
        xj = x[k == j]
        assert abs(len(xj) / len(x) - float(W[j])) < tol_w, f"weight {j}: {len(xj) / len(x):.3f} vs {float(W[j])}"
        assert (xj.mean(0) - MU[j]).abs().max() < tol_mu, f"mean {j}: {xj.mean(0)} vs {MU[j]}"
        assert (torch.cov(xj.T) - COV[j]).abs().max() < tol_cov, f"cov {j}: {torch.cov(xj.T)} vs {COV[j]}"


PROCESSES = {
    "ve": VESDE(sigma_min=0.01, sigma_max=10.0),
    "vp": VPSDE(beta_min=0.1, beta_max=20.0),
    "subvp": SubVPSDE(beta_min=0.1, beta_max=20.0),
}
CASES = {  # sampler name -> (grid steps, options)
    "euler_maruyama": (500, {}),
    "reverse_diffusion": (500, {}),
    "ancestral_sde": (500, {}),
    "ancestral": (500, {}),
    "pc": (250, {"corrector": SNRLangevinCorrector(snr=0.16, norms="batch")}),  # the official code's batch norms
    "corrector_only": (300, {"snr": 0.16, "n_steps": 2, "norms": "batch"}),  # the weakest sampler (Table 1, C2000)
    "ode": (1, {}),  # the probability-flow ODE, adaptive (then the denoising step, below)
    "euler": (500, {}),  # the probability-flow ODE, fixed steps
    "heun": (100, {}),
}


@pytest.mark.parametrize("kind", PROCESSES)
@pytest.mark.parametrize("name", CASES)
def test_sampler_reproduces_gaussian_mixture(name, kind):
    process = PROCESSES[kind]
    n_steps, options = CASES[name]
    gen = torch.Generator().manual_seed(0)
    x = process.prior.sample((4000, 2), gen, dtype=torch.float64)
    ts = process.time_grid(n_steps).double()
    with torch.no_grad():
        sampler = partial(SAMPLERS[name], **options)
        sampler = Denoised(sampler) if name == "ode" else sampler  # Score-SDE's final denoising step
        out = sampler(exact_score(process), x, ts, generator=gen)  # the field holds the process
    # corrector-only sampling lags behind the annealing: its weights may be off by up to 0.05, the others' by 0.03
    check_mixture(out, tol_w=0.05 if name == "corrector_only" else 0.03)


def test_registry_covers_every_case():
    # NCSN's Langevin samplers are checked against the mixture in test_annealed.py, the few-step ones in
    # test_fewstep.py, consistency models' Algorithm 1 against the closed-form consistency function in
    # tests/replications/test_consistency.py, EDM's Algorithm 2 (churned and not) against Gaussian data's law in
    # tests/replications/test_edm.py
    others = {"ald", "langevin"} | {"ddim", "heun_edm", "dpm_solver_2m"} | {"consistency", "edm_stochastic"}
    assert set(CASES) | others == set(SAMPLERS)


def test_pc_orders_differ_and_both_sample():
    """Algorithm 1's order (predictor first) and the official code's (corrector first) are both valid samplers."""
    process = PROCESSES["ve"]
    score = exact_score(process)
    x = process.prior.sample((4000, 2), torch.Generator().manual_seed(1), dtype=torch.float64)
    ts = process.time_grid(250).double()
    outs = []
    for first in (False, True):
        gen = torch.Generator().manual_seed(2)
        corrector = SNRLangevinCorrector(snr=0.16, norms="batch")
        outs.append(sample_pc(score, x, ts, corrector=corrector, corrector_first=first, generator=gen))
        check_mixture(outs[-1])
    assert not torch.allclose(outs[0], outs[1])


def test_wrong_score_fails_the_check():
    """The mixture check can fail: a score that ignores the mixture (a single Gaussian) does not pass."""
    process = PROCESSES["vp"]

    def gaussian_score(x, t):
        a, s = process.alpha(t)[:, None], process.sigma(t)[:, None]
        return -(x - a * 0.0) / (a**2 * 2.0 + s**2)

    x = process.prior.sample((4000, 2), torch.Generator().manual_seed(0), dtype=torch.float64)
    out = SAMPLERS["reverse_diffusion"](ScoreField(gaussian_score, process), x, process.time_grid(100).double())
    with pytest.raises(AssertionError):
        check_mixture(out)


def test_one_step_formulas_of_the_paper():
    """Reverse diffusion = SMLD's x + (s_t^2 - s_s^2) score + sqrt(.) z (VE) and DDPM's (2 - sqrt(1 - b)) x + b score
    (VP, Eq. 47); ancestral VE = Eq. 45; Euler-Maruyama = x - [f - g^2 score] dt + g sqrt(dt) z."""
    x = torch.randn(5, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    t, s = torch.full((5,), 0.6, dtype=torch.float64), torch.full((5,), 0.59, dtype=torch.float64)
    ve, vp = PROCESSES["ve"], PROCESSES["vp"]
    z = torch.randn(5, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(4))

    def run(pred, process):
        return pred(exact_score(process), x, t, s, process=process, generator=torch.Generator().manual_seed(4))

    sc = exact_score(ve)(x, t)
    dv = ve.sigma(t)[:, None] ** 2 - ve.sigma(s)[:, None] ** 2
    got, mean = run(ReverseDiffusionPredictor(), ve)
    torch.testing.assert_close(mean, x + dv * sc)
    torch.testing.assert_close(got, x + dv * sc + dv.sqrt() * z)
    _, mean = run(AncestralPredictor(), ve)
    torch.testing.assert_close(mean, x + dv * sc)
    beta = 1 - (vp.alpha(t) / vp.alpha(s)) ** 2
    _, mean = run(ReverseDiffusionPredictor(), vp)
    torch.testing.assert_close(mean, (2 - (1 - beta[:, None]).sqrt()) * x + beta[:, None] * exact_score(vp)(x, t))
    _, mean = run(AncestralPredictor(), vp)  # DDPM's Algorithm 2 mean (x + beta score) / sqrt(1 - beta)
    torch.testing.assert_close(mean, (x + beta[:, None] * exact_score(vp)(x, t)) / (1 - beta[:, None]).sqrt())
    got, _ = run(EulerMaruyamaPredictor(), vp)
    b, g2 = vp.beta(t)[:, None], vp.beta(t)[:, None]
    drift = -0.5 * b * x - g2 * exact_score(vp)(x, t)
    torch.testing.assert_close(got, x - drift * 0.01 + (g2 * 0.01).sqrt() * z)


def test_langevin_step_size_uses_snr():
    """eps = 2 alpha (r |z| / |score|)^2 per example (Algorithm 5), with alpha = 1 for VE."""
    ve = PROCESSES["ve"]
    x = torch.randn(3, 2, dtype=torch.float64)
    t = torch.full((3,), 0.5, dtype=torch.float64)
    score = exact_score(ve)
    got, mean = SNRLangevinCorrector(snr=0.2)(
        score, x, t, t - 0.01, process=ve, generator=torch.Generator().manual_seed(5)
    )
    z = torch.randn(3, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    g = score(x, t)
    eps = 2 * (0.2 * z.norm(dim=1) / g.norm(dim=1)) ** 2
    torch.testing.assert_close(mean, x + eps[:, None] * g)
    torch.testing.assert_close(got, mean + (2 * eps[:, None]).sqrt() * z)


def test_per_example_norms_blow_up_in_two_dimensions():
    """Algorithm 4's per-example step 2 (r |z| / |score|)^2 explodes where the score vanishes (a mode's centre):
    in 2-D at r = 0.16 the mixture is visibly distorted, which is why the toy configs use the batch norms."""
    process = PROCESSES["ve"]
    x = process.prior.sample((4000, 2), torch.Generator().manual_seed(0), dtype=torch.float64)
    gen = torch.Generator().manual_seed(1)
    corrector = SNRLangevinCorrector(snr=0.16, norms="example")
    out = sample_pc(exact_score(process), x, process.time_grid(250).double(), corrector=corrector, generator=gen)
    with pytest.raises(AssertionError):
        check_mixture(out)


def test_per_sample_generator_makes_samples_batch_independent():
    process = PROCESSES["vp"]
    score = exact_score(process)
    ts = process.time_grid(20).double()

    def draw(seeds):
        gen = PerSampleGenerator(seeds)
        x = process.prior.sample((len(seeds), 2), gen, dtype=torch.float64)
        return sample_pc(score, x, ts, corrector=SNRLangevinCorrector(snr=0.01), generator=gen)

    torch.testing.assert_close(draw(range(6))[2:4], draw([2, 3]))
