"""Image data sets as uint8 tensors (N, C, H, W): scikit-learn's 8x8 digits, MNIST (LeCun et al., 1998), CIFAR-10.

"digits" ships with scikit-learn (no download; the offline stand-in for small runs and tests). MNIST and CIFAR-10 are
read through torchvision's dataset classes from ``root`` and are only downloaded when asked to. torchvision is imported
lazily, when a set is loaded; scikit-learn not at all: the digits are read from its own data file.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import Tensor

IMAGE_SETS = ("digits", "mnist", "cifar10")
SPLITS = ("train", "test")
DEFAULT_ROOT = "~/.cache/replications/data"

_SHAPES = {"digits": (1, 8, 8), "mnist": (1, 28, 28), "cifar10": (3, 32, 32)}
# Sample quality of each set: Inception FID needs >= 28 px images; 8x8 digits use a digits classifier's features
QUALITY_METRIC = {"digits": "fd_digits", "mnist": "fid", "cifar10": "fid"}
_DIGITS_SEED = 0
_DIGITS_TRAIN_FRACTION = 0.8


def _check_name(name: str) -> None:
    if name not in IMAGE_SETS:
        raise ValueError(f"unknown image set {name!r}; valid names: {', '.join(IMAGE_SETS)}")


def image_shape(name: str) -> tuple[int, int, int]:
    """(C, H, W) of one image of set ``name``, without loading anything."""
    _check_name(name)
    return _SHAPES[name]


def digits_table() -> tuple[Tensor, Tensor]:
    """scikit-learn's bundled 8x8 digits as ``load_digits`` gives them: images (1797, 8, 8) float64 with integer
    values 0..16 and labels (1797,) int64, read from the package's own data file (sklearn/datasets/data/digits.csv.gz:
    64 pixel columns then the label) without importing scikit-learn, whose import costs ~1.5 s in every job that
    reads digits (tests/shared/data check the two agree)."""
    import importlib.util

    import numpy as np

    spec = importlib.util.find_spec("sklearn")  # locates the package; imports nothing
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the digits data set ships with scikit-learn: pip install scikit-learn")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz"
    table = np.loadtxt(path, delimiter=",")
    return torch.from_numpy(table[:, :-1].reshape(-1, 8, 8)), torch.from_numpy(table[:, -1].astype(np.int64))


def _load_digits(split: str) -> Tensor:
    values = digits_table()[0]  # (1797, 8, 8) float64, integers 0..16
    images = torch.round(values * (255.0 / 16.0)).to(torch.uint8).unsqueeze(1)
    perm = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(_DIGITS_SEED))
    n_train = int(_DIGITS_TRAIN_FRACTION * images.shape[0])
    idx = perm[:n_train] if split == "train" else perm[n_train:]
    return images[idx].contiguous()


def _load_torchvision(name: str, split: str, root: str, download: bool) -> Tensor:
    from torchvision import datasets

    cls = datasets.MNIST if name == "mnist" else datasets.CIFAR10
    try:
        ds = cls(root, train=split == "train", download=download)
    except RuntimeError as err:
        if download:
            raise
        raise FileNotFoundError(
            f"{name} ({split}) not found under data root {root!r} (torchvision: {err}). Fix: set "
            f"`data.download: true` in the experiment config to let torchvision fetch it, or set `data.root` to a "
            f"folder holding torchvision's {cls.__name__} files."
        ) from err
    data = torch.as_tensor(ds.data)
    if name == "mnist":
        return data.to(torch.uint8).unsqueeze(1).contiguous()  # (N, 28, 28) -> (N, 1, 28, 28)
    return data.permute(0, 3, 1, 2).contiguous()  # (N, 32, 32, 3) -> (N, 3, 32, 32)


def load_images(name: str, split: str, root: str | None = None, download: bool = False) -> Tensor:
    """Load one split of an image set.

    Args:
        name: one of ``IMAGE_SETS``.
        split: "train" or "test". For "digits" a fixed permutation (seed 0) puts the first 80% in "train".
        root: folder of torchvision's files for "mnist"/"cifar10"; None means ``~/.cache/replications/data``.
            Ignored for "digits".
        download: let torchvision download missing files into ``root``.

    Returns:
        (N, C, H, W) uint8 images with values 0..255 ("digits": 0..16 rescaled by round(v * 255 / 16)).

    Raises:
        ValueError: unknown ``name`` or ``split``.
        FileNotFoundError: the files of "mnist"/"cifar10" are missing and ``download`` is False.
    """
    _check_name(name)
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got split={split!r}")
    if name == "digits":
        return _load_digits(split)
    root = os.path.expanduser(DEFAULT_ROOT if root is None else str(root))
    return _load_torchvision(name, split, root, download)
