"""FID feature extraction (images/s): ours (``shared.metrics.fid.inception_features``) against clean-fid's own
in-memory path (``cleanfid.fid.get_model_features``: the generator's batches resized image by image, then the same
Inception), on the same uint8 CIFAR-10-sized images; plus the clean resize alone, on one thread and on
``resize_threads()`` (the rest is Inception).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import torch
from cleanfid.fid import get_model_features
from timing import interleaved, speedup

from shared.metrics.fid import clean_resize, inception_features, load_inception, resize_threads


def run(device: torch.device, n: int, batch: int, repeats: int) -> dict:
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=gen)
    model = load_inception(device)
    as_float = images.float().to(device)
    cursor = {"i": 0}

    def generator(z):  # clean-fid's G(z): the next batch of images, floats in [0, 255] on the device
        i = cursor["i"]
        cursor["i"] = (i + z.shape[0]) % n
        return as_float[i : i + z.shape[0]]

    def clean_fid():
        cursor["i"] = 0
        get_model_features(generator, model, mode="clean", z_dim=1, num_gen=n, batch_size=batch, device=device,
                           verbose=False)  # fmt: skip

    arr = images.numpy()
    pool = ThreadPoolExecutor(max_workers=resize_threads())

    fns = {
        "ours": lambda: inception_features(images, batch_size=batch, device=device),
        "clean-fid": clean_fid,
        "resize only, 1 thread": lambda: clean_resize(arr),
        f"resize only, {resize_threads()} threads": lambda: clean_resize(arr, pool),
    }
    timed = interleaved(fns, device, repeats)
    pool.shutdown()
    out = {"images": n, "batch": batch}
    for name, t in timed.items():
        out[name] = {**t, "images_per_s": n / t["median_s"]}
    out["speedup"] = speedup(timed["clean-fid"], timed["ours"])
    return out
