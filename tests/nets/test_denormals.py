"""Training flushes denormals only while it runs (the flag is process-wide CPU state)."""

from __future__ import annotations

import sys

import torch

from nets.training import flush_denormals


def test_flush_denormals_is_scoped():
    tiny = sys.float_info.min / 4  # a float64 denormal
    assert torch.tensor(tiny, dtype=torch.float64).item() == tiny
    with flush_denormals():
        assert torch.tensor([tiny], dtype=torch.float64).mul(1.0).item() == 0.0
    assert torch.tensor([tiny], dtype=torch.float64).mul(1.0).item() == tiny
