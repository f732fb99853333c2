"""Tests for the nested models of nets.models: ResNets, ViT and MLP-Mixer (shapes, parameter
counts, seeding, argument checks)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nets.models import mlp_mixer, resnet18_like, resnet_cifar, vit


def n_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


BUILDERS = {
    "resnet_cifar": lambda seed: resnet_cifar(8, 4, input_size=8, seed=seed),
    "resnet18_like": lambda seed: resnet18_like(2, input_size=8, seed=seed),
    "vit": lambda seed: vit(input_size=8, patch=2, seed=seed),
    "mlp_mixer": lambda seed: mlp_mixer(input_size=8, patch=2, seed=seed),
}


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_seeded_models_are_reproducible_and_leave_the_global_generator(name: str) -> None:
    state = torch.random.get_rng_state()
    a, b = BUILDERS[name](3), BUILDERS[name](3)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    c = BUILDERS[name](4)
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters(),
                                                     strict=True))
    assert a(torch.zeros(2, 1, 8, 8)).shape == (2, 10)


def test_resnet_parameter_counts() -> None:
    # ResNet-18 for CIFAR (3x3 stem, no max pool, 10 classes, 3 input channels): 11,173,962
    # parameters, the count of the widely used pytorch-cifar definition.
    assert n_parameters(resnet18_like(64, in_channels=3, input_size=32, seed=0)) == 11_173_962
    # ResNet-20, width 16, option-B shortcuts: the basic blocks' 3x3 convolutions and BNs,
    # the two 1x1 projection shortcuts with their BNs, stem and head.
    convs = 9 * 16 + 6 * 9 * 16 * 16 + (9 * 16 * 32 + 5 * 9 * 32 * 32) \
        + (9 * 32 * 64 + 5 * 9 * 64 * 64)
    bns = 2 * (16 + 6 * 16 + 6 * 32 + 6 * 64)
    shortcuts = 16 * 32 + 2 * 32 + 32 * 64 + 2 * 64
    assert n_parameters(resnet_cifar(20, 16, seed=0)) == convs + bns + shortcuts + 64 * 10 + 10


def test_resnet_runs_on_28_and_32_pixel_inputs() -> None:
    assert resnet_cifar(8, 4, seed=0)(torch.zeros(1, 1, 28, 28)).shape == (1, 10)
    assert resnet_cifar(8, 4, 3, 100, input_size=32, seed=0)(
        torch.zeros(1, 3, 32, 32)).shape == (1, 100)


def test_vit_and_mixer_shapes() -> None:
    model = vit(seed=0)
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert model.blocks[0].attn.num_heads == 4
    assert mlp_mixer(seed=0)(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


@pytest.mark.parametrize("call, match", [
    (lambda: resnet_cifar(21), "6n \\+ 2"),
    (lambda: resnet_cifar(8, 0), "width"),
    (lambda: resnet18_like(input_size=4), "input_size"),
    (lambda: vit(input_size=28, patch=5), "multiple of patch"),
    (lambda: mlp_mixer(token_hidden=0), "token_hidden"),
])
def test_bad_arguments_name_the_argument(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()
