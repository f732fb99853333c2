"""to_torch_prune on traced models: torch.nn.utils.prune masks on every member of each player
group, outputs equal the mask model's, and the kept entries are exactly those removal keeps."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from nets import apply_participation, attach_gates, to_torch_prune
from tests.nets.test_structure import MODELS, X, n_parameters, random_keep, randomized


def kept_entries(model: nn.Module) -> int:
    """Parameters a mask keeps (its ones), plus every unmasked parameter."""
    total = 0
    for module in model.modules():
        for name, tensor in list(module.named_parameters(recurse=False)):
            if name.endswith("_orig"):
                total += int(getattr(module, name[:-5] + "_mask").sum())
            else:
                total += tensor.numel()
    return total


@pytest.mark.parametrize("name", sorted(MODELS))
def test_masks_equal_masking_and_keep_what_removal_keeps(name: str) -> None:
    model = randomized(MODELS[name](0), 3).eval()
    gated = attach_gates(model, "all", example_inputs=X[:1]).eval()
    generator = torch.Generator().manual_seed(4)
    for seed in range(2):
        keep = random_keep(gated, seed)
        # kept players at participations in (0.5, 1]: the fold scales them, the masks do not
        s = torch.where(keep, 0.5 + 0.5 * torch.rand(gated.n_players, generator=generator,
                                                     dtype=torch.float64), 0.0)
        pruned = to_torch_prune(gated, s, threshold=0.5)
        assert type(pruned) is type(model) and prune.is_pruned(pruned)
        pruned.eval()
        masked = apply_participation(gated, s, mode="mask", threshold=0.5).eval()
        removed = apply_participation(gated, s, mode="remove", threshold=0.5)
        with torch.no_grad():
            torch.testing.assert_close(pruned(X), masked(X), atol=1e-5, rtol=0)
        assert kept_entries(pruned) == n_parameters(removed) < n_parameters(model)
        for layer in gated.layers:  # every member of a group with a removed player is masked
            if bool(keep[layer.players].all()):
                continue
            for member in layer.members:
                module = pruned.get_submodule(member.module)
                if member.role == "out" or getattr(module, "groups", 1) == 1:
                    assert hasattr(module, "weight_mask"), member.module
        for module in pruned.modules():  # torch's own tools work on the result
            for tensor_name in ("weight", "bias"):
                if hasattr(module, f"{tensor_name}_mask"):
                    prune.remove(module, tensor_name)
        assert not prune.is_pruned(pruned)
        with torch.no_grad():
            torch.testing.assert_close(pruned(X), masked(X), atol=1e-5, rtol=0)


class SigmoidHidden(nn.Module):
    """A hidden layer whose removed units still send sigmoid(0) = 0.5 to the reader."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(5, 6)
        self.fc2 = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.sigmoid(self.fc1(x)))


def test_columns_that_read_a_non_zero_constant_stay_unmasked() -> None:
    torch.manual_seed(0)
    gated = attach_gates(SigmoidHidden(), "neuron", example_inputs=torch.randn(1, 5))
    s = torch.tensor([1.0, 0, 1, 0, 1, 1], dtype=torch.float64)
    pruned = to_torch_prune(gated, s)
    assert bool((pruned.fc1.weight_mask[[1, 3]] == 0).all())
    assert bool((pruned.fc2.weight_mask == 1).all())  # they read 0.5: masking would change it
    x = torch.randn(4, 5, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(pruned(x), apply_participation(gated, s, mode="mask")(x),
                                   atol=1e-6, rtol=0)
