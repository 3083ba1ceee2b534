"""Training and evaluation batches for every replication, deterministic in (seed, step) so resumed runs match.

Images are kept as uint8 (N, C, H, W) and scaled on the fly: uniform dequantization, random flips and the
model's data range ([-1, 1] or [0, 1]) are data-config choices, not the method's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from shared.config import PositiveInt
from shared.data.images import IMAGE_SETS, QUALITY_METRIC, image_shape, load_images
from shared.data.toy2d import TOY_SETS, sample_toy
from shared.data.transforms import random_hflip, to_unit, uniform_dequantize, unit_to_model
from shared.utils import derive_seed, make_generator


@dataclass(frozen=True)
class DataConfig:
    """Which data set, its scaling and augmentation."""

    name: str = "8gaussians"  # a toy set (shared.data.toy2d.TOY_SETS) or an image set (digits, mnist, cifar10)
    data_range: Literal["[-1,1]", "[0,1]"] = "[-1,1]"  # model-space range of images (DDPM Sec. 3.3: [-1, 1])
    dequantize: bool = False  # add U[0, 1/256) noise to images when training (likelihood models)
    hflip: bool = False  # random horizontal flips (DDPM CIFAR-10, App. B)
    root: str | None = None  # torchvision root for mnist/cifar10 (default ~/.cache/replications/data)
    download: bool = False  # let torchvision download mnist/cifar10 into root
    n_test: PositiveInt = 2000  # held-out points drawn for toy-set evaluation

    def __post_init__(self):
        if self.name not in TOY_SETS + IMAGE_SETS:
            raise ValueError(f"data.name: unknown data set {self.name!r}; valid: {', '.join(TOY_SETS + IMAGE_SETS)}")

    @property
    def is_image(self) -> bool:
        return self.name in IMAGE_SETS

    @property
    def quality_metric(self) -> str:
        """How sample quality is measured: "two_sample" (toys), "fd_digits" or "fid" (images)."""
        return QUALITY_METRIC[self.name] if self.is_image else "two_sample"

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one example: (2,) for toys, (C, H, W) for images."""
        return image_shape(self.name) if self.is_image else (2,)


class DataSource:
    """Batches of model-space tensors for training, and held-out data for evaluation.

    Example:
        >>> src = DataSource(DataConfig(name="digits"), seed=0)
        >>> x = src.batch(step=0, batch_size=64)      # (64, 1, 8, 8) in [-1, 1]
    """

    def __init__(self, cfg: DataConfig, seed: int):
        self.cfg, self.seed = cfg, seed
        self._train: Tensor | None = None
        self._perms: dict[int, Tensor] = {}  # the current and previous epoch's permutations (a batch may span both)

    @property
    def train_uint8(self) -> Tensor:
        """All training images, uint8 (N, C, H, W), loaded once."""
        if self._train is None:
            self._train = load_images(self.cfg.name, "train", self.cfg.root, self.cfg.download)
        return self._train

    def test_uint8(self) -> Tensor:
        """Held-out images, uint8 (N, C, H, W)."""
        return load_images(self.cfg.name, "test", self.cfg.root, self.cfg.download)

    def to_model(self, x_uint8: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """uint8 images -> model range; dequantized with ``generator`` when the config says so."""
        x01 = uniform_dequantize(x_uint8, generator) if self.cfg.dequantize else to_unit(x_uint8)
        return unit_to_model(x01, self.cfg.data_range)

    def batch(self, step: int, batch_size: int, rank: int = 0, world_size: int = 1) -> Tensor:
        """The training batch of ``step`` (this rank's slice of the global batch), on CPU.

        Toys draw fresh points; images are visited in seeded per-epoch permutations. Everything is a function
        of (seed, step), so a resumed run sees the batches an uninterrupted run would.
        """
        if batch_size % world_size:
            raise ValueError(f"train.batch_size {batch_size} is not divisible by the {world_size} processes")
        lo, hi = rank * batch_size // world_size, (rank + 1) * batch_size // world_size
        gen = make_generator(derive_seed(self.seed, "batch", step))
        if not self.cfg.is_image:
            return sample_toy(self.cfg.name, batch_size, gen)[lo:hi]
        data = self.train_uint8
        n = data.shape[0]
        first = step * batch_size
        idx = torch.cat([self._perm(e, n) for e in range(first // n, (first + batch_size - 1) // n + 1)])
        offset = first - (first // n) * n
        x = data[idx[offset : offset + batch_size][lo:hi]]
        if self.cfg.hflip:
            x = random_hflip(x, gen)
        return self.to_model(x, gen)

    def _perm(self, epoch: int, n: int) -> Tensor:
        """The epoch's permutation of the n training images, drawn once per epoch (CIFAR-10's: ms per draw)."""
        if epoch not in self._perms:
            self._perms = {e: p for e, p in self._perms.items() if e == epoch - 1}  # a straddling batch needs it
            self._perms[epoch] = torch.randperm(n, generator=make_generator(derive_seed(self.seed, "epoch", epoch)))
        return self._perms[epoch]

    def test_points(self) -> Tensor:
        """Held-out 2-D points (n_test, 2), from a stream disjoint from training batches."""
        return sample_toy(self.cfg.name, self.cfg.n_test, make_generator(derive_seed(self.seed, "test")))
