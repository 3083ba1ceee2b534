"""Tests for shared.data.transforms: dequantization, range maps, quantisation and random flips."""

from __future__ import annotations

import pytest
import torch

from shared.data.transforms import (
    DATA_RANGES,
    model_to_unit,
    random_hflip,
    to_uint8,
    to_unit,
    uniform_dequantize,
    unit_to_model,
)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


ALL_PIXELS = torch.arange(256, dtype=torch.uint8).repeat(40).reshape(40, 1, 16, 16)


@pytest.mark.parametrize("data_range", DATA_RANGES)
def test_uint8_round_trip_exact(data_range: str) -> None:
    x_model = unit_to_model(to_unit(ALL_PIXELS), data_range)
    assert x_model.dtype == torch.float32 and x_model.shape == ALL_PIXELS.shape
    lo, hi = (-1.0, 1.0) if data_range == "[-1,1]" else (0.0, 1.0)
    assert x_model.min() == lo and x_model.max() == hi
    assert torch.equal(to_uint8(x_model, data_range), ALL_PIXELS)
    assert torch.allclose(model_to_unit(x_model, data_range), to_unit(ALL_PIXELS))


def test_to_uint8_clamps_and_rounds() -> None:
    x = torch.tensor([-3.0, -1.0, 0.0, 0.999, 1.0, 7.0])
    assert to_uint8(x, "[-1,1]").tolist() == [0, 0, 128, 255, 255, 255]
    assert to_uint8(torch.tensor([0.5 / 255, 1.6 / 255, 2.0]), "[0,1]").tolist() == [0, 2, 255]


def test_dequantize_stays_in_bin() -> None:
    x = ALL_PIXELS
    y = uniform_dequantize(x, _gen(0))
    assert y.dtype == torch.float32 and y.shape == x.shape
    assert (y >= 0).all() and (y < 1).all()
    assert torch.equal(torch.floor(y * 256).to(torch.uint8), x)
    u = y * 256 - x.float()  # the noise: roughly U[0, 1)
    assert abs(u.mean().item() - 0.5) < 0.01 and abs(u.var().item() - 1 / 12) < 0.005


def test_dequantize_top_of_bin_rounding() -> None:
    """Even u -> 1 must not push (255 + u) / 256 to 1.0: the largest pixel stays below 1."""
    x = torch.full((200_000,), 255, dtype=torch.uint8)
    y = uniform_dequantize(x, _gen(1))
    assert (y < 1).all() and (y >= 255 / 256).all()


def test_dequantize_generator_driven() -> None:
    a = uniform_dequantize(ALL_PIXELS, _gen(3))
    assert torch.equal(a, uniform_dequantize(ALL_PIXELS, _gen(3)))
    assert not torch.equal(a, uniform_dequantize(ALL_PIXELS, _gen(4)))


def test_uint8_required() -> None:
    with pytest.raises(TypeError, match="uint8"):
        uniform_dequantize(torch.zeros(3), _gen(0))
    with pytest.raises(TypeError, match="uint8"):
        to_unit(torch.zeros(3))


@pytest.mark.parametrize("fn", [unit_to_model, model_to_unit, to_uint8])
def test_bad_data_range(fn) -> None:
    with pytest.raises(ValueError, match="data_range"):
        fn(torch.zeros(2), "[-1, 1]")


def test_random_hflip_per_example() -> None:
    g = _gen(0)
    x = torch.randn(1000, 3, 4, 5, generator=g)
    y = random_hflip(x, _gen(7))
    assert y.shape == x.shape
    same = (y == x).flatten(1).all(dim=1)
    mirrored = (y == x.flip(-1)).flatten(1).all(dim=1)
    assert (same ^ mirrored).all()  # each example exactly one of the two (random x has no symmetric rows)
    assert 440 < mirrored.sum().item() < 560
    assert torch.equal(y, random_hflip(x, _gen(7)))
    assert not torch.equal(y, random_hflip(x, _gen(8)))


def test_random_hflip_shape_agnostic() -> None:
    x = torch.arange(12.0).reshape(4, 3)  # (B, W)
    y = random_hflip(x, _gen(2))
    for row_in, row_out in zip(x, y, strict=True):
        assert torch.equal(row_out, row_in) or torch.equal(row_out, row_in.flip(0))
    with pytest.raises(ValueError):
        random_hflip(torch.zeros(5), _gen(0))
