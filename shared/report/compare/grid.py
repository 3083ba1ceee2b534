"""A grid of samples, one panel per method, the same per-sample seeds in every panel (2-D scatter or images)."""

from __future__ import annotations

import json
import math

import numpy as np

from shared.io.artifacts import load_samples
from shared.report.compare.args import labelled_parser, parse_labelled


def main(argv: list[str] | None = None) -> None:
    p = labelled_parser("grid", __doc__, "samples", "sample shard (.npz)", "PNG")
    p.add_argument("--n", type=int, default=1000, help="points per scatter panel (images: 16 per panel)")
    args = parse_labelled(p, argv, "samples")
    from shared.report.figures import plt, save

    cols = min(5, len(args.samples))
    rows = math.ceil(len(args.samples) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.4 * cols, 2.5 * rows), squeeze=False)
    lim = None
    for ax, path, label in zip(axes.flat, args.samples, args.labels):
        load_samples([path])  # checked first: one line naming a missing or damaged shard
        with np.load(path) as f:
            seeds = f["seeds"]
            if "uint8" in f.files:
                imgs = f["uint8"][:16]  # (16, C, H, W), a 1-pixel grey frame around each
                shown = seeds[:16]
                imgs = np.pad(imgs, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=128)
                c, h, w = imgs.shape[1:]
                tiles = imgs.reshape(4, 4, c, h, w).transpose(0, 3, 1, 4, 2).reshape(4 * h, 4 * w, c)
                ax.imshow(tiles.squeeze(-1) if c == 1 else tiles, cmap="gray", vmin=0, vmax=255)
            else:
                x = f["x"][: args.n]
                shown = seeds[: args.n]
                lim = lim or float(np.quantile(np.abs(x), 0.995)) * 1.1
                ax.scatter(x[:, 0], x[:, 1], s=1, alpha=0.5)
                ax.set_xlim(-lim, lim)
                ax.set_ylim(-lim, lim)
            meta = json.loads(str(f["meta"]))
        ax.set_title(f"{label}\nNFE {meta['nfe_per_sample']:.0f}, seeds {shown[0]}-{shown[-1]}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in list(axes.flat)[len(args.samples) :]:
        ax.axis("off")
    if args.title:
        fig.suptitle(args.title, fontsize=9)
    save(fig, args.out, dpi=110)
    print(f"wrote {args.out}")
