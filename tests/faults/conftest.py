"""Fixtures of the fault-injection suite: one tiny trained DDPM toy run and its samples, made once per session, and
the assertion every bad input must pass (exit status 2, one line naming the key or file, no traceback)."""

from pathlib import Path

import pytest

from replications.ddpm.method import SPEC
from shared.pipeline.cli import main

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "replications" / "ddpm" / "configs" / "tiny_toy.yaml"
TRAIN_SETS = ("--set", "train.steps=20", "--set", "train.checkpoint_every=10")


def cli(spec, *args) -> None:
    main(spec, [str(a) for a in args])


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> Path:
    """checkpoint.pt of a 20-step tiny DDPM toy run (seed 0); its folder also holds train_state.pt."""
    out = tmp_path_factory.mktemp("trained") / "checkpoint.pt"
    cli(SPEC, "train", "--config", TINY, "--out", out, "--device", "cpu", *TRAIN_SETS)
    return out


@pytest.fixture(scope="session")
def samples(trained) -> Path:
    """A 16-sample shard (seeds 0-15) of the trained run."""
    out = trained.parent / "samples" / "0-15.npz"
    cli(SPEC, "sample", "--ckpt", trained, "--seeds", "0-15", "--out", out, "--device", "cpu")
    return out


@pytest.fixture
def bad_input(capsys):
    """``bad_input(spec, argv, names, absent=())`` runs the CLI in-process on a bad input and asserts exit status
    2, one error line naming every item of ``names``, no traceback, and none of the ``absent`` paths written;
    it returns the error line."""

    def check(spec, argv, names, absent=()) -> str:
        with pytest.raises(SystemExit) as exit_:
            main(spec, [str(a) for a in argv])
        out = capsys.readouterr()
        text = out.out + out.err
        assert exit_.value.code == 2, text
        assert "Traceback" not in text, text
        errors = [line for line in out.err.splitlines() if line.startswith("error:") or ": error: " in line]
        assert len(errors) == 1, out.err
        for name in names:
            assert str(name) in errors[0], (name, errors[0])
        for path in absent:
            assert not Path(path).exists(), f"{path} was written"
        return errors[0]

    return check
