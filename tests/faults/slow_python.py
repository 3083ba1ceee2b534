"""``python`` for the interrupted-workflow test: the real interpreter, with (SLOW_PYTHON_PAUSE_AT=k and
SLOW_PYTHON_DIR=folder) the first training run paused in step k until the test says so: it writes ``folder/paused``
when it reaches the step and waits for ``folder/resume``. The test then knows that training is mid-run, whatever
the machine's load, when it presses Ctrl-C (an earlier version slowed every step by 50 ms and hoped).

A shell script named ``python`` early on PATH runs ``<interpreter> slow_python.py ARGS``; ``-m MODULE ...`` runs the
module as ``python -m`` would (the working directory first on sys.path), anything else is handed to the interpreter.
"""

import os
import runpy
import sys
import time
from pathlib import Path

PAUSE_TIMEOUT_S = 300

args = sys.argv[1:]
if args[:1] != ["-m"]:
    os.execv(sys.executable, [sys.executable, *args])
module, sys.argv = args[1], [args[1], *args[2:]]
sys.path[0] = os.getcwd()
if "train" in sys.argv[1:2]:
    from shared.data.source import DataSource

    batch = DataSource.batch
    pause_at = int(os.environ.get("SLOW_PYTHON_PAUSE_AT", "-1"))
    folder = Path(os.environ.get("SLOW_PYTHON_DIR", "."))

    def slow_batch(self, step, *a, **k):
        if step == pause_at and not (folder / "paused").exists():  # only the first run pauses
            (folder / "paused").write_text(str(os.getpid()))
            deadline = time.monotonic() + PAUSE_TIMEOUT_S
            while not (folder / "resume").exists() and time.monotonic() < deadline:
                time.sleep(0.01)  # a signal's handler runs in between; the wait goes on until the test resumes it
        return batch(self, step, *a, **k)

    DataSource.batch = slow_batch
runpy.run_module(module, run_name="__main__", alter_sys=True)
