"""DDPM's U-Net (Ho et al. 2020, "Denoising Diffusion Probabilistic Models", App. B).

A PixelCNN++ backbone with Wide-ResNet residual blocks: GroupNorm everywhere, the sinusoidal embedding of the
conditioning scalar added inside every residual block, single-head self-attention at the 16x16 level, dropout.
The defaults of ``UNetConfig`` are the paper's CIFAR-10 model (35.7M parameters).

Example:
    >>> net = UNet(UNetConfig(ch=32, ch_mult=(1, 2), num_res_blocks=1, attn_resolutions=(4,), num_groups=8), 1, 8)
    >>> net(torch.randn(2, 1, 8, 8), torch.tensor([0.0, 999.0])).shape
    torch.Size([2, 1, 8, 8])
"""

# No ``from __future__ import annotations``: shared.config reads ``kind``'s Literal off the dataclass field.
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from shared.nets.embeddings import timestep_embedding


@dataclass(frozen=True)
class UNetConfig:
    """Architecture hyper-parameters; defaults are DDPM's CIFAR-10 model."""

    kind: Literal["unet"] = "unet"
    ch: int = 128  # base width (DDPM App. B: 128 for CIFAR-10)
    ch_mult: tuple[int, ...] = (1, 2, 2, 2)  # width multiplier per resolution level, 32->16->8->4 (DDPM App. B)
    num_res_blocks: int = 2  # residual blocks per level on the way down (DDPM App. B: "two ... per resolution")
    attn_resolutions: tuple[int, ...] = (16,)  # self-attention at the 16x16 level (DDPM App. B)
    dropout: float = 0.1  # DDPM App. B: 0.1 on CIFAR-10
    num_groups: int = 32  # GroupNorm groups; must divide ch * m for every m in ch_mult
    resamp_with_conv: bool = True  # learned 3x3 conv in down/upsampling (official code's default)


def _norm(cfg: UNetConfig, channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(cfg.num_groups, channels, eps=1e-6)


class ResBlock(nn.Module):
    """Wide-ResNet block with the embedding added after the first conv: (B, C_in, H, W), (B, E) -> (B, C_out, H, W)."""

    def __init__(self, cfg: UNetConfig, in_ch: int, out_ch: int, emb_dim: int):
        super().__init__()
        self.norm1, self.conv1 = _norm(cfg, in_ch), nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.emb_proj = nn.Linear(emb_dim, out_ch)
        self.norm2, self.drop = _norm(cfg, out_ch), nn.Dropout(cfg.dropout)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.shortcut = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb_proj(F.silu(emb))[:, :, None, None]
        h = self.conv2(self.drop(F.silu(self.norm2(h))))
        return self.shortcut(x) + h


class AttnBlock(nn.Module):
    """Single-head self-attention over the H*W positions, residual: (B, C, H, W) -> (B, C, H, W)."""

    def __init__(self, cfg: UNetConfig, channels: int):
        super().__init__()
        self.norm = _norm(cfg, channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)  # the three 1x1 q, k, v projections, fused
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        b, c, hgt, wid = x.shape
        qkv = self.qkv(self.norm(x)).reshape(b, 3, 1, c, hgt * wid).transpose(-1, -2)
        # contiguous: SDPA's fused kernels (flash on CPU and GPU) need unit stride along C; strided, it falls back
        q, k, v = qkv.contiguous().unbind(1)  # (B, 1, HW, C) each
        h = F.scaled_dot_product_attention(q, k, v)  # softmax(q k^T / sqrt(C)) v
        return x + self.proj_out(h.transpose(-1, -2).reshape(b, c, hgt, wid))


class Downsample(nn.Module):
    """Halve H and W: (B, C, H, W) -> (B, C, H/2, W/2)."""

    def __init__(self, channels: int, with_conv: bool):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2) if with_conv else None

    def forward(self, x: Tensor) -> Tensor:
        if self.conv is None:
            return F.avg_pool2d(x, 2)
        return self.conv(F.pad(x, (0, 1, 0, 1)))  # TF "SAME" padding for stride 2, as the official code


class Upsample(nn.Module):
    """Double H and W (nearest neighbour, then a 3x3 conv): (B, C, H, W) -> (B, C, 2H, 2W)."""

    def __init__(self, channels: int, with_conv: bool):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1) if with_conv else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class UNet(nn.Module):
    """DDPM's noise-prediction U-Net, called ``net(x, c)``.

    Args:
        cfg: architecture hyper-parameters.
        in_channels: channels of x (1 for MNIST, 3 for CIFAR-10).
        resolution: H = W of x; must be divisible by 2 ** (len(cfg.ch_mult) - 1).
        out_channels: output channels; defaults to ``in_channels``.
    """

    def __init__(self, cfg: UNetConfig, in_channels: int, resolution: int, out_channels: int | None = None):
        super().__init__()
        _check(cfg, resolution)
        self.cfg, self.in_channels, self.resolution = cfg, in_channels, resolution
        self.out_channels = in_channels if out_channels is None else out_channels
        ch, emb_dim, n_levels = cfg.ch, 4 * cfg.ch, len(cfg.ch_mult)

        self.emb = nn.Sequential(nn.Linear(ch, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.conv_in = nn.Conv2d(in_channels, ch, 3, padding=1)

        # Downsampling path; skip_chs records the channels of every activation stored for the upsampling path.
        self.down, skip_chs, cur, res = nn.ModuleList(), [ch], ch, resolution
        for level, mult in enumerate(cfg.ch_mult):
            stage = nn.Module()
            stage.blocks, stage.attns = nn.ModuleList(), nn.ModuleList()
            for _ in range(cfg.num_res_blocks):
                stage.blocks.append(ResBlock(cfg, cur, ch * mult, emb_dim))
                cur = ch * mult
                stage.attns.append(AttnBlock(cfg, cur) if res in cfg.attn_resolutions else nn.Identity())
                skip_chs.append(cur)
            stage.resample = Downsample(cur, cfg.resamp_with_conv) if level < n_levels - 1 else nn.Identity()
            if level < n_levels - 1:
                skip_chs.append(cur)
                res //= 2
            self.down.append(stage)

        self.mid1, self.mid_attn = ResBlock(cfg, cur, cur, emb_dim), AttnBlock(cfg, cur)
        self.mid2 = ResBlock(cfg, cur, cur, emb_dim)

        # Upsampling path, from the coarsest level; each block eats one stored skip activation.
        self.up = nn.ModuleList()
        for level, mult in reversed(list(enumerate(cfg.ch_mult))):
            stage = nn.Module()
            stage.blocks, stage.attns = nn.ModuleList(), nn.ModuleList()
            for _ in range(cfg.num_res_blocks + 1):
                stage.blocks.append(ResBlock(cfg, cur + skip_chs.pop(), ch * mult, emb_dim))
                cur = ch * mult
                stage.attns.append(AttnBlock(cfg, cur) if res in cfg.attn_resolutions else nn.Identity())
            stage.resample = Upsample(cur, cfg.resamp_with_conv) if level > 0 else nn.Identity()
            if level > 0:
                res *= 2
            self.up.append(stage)

        self.norm_out = _norm(cfg, cur)
        self.conv_out = nn.Conv2d(cur, self.out_channels, 3, padding=1)
        self._init_weights()

    def _init_weights(self) -> None:
        """The official code's init: fan-avg uniform (Xavier) weights, zero biases, and scale 1e-10, here exactly 0,
        for the last layer of every residual branch (ResBlock.conv2, AttnBlock.proj_out) and for conv_out, so a
        fresh net outputs zeros and every block starts as the identity."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        for m in self.modules():
            if isinstance(m, ResBlock):
                nn.init.zeros_(m.conv2.weight)
            elif isinstance(m, AttnBlock):
                for w in m.qkv.weight.chunk(3):  # fan as for three separate C -> C layers, as the official q, k, v
                    nn.init.xavier_uniform_(w)
                nn.init.zeros_(m.proj_out.weight)
        nn.init.zeros_(self.conv_out.weight)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        """Predict from x (B, C_in, H, W) and the per-example conditioning scalar c (B,): (B, C_out, H, W)."""
        emb = self.emb(timestep_embedding(c, self.cfg.ch).to(self.conv_in.weight.dtype))  # (B, 4 ch)
        hs = [self.conv_in(x)]
        for stage in self.down:
            for block, attn in zip(stage.blocks, stage.attns):
                hs.append(attn(block(hs[-1], emb)))
            if not isinstance(stage.resample, nn.Identity):
                hs.append(stage.resample(hs[-1]))
        h = self.mid2(self.mid_attn(self.mid1(hs[-1], emb)), emb)
        for stage in self.up:
            for block, attn in zip(stage.blocks, stage.attns):
                h = attn(block(torch.cat([h, hs.pop()], dim=1), emb))
            h = stage.resample(h)
        return self.conv_out(F.silu(self.norm_out(h)))


def _check(cfg: UNetConfig, resolution: int) -> None:
    """Raise ValueError naming the offending field before any layer is built."""
    if cfg.ch <= 0 or cfg.ch % 2:
        raise ValueError(f"ch must be a positive even number (it is the sinusoidal embedding width), got {cfg.ch}")
    if not cfg.ch_mult or any(m <= 0 for m in cfg.ch_mult):
        raise ValueError(f"ch_mult must be a non-empty tuple of positive ints, got {cfg.ch_mult}")
    if cfg.num_res_blocks < 1:
        raise ValueError(f"num_res_blocks must be >= 1, got {cfg.num_res_blocks}")
    if not 0.0 <= cfg.dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {cfg.dropout}")
    bad = [c for c in (cfg.ch, *(cfg.ch * m for m in cfg.ch_mult)) if cfg.num_groups <= 0 or c % cfg.num_groups]
    if bad:
        raise ValueError(f"num_groups={cfg.num_groups} must divide every channel count (ch * ch_mult), not {bad}")
    factor = 2 ** (len(cfg.ch_mult) - 1)
    if resolution <= 0 or resolution % factor:
        raise ValueError(
            f"resolution={resolution} must be divisible by 2 ** (len(ch_mult) - 1) = {factor} (ch_mult={cfg.ch_mult})"
        )
