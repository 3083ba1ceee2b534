"""Figures shared by all replications (matplotlib/seaborn): sample grids, 2-D scatter/density, loss curves, strips."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from shared.io.atomic import save_figure  # noqa: E402


def save(fig, path: Path, dpi: int = 150) -> None:
    """Write a figure (parent folders made, tight bounding box) and close it: every figure script uses this."""
    save_figure(fig, path, dpi=dpi, bbox_inches="tight")  # atomically, as every file
    plt.close(fig)


def tile(images: np.ndarray, nrow: int) -> np.ndarray:
    """Tile uint8 images (N, C, H, W) into one (rows*H, nrow*W, C) array with 1-pixel gaps."""
    n, c, h, w = images.shape
    rows = -(-n // nrow)
    canvas = np.full((rows * (h + 1) - 1, nrow * (w + 1) - 1, c), 255, dtype=np.uint8)
    for k in range(n):
        r, q = divmod(k, nrow)
        canvas[r * (h + 1) : r * (h + 1) + h, q * (w + 1) : q * (w + 1) + w] = images[k].transpose(1, 2, 0)
    return canvas


def image_grid(images: np.ndarray, path: Path, nrow: int = 8, title: str | None = None) -> None:
    """Save a grid of uint8 images (N, C, H, W)."""
    grid = tile(images, nrow)
    fig, ax = plt.subplots(figsize=(6, 6 * grid.shape[0] / grid.shape[1]))
    ax.imshow(grid[..., 0] if grid.shape[2] == 1 else grid, cmap="gray" if grid.shape[2] == 1 else None)
    ax.axis("off")
    ax.grid(False)
    if title:
        ax.set_title(title)
    save(fig, path)


def progressive_strip(frames: np.ndarray, times: list[float], path: Path, title: str | None = None) -> None:
    """Rows = examples, columns = reverse-process steps: frames uint8 (K steps, N, C, H, W)."""
    k, n = frames.shape[:2]
    grid = tile(frames.transpose(1, 0, 2, 3, 4).reshape(k * n, *frames.shape[2:]), nrow=k)
    fig, ax = plt.subplots(figsize=(1.0 * k, 1.0 * n))
    ax.imshow(grid[..., 0] if grid.shape[2] == 1 else grid, cmap="gray" if grid.shape[2] == 1 else None)
    h = frames.shape[3]
    ax.set_xticks([(h + 1) * j + h / 2 for j in range(k)], [f"{t:.2f}" for t in times], fontsize=7)
    ax.set_yticks([])
    ax.grid(False)
    ax.set_xlabel("t")
    if title:
        ax.set_title(title)
    save(fig, path)


def scatter_2d(samples: np.ndarray, data: np.ndarray, path: Path, title: str | None = None, lim: float = 4.5) -> None:
    """Side by side: data density, sample density (2-D histograms), for (N, 2) arrays."""
    fig, axes = plt.subplots(1, 2, figsize=(8, 4), sharex=True, sharey=True)
    bins = np.linspace(-lim, lim, 120)
    for ax, pts, name in zip(axes, (data, samples), ("data", "samples")):
        ax.hist2d(pts[:, 0], pts[:, 1], bins=[bins, bins], cmap="viridis")
        ax.set_title(name)
        ax.set_aspect("equal")
        ax.grid(False)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    save(fig, path)


def loss_curve(log_csv: Path, path: Path, title: str | None = None) -> None:
    """Training loss against step from a ``train_log.csv``."""
    with open(log_csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    steps = np.array([int(r["step"]) for r in rows])
    loss = np.array([float(r["loss"]) for r in rows])
    import seaborn as sns  # here, not at import: it pulls in scipy.stats and pandas (0.7 s a process)

    sns.set_theme(style="whitegrid")
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(steps, loss, lw=1)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_yscale("log" if (loss > 0).all() else "linear")
    if title:
        ax.set_title(title)
    save(fig, path)
