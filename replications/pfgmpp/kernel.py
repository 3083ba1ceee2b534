"""PFGM++'s perturbation kernel, its prior and its exact denoiser (Xu et al. 2023, Sec. 3-4 and App. B).

Data y in R^N sit at the origin of D extra dimensions; the field of the charges, seen at augmented radius r, gives
the kernel p_r(x | y) ∝ (||x - y||^2 + r^2)^(-(N + D) / 2) (Eq. 6 / Prop. 3.1), and r = sigma sqrt(D) aligns it with
EDM's sigma (Sec. 4). Its radius R = ||x - y|| has density ∝ R^(N-1) / (R^2 + r^2)^((N+D)/2): R^2 / (R^2 + r^2) ~
Beta(N/2, D/2) (App. B; official training/loss.py draws it that way). With g_N ~ N(0, I_N), g_D ~ N(0, I_D),

    x - y = r g_N / ||g_D||

has exactly that law (||g_N||^2 / ||g_D||^2 = beta / (1 - beta)), so draws need normals only: per-sample seeds work.
It is a multivariate Student t with D degrees of freedom and scale sigma, which tends to N(0, sigma^2 I) as D -> inf.

The ODE is EDM's: dx/dr = (x - E[y | x]) / r (Eq. 7 with the posterior mean), i.e. dx/dsigma = (x - D(x; sigma)) /
sigma, so the shared denoiser field and samplers carry over; only the kernel (training) and the prior (sampling)
change. ``exact_denoiser`` is E[y | x] for a finite set of points, the closed form the tests and figures use.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from shared.maths.denoising import Kernel
from shared.maths.priors import Prior
from shared.utils import Generator, append_dims, randn


def student_draw(shape: Sequence[int], r: Tensor, D: int, generator: Generator, device, dtype) -> Tensor:
    """x - y = r g_N / ||g_D||: (B, *shape[1:]) draws of the kernel around 0 at radii r (B,) (module docstring)."""
    g_n = randn(shape, generator, device=device, dtype=dtype)
    g_d = randn((shape[0], D), generator, device=device, dtype=dtype)
    return append_dims(r / g_d.norm(dim=1), len(shape)) * g_n


class StudentKernel(Kernel):
    """n ~ p_r(. | 0) at r = sigma sqrt(D): PFGM++'s perturbation (official training/loss.py, ``pfgmpp``)."""

    def __init__(self, D: int):
        if D < 1:
            raise ValueError(f"StudentKernel: need D >= 1, got {D}")
        self.D = int(D)

    def __call__(self, y, sigma, generator):
        return student_draw(y.shape, sigma * math.sqrt(self.D), self.D, generator, y.device, y.dtype)


class StudentPrior(Prior):
    """p_{r_max}(x | 0), r_max = sigma_max sqrt(D): where sampling starts (official generate.py ``rand_beta_prime``).

    log p(x) = log Gamma((N + D) / 2) - log Gamma(D / 2) - (N / 2) log(pi r^2) - ((N + D) / 2) log(1 + ||x||^2 / r^2).
    """

    def __init__(self, D: int, sigma_max: float):
        self.D, self.sigma_max = int(D), float(sigma_max)
        self.r = self.sigma_max * math.sqrt(self.D)

    def sample(self, shape, generator=None, device="cpu", dtype=torch.float32) -> Tensor:
        r = torch.full((shape[0],), self.r, device=device, dtype=dtype)
        return student_draw(shape, r, self.D, generator, device, dtype)

    def log_prob(self, x: Tensor) -> Tensor:
        n = x[0].numel()
        sq = x.reshape(x.shape[0], -1).pow(2).sum(1)
        const = math.lgamma((n + self.D) / 2) - math.lgamma(self.D / 2) - 0.5 * n * math.log(math.pi * self.r**2)
        return const - 0.5 * (n + self.D) * torch.log1p(sq / self.r**2)

    def __repr__(self) -> str:
        return f"StudentPrior(D={self.D}, sigma_max={self.sigma_max:g})"


def radial_log_density(R: Tensor, r: float, N: int, D: int) -> Tensor:
    """log of R's density under p_r: log(2 r^D R^(N-1) / (B(N/2, D/2) (R^2 + r^2)^((N+D)/2))), normalised on R > 0."""
    log_beta = math.lgamma(N / 2) + math.lgamma(D / 2) - math.lgamma((N + D) / 2)
    return math.log(2) + D * math.log(r) + (N - 1) * R.log() - 0.5 * (N + D) * torch.log(R**2 + r**2) - log_beta


def exact_denoiser(x: Tensor, sigma: Tensor, points: Tensor, D: int | None) -> Tensor:
    """E[y | x] when y is uniform on ``points`` (M, *S) and x ~ p_r(. | y), r = sigma sqrt(D): x (B, *S), sigma (B,).

    Weights w_j ∝ (||x - y_j||^2 + r^2)^(-(N + D) / 2); D = None is the Gaussian limit, w_j ∝ exp(-||x - y_j||^2 /
    (2 sigma^2)). Returns (B, *S).
    """
    flat, ys = x.flatten(1), points.flatten(1)
    d2 = torch.cdist(flat.double(), ys.double()).pow(2)  # (B, M)
    s = sigma.double()[:, None]
    if D is None:
        logits = -d2 / (2 * s**2)
    else:
        n = flat.shape[1]
        logits = -0.5 * (n + D) * torch.log(d2 + D * s**2)
    return (torch.softmax(logits, dim=1) @ ys.double()).to(x.dtype).reshape(x.shape)


__all__ = ["StudentKernel", "StudentPrior", "exact_denoiser", "radial_log_density", "student_draw"]
