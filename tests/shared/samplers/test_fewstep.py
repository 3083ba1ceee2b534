"""Few-step samplers of the probability-flow ODE, driven by closed-form scores: DDIM (Song, Meng & Ermon 2021),
Heun on EDM's steps (Karras et al. 2022, Alg. 1, Eq. 5) and DPM-Solver++(2M) (Lu et al. 2022, Alg. 2).

Gaussian data N(MU, COV) give the score at every t in closed form, and the probability-flow map too (the ODE is
linear: x_t = alpha_t MU + S_t^(1/2) S_T^(-1/2) (x_T - alpha_T MU), S_t = alpha_t^2 COV + sigma_t^2 I); a 2-D
Gaussian mixture gives an exact score whose weights, means and covariances the samples must reproduce. The
"networks" are ``nn.Module`` wrappers of these closed forms, so NFE is counted where a sweep counts it
(``shared.pipeline.method.count_nfe``).
"""

import math
from functools import partial
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from shared.config import load
from shared.maths.fields import EpsField, ScoreField, VelocityField
from shared.maths.processes import VESDE, VPSDE, DiscreteVP, SubVPSDE
from shared.maths.samplers import (
    SAMPLERS,
    noise_to_signal,
    sample_ancestral,
    sample_ddim,
    sample_dpm_solver_2m,
    sample_heun_edm,
    sigmas_karras,
    times_karras,
    times_logsnr,
)
from shared.pipeline.method import count_nfe, sample

F64 = torch.float64
EYE = torch.eye(2, dtype=F64)
G_MU = torch.tensor([1.0, -0.5], dtype=F64)  # Gaussian data (the DDIM and convergence tests)
G_COV = torch.tensor([[0.30, 0.12], [0.12, 0.20]], dtype=F64)
W = torch.tensor([0.3, 0.7], dtype=F64)  # a two-mode mixture (the tests of the second-order samplers)
MU = torch.tensor([[-2.0, 0.5], [1.5, -1.0]], dtype=F64)
COV = torch.tensor([[[0.20, 0.05], [0.05, 0.10]], [[0.15, -0.06], [-0.06, 0.30]]], dtype=F64)

CHAIN = DiscreteVP.linear(1e-4, 0.02, 1000)  # DDPM Sec. 4
PROCESSES = {"vp": VPSDE(0.1, 20.0), "subvp": SubVPSDE(0.1, 20.0), "ve": VESDE(0.01, 10.0)}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These problems are small: on a shared 2-core machine a second intra-op thread only adds contention."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class Exact(nn.Module):
    """A closed-form prediction posing as a network, so that ``count_nfe`` counts its calls; records the times."""

    def __init__(self, f):
        super().__init__()
        self.f, self.times = f, []

    def forward(self, x, t):
        self.times.append(float(t[0]))
        return self.f(x, t)


def inv2(cov):
    """Inverse of symmetric 2 x 2 matrices (..., 2, 2) in closed form."""
    p, q, r = cov[..., 0, 0], cov[..., 0, 1], cov[..., 1, 1]
    det = p * r - q**2
    return torch.stack([torch.stack([r, -q], -1), torch.stack([-q, p], -1)], -2) / det[..., None, None]


def gaussian_score(process, mu=G_MU, cov=G_COV):
    """-(a^2 C + s^2 I)^-1 (x - a mu) for x0 ~ N(mu, C), the 2 x 2 inverse written out (elementwise, fast)."""

    def score(x, t):
        a, s = process.alpha(t).to(F64), process.sigma(t).to(F64)
        p, q, r = a**2 * cov[0, 0] + s**2, a**2 * cov[0, 1], a**2 * cov[1, 1] + s**2
        d0, d1 = x[:, 0] - a * mu[0], x[:, 1] - a * mu[1]
        return -torch.stack([r * d0 - q * d1, p * d1 - q * d0], 1) / (p * r - q**2)[:, None]

    return score


def gaussian_eps(process):
    """The exact noise prediction E[eps | x_t] = -sigma_t score (what DDPM's net learns)."""
    return lambda x, t: -process.sigma(t).to(F64)[:, None] * gaussian_score(process)(x, t)


def gaussian_flow(process, x, t1, t0):
    """The probability-flow map of Gaussian data from t1 to t0 (all covariances share COV's eigenvectors)."""
    lam, u = torch.linalg.eigh(G_COV)

    def sd(t):
        tt = torch.tensor([t], dtype=F64)
        return float(process.alpha(tt)), (process.alpha(tt) ** 2 * lam + process.sigma(tt) ** 2).sqrt()

    (a1, sd1), (a0, sd0) = sd(t1), sd(t0)
    return a0 * G_MU + (x - a1 * G_MU) @ (u @ torch.diag(sd0 / sd1) @ u.T).T


def mixture_log_terms(x, a, s):
    """log w_k N(x; a mu_k, a^2 C_k + s^2 I) (B, K) and the precision-weighted residuals (B, K, 2)."""
    cov_t = a[:, None, None, None] ** 2 * COV + s[:, None, None, None] ** 2 * EYE
    d = x[:, None, :] - a[:, None, None] * MU
    prec = inv2(cov_t)
    pd = torch.einsum("bkij,bkj->bki", prec, d)
    det = cov_t[..., 0, 0] * cov_t[..., 1, 1] - cov_t[..., 0, 1] ** 2
    return -0.5 * (d * pd).sum(-1) - 0.5 * det.log() - math.log(2 * math.pi) + W.log(), pd


def mixture_score(process):
    def score(x, t):
        logw, pd = mixture_log_terms(x, process.alpha(t).to(F64), process.sigma(t).to(F64))
        return -(torch.softmax(logw, 1)[:, :, None] * pd).sum(1)

    return score


def check_mixture(x, tol_w=0.03, tol_mu=0.08, tol_cov=0.06):
    """Weights, means, covariances of the samples assigned to the data's modes (test_sde_samplers' tolerances)."""
    assert torch.isfinite(x).all()
    ones = torch.ones(len(x), dtype=F64)
    k = mixture_log_terms(x, ones, 0 * ones)[0].argmax(1)
    for j in range(2):
        xj = x[k == j]
        assert abs(len(xj) / len(x) - float(W[j])) < tol_w, f"weight {j}: {len(xj) / len(x):.3f} vs {float(W[j])}"
        assert (xj.mean(0) - MU[j]).abs().max() < tol_mu, f"mean {j}: {xj.mean(0)} vs {MU[j]}"
        assert (torch.cov(xj.T) - COV[j]).abs().max() < tol_cov, f"cov {j}: {torch.cov(xj.T)} vs {COV[j]}"


def moment_se(cov, n):
    """Standard errors of a sample mean (2,) and of sample covariance entries (2, 2) of n Gaussian draws."""
    var = torch.diag(cov)
    return (var / n).sqrt(), ((torch.outer(var, var) + cov**2) / n).sqrt()


def check_gaussian(x, mu, cov, slack=0.03):
    """Mean within 5 SE, covariance within 5 SE plus ``slack`` relative (the discretisation), as test_ancestral."""
    se_mu, se_cov = moment_se(cov, len(x))
    assert torch.all((x.mean(0) - mu).abs() < 5 * se_mu), (x.mean(0), mu)
    assert torch.all((torch.cov(x.T) - cov).abs() < 5 * se_cov + slack * cov.abs()), (torch.cov(x.T), cov)


# --- DDIM ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "process, n_steps",
    [(CHAIN, 250), (PROCESSES["vp"], 250), (VESDE(0.01, 50.0), 250)],
    ids=["ddpm-respaced", "vp-sde", "ve-sde"],
)
def test_ddim_eta0_maps_the_prior_to_the_data_moments(process, n_steps):
    n = 20000
    net = Exact(gaussian_eps(process))
    x = process.prior.sample((n, 2), torch.Generator().manual_seed(0), dtype=F64)
    with count_nfe(net) as calls:
        out = sample_ddim(EpsField(net, process), x, process.time_grid(n_steps).double())
    assert calls[0] == n_steps
    check_gaussian(out, G_MU, G_COV)


def test_ddim_with_too_few_steps_fails_the_moment_check():
    """DDIM is first order: 10 respaced steps shrink the covariance by about 40 %."""
    x = CHAIN.prior.sample((20000, 2), torch.Generator().manual_seed(0), dtype=F64)
    out = sample_ddim(ScoreField(gaussian_score(CHAIN), CHAIN), x, CHAIN.time_grid(10).double())
    with pytest.raises(AssertionError):
        check_gaussian(out, G_MU, G_COV)


def test_ddim_step_is_eq_12_with_eq_16():
    """x_{t-1} = sqrt(ab_prev) x0_hat + sqrt(1 - ab_prev - s^2) eps + s z, s = eta sqrt((1 - ab_prev) / (1 - ab))
    sqrt(1 - ab / ab_prev), written in DDPM's alpha_bar on a respaced pair of the chain."""
    i, j, eta = 700, 680, 0.6
    ab = torch.cumprod(1 - CHAIN.betas, 0)
    ab_t, ab_s = ab[i - 1], ab[j - 1]
    x = torch.randn(5, 2, dtype=F64, generator=torch.Generator().manual_seed(3))
    z = torch.randn(5, 2, dtype=F64, generator=torch.Generator().manual_seed(4))
    t = torch.full((5,), i / 1000, dtype=F64)
    eps = -(1 - ab_t).sqrt() * gaussian_score(CHAIN)(x, t)
    x0 = (x - (1 - ab_t).sqrt() * eps) / ab_t.sqrt()
    s2 = eta**2 * (1 - ab_s) / (1 - ab_t) * (1 - ab_t / ab_s)
    ref = ab_s.sqrt() * x0 + (1 - ab_s - s2).sqrt() * eps + s2.sqrt() * z
    ts = torch.tensor([i / 1000, j / 1000], dtype=F64)
    field = ScoreField(gaussian_score(CHAIN), CHAIN)
    out = sample_ddim(field, x, ts, eta=eta, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(out, ref)


@pytest.mark.parametrize("process", [CHAIN, PROCESSES["vp"], PROCESSES["ve"]], ids=["ddpm", "vp", "ve"])
def test_ddim_eta1_is_the_ancestral_step_with_posterior_variance(process):
    """eta = 1 gives DDPM's posterior q(x_s | x_t, x0_hat) (Eq. 16's remark), draw for draw with the same noise."""
    field = ScoreField(gaussian_score(process), process)
    x = process.prior.sample((64, 2), torch.Generator().manual_seed(0), dtype=F64)
    ts = process.time_grid(50).double()

    def run(sampler, **kw):
        return sampler(field, x, ts, generator=torch.Generator().manual_seed(1), **kw)

    ref = run(sample_ancestral, variance="posterior")
    torch.testing.assert_close(run(sample_ddim, eta=1.0), ref)
    assert not torch.allclose(run(sample_ddim, eta=0.5), ref)


def test_ddim_eta1_has_the_ancestral_samplers_marginals_at_every_step():
    """Independent runs of DDIM (eta = 1) and of ancestral sampling (posterior variance) on 50 respaced steps: the
    per-step means and covariances agree within 5 standard errors of a difference; the forward variance (beta_t)
    does not."""
    n, ts = 20000, CHAIN.time_grid(50).double()
    field = ScoreField(gaussian_score(CHAIN), CHAIN)
    steps = [9, 24, 39, 49]

    def marginals(sampler, seed, **kw):
        seen = {}
        x = CHAIN.prior.sample((n, 2), torch.Generator().manual_seed(seed), dtype=F64)
        gen = torch.Generator().manual_seed(seed + 1)
        sampler(field, x, ts, generator=gen, callback=lambda d: seen.update({d["i"]: d["x"]}), **kw)
        return [seen[i] for i in steps]

    ddim = marginals(sample_ddim, 0, eta=1.0)
    ancestral = marginals(sample_ancestral, 10, variance="posterior")
    for a, b in zip(ddim, ancestral):
        se_mu, se_cov = moment_se(torch.cov(b.T), n)
        assert torch.all((a.mean(0) - b.mean(0)).abs() < 5 * math.sqrt(2) * se_mu)
        assert torch.all((torch.cov(a.T) - torch.cov(b.T)).abs() < 5 * math.sqrt(2) * se_cov)
    forward = marginals(sample_ancestral, 10, variance="forward")[-1]
    se_mu, se_cov = moment_se(torch.cov(forward.T), n)
    assert torch.any((torch.cov(ddim[-1].T) - torch.cov(forward.T)).abs() > 5 * math.sqrt(2) * se_cov)


# --- second-order samplers against a mixture ---------------------------------------------------------------------

SECOND_ORDER = {  # sampler -> (steps, NFE, its paper's grid): both at most 30 NFE
    "heun_edm": (15, 29, times_karras),  # EDM Alg. 1: 2 N - 1 on Eq. 5's steps
    "dpm_solver_2m": (30, 30, times_logsnr),  # N on DPM-Solver's uniform-lambda steps
}


def run_second_order(name, process, n_steps, n=4000):
    net = Exact(mixture_score(process))
    x = process.prior.sample((n, 2), torch.Generator().manual_seed(0), dtype=F64)
    with count_nfe(net) as calls:
        out = SAMPLERS[name](ScoreField(net, process), x, SECOND_ORDER[name][2](process, n_steps))
    return out, calls[0]


@pytest.mark.parametrize("kind", PROCESSES)
@pytest.mark.parametrize("name", SECOND_ORDER)
def test_second_order_sampler_reproduces_the_mixture_in_at_most_30_nfe(name, kind):
    n_steps, nfe, _ = SECOND_ORDER[name]
    out, calls = run_second_order(name, PROCESSES[kind], n_steps)
    assert calls == nfe <= 30
    check_mixture(out)


@pytest.mark.parametrize("name", SECOND_ORDER)
def test_five_steps_fail_the_mixture_check(name):
    out, _ = run_second_order(name, PROCESSES["vp"], 5)
    with pytest.raises(AssertionError):
        check_mixture(out)


@pytest.mark.parametrize("kind", PROCESSES)
def test_convergence_orders_against_the_exact_flow(kind):
    """Against the closed-form probability-flow map of Gaussian data, doubling the steps divides the error by about
    4 for Heun-EDM and DPM-Solver++(2M) (second order) and by about 2 for DDIM (first order)."""
    process = PROCESSES[kind]
    field = ScoreField(gaussian_score(process), process)
    x = process.prior.sample((200, 2), torch.Generator().manual_seed(0), dtype=F64)
    truth = gaussian_flow(process, x, 1.0, 0.0)
    samplers = {
        "heun_edm": (sample_heun_edm, times_karras),
        "dpm_solver_2m": (sample_dpm_solver_2m, times_logsnr),
        "dpm_solver_2m (karras)": (sample_dpm_solver_2m, times_karras),
        "ddim": (sample_ddim, times_karras),
    }
    for name, (sampler, grid) in samplers.items():
        err = [(sampler(field, x, grid(process, k)) - truth).norm(dim=1).mean() for k in (32, 64)]
        ratio = float(err[0] / err[1])
        assert (ratio > 3.2) if name != "ddim" else (1.6 < ratio < 2.5), f"{name}: error ratio {ratio:.2f}"


# --- NFE, grids and the update formulas ----------------------------------------------------------------------


@pytest.mark.parametrize("n_steps", [1, 2, 7])
def test_nfe_and_the_data_end_is_never_evaluated(n_steps):
    process = PROCESSES["vp"]
    ts = times_karras(process, n_steps)
    x = process.prior.sample((8, 2), torch.Generator().manual_seed(0), dtype=F64)
    cases = {
        "heun_edm": (sample_heun_edm, 2 * n_steps - 1),
        "dpm_solver_2m": (sample_dpm_solver_2m, n_steps),
        "ddim": (sample_ddim, n_steps),
        "ddim_eta1": (partial(sample_ddim, eta=1.0), n_steps),
    }
    for name, (sampler, nfe) in cases.items():
        net = Exact(gaussian_score(process))
        seen = []
        with count_nfe(net) as calls:
            out = sampler(ScoreField(net, process), x, ts, callback=lambda d, seen=seen: seen.append(d["i"]))
        assert calls[0] == nfe, name
        assert seen == list(range(n_steps)), name
        assert min(net.times) > 0 and torch.isfinite(out).all(), name  # never at t = 0 (sigma = 0)


@pytest.mark.parametrize("kind", PROCESSES)
def test_times_logsnr_are_uniform_in_lambda(kind):
    process, n = PROCESSES[kind], 9
    ts = times_logsnr(process, n)
    assert ts.shape == (n + 1,) and ts[0] == process.T and ts[-2] == process.t_min and ts[-1] == 0
    lam = (process.alpha(ts[:-1]) / process.sigma(ts[:-1])).log()
    torch.testing.assert_close(lam, torch.linspace(float(lam[0]), float(lam[-1]), n, dtype=F64), rtol=0, atol=1e-9)


@pytest.mark.parametrize("kind", PROCESSES)
def test_times_karras_are_eq_5(kind):
    """sigma(t_i) = (s_max^(1/7) + i / (N - 1) (s_min^(1/7) - s_max^(1/7)))^7 with EDM's sigma = sigma_t / alpha_t."""
    process, n = PROCESSES[kind], 12
    ts = times_karras(process, n)
    assert ts.shape == (n + 1,) and ts[0] == process.T and ts[-2] == process.t_min and ts[-1] == 0
    assert torch.all(ts[1:] < ts[:-1])
    a, s = process.alpha(ts.double()), process.sigma(ts.double())
    lo, hi = float(s[-2] / a[-2]), float(s[0] / a[0])
    i = torch.arange(n, dtype=F64)
    eq5 = (hi ** (1 / 7) + i / (n - 1) * (lo ** (1 / 7) - hi ** (1 / 7))) ** 7
    torch.testing.assert_close((s / a)[:-1], eq5, rtol=1e-9, atol=0)
    torch.testing.assert_close(noise_to_signal(process, ts)[:-1], sigmas_karras(n, lo, hi)[:-1], rtol=1e-9, atol=0)
    assert sigmas_karras(n, lo, hi)[-1] == 0


def test_dpm_solver_2m_steps_are_algorithm_2():
    """Step 1 is DDIM's; step 2 is (s2 / s1) x1 - a2 (e^{-h2} - 1) ((1 + 1 / 2r) x0_1 - x0_0 / 2r), r = h1 / h2."""
    process = PROCESSES["vp"]
    field = ScoreField(gaussian_score(process), process)
    ts = torch.tensor([0.9, 0.6, 0.35], dtype=F64)
    x = process.prior.sample((6, 2), torch.Generator().manual_seed(5), dtype=F64)
    a, s = process.alpha(ts), process.sigma(ts)
    lam = (a / s).log()

    def x0(y, k):
        t = ts[k].expand(len(y))
        return (y + s[k] ** 2 * gaussian_score(process)(y, t)) / a[k]

    h1, h2 = lam[1] - lam[0], lam[2] - lam[1]
    x1 = s[1] / s[0] * x - a[1] * torch.expm1(-h1) * x0(x, 0)
    torch.testing.assert_close(x1, sample_ddim(field, x, ts[:2]))
    r = h1 / h2
    d = (1 + 1 / (2 * r)) * x0(x1, 1) - x0(x, 0) / (2 * r)
    x2 = s[2] / s[1] * x1 - a[2] * torch.expm1(-h2) * d
    torch.testing.assert_close(sample_dpm_solver_2m(field, x, ts), x2)


def test_heun_edm_is_algorithm_1_on_a_velocity_field():
    """A velocity field with no process (FFJORD's, PFGM's kind): Algorithm 1 written out in plain torch, and
    second-order convergence to the exact solution of dx/dt = x t (x(t) = x(1) exp((t^2 - 1) / 2))."""
    field = VelocityField(lambda x, t: x * t[:, None])
    x = torch.randn(4, 3, dtype=F64, generator=torch.Generator().manual_seed(6))
    ts = torch.tensor([1.0, 0.7, 0.45, 0.2, 0.0], dtype=F64)
    y = x.clone()
    for i in range(len(ts) - 1):
        h = ts[i + 1] - ts[i]
        d = y * ts[i]
        y_next = y + h * d
        if i < len(ts) - 2:  # sigma(t_{i+1}) != 0: the second-order correction
            y_next = y + h * (0.5 * d + 0.5 * y_next * ts[i + 1])
        y = y_next
    torch.testing.assert_close(sample_heun_edm(field, x, ts), y)
    truth = x * math.exp(-0.5)
    err = [(sample_heun_edm(field, x, torch.linspace(1, 0, k + 1, dtype=F64)) - truth).abs().max() for k in (20, 40)]
    assert float(err[0] / err[1]) > 3.2


def test_invalid_arguments_are_rejected():
    process = PROCESSES["vp"]
    field = ScoreField(gaussian_score(process), process)
    x = torch.zeros(2, 2, dtype=F64)
    with pytest.raises(ValueError):
        sample_ddim(field, x, process.time_grid(3), eta=1.5)
    with pytest.raises(ValueError):
        sample_heun_edm(field, x, torch.ones(1, dtype=F64))
    with pytest.raises(ValueError):
        sample_dpm_solver_2m(field, x, torch.tensor([1.0, 0.0, 0.0], dtype=F64))
    with pytest.raises(ValueError):
        times_karras(process, 5, t_last=0.0, t_first=0.0)


# --- the registry and the replications' budgets -------------------------------------------------------------------


def test_registry():
    assert SAMPLERS["ddim"] is sample_ddim
    assert SAMPLERS["heun_edm"] is sample_heun_edm
    assert SAMPLERS["dpm_solver_2m"] is sample_dpm_solver_2m


@pytest.mark.parametrize(
    "replication, family, target, nfe",
    [
        ("ddpm", "ddim", 20, 20),
        ("score_sde", "heun_edm", 20, 19),
        ("score_sde", "dpm_solver_2m", 20, 20),
        ("score_sde", "ddim", 20, 20),
    ],
)
def test_budgets_spend_the_nfe_they_claim(replication, family, target, nfe):
    """A sweep's family re-wires the method's sampler; the net is called exactly the claimed number of times."""
    module = __import__(f"replications.{replication}.method", fromlist=["SPEC"])
    spec = module.SPEC
    overrides = ["process.T=100"] if replication == "ddpm" else ["process={kind: vp}"]
    cfg = load(f"replications/{replication}/configs/smoke_toy.yaml", spec.config, overrides)
    run = SimpleNamespace(method=spec.build(cfg), cfg=cfg, spec=spec)
    method = spec.budgets[family].method(run, target)
    assert method.describe()["sampler"] == family
    with count_nfe(method.net) as calls:
        out = sample(method, (16, 2), generator=torch.Generator().manual_seed(0))
    assert calls[0] == nfe and torch.isfinite(out).all()


@pytest.mark.parametrize("name", ["ddim", "dpm_solver_2m", "ancestral", "pc", "ald"])
def test_a_sampler_that_needs_a_process_takes_the_fields_and_names_what_is_missing(name):
    """No sampler takes process=: one whose formula needs alpha_t, sigma_t takes the field's, and a field without a
    process (a bare velocity, e.g. FFJORD's) is a TypeError naming the sampler, not a wrong answer."""
    field = VelocityField(lambda x, t: torch.zeros_like(x))
    with pytest.raises(TypeError, match="needs a process"):
        SAMPLERS[name](field, torch.zeros(2, 2), torch.tensor([1.0, 0.5]))
    with pytest.raises(TypeError, match="process"):
        SAMPLERS[name](ScoreField(gaussian_score(CHAIN), CHAIN), torch.zeros(2, 2), CHAIN.time_grid(2), process=CHAIN)


def test_a_bound_sampler_checks_its_options_and_its_record_is_what_ran():
    """bind() refuses an option the sampler does not take, naming it; describe() is made of the very name and
    options that run, and a Method's record adds its grid (points and ends)."""
    from shared.maths.samplers import bind
    from shared.pipeline.method import Method

    with pytest.raises(TypeError, match="no option 'etaa'"):
        bind("ddim", etaa=1.0)
    with pytest.raises(KeyError, match="no sampler 'dim'"):
        bind("dim")
    process = PROCESSES["vp"]
    field = ScoreField(gaussian_score(process), process)
    x = process.prior.sample((4, 2), torch.Generator().manual_seed(0), dtype=F64)
    ts = process.time_grid(5).double()
    ddim = bind("ddim", eta=0.0, clip_x0=(-3.0, 3.0))
    torch.testing.assert_close(ddim(field, x, ts), sample_ddim(field, x, ts, eta=0.0, clip_x0=(-3.0, 3.0)))
    assert ddim.describe() == {"sampler": "ddim", "eta": 0.0, "clip_x0": [-3.0, 3.0]}
    method = Method(nn.Identity(), loss=None, prior=process.prior, field=field, sampler=ddim, grid=ts, info={"x": 1})
    record = method.describe()
    assert record["sampler"] == "ddim" and record["clip_x0"] == [-3.0, 3.0] and record["x"] == 1
    assert record["grid_points"] == 6 and record["t_first"] == 1.0 and record["t_last"] == float(ts[-1])
