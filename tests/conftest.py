"""Fixtures shared by every test package."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def single_thread() -> Iterator[None]:
    """Tiny models run faster on one thread, and far faster when the two cores are shared.

    Only when torch is already imported: this fixture never imports it itself, so a run of
    the equilibria tests alone stays torch-free.
    """
    if "torch" not in sys.modules:
        yield
        return
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
