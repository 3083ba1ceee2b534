"""One training process per run: a lock file in the run folder, held while ``train`` runs.

A requeued or doubly submitted SLURM job, or a second terminal, would otherwise train the same run at once and
interleave their logs and states. ``train`` creates ``<run>/train.lock`` exclusively (``O_CREAT | O_EXCL``) with
its holder: pid, host, start time, and the process's start tick (so a reused pid is not mistaken for the holder).
A second ``train`` of the run stops at once with one line naming the holder (exit status 2).

A stale lock is taken over, saying so: on this host when its process is gone; on another host (a shared file system
after a node failure) when the holder has not touched the file for ``STALE_AFTER_S`` seconds - the holder touches
it every ``HEARTBEAT_S`` seconds from a daemon thread. Sampling and evaluation take no lock: shards of a run may
run in parallel.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from shared.config import ConfigError

LOCK_NAME = "train.lock"
HEARTBEAT_S = 60.0
STALE_AFTER_S = 600.0  # ten missed heartbeats: the holder's node is taken to be gone
POLL_S = 30.0  # how often a fresh lock of another host is looked at again while waiting for it


class RunLocked(ConfigError):
    """Another live process trains this run."""


def _start_tick(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux /proc), or None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22 of stat, counted after the command name


def _alive(pid: int, tick: str | None) -> bool:
    """Whether process ``pid`` runs on this host and is the one that wrote the lock (same start tick)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, under another user
    now = _start_tick(pid)
    return tick is None or now is None or now == tick


def _describe(holder: dict) -> str:
    return f"pid {holder.get('pid')} on host {holder.get('host')} since {holder.get('started')}"


def _stale(path: Path, holder: dict) -> str | None:
    """Why the lock at ``path`` is stale, or None when its holder may still be training."""
    if holder.get("host") == socket.gethostname():
        if not _alive(int(holder.get("pid", -1)), holder.get("tick")):
            return f"its process ({_describe(holder)}) is gone"
        return None
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return "it was released meanwhile"
    if age > STALE_AFTER_S:
        return f"its holder ({_describe(holder)}) has not touched it for {age / 60:.0f} min"
    return None


def _read(path: Path) -> dict:
    try:
        holder = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


class RunLock:
    """The lock of one run folder; ``with RunLock(folder):`` trains while holding it."""

    def __init__(self, folder: str | Path):
        self.path = Path(folder) / LOCK_NAME
        self.me = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "tick": _start_tick(os.getpid()),
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def _create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as fh:
            json.dump(self.me, fh)
            fh.flush()
            os.fsync(fh.fileno())
        return True

    def acquire(self, wait_s: float | None = None) -> RunLock:
        """Take the lock, or a stale one over (printing why); raise RunLocked naming a live holder.

        A holder on this host is checked at once (its process is there or not): a live one stops this process
        immediately. A holder on another host whose lock is still fresh may be training, or may be a node that
        just failed, whose requeued job is this one: it is waited for up to ``wait_s`` seconds (default
        ``STALE_AFTER_S``), until it releases the lock or goes stale, so a requeue does not burn its retries.
        """
        wait_s = STALE_AFTER_S if wait_s is None else wait_s
        deadline = time.monotonic() + wait_s
        self.path.parent.mkdir(parents=True, exist_ok=True)
        takeovers, waiting = 0, False
        while takeovers < 3:  # a holder may release or a stale lock be removed between the calls below
            if self._create():
                self._beat = threading.Thread(target=self._heartbeat, daemon=True, name="run-lock heartbeat")
                self._beat.start()
                return self
            holder = _read(self.path)
            if not holder:  # being written this instant, or damaged: judge it by its age alone
                try:
                    young = time.time() - self.path.stat().st_mtime < 5.0
                except FileNotFoundError:
                    continue
                reason = None if young else "it is unreadable and over 5 s old"
                holder = {"pid": "?", "host": "?", "started": "?"}
            else:
                reason = _stale(self.path, holder)
            if reason is None:
                elsewhere = holder.get("host") not in (socket.gethostname(), "?")
                left = deadline - time.monotonic()
                if not elsewhere or left <= 0:
                    raise RunLocked(
                        f"{self.path.parent}: this run is being trained by {_describe(holder)} ({self.path}); wait "
                        "for it to finish or stop it - a lock whose process is gone is taken over on the next start"
                    )
                if not waiting:
                    print(
                        f"{self.path}: held by {_describe(holder)}; waiting up to {left / 60:.1f} min for it to "
                        "finish or go stale (a failed node stops touching it)",
                        flush=True,
                    )
                    waiting = True
                time.sleep(min(POLL_S, left))
                continue
            print(f"{self.path}: taking over a stale lock: {reason}", flush=True)
            takeovers += 1
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass
        raise RunLocked(f"{self.path}: could not take the lock (other processes keep taking it); try again")

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                os.utime(self.path)
            except OSError:
                return

    def release(self) -> None:
        """Remove the lock if it is still this process's (a taker-over may have replaced it)."""
        self._stop.set()
        holder = _read(self.path)
        if holder.get("pid") == self.me["pid"] and holder.get("host") == self.me["host"]:
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
