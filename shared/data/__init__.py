"""Data: 2-D toy sets, image sets (digits, MNIST, CIFAR-10), transforms, and the batch source of training."""

from shared.data.source import DataConfig, DataSource

__all__ = ["DataConfig", "DataSource"]
