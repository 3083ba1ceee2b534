"""NCSN's score network (Song & Ermon 2019, Sec. 4.1 and App. A): CondRefineNetDilated, written from the paper.

A RefineNet (Lin et al. 2017) whose last two stages replace downsampling by dilated convolutions, conditional
instance normalisation++ (CIN++) after every convolution block, ELU activations. ``net(x, c)``: x (B, C, H, W),
c (B,) the noise-level label in {0, ..., L - 1}; the output, of x's shape, is the score s_theta(x, sigma_c) (no
1 / sigma scaling: NCSN v1). Spatial sizes: 32 -> 16 at the second stage, then dilation 2 and 4 (CIFAR-10); 28 -> 14
(MNIST); 8 -> 4 (the 8x8 digits of the smoke runs): the same layout at every resolution.
"""

# No ``from __future__ import annotations``: shared.config reads ``kind``'s Literal off the dataclass field.
from dataclasses import dataclass
from typing import Literal

import torch.nn.functional as F
from torch import Tensor, nn

CIN_EPS = 1e-5  # variance floor of the instance statistics (torch's InstanceNorm default)


@dataclass(frozen=True)
class RefineNetConfig:
    """Width of CondRefineNetDilated."""

    kind: Literal["refinenet"] = "refinenet"
    ngf: int = 128  # App. A: 128 filters for CIFAR-10, 64 for MNIST

    def __post_init__(self):
        if self.ngf < 1:
            raise ValueError(f"net.ngf must be >= 1, got {self.ngf}")


class CondInstanceNormPlusPlus(nn.Module):
    """CIN++ (App. A, Eq. 11): z_k = gamma[i,k] (x_k - mu_k) / s_k + beta[i,k] + alpha[i,k] (mu_k - m) / v.

    mu_k, s_k: spatial mean and std of channel k; m, v: mean and std over channels of the mu_k; i the class label.
    """

    def __init__(self, num_features: int, num_classes: int):
        super().__init__()
        self.gamma = nn.Embedding(num_classes, num_features)
        self.alpha = nn.Embedding(num_classes, num_features)
        self.beta = nn.Embedding(num_classes, num_features)
        nn.init.normal_(self.gamma.weight, 1.0, 0.02)  # official init: N(1, 0.02) for the scales, 0 for the shift
        nn.init.normal_(self.alpha.weight, 1.0, 0.02)
        nn.init.zeros_(self.beta.weight)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """x (B, K, H, W), y (B,) long -> (B, K, H, W)."""
        mu = x.mean(dim=(2, 3), keepdim=True)
        s = (x.var(dim=(2, 3), keepdim=True, unbiased=False) + CIN_EPS).sqrt()
        m = mu.mean(dim=1, keepdim=True)
        v = (mu.var(dim=1, keepdim=True, unbiased=False) + CIN_EPS).sqrt()
        g, a, b = (e(y)[:, :, None, None] for e in (self.gamma, self.alpha, self.beta))
        return g * (x - mu) / s + b + a * (mu - m) / v


class CondResBlock(nn.Module):
    """norm-ELU-conv, norm-ELU-conv with a shortcut; ``down`` halves the size (mean pooling), ``dilation`` widens."""

    def __init__(self, cin: int, cout: int, n_cls: int, down: bool = False, dilation: int = 1):
        super().__init__()
        self.n1, self.n2 = CondInstanceNormPlusPlus(cin, n_cls), CondInstanceNormPlusPlus(cout, n_cls)
        self.c1 = nn.Conv2d(cin, cout, 3, padding=dilation, dilation=dilation)
        self.c2 = nn.Conv2d(cout, cout, 3, padding=dilation, dilation=dilation)
        self.down = down
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout or down else nn.Identity()

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        h = self.c1(F.elu(self.n1(x, y)))
        h = self.c2(F.elu(self.n2(h, y)))
        s = self.skip(x)
        if self.down:
            h, s = F.avg_pool2d(h, 2), F.avg_pool2d(s, 2)
        return h + s


class CondRCU(nn.Module):
    """Residual conv unit: ``n_blocks`` times x + (norm-ELU-conv)^2 (x)."""

    def __init__(self, ch: int, n_cls: int, n_blocks: int = 2):
        super().__init__()
        self.norms = nn.ModuleList(CondInstanceNormPlusPlus(ch, n_cls) for _ in range(2 * n_blocks))
        self.convs = nn.ModuleList(nn.Conv2d(ch, ch, 3, padding=1, bias=False) for _ in range(2 * n_blocks))

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        for k in range(0, len(self.convs), 2):
            h = self.convs[k](F.elu(self.norms[k](x, y)))
            x = x + self.convs[k + 1](F.elu(self.norms[k + 1](h, y)))
        return x


class CondCRP(nn.Module):
    """Chained residual pooling: x = ELU(x); twice: path = conv(maxpool5x5(norm(path))), x = x + path."""

    def __init__(self, ch: int, n_cls: int, n_stages: int = 2):
        super().__init__()
        self.norms = nn.ModuleList(CondInstanceNormPlusPlus(ch, n_cls) for _ in range(n_stages))
        self.convs = nn.ModuleList(nn.Conv2d(ch, ch, 3, padding=1, bias=False) for _ in range(n_stages))

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        x = F.elu(x)
        path = x
        for norm, conv in zip(self.norms, self.convs):
            path = conv(F.max_pool2d(norm(path, y), 5, stride=1, padding=2))
            x = x + path
        return x


class CondRefineBlock(nn.Module):
    """RefineNet block: RCUs on each input, multi-resolution fusion (conv, upsample, sum), CRP, output RCU."""

    def __init__(self, in_chs: tuple[int, ...], out_ch: int, n_cls: int, end: bool = False):
        super().__init__()
        self.rcus = nn.ModuleList(CondRCU(c, n_cls) for c in in_chs)
        self.msf_norms = nn.ModuleList(CondInstanceNormPlusPlus(c, n_cls) for c in in_chs)
        self.msf_convs = nn.ModuleList(nn.Conv2d(c, out_ch, 3, padding=1) for c in in_chs)
        self.crp = CondCRP(out_ch, n_cls)
        self.out = CondRCU(out_ch, n_cls, n_blocks=3 if end else 1)

    def forward(self, xs: list[Tensor], y: Tensor) -> Tensor:
        size = max((x.shape[-2:] for x in xs), key=lambda s: s[0])
        h = 0
        for x, rcu, norm, conv in zip(xs, self.rcus, self.msf_norms, self.msf_convs):
            f = conv(norm(rcu(x, y), y))
            h = h + (f if f.shape[-2:] == size else F.interpolate(f, size=size, mode="bilinear", align_corners=True))
        return self.out(self.crp(h, y), y)


class CondRefineNetDilated(nn.Module):
    """NCSN's s_theta(x, sigma_i): four residual stages (the last two dilated) and four cascaded RefineNet blocks."""

    def __init__(self, in_channels: int, ngf: int, num_classes: int):
        super().__init__()
        n = num_classes
        self.begin = nn.Conv2d(in_channels, ngf, 3, padding=1)
        self.res1 = nn.ModuleList([CondResBlock(ngf, ngf, n), CondResBlock(ngf, ngf, n)])
        self.res2 = nn.ModuleList([CondResBlock(ngf, 2 * ngf, n, down=True), CondResBlock(2 * ngf, 2 * ngf, n)])
        self.res3 = nn.ModuleList(
            [CondResBlock(2 * ngf, 2 * ngf, n, dilation=2), CondResBlock(2 * ngf, 2 * ngf, n, dilation=2)]
        )
        self.res4 = nn.ModuleList(
            [CondResBlock(2 * ngf, 2 * ngf, n, dilation=4), CondResBlock(2 * ngf, 2 * ngf, n, dilation=4)]
        )
        self.refine1 = CondRefineBlock((2 * ngf,), 2 * ngf, n)
        self.refine2 = CondRefineBlock((2 * ngf, 2 * ngf), 2 * ngf, n)
        self.refine3 = CondRefineBlock((2 * ngf, 2 * ngf), ngf, n)
        self.refine4 = CondRefineBlock((ngf, ngf), ngf, n, end=True)
        self.end_norm = CondInstanceNormPlusPlus(ngf, n)
        self.end = nn.Conv2d(ngf, in_channels, 3, padding=1)

    @staticmethod
    def _stage(blocks: nn.ModuleList, h: Tensor, y: Tensor) -> Tensor:
        for block in blocks:
            h = block(h, y)
        return h

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        """x (B, C, H, W), c (B,) level labels -> score (B, C, H, W)."""
        y = c.round().long()
        h = self.begin(2 * x - 1)  # the official code centres [0, 1] inputs (``logit_transform`` off)
        h1 = self._stage(self.res1, h, y)
        h2 = self._stage(self.res2, h1, y)
        h3 = self._stage(self.res3, h2, y)
        h4 = self._stage(self.res4, h3, y)
        r = self.refine1([h4], y)
        r = self.refine2([h3, r], y)
        r = self.refine3([h2, r], y)
        r = self.refine4([h1, r], y)
        return self.end(F.elu(self.end_norm(r, y)))


def build_refinenet(cfg: RefineNetConfig, shape: tuple[int, ...], num_classes: int) -> CondRefineNetDilated:
    """CondRefineNetDilated for images of ``shape`` (C, H, W) with even H, W and ``num_classes`` noise levels."""
    if len(shape) != 3 or shape[1] % 2 or shape[2] % 2:
        raise ValueError(f"net.kind 'refinenet' needs images (C, H, W) of even size, got examples of shape {shape}")
    return CondRefineNetDilated(shape[0], cfg.ngf, num_classes)


__all__ = ["CondInstanceNormPlusPlus", "CondRefineNetDilated", "RefineNetConfig", "build_refinenet"]
