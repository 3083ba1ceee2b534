"""Shared test settings: a fixed seed, CPU-sized problems, and the gpu marker skipped without CUDA."""

import os

import pytest
import torch

TEST_SEED = 1234

if os.environ.get("PYTEST_XDIST_WORKER"):  # `make test` runs one worker per core: one thread each, subprocesses too
    torch.set_num_threads(1)
    os.environ["OMP_NUM_THREADS"] = "1"


@pytest.fixture
def gen() -> torch.Generator:
    """A CPU generator with the fixed test seed."""
    return torch.Generator().manual_seed(TEST_SEED)


def pytest_collection_modifyitems(config, items):
    # The slow end-to-end modules first, SLURM's (mostly waiting on daemons) before them: under `make test`
    # (pytest-xdist, a module per worker) the quick modules then fill the workers' gaps. Stable: file order otherwise.
    items.sort(key=lambda item: (item.get_closest_marker("slow") is None, "test_slurm.py" not in item.nodeid))
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device; none here")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
