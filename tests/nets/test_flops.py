"""`evaluate`'s MAC counts against torch's own counter, ``torch.utils.flop_counter``.

``FlopCounterMode`` counts 2 FLOPs per multiply-accumulate of matrix products and
convolutions (``mm``/``addmm``/``convolution``), without the bias add of ``addmm``, and nothing
for BatchNorm, pooling, activations or flattening; `evaluate` counts one MAC per weight and
output position of every Linear and Conv2d, biases, BatchNorm and pooling excluded. So on one
example FLOPs = 2 x ``macs_dense``, dense and after physical removal of units.
"""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from nets import models
from nets.apply import apply_participation
from nets.evaluate import evaluate
from nets.gates import attach_gates


def torch_flops(model: torch.nn.Module, example: torch.Tensor) -> int:
    """FLOPs of one forward pass of `example` (a batch of one), as torch counts them."""
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model(example)
    return counter.get_total_flops()


def macs(model: torch.nn.Module, example: torch.Tensor) -> tuple[int, int]:
    labels = torch.zeros(1, dtype=torch.long)
    result = evaluate(model, [(example, labels)], latency_repeats=0)
    return result.macs_dense, result.macs_remaining


CASES = {
    "mlp": (lambda: models.mlp(64, (32, 16), 10, seed=0), (64,), "neuron"),
    "lenet5": (lambda: models.lenet5(1, 10, input_size=28, seed=0), (1, 28, 28), "all"),
    "lenet5-bn-filters": (lambda: models.lenet5(1, 10, input_size=16, batch_norm=True, seed=0),
                          (1, 16, 16), "filter"),
    "teacher_student": (lambda: models.teacher_student(seed=0).student, (20,), "neuron"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_flops_are_twice_the_macs_dense_and_after_removal(name: str) -> None:
    build, shape, level = CASES[name]
    model = build().eval()
    example = torch.randn((1, *shape), generator=torch.Generator().manual_seed(0))
    dense, remaining = macs(model, example)
    assert torch_flops(model, example) == 2 * dense == 2 * remaining

    gated = attach_gates(model, level)
    s = torch.rand(gated.n_players, generator=torch.Generator().manual_seed(1))
    s[::3] = 0.0  # a third of the players removed
    pruned = apply_participation(gated, s, mode="remove", on_empty="keep_strongest").eval()
    pruned_dense, pruned_remaining = macs(pruned, example)
    assert pruned_dense < dense
    assert torch_flops(pruned, example) == 2 * pruned_dense == 2 * pruned_remaining
