"""A short Fashion-MNIST run of Algorithm 1 (a few hundred steps) where the data is installed."""

from __future__ import annotations

import pytest
import torch

from nets import EquilibriumPruning, PruningConfig, data, models
from nets.data import DatasetNotFoundError


def test_a_short_fashion_mnist_training_learns_and_prunes():
    try:
        bundle = data.load("fashion-mnist", limit=12_800)
    except DatasetNotFoundError as error:
        pytest.skip(f"Fashion-MNIST is not installed here ({error}); .ci/run installs it")
    test = torch.utils.data.TensorDataset(*(t[:2_000] for t in bundle.test.tensors))
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        config = PruningConfig(payoff="loss_descent", beta=0.01, gamma=0.02,
                               participation_lr=0.05, epochs=2, batch_size=128)
        result = EquilibriumPruning(config).fit(models.mlp(784, (64, 32), 10, seed=0),
                                                (bundle.train, test), progress=False)
    finally:
        torch.set_num_threads(threads)
    steps = 2 * (12_800 // 128)
    assert steps == 200
    first, last = result.history
    assert last.test_accuracy > 0.7  # chance is 0.1
    assert last.mean_participation < first.mean_participation < 1.0
    assert result.participation.shape == (96,)
