"""Shared test settings: a fixed seed, CPU-sized problems, and the gpu marker skipped without CUDA."""

import pytest
import torch

TEST_SEED = 1234


@pytest.fixture
def gen() -> torch.Generator:
    """A CPU generator with the fixed test seed."""
    return torch.Generator().manual_seed(TEST_SEED)


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device; none here")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
