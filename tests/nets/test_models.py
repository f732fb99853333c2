"""Tests for nets.models: architectures, parameter counts, seeding and the teacher-student pair."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from nets.models import ACTIVATIONS, lenet5, mlp, teacher_student


def n_parameters(model: nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


def assert_flat(model: nn.Sequential) -> None:
    assert isinstance(model, nn.Sequential)
    assert all(len(list(module.children())) == 0 for module in model)


def same_parameters(left: nn.Module, right: nn.Module) -> bool:
    pairs = zip(left.parameters(), right.parameters(), strict=True)
    return all(torch.equal(a, b) for a, b in pairs)


# --- mlp ------------------------------------------------------------------------------------


def test_paper_mlp_parameter_count_and_output_shape() -> None:
    model = mlp(784, (512, 256), 10, seed=0)
    assert n_parameters(model) == 535_818  # 784*512+512 + 512*256+256 + 256*10+10
    assert_flat(model)
    assert [type(module) for module in model] == [
        nn.Flatten,
        nn.Linear,
        nn.ReLU,
        nn.Linear,
        nn.ReLU,
        nn.Linear,
    ]
    assert model(torch.zeros(5, 1, 28, 28)).shape == (5, 10)


def test_mlp_without_flatten_and_without_hidden_layers() -> None:
    model = mlp(20, (), 4, flatten=False, seed=0)
    assert [type(module) for module in model] == [nn.Linear]
    assert model(torch.zeros(3, 20)).shape == (3, 4)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_mlp_activations(activation: str) -> None:
    model = mlp(8, (6, 5), 3, activation=activation, seed=0)
    activation_type = type(ACTIVATIONS[activation]())
    assert [type(module) for module in model][2::2] == [activation_type, activation_type]


def test_mlp_unknown_activation_names_argument() -> None:
    with pytest.raises(ValueError, match="activation='swish'"):
        mlp(activation="swish")


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [({"in_features": 0}, "in_features"), ({"hidden": (4, -1)}, r"hidden\[1\]")],
)
def test_mlp_rejects_bad_sizes(kwargs: dict, argument: str) -> None:
    with pytest.raises(ValueError, match=argument):
        mlp(**kwargs)


# --- lenet5 ---------------------------------------------------------------------------------


def test_lenet5_on_28x28() -> None:
    model = lenet5(seed=0)
    assert_flat(model)
    # conv 6*1*25+6, conv 16*6*25+16, fc 400*120+120, fc 120*84+84, fc 84*10+10
    assert n_parameters(model) == 156 + 2416 + 48120 + 10164 + 850
    assert model[7].in_features == 16 * 5 * 5
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_lenet5_on_8x8_digits_pads_second_convolution() -> None:
    model = lenet5(input_size=8, seed=0)
    convolutions = [module for module in model if isinstance(module, nn.Conv2d)]
    assert [conv.padding for conv in convolutions] == [(2, 2), (2, 2)]
    assert model[7].in_features == 16 * 2 * 2
    assert model(torch.zeros(3, 1, 8, 8)).shape == (3, 10)


def test_lenet5_batch_norm_order() -> None:
    model = lenet5(in_channels=3, n_classes=5, input_size=32, batch_norm=True, seed=0)
    assert_flat(model)
    assert [type(module) for module in model][:8] == [
        nn.Conv2d,
        nn.BatchNorm2d,
        nn.ReLU,
        nn.MaxPool2d,
        nn.Conv2d,
        nn.BatchNorm2d,
        nn.ReLU,
        nn.MaxPool2d,
    ]
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 5)


def test_lenet5_rejects_too_small_input_and_bad_channels() -> None:
    with pytest.raises(ValueError, match="input_size"):
        lenet5(input_size=3)
    with pytest.raises(ValueError, match="channels"):
        lenet5(channels=(6, 16, 32))
    with pytest.raises(ValueError, match="activation"):
        lenet5(activation="softplus")


# --- seeding --------------------------------------------------------------------------------

CONSTRUCTORS = {
    "mlp": lambda seed: mlp(64, (32,), 10, seed=seed),
    "lenet5": lambda seed: lenet5(input_size=8, seed=seed),
    "teacher_student": lambda seed: teacher_student(seed=seed).student,
}


@pytest.mark.parametrize("name", list(CONSTRUCTORS))
def test_seeded_constructors_are_deterministic(name: str) -> None:
    build = CONSTRUCTORS[name]
    assert same_parameters(build(3), build(3))
    assert not same_parameters(build(3), build(4))


@pytest.mark.parametrize("name", list(CONSTRUCTORS))
def test_seeded_constructors_leave_global_rng_untouched(name: str) -> None:
    state_before = torch.get_rng_state()
    CONSTRUCTORS[name](0)
    assert torch.equal(torch.get_rng_state(), state_before)


def test_unseeded_constructor_draws_from_global_rng() -> None:
    state_before = torch.get_rng_state()
    mlp(8, (4,), 2)
    assert not torch.equal(torch.get_rng_state(), state_before)


def test_seeded_initialization_follows_pytorch_default_bounds() -> None:
    model = mlp(400, (300,), 10, seed=1)
    for layer in (model[1], model[3]):
        bound = 1.0 / math.sqrt(layer.in_features)
        for parameter in (layer.weight, layer.bias):
            assert parameter.abs().max() <= bound
            assert parameter.abs().max() > 0.9 * bound  # spread over the whole interval


# --- teacher_student ------------------------------------------------------------------------


def test_student_computes_the_teacher_function() -> None:
    pair = teacher_student(n_features=20, teacher_hidden=8, n_classes=4, duplicates=4, seed=0)
    inputs = torch.randn(256, 20, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.allclose(pair.student(inputs), pair.teacher(inputs), atol=1e-6)
    assert pair.student[0].out_features == 12
    assert_flat(pair.teacher) and assert_flat(pair.student)


def test_duplicate_pairs_share_incoming_weights_and_split_outgoing() -> None:
    pair = teacher_student(n_features=5, teacher_hidden=6, n_classes=3, duplicates=2, seed=2)
    assert pair.duplicate_pairs == ((0, 6), (1, 7))
    hidden, output = pair.student[0], pair.student[2]
    teacher_output = pair.teacher[2]
    for original, copy in pair.duplicate_pairs:
        assert torch.equal(hidden.weight[original], hidden.weight[copy])
        assert torch.equal(hidden.bias[original], hidden.bias[copy])
        assert torch.equal(output.weight[:, original], output.weight[:, copy])
        assert torch.equal(
            output.weight[:, original] + output.weight[:, copy],
            teacher_output.weight[:, original],
        )
    assert torch.equal(hidden.weight[:6], pair.teacher[0].weight)
    assert torch.equal(output.weight[:, 2:6], teacher_output.weight[:, 2:6])


def test_centered_teacher_has_zero_mean_logits_and_equivalent_student() -> None:
    pair = teacher_student(center_logits=True, seed=0)
    inputs = torch.randn(20_000, 20, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        logits = pair.teacher(inputs)
        assert torch.allclose(pair.student(inputs), logits, atol=1e-6)
    mean_abs_error = logits.mean(dim=0).abs().max().item()
    assert mean_abs_error < 5 * logits.std(dim=0).max().item() / math.sqrt(20_000)
    uncentered = teacher_student(center_logits=False, seed=0)
    assert torch.equal(uncentered.teacher[0].weight, pair.teacher[0].weight)
    assert not torch.equal(uncentered.teacher[2].bias, pair.teacher[2].bias)


@pytest.mark.parametrize("duplicates", [-1, 9])
def test_teacher_student_rejects_bad_duplicates(duplicates: int) -> None:
    with pytest.raises(ValueError, match="duplicates"):
        teacher_student(teacher_hidden=8, duplicates=duplicates)


def test_zero_duplicates_gives_copy_of_teacher() -> None:
    pair = teacher_student(duplicates=0, seed=0)
    assert pair.duplicate_pairs == ()
    assert same_parameters(pair.teacher, pair.student)
