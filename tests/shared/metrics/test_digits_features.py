"""Digits classifier: trains to a measured accuracy, is seeded, round-trips through its file, and fd_digits ranks
held-out digits far closer to the training digits than noise."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from shared.io.atomic import save_torch
from shared.metrics import digits_features as df

TEST_STEPS = 400  # held-out accuracy at 400 steps over seeds 0..5 (measured): 0.958-0.983; seed 0: 0.961


@pytest.fixture(scope="module")
def trained():
    return df.train_classifier(seed=0, steps=TEST_STEPS)


def test_split_and_preprocessing():
    train_x, train_y, test_x, test_y = df.digits_split()
    assert train_x.shape == (1437, 1, 8, 8) and test_x.shape == (360, 1, 8, 8)
    assert train_x.dtype == torch.uint8 and int(train_x.max()) == 255 and int(train_x.min()) == 0
    assert train_y.shape == (1437,) and test_y.shape == (360,) and set(test_y.tolist()) == set(range(10))
    x = df.to_input(torch.tensor([[[[0, 255]]]], dtype=torch.uint8))
    assert x.flatten().tolist() == [-1.0, 1.0]


def test_classifier_accuracy_and_shapes(trained):
    assert trained["accuracy"] > 0.93
    assert trained["feature_dim"] == df.FEATURE_DIM and trained["seed"] == 0
    model = df.classifier_from_checkpoint(trained)
    x = df.to_input(df.digits_split()[2][:5])
    assert model.features(x).shape == (5, df.FEATURE_DIM)
    assert model(x).shape == (5, 10)


def test_training_is_seeded():
    a = df.train_classifier(seed=3, steps=15)["state_dict"]
    b = df.train_classifier(seed=3, steps=15)["state_dict"]
    c = df.train_classifier(seed=4, steps=15)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_fd_digits_ranks_real_digits_below_noise(trained):
    model = df.classifier_from_checkpoint(trained)
    train_x, _, test_x, _ = df.digits_split()
    noise = torch.randint(0, 256, (360, 1, 8, 8), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    fd_test = df.fd_digits(test_x, train_x, model)
    fd_noise = df.fd_digits(noise, train_x, model)
    # Measured over seeds 0..5 at 400 steps: test vs train 1.6-3.2, noise vs train 165-252.
    assert 0.0 < fd_test < 0.1 * fd_noise
    assert df.fd_digits(train_x, train_x, model) == pytest.approx(0.0, abs=1e-6)


def test_save_load_roundtrip(trained, tmp_path):
    path = tmp_path / "sub" / "digits.pt"
    save_torch(trained, path)  # how train_classifier and the CLI write it
    assert [p.name for p in path.parent.iterdir()] == ["digits.pt"]  # no temp file left behind
    model = df.load_classifier(path)
    x = df.to_input(df.digits_split()[2][:7])
    ref = df.classifier_from_checkpoint(trained)
    assert torch.equal(model.features(x), ref.features(x))
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        df.load_classifier(tmp_path / "missing.pt")


def test_fd_digits_checks_inputs(trained):
    model = df.classifier_from_checkpoint(trained)
    good = torch.zeros(4, 1, 8, 8, dtype=torch.uint8)
    with pytest.raises(TypeError):
        df.fd_digits(good.float(), good, model)
    with pytest.raises(ValueError):
        df.fd_digits(torch.zeros(4, 1, 28, 28, dtype=torch.uint8), good, model)


def test_cli_help_and_run(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        df.main(["--help"])
    assert exc.value.code == 0
    assert "python -m shared.metrics.digits_features --out" in capsys.readouterr().out
    # Too few steps to reach 95%: exit status 1 and no file written.
    out = tmp_path / "clf.pt"
    assert df.main(["--out", str(out), "--seed", "0", "--steps", "5"]) == 1
    assert not out.exists()


def test_the_frechet_bootstrap_spread_is_the_distance_spread_over_fresh_samples():
    """Features N(0.3, I_4) against the fixed reference N(0, I_4), 400 a sample: the standard deviation of the
    bootstrap replicates (``shared.metrics.fid.bootstrap_frechet``, what fd_digits' and FID's stderr are) matches the
    spread of the distance over 300 fresh samples, within the Monte-Carlo error of both."""
    from shared.metrics.fid import bootstrap_frechet, frechet_distance, stats

    rng = np.random.default_rng(0)
    shift, ref = np.full(4, 0.3), (np.zeros(4), np.eye(4))
    fresh = [frechet_distance(*stats(rng.normal(size=(400, 4)) + shift), *ref) for _ in range(300)]
    boot = bootstrap_frechet(rng.normal(size=(400, 4)) + shift, *ref, n_resamples=300, seed=1)
    assert 0.75 < boot.std(ddof=1) / np.std(fresh, ddof=1) < 1.33
