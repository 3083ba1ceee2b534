"""Pixel scaling and augmentation for image models, shape-agnostic and driven by explicit generators.

Uniform dequantization follows Theis et al. (2016), "A note on the evaluation of generative models" (as used for the
likelihoods of DDPM, FFJORD and Score-SDE); ``to_unit`` + ``unit_to_model`` is DDPM's x/255 -> [-1, 1] scaling
(Ho et al., 2020), and random horizontal flips are the CIFAR-10 augmentation of DDPM / NCSN / Score-SDE.
"""

from __future__ import annotations

import torch
from torch import Tensor

DATA_RANGES = ("[-1,1]", "[0,1]")


def _check_range(data_range: str) -> None:
    if data_range not in DATA_RANGES:
        raise ValueError(f"data_range must be one of {DATA_RANGES}, got data_range={data_range!r}")


def _check_uint8(x: Tensor, fn: str) -> None:
    if x.dtype != torch.uint8:
        raise TypeError(f"{fn} expects a uint8 tensor, got {x.dtype}")


def _rand_like(x: Tensor, generator: torch.Generator, shape: tuple[int, ...] | None = None) -> Tensor:
    """U[0, 1) float32 of ``shape`` (default x.shape) drawn on the generator's device, moved to x's device."""
    u = torch.rand(x.shape if shape is None else shape, generator=generator, device=generator.device)
    return u.to(x.device)


def uniform_dequantize(x: Tensor, generator: torch.Generator) -> Tensor:
    """Uniform dequantization: (x + u) / 256 with u ~ U[0, 1).

    Args:
        x: (*) uint8 pixels.
        generator: source of u.

    Returns:
        (*) float32 in [0, 1); each value stays in its bin [x / 256, (x + 1) / 256).
    """
    _check_uint8(x, "uniform_dequantize")
    xf = x.to(torch.float32)
    y = (xf + _rand_like(x, generator)) / 256.0
    # x + u can round up to x + 1 in float32; keep the value strictly inside its bin
    upper = (xf + 1.0) / 256.0
    return torch.minimum(y, torch.nextafter(upper, torch.zeros_like(upper)))


def to_unit(x: Tensor) -> Tensor:
    """uint8 (*) -> float32 (*) x / 255 in [0, 1], without dequantization."""
    _check_uint8(x, "to_unit")
    return x.to(torch.float32) / 255.0


def unit_to_model(x01: Tensor, data_range: str) -> Tensor:
    """Map [0, 1] values (*) to the model's data range: "[-1,1]" -> 2x - 1, "[0,1]" -> x."""
    _check_range(data_range)
    return x01 * 2.0 - 1.0 if data_range == "[-1,1]" else x01


def model_to_unit(x: Tensor, data_range: str) -> Tensor:
    """Inverse of ``unit_to_model``: model-range values (*) back to [0, 1] (no clamping)."""
    _check_range(data_range)
    return (x + 1.0) / 2.0 if data_range == "[-1,1]" else x


def to_uint8(x_model: Tensor, data_range: str) -> Tensor:
    """Quantise model-range samples (*) to uint8 (*): map to [0, 1], clamp, scale by 255, round."""
    return torch.round(model_to_unit(x_model, data_range).clamp(0.0, 1.0) * 255.0).to(torch.uint8)


def random_hflip(x: Tensor, generator: torch.Generator) -> Tensor:
    """Mirror each example along its last (width) axis with probability 1/2.

    Args:
        x: (B, *, W), e.g. (B, C, H, W).
        generator: source of the per-example coin flips.

    Returns:
        (B, *, W): each example is either unchanged or flipped left-right.
    """
    if x.ndim < 2:
        raise ValueError(f"random_hflip expects (B, ..., W) with at least 2 dims, got shape {tuple(x.shape)}")
    flip = _rand_like(x, generator, (x.shape[0],)) < 0.5
    return torch.where(flip.reshape(-1, *([1] * (x.ndim - 1))), x.flip(-1), x)
