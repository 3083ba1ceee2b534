"""A small CNN classifier of scikit-learn's 8x8 digits whose penultimate layer is a feature space for ``fd_digits``.

``fd_digits`` is the Fréchet distance between Gaussians fitted to this classifier's 64-d penultimate features
of two sets of 8x8 digit images. It plays FID's role for the offline digits stand-in, but it is NOT FID (no
Inception network, different features, different scale) and is never reported as FID; numbers are comparable
only between runs scored with the same classifier file.

Data: ``sklearn.datasets.load_digits`` (1797 images, values 0..16) as uint8 round(v * 255 / 16), split by
``shared.data.images.load_images("digits", ...)``: a seed-0 permutation, first 80% (1437) train, rest (360)
test. Network input: x / 255 * 2 - 1, shape (N, 1, 8, 8).

Train the classifier once (800 steps, about 8-12 s on 2 CPU cores, held-out accuracy 98-99%):

    python -m shared.metrics.digits_features --out results/feature_nets/digits_classifier.pt --seed 0
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from shared.data.images import digits_table, load_images
from shared.io.artifacts import check_output, load_feature_net, load_state
from shared.io.atomic import save_torch
from shared.metrics.fid import frechet_distance, frechet_with_stderr, stats
from shared.utils import make_generator

FEATURE_DIM = 64
WIDTH = 16
DEFAULT_STEPS = 800
MIN_ACCURACY = 0.95  # the command line fails below this held-out accuracy
CHECKPOINT_FORMAT = "digits-classifier-v1"


def to_input(images_uint8: Tensor) -> Tensor:
    """uint8 (N, 1, 8, 8) in [0, 255] -> float32 network input in [-1, 1]."""
    return images_uint8.to(torch.float32) / 255.0 * 2.0 - 1.0


class DigitsClassifier(nn.Module):
    """conv3x3(16) - conv3x3(32) - maxpool - conv3x3(32) - maxpool - linear(128 -> 64) - ReLU | linear(64 -> 10).

    ``features`` is the 64-d ReLU output of the penultimate layer; ``forward`` returns the 10 logits.
    """

    def __init__(self, width: int = WIDTH, feature_dim: int = FEATURE_DIM):
        super().__init__()
        self.width, self.feature_dim = width, feature_dim
        self.body = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 8x8 -> 4x4
            nn.Conv2d(2 * width, 2 * width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 4x4 -> 2x2
            nn.Flatten(),
            nn.Linear(2 * width * 4, feature_dim),
            nn.ReLU(),
        )
        self.head = nn.Linear(feature_dim, 10)

    def features(self, x: Tensor) -> Tensor:
        """(N, 1, 8, 8) inputs in [-1, 1] -> (N, feature_dim) penultimate activations."""
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        """(N, 1, 8, 8) inputs in [-1, 1] -> (N, 10) logits."""
        return self.head(self.features(x))


def digits_split() -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(train images, train labels, test images, test labels) of the fixed 80/20 digits split, images uint8."""
    values, labels = digits_table()
    perm = torch.randperm(labels.shape[0], generator=make_generator(0))
    n_train = int(0.8 * labels.shape[0])
    train, test = load_images("digits", "train"), load_images("digits", "test")
    # load_images uses the same seed-0 permutation; check so the labels cannot silently drift from the images.
    check = torch.round(values * (255.0 / 16.0)).to(torch.uint8).unsqueeze(1)[perm]
    if not (torch.equal(check[:n_train], train) and torch.equal(check[n_train:], test)):
        raise RuntimeError("shared.data.images digits split differs from the seed-0 80/20 permutation assumed here")
    return train, labels[perm[:n_train]], test, labels[perm[n_train:]]


@torch.no_grad()
def accuracy(classifier: DigitsClassifier, images_uint8: Tensor, labels: Tensor) -> float:
    """Fraction of images whose arg-max logit is the label."""
    classifier.eval()
    device = next(classifier.parameters()).device
    pred = classifier(to_input(images_uint8.to(device))).argmax(dim=1).cpu()
    return float((pred == labels).to(torch.float64).mean())


def train_classifier(
    seed: int,
    steps: int = DEFAULT_STEPS,
    out: Path | str | None = None,
    *,
    batch_size: int = 128,
    lr: float = 2e-3,
    weight_decay: float = 1e-4,
) -> dict:
    """Train the digits classifier on CPU, seeded, and (if ``out``) save it atomically.

    Initialisation uses ``torch.manual_seed(seed)`` inside ``torch.random.fork_rng`` (the caller's global RNG
    is left alone); minibatches and the one-pixel random shifts come from a ``torch.Generator`` seeded with
    ``seed``. Adam with cosine learning-rate decay.

    Returns:
        {"state_dict", "accuracy" (held-out, 360 images), "seed", "feature_dim", "width", "steps",
        "train_seconds", "format"}; the same dict is what ``out`` holds (``torch.save`` to a temp file, then
        ``os.replace``).
    """
    start_time = time.perf_counter()
    train_x, train_y, test_x, test_y = digits_split()
    inputs = to_input(train_x)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DigitsClassifier()
    gen = make_generator(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, steps))
    loss_fn = nn.CrossEntropyLoss()
    padded = nn.functional.pad(inputs, (1, 1, 1, 1), value=-1.0)  # background is -1
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, inputs.shape[0], (batch_size,), generator=gen)
        # Augment with a random shift of at most one pixel (same shift for the whole batch: cheap).
        dy, dx = torch.randint(0, 3, (2,), generator=gen).tolist()
        xb = padded[idx, :, dy : dy + 8, dx : dx + 8]
        loss = loss_fn(model(xb), train_y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    model.eval()
    result = {
        "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "accuracy": accuracy(model, test_x, test_y),
        "seed": int(seed),
        "feature_dim": model.feature_dim,
        "width": model.width,
        "steps": int(steps),
        "train_seconds": time.perf_counter() - start_time,
        "format": CHECKPOINT_FORMAT,
    }
    if out is not None:
        save_torch(result, Path(out))
    return result


def classifier_from_checkpoint(ckpt: dict) -> DigitsClassifier:
    """Build a classifier in eval mode from the dict of :func:`train_classifier`."""
    model = DigitsClassifier(width=int(ckpt.get("width", WIDTH)), feature_dim=int(ckpt["feature_dim"]))
    model.load_state_dict(ckpt["state_dict"])
    return model.eval()


def load_classifier(path: Path | str) -> DigitsClassifier:
    """Load a classifier saved by :func:`train_classifier` (``torch.load(weights_only=True)``), on CPU, eval mode.

    Raises:
        shared.io.artifacts.ArtifactError: missing (also a FileNotFoundError), damaged, refused, or another kind of
            file; the message names the file and how to train one.
    """
    path = Path(path)
    ckpt = load_feature_net(path, CHECKPOINT_FORMAT)
    model = DigitsClassifier(width=int(ckpt.get("width", WIDTH)), feature_dim=int(ckpt["feature_dim"]))
    fix = f"train it again with python -m shared.metrics.digits_features --out {path} --seed 0"
    load_state(model, ckpt["state_dict"], path, "its weights do not fit the digits classifier", fix)
    return model.eval()


def _as_digits(images: Tensor | np.ndarray, what: str) -> Tensor:
    images = torch.as_tensor(images)
    if images.dtype != torch.uint8:
        raise TypeError(f"fd_digits: {what} must be uint8 in [0, 255], got {images.dtype}")
    if images.ndim != 4 or tuple(images.shape[1:]) != (1, 8, 8):
        raise ValueError(f"fd_digits: {what} must have shape (N, 1, 8, 8), got {tuple(images.shape)}")
    if images.shape[0] < 2:
        raise ValueError(f"fd_digits: {what} needs at least 2 images, got {images.shape[0]}")
    return images


@torch.no_grad()
def digits_features(
    images_uint8: Tensor | np.ndarray, classifier: DigitsClassifier, batch_size: int = 2048
) -> np.ndarray:
    """(N, feature_dim) float64 penultimate features of uint8 (N, 1, 8, 8) images."""
    images = _as_digits(images_uint8, "images")
    classifier.eval()
    device = next(classifier.parameters()).device
    chunks = [
        classifier.features(to_input(images[i : i + batch_size].to(device))).double().cpu()
        for i in range(0, images.shape[0], batch_size)
    ]
    return torch.cat(chunks).numpy()


def fd_digits(
    samples_uint8: Tensor | np.ndarray, reference_uint8: Tensor | np.ndarray, classifier: DigitsClassifier
) -> float:
    """Fréchet distance between the classifier-feature Gaussians of samples and reference (NOT FID).

    Args:
        samples_uint8: (N, 1, 8, 8) uint8 samples.
        reference_uint8: (M, 1, 8, 8) uint8 reference images (e.g. the digits training split).
        classifier: a trained :class:`DigitsClassifier` (see :func:`load_classifier`).
    """
    _as_digits(samples_uint8, "samples")
    _as_digits(reference_uint8, "reference")
    mu1, sigma1 = stats(digits_features(samples_uint8, classifier))
    mu2, sigma2 = stats(digits_features(reference_uint8, classifier))
    return frechet_distance(mu1, sigma1, mu2, sigma2)


def fd_digits_with_stderr(
    samples_uint8: Tensor | np.ndarray,
    reference_uint8: Tensor | np.ndarray,
    classifier: DigitsClassifier,
    n_resamples: int = 200,
    seed: int = 0,
) -> tuple[float, float]:
    """(:func:`fd_digits`, its bootstrap standard error over the samples: the std of B resampled distances against
    the fixed reference; NaN when ``n_resamples`` is 0)."""
    _as_digits(samples_uint8, "samples")
    _as_digits(reference_uint8, "reference")
    reference = stats(digits_features(reference_uint8, classifier))
    return frechet_with_stderr(digits_features(samples_uint8, classifier), *reference, n_resamples, seed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m shared.metrics.digits_features",
        description="Train the 8x8-digits classifier whose 64-d penultimate features define fd_digits (not FID).",
        epilog=(
            "example:\n"
            "  python -m shared.metrics.digits_features --out results/feature_nets/digits_classifier.pt --seed 0"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", required=True, type=Path, help="output checkpoint (.pt), written atomically")
    parser.add_argument("--seed", type=int, default=0, help="training seed (default: 0)")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS, help=f"optimiser steps (default: {DEFAULT_STEPS})")
    args = parser.parse_args(argv)
    check_output(args.out)  # a path that cannot be written: one line, exit 2, before any compute
    result = train_classifier(args.seed, args.steps)  # saved below, only if good enough
    print(
        f"digits classifier: held-out accuracy {result['accuracy']:.4f} (360 test images), seed {args.seed}, "
        f"{args.steps} steps, {result['train_seconds']:.1f} s -> {args.out}"
    )
    if result["accuracy"] < MIN_ACCURACY:
        print(f"error: accuracy below {MIN_ACCURACY}; the feature space is not trustworthy")
        return 1
    save_torch(result, args.out)
    return 0


if __name__ == "__main__":
    from shared.entry import run_main

    run_main(main)
