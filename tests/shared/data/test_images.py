"""Tests for shared.data.images: digits from scikit-learn, MNIST/CIFAR-10 through torchvision (never downloaded)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
import torch

from shared.data.images import IMAGE_SETS, image_shape, load_images


def test_image_shape() -> None:
    assert image_shape("digits") == (1, 8, 8)
    assert image_shape("mnist") == (1, 28, 28)
    assert image_shape("cifar10") == (3, 32, 32)
    with pytest.raises(ValueError, match="cifar10"):
        image_shape("svhn")


def test_digits_shapes_range_and_split() -> None:
    train, test = load_images("digits", "train"), load_images("digits", "test")
    assert train.shape == (1437, 1, 8, 8) and test.shape == (360, 1, 8, 8)
    assert train.shape[0] + test.shape[0] == 1797
    assert train.dtype == torch.uint8 and test.dtype == torch.uint8
    both = torch.cat([train, test])
    assert both.min() == 0 and both.max() == 255
    # values are round(v * 255 / 16) for v in 0..16
    allowed = torch.round(torch.arange(17, dtype=torch.float64) * 255 / 16).to(torch.uint8)
    assert torch.isin(both, allowed).all()
    assert torch.isin(allowed, both).all()


def test_digits_deterministic_fixed_permutation_split() -> None:
    from sklearn.datasets import load_digits

    train, test = load_images("digits", "train"), load_images("digits", "test")
    assert torch.equal(train, load_images("digits", "train"))
    ref = torch.round(torch.from_numpy(load_digits().images) * 255 / 16).to(torch.uint8).unsqueeze(1)
    perm = torch.randperm(1797, generator=torch.Generator().manual_seed(0))
    assert torch.equal(train, ref[perm[:1437]]) and torch.equal(test, ref[perm[1437:]])
    # the split is a shuffle, not the original order
    assert not torch.equal(train, ref[:1437])


@pytest.mark.parametrize("name", IMAGE_SETS)
def test_bad_split(name: str) -> None:
    with pytest.raises(ValueError, match="split"):
        load_images(name, "validation")


def test_unknown_name() -> None:
    with pytest.raises(ValueError, match="mnist"):
        load_images("imagenet", "train")


@pytest.mark.parametrize("name", ["mnist", "cifar10"])
def test_missing_files_raise(name: str, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as info:
        load_images(name, "train", root=str(tmp_path), download=False)
    msg = str(info.value)
    assert name in msg and str(tmp_path) in msg
    assert "data.download" in msg and "data.root" in msg
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]  # nothing was fetched


def _write_idx(path: Path, array: torch.Tensor) -> None:
    """Write a uint8 tensor in the big-endian IDX format of the MNIST files."""
    header = struct.pack(">I", 0x0800 + array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    path.write_bytes(header + array.numpy().tobytes())


def test_fake_mnist(tmp_path: Path) -> None:
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    g = torch.Generator().manual_seed(0)
    images = {
        s: torch.randint(0, 256, (n, 28, 28), generator=g, dtype=torch.uint8) for s, n in (("train", 5), ("t10k", 3))
    }
    for s, x in images.items():
        _write_idx(raw / f"{s}-images-idx3-ubyte", x)
        _write_idx(raw / f"{s}-labels-idx1-ubyte", torch.arange(x.shape[0], dtype=torch.uint8))
    train = load_images("mnist", "train", root=str(tmp_path))
    test = load_images("mnist", "test", root=str(tmp_path))
    assert train.shape == (5, 1, 28, 28) and train.dtype == torch.uint8
    assert torch.equal(train[:, 0], images["train"]) and torch.equal(test[:, 0], images["t10k"])


def test_digits_are_read_as_scikit_learn_loads_them() -> None:
    """The digits come from scikit-learn's own data file without importing it: the same images and labels."""
    from sklearn.datasets import load_digits

    from shared.data.images import digits_table

    images, labels = digits_table()
    reference = load_digits()
    assert torch.equal(images, torch.from_numpy(reference.images))
    assert torch.equal(labels, torch.from_numpy(reference.target).long())
