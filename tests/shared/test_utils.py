"""append_dims, per-sample noise (distribution and batch invariance), NFE counting, seed derivation."""

import math

import pytest
import torch

from shared.utils import CountNFE, PerSampleGenerator, append_dims, derive_seed, hash32, randn


def test_append_dims():
    v = torch.arange(3.0)
    assert append_dims(v, 4).shape == (3, 1, 1, 1)
    assert torch.equal(append_dims(v, 2) * torch.ones(3, 5), v[:, None].expand(3, 5))
    with pytest.raises(ValueError):
        append_dims(torch.zeros(2, 2), 1)


def test_per_sample_noise_is_standard_normal():
    z = PerSampleGenerator(range(50000)).randn((50000, 4))
    n = z.numel()
    assert abs(float(z.mean())) < 5 / math.sqrt(n)
    assert abs(float(z.var()) - 1) < 5 * math.sqrt(2 / n)
    # tail mass against the normal's: P(|z| > 2) = 0.0455
    assert abs(float((z.abs() > 2).float().mean()) - 0.0455) < 5 * math.sqrt(0.0455 / n)
    # rows and columns uncorrelated
    assert torch.corrcoef(z.T).sub(torch.eye(4)).abs().max() < 0.02


def test_per_sample_noise_depends_only_on_the_seed_and_the_draw():
    a = PerSampleGenerator([10, 11, 12, 13])
    b = PerSampleGenerator([12, 13])
    first_a, first_b = a.randn((4, 3, 2)), b.randn((2, 3, 2))
    assert torch.equal(first_a[2:], first_b)
    assert not torch.equal(first_a[0], first_a[1])
    second = a.randn((4, 3, 2))
    assert not torch.allclose(second, first_a)  # each call advances the counter
    assert torch.equal(randn((2, 3, 2), PerSampleGenerator([12, 13]), device="cpu"), first_b)


def test_hash_stays_in_32_bits_and_mixes():
    h = hash32(torch.arange(1 << 16, dtype=torch.int64))
    assert h.min() >= 0 and h.max() < (1 << 32)
    assert torch.unique(h).numel() == 1 << 16  # a bijection on 32-bit words
    assert 0.45 < float((h & 1).float().mean()) < 0.55


def test_count_nfe_and_derive_seed():
    f = CountNFE(lambda x, t: x)
    for _ in range(3):
        f(torch.zeros(2), torch.zeros(2))
    assert f.nfe == 3
    assert derive_seed(0, "a", 1) == derive_seed(0, "a", 1) != derive_seed(0, "a", 2)
