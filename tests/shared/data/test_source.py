"""DataSource's image batches: every epoch visits each training image once, in a permutation seeded by the epoch;
a batch that straddles two epochs ends one and starts the next; the cached permutations change no batch."""

import torch

from shared.data.source import DataConfig, DataSource


def rows(x: torch.Tensor) -> list[tuple]:
    return sorted(map(tuple, x.flatten(1).tolist()))


def test_epochs_visit_every_image_once_and_caching_changes_no_batch():
    src = DataSource(DataConfig(name="digits"), seed=5)
    n = src.train_uint8.shape[0]  # 1437 training digits
    bs = 100
    first = torch.cat([src.batch(s, bs) for s in range(n // bs + 1)])[:n]  # epoch 0, cut inside step 14
    assert rows(first) == rows(src.to_model(src.train_uint8))
    straddling = src.batch(n // bs, bs)  # images n - 1400 .. of epoch 0, then the start of epoch 1
    second = torch.cat([src.batch(s, bs) for s in range(n // bs, 2 * n // bs + 1)])[n % bs :][:n]
    assert rows(second) == rows(first) and not torch.equal(second, first)  # epoch 1: the same images, reshuffled
    assert torch.equal(straddling[: n % bs], first[-(n % bs) :])
    for step in (0, n // bs, 2 * n // bs, 3):  # a fresh source, with nothing cached, gives the very same batches
        assert torch.equal(DataSource(DataConfig(name="digits"), seed=5).batch(step, bs), src.batch(step, bs))
    assert not torch.equal(DataSource(DataConfig(name="digits"), seed=6).batch(0, bs), src.batch(0, bs))
