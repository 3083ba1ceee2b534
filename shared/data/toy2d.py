"""2-D toy distributions of FFJORD (Grathwohl et al., 2019, Fig. 2), drawn with torch from an explicit generator.

The shapes, scales and noise levels follow the toy data of the official FFJORD code (which in turn uses
scikit-learn's ``make_swiss_roll``/``make_circles``/``make_moons`` for three of the sets). Written here from those
parameter choices in pure torch, so every point comes from the caller's ``torch.Generator`` and nothing touches the
numpy or torch global RNGs. Where the reference uses evenly spaced angles or fixed per-component counts, these
samplers draw the angle / component i.i.d. instead: the same distribution, and exactly ``n`` points for any ``n``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

TOY_SETS = ("8gaussians", "checkerboard", "swissroll", "circles", "moons", "pinwheel", "2spirals", "rings")

_GAUSS_SCALE = 4.0  # centres on the circle of radius 4 ...
_GAUSS_DIV = 1.414  # ... then every point divided by 1.414, as the reference
_GAUSS_STD = 0.5  # noise std before the division
_CHECKER_AREA = 32.0  # 8 squares of side 2 in [-4, 4]^2
_RING_RADII = (0.75, 1.5, 2.25, 3.0)  # four equally likely circles ...
_RING_STD = 0.08  # ... blurred by isotropic Gaussian noise


def _check_name(name: str) -> None:
    if name not in TOY_SETS:
        raise ValueError(f"unknown toy set {name!r}; valid names: {', '.join(TOY_SETS)}")


def _gauss_means(device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> Tensor:
    """(8, 2) component means of "8gaussians" after the final division."""
    s = 1.0 / math.sqrt(2.0)
    centres = [(1, 0), (-1, 0), (0, 1), (0, -1), (s, s), (s, -s), (-s, s), (-s, -s)]
    return torch.tensor(centres, dtype=dtype, device=device) * (_GAUSS_SCALE / _GAUSS_DIV)


def _polar(r: Tensor, theta: Tensor) -> Tensor:
    return torch.stack([r * torch.cos(theta), r * torch.sin(theta)], dim=1)


def sample_toy(name: str, n: int, generator: torch.Generator) -> Tensor:
    """Draw ``n`` points of a FFJORD toy distribution using only ``generator``.

    Args:
        name: one of ``TOY_SETS``.
        n: number of points.
        generator: the only source of randomness; samples are created on its device.

    Returns:
        (n, 2) float32 points, roughly within [-4, 4]^2.

    Raises:
        ValueError: unknown ``name``.
    """
    _check_name(name)
    g, dev, f32 = generator, generator.device, torch.float32

    def rand(*shape: int) -> Tensor:
        return torch.rand(*shape, generator=g, device=dev, dtype=f32)

    def randn(*shape: int) -> Tensor:
        return torch.randn(*shape, generator=g, device=dev, dtype=f32)

    def randint(high: int, size: int) -> Tensor:
        return torch.randint(high, (size,), generator=g, device=dev)

    if name == "8gaussians":
        k = randint(8, n)
        return _gauss_means(dev)[k] + randn(n, 2) * (_GAUSS_STD / _GAUSS_DIV)
    if name == "checkerboard":
        # a black square (column i, row j, side 2, i + j even) uniformly, then a uniform point inside it
        i = randint(4, n)
        j = 2 * randint(2, n) + i % 2
        corner = torch.stack([i, j], dim=1).to(f32) * 2.0 - 4.0
        x = corner + 2.0 * rand(n, 2)
        return torch.minimum(x, torch.nextafter(corner + 2.0, corner))  # float rounding never leaves the square
    if name == "swissroll":
        # make_swiss_roll(noise=1.0), coordinates (x, z), divided by 5
        t = 1.5 * math.pi * (1.0 + 2.0 * rand(n))
        return (_polar(t, t) + randn(n, 2)) / 5.0
    if name == "circles":
        # make_circles(factor=0.5, noise=0.08) * 3: two equally likely circles of radius 1 and 0.5
        r = torch.where(rand(n) < 0.5, 1.0, 0.5)
        return (_polar(r, 2.0 * math.pi * rand(n)) + 0.08 * randn(n, 2)) * 3.0
    if name == "moons":
        # make_moons(noise=0.1) * 2 + (-1, -0.2)
        theta = math.pi * rand(n)
        upper = _polar(torch.ones_like(theta), theta)
        lower = torch.stack([1.0 - upper[:, 0], 0.5 - upper[:, 1]], dim=1)
        x = torch.where((rand(n) < 0.5)[:, None], upper, lower) + 0.1 * randn(n, 2)
        return x * 2.0 + torch.tensor([-1.0, -0.2], device=dev)
    if name == "pinwheel":
        # 5 arms: radial std 0.3, tangential std 0.1, twisted by angle 0.25 * exp(radial coordinate); times 2
        feats = randn(n, 2) * torch.tensor([0.3, 0.1], device=dev) + torch.tensor([1.0, 0.0], device=dev)
        angle = randint(5, n).to(f32) * (2.0 * math.pi / 5) + 0.25 * torch.exp(feats[:, 0])
        c, s = torch.cos(angle), torch.sin(angle)
        return 2.0 * torch.stack([feats[:, 0] * c + feats[:, 1] * s, feats[:, 1] * c - feats[:, 0] * s], dim=1)
    if name == "2spirals":
        # angle sqrt(u) * 540 degrees; U[0, 0.5) jitter per coordinate; one arm mirrored; /3; N(0, 0.1^2) noise
        t = torch.sqrt(rand(n)) * (3.0 * math.pi)
        arm = torch.stack([-torch.cos(t) * t, torch.sin(t) * t], dim=1) + 0.5 * rand(n, 2)
        sign = torch.where(rand(n) < 0.5, 1.0, -1.0)[:, None]
        return sign * arm / 3.0 + 0.1 * randn(n, 2)
    # rings: 4 equally likely concentric circles of radii 3, 2.25, 1.5, 0.75 with N(0, 0.08^2) noise
    r = torch.tensor(_RING_RADII, dtype=f32)[randint(4, n)]
    return _polar(r, 2.0 * math.pi * rand(n)) + _RING_STD * randn(n, 2)


def gaussians_components(dtype: torch.dtype = torch.float32) -> tuple[Tensor, float]:
    """The "8gaussians" toy as an equal-weight mixture: its means (8, 2) and the variance of every (isotropic)
    component, (0.5 / 1.414)^2 (what ``sample_toy`` draws and ``toy_log_density`` evaluates)."""
    return _gauss_means(dtype=dtype), (_GAUSS_STD / _GAUSS_DIV) ** 2


def toy_log_density(name: str, x: Tensor) -> Tensor | None:
    """Exact log-density of a toy set where it has a closed form.

    Args:
        name: one of ``TOY_SETS``.
        x: (B, 2) points.

    Returns:
        (B,) log p(x) in x's dtype for "8gaussians" (equal-weight Gaussian mixture), "checkerboard"
        (uniform on its 8 squares, -inf outside) and "rings" (see below); None for the other sets.

    rings: a uniform angle on a circle of radius r blurred by N(0, s^2 I) has, at |x| = rho, the density
    exp(-(rho^2 + r^2) / 2 s^2) I0(rho r / s^2) / (2 pi s^2) (the angular integral is the Bessel function I0);
    with i0e(z) = exp(-z) I0(z) its log is -(rho - r)^2 / 2 s^2 + log i0e(rho r / s^2) - log(2 pi s^2).

    Raises:
        ValueError: unknown ``name``.
    """
    _check_name(name)
    if name == "8gaussians":
        means, var = gaussians_components(x.dtype)
        sq = ((x[:, None, :] - means.to(x.device)) ** 2).sum(-1)  # (B, 8)
        return torch.logsumexp(-sq / (2.0 * var), dim=1) - math.log(8.0) - math.log(2.0 * math.pi * var)
    if name == "checkerboard":
        inside = ((x >= -4.0) & (x < 4.0)).all(dim=1)
        black = torch.floor(x / 2.0).sum(dim=1).remainder(2) == 0
        out = torch.full(x.shape[:1], -math.log(_CHECKER_AREA), dtype=x.dtype, device=x.device)
        return out.masked_fill(~(inside & black), -math.inf)
    if name == "rings":
        var = _RING_STD**2
        rho = x.norm(dim=1, keepdim=True)  # (B, 1)
        r = torch.tensor(_RING_RADII, dtype=x.dtype, device=x.device)  # (4,)
        per_ring = -((rho - r) ** 2) / (2.0 * var) + torch.log(torch.special.i0e(rho * r / var))  # (B, 4)
        return torch.logsumexp(per_ring, dim=1) - math.log(4.0) - math.log(2.0 * math.pi * var)
    return None
