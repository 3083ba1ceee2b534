"""bits/dim accounts for the data scaling exactly once."""

import math

import pytest
import torch

from shared.maths.likelihood import NLL, bits_per_dim


@pytest.mark.parametrize("data_range, a", [("[-1,1]", 2.0), ("[0,1]", 1.0)])
def test_uniform_density_over_the_data_cube_is_8_bits(data_range, a):
    """A uniform density on the model-space cube (side a) is uniform over 256 levels: exactly 8 bits/dim."""
    d = 12
    nll = NLL(torch.full((3,), d * math.log(a)), discrete=False)
    assert torch.allclose(bits_per_dim(nll, d, data_range), torch.full((3,), 8.0))


def test_discrete_nll_needs_no_correction():
    d = 10
    nll = NLL(torch.tensor([d * math.log(256.0)]), discrete=True)
    assert torch.allclose(bits_per_dim(nll, d, "[-1,1]"), torch.tensor([8.0]))
    with pytest.raises(ValueError, match="data_range"):
        bits_per_dim(nll, d, "[0,255]")
