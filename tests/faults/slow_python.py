"""``python`` for the interrupted-workflow test: the real interpreter, with every training step made 50 ms slower so
that an interrupt lands between two checkpoints of a run that otherwise takes a fraction of a second.

A shell script named ``python`` early on PATH runs ``<interpreter> slow_python.py ARGS``; ``-m MODULE ...`` runs the
module as ``python -m`` would (the working directory first on sys.path), anything else is handed to the interpreter.
"""

import os
import runpy
import sys
import time

DELAY_S = 0.05

args = sys.argv[1:]
if args[:1] != ["-m"]:
    os.execv(sys.executable, [sys.executable, *args])
module, sys.argv = args[1], [args[1], *args[2:]]
sys.path[0] = os.getcwd()
if "train" in sys.argv[1:2]:
    from shared.data.source import DataSource

    batch = DataSource.batch

    def slow_batch(self, *a, **k):
        time.sleep(DELAY_S)
        return batch(self, *a, **k)

    DataSource.batch = slow_batch
runpy.run_module(module, run_name="__main__", alter_sys=True)
