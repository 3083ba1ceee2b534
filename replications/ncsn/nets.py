"""NCSN's score network (Song & Ermon 2019, Sec. 4.1 and App. A): CondRefineNetDilated, written from the paper.

A 4-cascaded RefineNet (Lin et al. 2017) whose encoder is four stages of pre-activation residual blocks; the first
stage keeps the resolution, the second halves it (conv + 2x2 mean pooling) and the last two replace RefineNet's
subsampling by dilated convolutions (dilation 2 and 4), so the coarsest map is H/2 x W/2. Every normalisation is
conditional instance normalisation++ (CIN++) on the noise-level label, every activation an ELU. The decoder is four
RefineNet blocks: residual conv units (RCU) on each input, multi-resolution fusion (MSF), chained residual pooling
(CRP), an output RCU.

``net(x, c)``: x (B, C, H, W), c (B,) the noise-level index in {0, ..., L - 1} (float or long, cast to long); the
output, of x's shape, is the score s_theta(x, sigma_c). There is no 1 / sigma scaling inside (NCSN v1 has none).

Spatial sizes. CIFAR-10 32 -> 16 (stage 2) -> 16 -> 16; MNIST 28 -> 14 -> 14 -> 14; the 8x8 digits of the smoke runs
8 -> 4 -> 4 -> 4. The same layout serves every size: an odd size at the mean-pooling step is first zero-padded by one
row / column at the top / left (the official ``adjust_padding``), so 7 -> 4 too. (The official v1 code passes
``adjust_padding=True`` only for 28x28, to the stage-4 block, where the dilated branch ignores it: MNIST and
CIFAR-10 run the same layout, as here.) Dilations are capped at half the smaller side of the map they act on
(``stage_dilations``): a 3x3 conv dilated by d on a map of side s <= d sees only zero padding off-centre, i.e. it
collapses to a 1x1 conv. At 8x8 the 4x4 maps get dilations (2, 2); at 28 and 32 the paper's (2, 4) is kept.

Example:
    >>> net = build_refinenet(RefineNetConfig(ngf=8), (1, 8, 8), num_classes=10)
    >>> net(torch.rand(2, 1, 8, 8), torch.tensor([0.0, 9.0])).shape
    torch.Size([2, 1, 8, 8])
"""

# No ``from __future__ import annotations``: shared.config reads ``kind``'s Literal off the dataclass field.
from dataclasses import dataclass
from typing import Literal

import torch.nn.functional as F
from torch import Tensor, nn

CinForm = Literal["paper", "official"]
CIN_EPS = 1e-5  # added to both variances in CIN++ before the square root (torch's InstanceNorm eps; official code)


@dataclass(frozen=True)
class RefineNetConfig:
    """Width and layout knobs of CondRefineNetDilated; defaults are the paper's CIFAR-10 model."""

    kind: Literal["refinenet"] = "refinenet"
    ngf: int = 128  # App. A / official configs: 128 filters for CIFAR-10 (and CelebA), 64 for MNIST
    dilations: tuple[int, int] = (2, 4)  # App. A: stages 3 and 4 dilate (official: 2, 4) instead of subsampling
    rescale_input: bool = True  # official code: x -> 2x - 1 (data in [0, 1], ``logit_transform: false``)
    cin_form: CinForm = "paper"  # CIN++ as App. A writes it, or "official" (see CondInstanceNormPlusPlus)

    def __post_init__(self):
        if self.ngf < 1:
            raise ValueError(f"net.ngf must be >= 1, got {self.ngf}")
        if len(self.dilations) != 2 or any(d < 1 for d in self.dilations):
            raise ValueError(f"net.dilations must be two ints >= 1 (stages 3 and 4), got {self.dilations}")


def _elu(x: Tensor) -> Tensor:
    return F.elu(x)  # Sec. 4.1: ELU activations throughout


class CondInstanceNormPlusPlus(nn.Module):
    """CIN++ (App. A): z_k = gamma[i,k] (x_k - mu_k) / s_k + beta[i,k] + alpha[i,k] (mu_k - m) / v.

    mu_k, s_k: spatial mean and standard deviation of channel k; m, v: mean and standard deviation over the K channels
    of the mu_k; i: the noise-level label. Both standard deviations are population ones (divide by H W and by K)
    with ``CIN_EPS`` added to the variance: s_k = sqrt(var_k + eps), v = sqrt(var(mu) + eps), so a constant channel
    or K = 1 stays finite. Per-class gamma, alpha ~ N(1, 0.02), beta = 0 at init (official code).

    ``form="official"`` is the official code's variant (ConditionalInstanceNorm2dPlus, which produced the published
    numbers): gamma ((x - mu) / s + alpha (mu - m) / v) + beta, gamma also scaling the alpha term, with the unbiased
    variance over the K channel means. ``form="paper"`` (the default) is App. A's formula above. Both have the same
    parameters and differ by a per-class, per-channel rescaling of alpha.
    """

    def __init__(self, num_features: int, num_classes: int, form: CinForm = "paper"):
        super().__init__()
        self.num_features, self.num_classes, self.form = num_features, num_classes, form
        self.gamma = nn.Embedding(num_classes, num_features)
        self.beta = nn.Embedding(num_classes, num_features)
        self.alpha = nn.Embedding(num_classes, num_features)
        nn.init.normal_(self.gamma.weight, 1.0, 0.02)  # official init: scales N(1, 0.02), shift 0
        nn.init.normal_(self.alpha.weight, 1.0, 0.02)
        nn.init.zeros_(self.beta.weight)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """x (B, K, H, W), y (B,) long labels -> (B, K, H, W)."""
        mu = x.mean(dim=(2, 3), keepdim=True)  # (B, K, 1, 1)
        s = (x.var(dim=(2, 3), keepdim=True, unbiased=False) + CIN_EPS).sqrt()
        m = mu.mean(dim=1, keepdim=True)  # (B, 1, 1, 1)
        official = self.form == "official"
        v = (mu.var(dim=1, keepdim=True, unbiased=official) + CIN_EPS).sqrt()
        gamma, beta, alpha = (e(y)[:, :, None, None] for e in (self.gamma, self.beta, self.alpha))  # (B, K, 1, 1)
        if official:  # official cond_refinenet_dilated.py ConditionalInstanceNorm2dPlus
            return gamma * ((x - mu) / s + alpha * (mu - m) / v) + beta
        return gamma * (x - mu) / s + beta + alpha * (mu - m) / v


class ConvMeanPool(nn.Module):
    """Conv (size kept) then 2x2 mean pooling: (B, C_in, H, W) -> (B, C_out, ceil(H/2), ceil(W/2)).

    An odd H (W) is first zero-padded by one row (column) at the top (left), the official ``adjust_padding``.
    """

    def __init__(self, cin: int, cout: int, kernel_size: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size, padding=kernel_size // 2)

    def forward(self, x: Tensor) -> Tensor:
        x = F.pad(x, (x.shape[-1] % 2, 0, x.shape[-2] % 2, 0))
        return F.avg_pool2d(self.conv(x), 2)


def _conv3x3(cin: int, cout: int, dilation: int = 1, bias: bool = True) -> nn.Conv2d:
    """Size-preserving 3x3 conv, optionally dilated."""
    return nn.Conv2d(cin, cout, 3, padding=dilation, dilation=dilation, bias=bias)


class CondResidualBlock(nn.Module):
    """Pre-activation residual block: CIN++-ELU-conv, CIN++-ELU-conv, plus a shortcut. (B, C_in, H, W) -> (B, C_out, .).

    ``transition=True`` marks the first block of an encoder stage, where RefineNet subsamples: the hidden width is
    C_in, the shortcut is learned, and with ``dilation == 1`` both paths end in 2x2 mean pooling (size halved), while
    with ``dilation > 1`` the size is kept and the convs are dilated instead (App. A). ``transition=False``: hidden
    width C_out, identity shortcut when C_in == C_out.
    """

    def __init__(self, cin: int, cout: int, num_classes: int, transition: bool = False, dilation: int = 1):
        super().__init__()
        self.norm1 = CondInstanceNormPlusPlus(cin, num_classes)
        hidden = cin if transition else cout
        self.conv1 = _conv3x3(cin, hidden, dilation)
        self.norm2 = CondInstanceNormPlusPlus(hidden, num_classes)
        self.shortcut: nn.Module
        if transition and dilation == 1:
            self.conv2, self.shortcut = ConvMeanPool(hidden, cout, 3), ConvMeanPool(cin, cout, 1)
        else:
            self.conv2 = _conv3x3(hidden, cout, dilation)
            if transition or cin != cout:
                self.shortcut = _conv3x3(cin, cout, dilation) if dilation > 1 else nn.Conv2d(cin, cout, 1)
            else:
                self.shortcut = nn.Identity()

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        h = self.conv1(_elu(self.norm1(x, y)))
        h = self.conv2(_elu(self.norm2(h, y)))
        return self.shortcut(x) + h


class CondRCU(nn.Module):
    """Residual conv unit, ``n_blocks`` times: x <- x + (CIN++-ELU-conv3x3) ^ n_stages (x). (B, C, H, W) -> same."""

    def __init__(self, channels: int, num_classes: int, n_blocks: int, n_stages: int = 2):
        super().__init__()
        self.n_stages = n_stages
        count = n_blocks * n_stages
        self.norms = nn.ModuleList(CondInstanceNormPlusPlus(channels, num_classes) for _ in range(count))
        self.convs = nn.ModuleList(_conv3x3(channels, channels, bias=False) for _ in range(count))

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        for start in range(0, len(self.convs), self.n_stages):
            h = x
            for norm, conv in zip(self.norms[start : start + self.n_stages], self.convs[start : start + self.n_stages]):
                h = conv(_elu(norm(h, y)))
            x = x + h
        return x


class CondCRP(nn.Module):
    """Chained residual pooling: x <- ELU(x), then per stage path <- conv3x3(pool5x5(CIN++(path))), x <- x + path.

    The pooling is a stride-1 5x5 average (official code; RefineNet itself max-pools). (B, C, H, W) -> same.
    """

    def __init__(self, channels: int, num_classes: int, n_stages: int = 2):
        super().__init__()
        self.norms = nn.ModuleList(CondInstanceNormPlusPlus(channels, num_classes) for _ in range(n_stages))
        self.convs = nn.ModuleList(_conv3x3(channels, channels, bias=False) for _ in range(n_stages))

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        x = _elu(x)
        path = x
        for norm, conv in zip(self.norms, self.convs):
            path = conv(F.avg_pool2d(norm(path, y), 5, stride=1, padding=2))
            x = x + path
        return x


class CondMSF(nn.Module):
    """Multi-resolution fusion, sum_i upsample(conv3x3(CIN++(x_i))): [(B, C_i, H_i, W_i)] -> (B, C, H, W)."""

    def __init__(self, in_channels: tuple[int, ...], out_channels: int, num_classes: int):
        super().__init__()
        self.norms = nn.ModuleList(CondInstanceNormPlusPlus(c, num_classes) for c in in_channels)
        self.convs = nn.ModuleList(_conv3x3(c, out_channels) for c in in_channels)

    def forward(self, xs: list[Tensor], y: Tensor, size: tuple[int, int]) -> Tensor:
        out = 0
        for x, norm, conv in zip(xs, self.norms, self.convs):
            h = conv(norm(x, y))
            out = out + F.interpolate(h, size=size, mode="bilinear", align_corners=True)  # official: bilinear
        return out


class CondRefineBlock(nn.Module):
    """RefineNet block: 2-block RCU on each input, MSF (when several inputs), CRP, output RCU (3 blocks if ``end``).

    xs[0] is the encoder feature that fixes the output size: [(B, C_i, H_i, W_i)] -> (B, C_out, H_0, W_0).
    """

    def __init__(self, in_channels: tuple[int, ...], out_channels: int, num_classes: int, end: bool = False):
        super().__init__()
        if len(in_channels) == 1 and in_channels[0] != out_channels:
            raise ValueError("a single-input CondRefineBlock has no fusion conv: in and out channels must match")
        self.adapt = nn.ModuleList(CondRCU(c, num_classes, n_blocks=2) for c in in_channels)
        self.msf = CondMSF(in_channels, out_channels, num_classes) if len(in_channels) > 1 else None
        self.crp = CondCRP(out_channels, num_classes)
        self.out = CondRCU(out_channels, num_classes, n_blocks=3 if end else 1)

    def forward(self, xs: list[Tensor], y: Tensor) -> Tensor:
        hs = [rcu(x, y) for rcu, x in zip(self.adapt, xs)]
        h = hs[0] if self.msf is None else self.msf(hs, y, tuple(xs[0].shape[-2:]))
        return self.out(self.crp(h, y), y)


class CondRefineNetDilated(nn.Module):
    """NCSN's s_theta(x, sigma_i), called ``net(x, c)``.

    Args:
        in_channels: C of x (1 for MNIST and the digits, 3 for CIFAR-10); the output has the same C.
        ngf: base width; stages 2-4 and the first two refine blocks use 2 ngf.
        num_classes: L, the number of noise levels.
        dilations: dilation of stages 3 and 4 (already capped to the map size, see ``stage_dilations``).
        rescale_input: map x from [0, 1] to [-1, 1] first.
        cin_form: the form of every CIN++ ("paper" or "official", see ``CondInstanceNormPlusPlus``).
    """

    def __init__(
        self,
        in_channels: int,
        ngf: int,
        num_classes: int,
        dilations: tuple[int, int] = (2, 4),
        rescale_input: bool = True,
        cin_form: CinForm = "paper",
    ):
        super().__init__()
        n, w, d3, d4 = num_classes, 2 * ngf, *dilations
        self.num_classes, self.rescale_input = num_classes, rescale_input
        self.begin = nn.Conv2d(in_channels, ngf, 3, padding=1)
        self.stages = nn.ModuleList(
            [
                nn.ModuleList([CondResidualBlock(ngf, ngf, n), CondResidualBlock(ngf, ngf, n)]),  # H x W
                nn.ModuleList([CondResidualBlock(ngf, w, n, transition=True), CondResidualBlock(w, w, n)]),  # H/2
                nn.ModuleList(
                    [CondResidualBlock(w, w, n, transition=True, dilation=d3), CondResidualBlock(w, w, n, dilation=d3)]
                ),
                nn.ModuleList(
                    [CondResidualBlock(w, w, n, transition=True, dilation=d4), CondResidualBlock(w, w, n, dilation=d4)]
                ),
            ]
        )
        self.refines = nn.ModuleList(  # Sec. 4.1: 4 cascaded RefineNet blocks, from the coarsest stage up
            [
                CondRefineBlock((w,), w, n),
                CondRefineBlock((w, w), w, n),
                CondRefineBlock((w, w), ngf, n),
                CondRefineBlock((ngf, ngf), ngf, n, end=True),
            ]
        )
        self.end_norm = CondInstanceNormPlusPlus(ngf, n)
        self.end = nn.Conv2d(ngf, in_channels, 3, padding=1)
        for m in self.modules():
            if isinstance(m, CondInstanceNormPlusPlus):
                m.form = cin_form

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        """x (B, C, H, W), c (B,) noise-level indices -> score (B, C, H, W)."""
        y = (c.round() if c.is_floating_point() else c).long().expand(x.shape[0])
        h = self.begin(2 * x - 1 if self.rescale_input else x)
        feats = []  # the four stage outputs: (B, ngf, H, W), then three of (B, 2 ngf, H/2, W/2)
        for stage in self.stages:
            for block in stage:
                h = block(h, y)
            feats.append(h)
        r = self.refines[0]([feats[3]], y)
        for refine, skip in zip(self.refines[1:], reversed(feats[:3])):
            r = refine([skip, r], y)
        return self.end(_elu(self.end_norm(r, y)))


def stage_dilations(dilations: tuple[int, int], height: int, width: int) -> tuple[int, int]:
    """The dilations of stages 3 and 4 on an H x W input, each capped at half the smaller side of their maps.

    Stages 3 and 4 act on ceil(H/2) x ceil(W/2) maps; a dilation d >= side would leave only the centre tap inside
    the map. 32x32 and 28x28 keep (2, 4); 8x8 gets (2, 2).
    """
    side = min((height + 1) // 2, (width + 1) // 2)
    cap = max(1, side // 2)
    return min(dilations[0], cap), min(dilations[1], cap)


def build_refinenet(cfg: RefineNetConfig, shape: tuple[int, int, int], num_classes: int) -> CondRefineNetDilated:
    """CondRefineNetDilated for examples of ``shape`` (C, H, W) and ``num_classes`` noise levels."""
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"net.kind 'refinenet' needs images (C, H, W), got examples of shape {tuple(shape)}")
    if num_classes < 1:
        raise ValueError(f"net.kind 'refinenet' needs num_classes >= 1 noise levels, got {num_classes}")
    c, h, w = shape
    dilations = stage_dilations(cfg.dilations, h, w)
    return CondRefineNetDilated(c, cfg.ngf, num_classes, dilations, cfg.rescale_input, cfg.cin_form)


__all__ = [
    "CondCRP",
    "CondInstanceNormPlusPlus",
    "CondMSF",
    "CondRCU",
    "CondRefineBlock",
    "CondRefineNetDilated",
    "CondResidualBlock",
    "ConvMeanPool",
    "RefineNetConfig",
    "build_refinenet",
    "stage_dilations",
]
