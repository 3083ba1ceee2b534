"""NCSN's occlusion experiment (Song & Ermon 2019, Fig. 6 idea): complete the occluded half of test images with
annealed Langevin dynamics, the observed half re-noised to each sigma_i and held (``inpaint_annealed_langevin``).

    python -m replications.ncsn.inpaint --ckpt results/ncsn/smoke_digits/seed0/checkpoint.pt \\
        --out results/ncsn/smoke_digits/seed0/inpainting.png

Grid rows: one test image each; columns: original | masked | completions (one per seed).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from replications.ncsn.method import SPEC
from shared.data.transforms import to_uint8
from shared.entry import command_parser
from shared.io.artifacts import ArtifactError, check_output
from shared.io.atomic import save_json
from shared.io.provenance import provenance
from shared.maths.samplers.annealed import inpaint_annealed_langevin
from shared.pipeline.runner import load_run
from shared.utils import PerSampleGenerator, make_generator


def occlusion_mask(shape: tuple[int, ...], side: str) -> torch.Tensor:
    """1 where observed, (1, C, H, W): the left (or top) half is observed, the rest is to be sampled."""
    c, h, w = shape
    mask = torch.zeros(1, c, h, w)
    if side == "right":
        mask[..., : w // 2] = 1.0
    else:
        mask[..., : h // 2, :] = 1.0
    return mask


def inpainting_grid(ckpt: Path, out: Path, n_images: int = 8, n_completions: int = 5, side: str = "right") -> dict:
    """Complete ``n_images`` test images ``n_completions`` times each; write the PNG and a JSON beside it."""
    from shared.report import figures

    run = load_run(ckpt, SPEC)
    if not run.cfg.data.is_image:
        raise ArtifactError(ckpt, f"is a {run.cfg.data.name} run; inpainting needs an image run's checkpoint")
    method, s = run.method, run.cfg.sample
    test = run.data().test_uint8()[:n_images]
    observed = run.data().to_model(test, make_generator(0))
    mask = occlusion_mask(run.shape, side)
    columns = [
        to_uint8(observed, run.cfg.data.data_range),
        to_uint8(observed * mask + 0.5 * (1 - mask), run.cfg.data.data_range),
    ]  # occluded: grey
    errors = []
    with torch.no_grad():
        for k in range(n_completions):
            gen = PerSampleGenerator(range(k * n_images, (k + 1) * n_images))
            x = method.prior.sample(observed.shape, gen)
            done = inpaint_annealed_langevin(
                method.field,
                x,
                method.grid,
                observed=observed,
                mask=mask,
                n_steps_each=s.n_steps_each,
                step_lr=s.step_lr,
                generator=gen,
            )
            errors.append(float((done - observed).mul(mask).abs().max()))
            columns.append(to_uint8(done, run.cfg.data.data_range))
    grid = torch.stack(columns, dim=1).reshape(-1, *columns[0].shape[1:]).numpy()
    title = f"ncsn · {run.experiment}: original | {side} half occluded | {n_completions} completions"
    figures.image_grid(grid, out, nrow=len(columns), title=title)
    info = {
        "checkpoint": str(ckpt),
        "side": side,
        "n_images": n_images,
        "n_completions": n_completions,
        "max_observed_error": max(errors),  # 0: observed pixels are the observation
        "n_steps_each": s.n_steps_each,
        "step_lr": s.step_lr,
        "provenance": provenance(),
    }
    save_json(info, out.with_suffix(".json"))
    return info


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and draw the inpainting grid."""
    p = command_parser("replications.ncsn.inpaint", __doc__)
    p.add_argument("--ckpt", required=True, type=Path, help="an NCSN image run's checkpoint.pt")
    p.add_argument("--out", required=True, type=Path, help="PNG (a .json is written beside it)")
    p.add_argument("--n-images", type=int, default=8)
    p.add_argument("--n-completions", type=int, default=5)
    p.add_argument("--side", choices=("right", "bottom"), default="right", help="the occluded half")
    args = p.parse_args(argv)
    check_output(args.out)  # a path that cannot be written: one line, exit 2, before any compute
    info = inpainting_grid(args.ckpt, args.out, args.n_images, args.n_completions, args.side)
    print(json.dumps({k: v for k, v in info.items() if k != "provenance"}), flush=True)


if __name__ == "__main__":
    from shared.entry import run_main

    run_main(main)
