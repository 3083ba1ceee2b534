"""Tests for shared/nets/unet.py: DDPM's U-Net (Ho et al. 2020, App. B)."""

import math

import pytest
import torch
from torch import nn

from shared.nets.unet import AttnBlock, UNet, UNetConfig

TINY = UNetConfig(ch=32, ch_mult=(1, 2), num_res_blocks=1, attn_resolutions=(4,), num_groups=8)
MNIST_AVGPOOL = UNetConfig(ch=16, ch_mult=(1, 2, 2), attn_resolutions=(7,), num_groups=8, resamp_with_conv=False)


def _perturb(net: nn.Module, seed: int = 0) -> None:
    """Move every parameter (the zero-initialised ones included) to a random nonzero value."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=gen))


def test_paper_cifar10_model_has_35_7m_parameters():
    net = UNet(UNetConfig(), in_channels=3, resolution=32)
    n = sum(p.numel() for p in net.parameters())
    assert abs(n - 35.7e6) <= 0.1e6, n
    # Attention only at 16x16: 2 blocks down, 1 in the middle, 3 up.
    assert sum(isinstance(m, AttnBlock) for m in net.modules()) == 6


@pytest.mark.parametrize(
    ("cfg", "channels", "resolution"),
    [
        (TINY, 1, 8),
        (UNetConfig(ch=16, ch_mult=(1, 2, 2), num_res_blocks=1, attn_resolutions=(14,), num_groups=8), 1, 28),
        (UNetConfig(ch=16, ch_mult=(1, 2, 2, 2), num_res_blocks=1, attn_resolutions=(16,), num_groups=4), 3, 32),
        (MNIST_AVGPOOL, 1, 28),
    ],
)
def test_output_shape_equals_input_shape(cfg, channels, resolution):
    net = UNet(cfg, in_channels=channels, resolution=resolution)
    _perturb(net)
    x = torch.randn(2, channels, resolution, resolution)
    y = net(x, torch.tensor([3.0, 500.0]))
    assert y.shape == x.shape
    assert torch.isfinite(y).all()


def test_out_channels_overrides_in_channels():
    net = UNet(TINY, in_channels=3, resolution=8, out_channels=6)
    assert net(torch.randn(2, 3, 8, 8), torch.zeros(2)).shape == (2, 6, 8, 8)


def test_fresh_net_outputs_zero():
    """The official init (scale ~0 on conv_out) makes an untrained net predict zero noise."""
    net = UNet(TINY, in_channels=1, resolution=8)
    assert net(torch.randn(2, 1, 8, 8), torch.tensor([1.0, 2.0])).abs().max() == 0


def test_conditioning_changes_output_and_eval_is_deterministic():
    torch.manual_seed(0)
    net = UNet(TINY, in_channels=1, resolution=8).eval()
    _perturb(net)
    x = torch.randn(1, 1, 8, 8).expand(3, 1, 8, 8)
    y = net(x, torch.tensor([0.0, 10.0, 10.0]))
    assert (y[0] - y[1]).abs().max() > 1e-3  # different c, same x: different output
    torch.testing.assert_close(y[1], y[2], rtol=0, atol=1e-6)  # same c, same x: same output
    torch.testing.assert_close(net(x, torch.tensor([0.0, 10.0, 10.0])), y, rtol=0, atol=0)  # no dropout in eval


def test_dropout_active_in_train_mode():
    net = UNet(TINY, in_channels=1, resolution=8).train()
    _perturb(net)
    x, c = torch.randn(2, 1, 8, 8), torch.tensor([1.0, 2.0])
    assert not torch.equal(net(x, c), net(x, c))


def test_attention_block_matches_explicit_softmax():
    torch.manual_seed(0)
    block = AttnBlock(TINY, 16)
    _perturb(block)
    x = torch.randn(2, 16, 4, 4)
    q, k, v = block.qkv(block.norm(x)).flatten(2).chunk(3, dim=1)  # (B, C, HW) each
    w = torch.softmax(torch.einsum("bci,bcj->bij", q, k) / math.sqrt(16), dim=-1)  # (B, HW_q, HW_k)
    expected = x + block.proj_out(torch.einsum("bij,bcj->bci", w, v).reshape(2, 16, 4, 4))
    torch.testing.assert_close(block(x), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("cfg", "resolution", "field"),
    [
        (UNetConfig(ch=32, ch_mult=(1, 2), num_groups=12), 8, "num_groups"),
        (UNetConfig(ch=24, ch_mult=(1, 3), num_groups=16), 8, "num_groups"),
        (UNetConfig(ch=32, ch_mult=(1, 2, 2), num_groups=8), 30, "resolution"),
        (UNetConfig(ch=32, ch_mult=(1, 2, 2, 2), num_groups=8), 28, "resolution"),
        (UNetConfig(ch=32, ch_mult=(), num_groups=8), 8, "ch_mult"),
        (UNetConfig(ch=32, ch_mult=(1,), num_groups=8, dropout=1.0), 8, "dropout"),
        (UNetConfig(ch=32, ch_mult=(1,), num_groups=8, num_res_blocks=0), 8, "num_res_blocks"),
    ],
)
def test_bad_config_raises_value_error_naming_the_field(cfg, resolution, field):
    with pytest.raises(ValueError, match=f"^{field}"):  # our message, not a later one from torch
        UNet(cfg, in_channels=1, resolution=resolution)


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    net = UNet(TINY, in_channels=1, resolution=8)
    _perturb(net)
    net(torch.randn(2, 1, 8, 8), torch.tensor([5.0, 700.0])).square().mean().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
