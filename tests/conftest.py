"""Shared test settings: a fixed seed, CPU-sized problems, and the gpu marker skipped without CUDA."""

import os

import pytest
import torch

TEST_SEED = 1234

if os.environ.get("PYTEST_XDIST_WORKER"):  # `make test` runs one worker per core: one thread each, subprocesses too
    torch.set_num_threads(1)
    os.environ["OMP_NUM_THREADS"] = "1"

# Modules that each take 20 s or more under `make test` (measured), heaviest first after SLURM's. Only the order in
# which pytest-xdist hands modules to its workers depends on this list: each still runs whole on one worker.
HEAVY = (
    "tests/workflows/test_slurm.py",  # mostly waiting on SLURM's daemons and scheduler: first, so it overlaps the rest
    "tests/workflows/test_workflow.py",
    "tests/shared/test_distributed.py",
    "tests/shared/metrics/test_fid.py",
    "tests/shared/samplers/test_sde_samplers.py",
    "tests/shared/test_train_fast_paths.py",  # torch.compile: ~25 s more with a cold inductor cache (a fresh machine)
    "tests/faults/test_workflow_interrupt.py",
    "tests/shared/metrics/test_fid_modes.py",
    "tests/faults/test_kill.py",
    "tests/shared/samplers/test_ancestral.py",
)


@pytest.fixture
def gen() -> torch.Generator:
    """A CPU generator with the fixed test seed."""
    return torch.Generator().manual_seed(TEST_SEED)


def pytest_configure(config):
    # pytest-xdist (>= 3.3) would hand out --dist loadfile's modules by their number of tests, most first, which put
    # the 2-test SLURM module last (measured: started at 98 %, the run ended ~200 s after it on one worker). Keep the
    # order below unless --loadscope-reorder is asked for explicitly.
    if hasattr(config.option, "loadscopereorder") and "--loadscope-reorder" not in config.invocation_params.args:
        config.option.loadscopereorder = False


def _rank(item) -> tuple[int, int]:
    path = item.nodeid.split("::")[0]
    if path in HEAVY:
        return (0, HEAVY.index(path))
    return (1 if item.get_closest_marker("slow") is not None else 2, 0)


def pytest_collection_modifyitems(config, items):
    # The slow modules first, SLURM's (mostly waiting on daemons) before them: under `make test` (pytest-xdist, a
    # module per worker, in this order) the quick modules then fill the workers' gaps and end the run on both workers
    # together. Stable: file order otherwise.
    items.sort(key=_rank)
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device; none here")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
