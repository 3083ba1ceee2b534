"""One training process per run (shared/pipeline/runlock.py): a live holder refuses a second trainer with one line
naming it; a lock whose process is gone, whose pid now names another process, or whose holder on another host stopped
touching it is taken over; and two real `train` commands on one run folder never both train."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shared.pipeline import runlock
from shared.pipeline.runlock import LOCK_NAME, RunLock, RunLocked

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "replications" / "ddpm" / "configs" / "tiny_toy.yaml"


def write_lock(folder: Path, **holder) -> Path:
    path = folder / LOCK_NAME
    base = {"pid": os.getpid(), "host": socket.gethostname(), "tick": runlock._start_tick(os.getpid())}
    path.write_text(json.dumps({**base, "started": "2026-01-01T00:00:00+00:00", **holder}))
    return path


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_live_holder_refuses_a_second_trainer(tmp_path):
    with RunLock(tmp_path) as held:
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
        with pytest.raises(RunLocked) as err:
            RunLock(tmp_path).acquire()
        text = str(err.value)
        assert f"pid {os.getpid()}" in text and socket.gethostname() in text and held.me["started"] in text
    assert not (tmp_path / LOCK_NAME).exists()  # released


@pytest.mark.parametrize(
    "holder, why",
    [
        (lambda: {"pid": dead_pid()}, "is gone"),  # its process ended (kill -9, a crash)
        (lambda: {"tick": "1"}, "is gone"),  # its pid now belongs to another process (another start tick)
        (lambda: {"host": "node-that-died"}, "has not touched it"),  # another host, no heartbeat for too long
    ],
)
def test_a_stale_lock_is_taken_over_saying_why(tmp_path, capsys, holder, why):
    path = write_lock(tmp_path, **holder())
    old = time.time() - runlock.STALE_AFTER_S - 60
    os.utime(path, (old, old))
    with RunLock(tmp_path):
        assert json.loads(path.read_text())["pid"] == os.getpid()
    out = capsys.readouterr().out
    assert "taking over a stale lock" in out and why in out


def test_a_recent_lock_of_another_host_is_respected(tmp_path, capsys):
    write_lock(tmp_path, host="node-7", pid=4242)
    start = time.monotonic()
    with pytest.raises(RunLocked, match="pid 4242 on host node-7"):
        RunLock(tmp_path).acquire(wait_s=0.3)  # waited for, then refused
    assert time.monotonic() - start >= 0.3 and "waiting up to" in capsys.readouterr().out


def test_a_lock_of_another_host_that_goes_stale_while_waited_for_is_taken_over(tmp_path, capsys, monkeypatch):
    """A node fails; its requeued job starts at once on another node and finds the lock fresh: it waits until the
    lock goes stale (here: backdated by a thread, as time would), then takes it over instead of failing."""
    import threading

    monkeypatch.setattr(runlock, "POLL_S", 0.05)
    path = write_lock(tmp_path, host="failed-node", pid=4242)
    old = time.time() - runlock.STALE_AFTER_S - 60
    threading.Timer(0.2, lambda: os.utime(path, (old, old))).start()
    start = time.monotonic()
    lock = RunLock(tmp_path).acquire(wait_s=30.0)
    assert json.loads(path.read_text())["pid"] == os.getpid() and time.monotonic() - start < 10
    lock.release()
    out = capsys.readouterr().out
    assert "waiting up to" in out and "taking over a stale lock" in out


def test_release_leaves_a_lock_taken_over_by_another(tmp_path):
    lock = RunLock(tmp_path).acquire()
    write_lock(tmp_path, pid=1, host="elsewhere")  # what a taker-over would have written
    lock.release()
    assert json.loads((tmp_path / LOCK_NAME).read_text())["host"] == "elsewhere"


def test_train_of_a_locked_run_is_one_line_exit_2_and_touches_nothing(tmp_path, capsys):
    """`train` of a run that another live process trains (here: this test process holds the lock) stops before it
    writes anything: exit 2, one line naming the holder's pid, host and start time."""
    from replications.ddpm.method import SPEC
    from shared.pipeline.cli import main

    out = tmp_path / "run" / "checkpoint.pt"
    with RunLock(out.parent) as held:
        with pytest.raises(SystemExit) as exit_:
            main(SPEC, ["train", "--config", str(TINY), "--out", str(out), "--device", "cpu"])
        err = capsys.readouterr().err.strip().splitlines()
        assert exit_.value.code == 2 and len(err) == 1, err
        assert f"pid {os.getpid()} on host {socket.gethostname()} since {held.me['started']}" in err[0]
        assert sorted(p.name for p in out.parent.iterdir()) == [LOCK_NAME]  # no config, log or state written
