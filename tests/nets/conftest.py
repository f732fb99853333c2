"""Shared fixtures of the nets tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from nets import data


@pytest.fixture(autouse=True)
def single_thread() -> Iterator[None]:
    """Tiny models run faster on one thread, and far faster when the cores are shared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def digits() -> data.DataBundle:
    """scikit-learn's 8x8 digits, split once for the session."""
    return data.load("digits")
