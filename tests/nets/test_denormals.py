"""Training flushes denormals only while it runs (the flag is process-wide CPU state)."""

from __future__ import annotations

import sys

import torch

import nets.training
from nets.loop import flush_denormals


def test_flush_denormals_is_scoped():
    tiny = sys.float_info.min / 4  # a float64 denormal
    assert torch.tensor(tiny, dtype=torch.float64).item() == tiny
    with flush_denormals():
        assert torch.tensor([tiny], dtype=torch.float64).mul(1.0).item() == 0.0
    assert torch.tensor([tiny], dtype=torch.float64).mul(1.0).item() == tiny


def test_flush_denormals_is_still_importable_from_nets_training():
    assert nets.training.flush_denormals is flush_denormals
