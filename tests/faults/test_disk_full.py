"""An OSError in the middle of a write (a full disk) leaves the previous file loadable and no temporary file behind;
through the CLI it is one line with exit status 2, and the rerun finishes the run."""

import errno
import io
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from replications.ddpm.method import SPEC
from shared.io import artifacts, atomic

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "replications" / "ddpm" / "configs" / "tiny_toy.yaml"
TRAIN_SETS = ("--set", "train.steps=20", "--set", "train.checkpoint_every=10")  # as conftest's trained run


def disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def fill_disk_after_half(monkeypatch, module, name):
    """Make ``module.name`` (a serialiser taking a file object) write half of its bytes, then fail with ENOSPC."""
    real = getattr(module, name)

    def write_half_then_fail(*args, **kwargs):
        fh = next(a for a in args if hasattr(a, "write") and hasattr(a, "fileno"))
        buf = io.BytesIO()
        real(*[buf if a is fh else a for a in args], **kwargs)
        fh.write(buf.getvalue()[: len(buf.getvalue()) // 2])
        disk_full()

    monkeypatch.setattr(module, name, write_half_then_fail)


WRITERS = {
    "checkpoint": (
        atomic.save_torch,
        lambda p: artifacts.read_torch(p),
        ({"step": 1, "w": torch.ones(3)}, {"step": 2, "w": torch.zeros(3)}),
        (torch, "save"),
    ),
    "samples": (
        atomic.save_npz,
        lambda p: dict(np.load(p)),
        ({"x": np.ones((4, 2))}, {"x": np.zeros((4, 2))}),
        (np, "savez_compressed"),
    ),
    "metrics": (
        atomic.save_json,
        lambda p: artifacts.load_metrics(p),
        ({"metrics": {"a": {"value": 1.0}}}, {"metrics": {"a": {"value": 2.0}}}),
        None,
    ),
}


def same(a, b):
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (torch.Tensor, np.ndarray)):
        return bool((torch.as_tensor(a) == torch.as_tensor(b)).all())
    return a == b


@pytest.mark.parametrize("where", ["mid_write", "at_fsync"])
@pytest.mark.parametrize("kind", WRITERS)
def test_disk_full_keeps_the_previous_file(tmp_path, monkeypatch, kind, where):
    save, load, (old, new), serialiser = WRITERS[kind]
    path = tmp_path / f"{kind}.out"
    save(old, path)
    if where == "mid_write" and serialiser is not None:
        fill_disk_after_half(monkeypatch, *serialiser)
    else:  # every writer ends with fsync: the disk is found full there
        monkeypatch.setattr(atomic.os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        save(new, path)
    monkeypatch.undo()
    assert same(load(path), old)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # the temporary file is gone


def test_disk_full_at_the_final_checkpoint(tmp_path, monkeypatch, capsys, trained):
    """train: one line, exit 2, the resumable state intact; the rerun writes the checkpoint of an uninterrupted run."""
    from shared.pipeline.cli import main

    out = tmp_path / "run" / "checkpoint.pt"
    argv = ["train", "--config", TINY, "--out", out, "--device", "cpu", *TRAIN_SETS]  # the trained run's
    fsync = atomic.os.fsync

    def full_for_checkpoints(fd):
        if ".checkpoint.pt.tmp" in os.readlink(f"/proc/self/fd/{fd}"):
            disk_full()
        return fsync(fd)

    monkeypatch.setattr(atomic.os, "fsync", full_for_checkpoints)
    with pytest.raises(SystemExit) as exit_:
        main(SPEC, [str(a) for a in argv])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "Traceback" not in err
    assert err.strip().splitlines() == [
        f"error: {out}: No space left on device (not written; any previous version is unchanged)"
    ]
    assert not out.exists() and sorted(p.name for p in out.parent.glob(".*")) == []
    assert artifacts.load_train_state(out.parent / artifacts.STATE_NAME)["step"] == 20
    monkeypatch.undo()
    main(SPEC, [str(a) for a in argv])
    a, b = artifacts.load_checkpoint(out), artifacts.load_checkpoint(trained)
    for key in ("net", "ema_net"):
        assert all(torch.equal(a[key][k], b[key][k]) for k in a[key])
