"""Tests of nets.apply: soft, mask, fold and remove modes, torch pruning masks, save and load."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn.utils import prune

from nets.apply import apply_participation, load_model, save_model, to_torch_prune
from nets.gates import GatedNetwork, ParticipationGate, attach_gates
from tests.nets.test_gates import assert_close, cnn, inputs, mlp, randomize

THRESHOLDS = st.sampled_from([0.0, 0.01, 0.05, 0.3, 0.5])


@st.composite
def profiles(draw: st.DrawFn, n: int, threshold: float) -> np.ndarray:
    """Participations mixing exact zeros, values just below / at / above the threshold."""
    special = [0.0, 1.0, threshold, max(threshold - 1e-3, 0.0), min(threshold + 1e-3, 1.0)]
    entry = st.one_of(st.sampled_from(special), st.floats(0.0, 1.0))
    return np.array(draw(st.lists(entry, min_size=n, max_size=n)), dtype=np.float64)


def check_all_modes(gated: GatedNetwork, s: np.ndarray, threshold: float,
                    x: torch.Tensor) -> None:
    """fold == soft, remove == mask (with the expected shapes) and to_torch_prune == mask."""
    soft = apply_participation(gated, s, "soft").eval()
    mask = apply_participation(gated, s, "mask", threshold, on_empty="keep_strongest").eval()
    folded = apply_participation(gated, s, "fold").eval()
    removed = apply_participation(gated, s, "remove", threshold,
                                  on_empty="keep_strongest").eval()
    pruned = to_torch_prune(gated, s, threshold, on_empty="keep_strongest").eval()
    with torch.no_grad():
        out_soft, out_mask = soft(x), mask(x)
        assert_close(folded(x), out_soft, rtol=1e-4, atol=1e-5)
        assert_close(removed(x), out_mask, rtol=1e-4, atol=1e-5)
        assert_close(pruned(x), out_mask, rtol=1e-4, atol=1e-5)
    for module in list(folded) + list(removed) + list(pruned):
        assert not isinstance(module, ParticipationGate)
        assert type(module).__module__.startswith("torch.nn")
    kept_by_mask = mask.get_participation() > 0
    gated_to_removed = [i for i, m in enumerate(gated.model)
                        if not isinstance(m, ParticipationGate)]
    for info in gated.layers:
        s_layer = torch.as_tensor(s[info.players])
        kept = s_layer >= threshold
        if not kept.any():
            kept[torch.argmax(s_layer)] = True
        if threshold > 0:  # positive participations below the threshold are masked to 0
            silent = s_layer.float() == 0  # zero in the float32 gates either way
            assert torch.equal(kept | silent, kept_by_mask[info.players] | silent)
        n_kept = int(kept.sum())
        layer = removed[gated_to_removed.index(info.layer_index)]
        following = removed[gated_to_removed.index(info.next_index)]
        original_next = gated.model[info.next_index]
        if info.kind == "linear":
            assert layer.out_features == n_kept and layer.weight.shape[0] == n_kept
        else:
            assert layer.out_channels == n_kept and layer.weight.shape[0] == n_kept
        if isinstance(following, nn.Linear):
            block = original_next.in_features // info.n_units
            assert following.in_features == n_kept * block
            assert following.weight.shape[1] == n_kept * block
        else:
            assert following.in_channels == n_kept == following.weight.shape[1]
        if info.batchnorm_index is not None:
            bn = removed[gated_to_removed.index(info.batchnorm_index)]
            assert bn.num_features == n_kept and bn.running_mean.shape == (n_kept,)


# ----------------------------------------------------------------------------- property tests


@settings(max_examples=25, deadline=None, derandomize=True)
@given(data=st.data(), widths=st.lists(st.integers(1, 6), min_size=1, max_size=3),
       sigmoid=st.booleans(), batchnorm=st.booleans(), threshold=THRESHOLDS,
       seed=st.integers(0, 2**16))
def test_modes_agree_on_mlps(data: st.DataObject, widths: list[int], sigmoid: bool,
                             batchnorm: bool, threshold: float, seed: int) -> None:
    model = mlp([4, *widths, 3], nn.Sigmoid if sigmoid else nn.ReLU, batchnorm, seed=seed)
    gated = attach_gates(model).eval()
    s = data.draw(profiles(gated.n_players, threshold))
    check_all_modes(gated, s, threshold, inputs(model, seed=seed + 1))


@settings(max_examples=20, deadline=None, derandomize=True)
@given(data=st.data(), c1=st.integers(1, 4), c2=st.integers(1, 4), hidden=st.integers(1, 5),
       batchnorm=st.booleans(), level=st.sampled_from(["filter", "all"]),
       threshold=THRESHOLDS, seed=st.integers(0, 2**16))
def test_modes_agree_on_cnns(data: st.DataObject, c1: int, c2: int, hidden: int, batchnorm: bool,
                             level: str, threshold: float, seed: int) -> None:
    model = cnn(c1, c2, hidden, batchnorm=batchnorm, seed=seed)
    gated = attach_gates(model, level=level).eval()
    s = data.draw(profiles(gated.n_players, threshold))
    check_all_modes(gated, s, threshold, inputs(model, seed=seed + 1))


# ----------------------------------------------------------------------------- modes in detail


def test_soft_and_mask_set_the_gates_and_never_modify_the_input() -> None:
    gated = attach_gates(mlp([4, 5, 3]))
    before = {k: v.clone() for k, v in gated.state_dict().items()}
    s = np.array([0.0, 0.005, 0.01, 0.5, 1.0])
    soft = apply_participation(gated, s)
    mask = apply_participation(gated, s, mode="mask", threshold=0.01)
    for mode in ("fold", "remove"):
        apply_participation(gated, s, mode=mode)
    to_torch_prune(gated, s)
    assert isinstance(soft, GatedNetwork) and isinstance(mask, GatedNetwork)
    assert torch.equal(soft.get_participation(), torch.tensor(s, dtype=torch.float32))
    assert torch.equal(mask.get_participation(), torch.tensor([0.0, 0.0, 0.01, 0.5, 1.0]))
    for key, value in gated.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_s_none_uses_the_current_participation() -> None:
    gated = attach_gates(mlp([4, 4, 3]))
    gated.set_participation(np.array([0.0, 0.3, 0.0, 0.9]))
    removed = apply_participation(gated, mode="remove")
    assert removed[0].out_features == 2 and removed[2].in_features == 2
    assert torch.equal(apply_participation(gated).get_participation(), gated.get_participation())


def test_fold_scales_rows_or_batchnorm() -> None:
    s = np.array([0.5, 0.0, 1.0])
    plain = apply_participation(attach_gates(mlp([2, 3, 2])), s, mode="fold")
    original = mlp([2, 3, 2])
    assert_close(plain[0].weight, original[0].weight * torch.tensor([[0.5], [0.0], [1.0]]))
    assert_close(plain[0].bias, original[0].bias * torch.tensor([0.5, 0.0, 1.0]))
    with_bn = apply_participation(attach_gates(mlp([2, 3, 2], batchnorm=True)), s, mode="fold")
    original_bn = mlp([2, 3, 2], batchnorm=True)
    assert torch.equal(with_bn[0].weight, original_bn[0].weight)
    assert_close(with_bn[1].weight, original_bn[1].weight * torch.tensor([0.5, 0.0, 1.0]))


@pytest.mark.parametrize("train", [False, True])
def test_fold_makes_a_non_affine_batchnorm_affine(train: bool) -> None:
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3, affine=False), nn.ReLU(),
                          nn.Flatten(), nn.Linear(3 * 36, 2))
    randomize(model, torch.Generator().manual_seed(3))
    gated = attach_gates(model, level="filter").train(train)
    s = np.array([0.2, 0.0, 0.7])
    folded = apply_participation(gated, s, mode="fold").train(train)
    soft = apply_participation(gated, s).train(train)
    x = inputs(model)
    assert folded[1].affine and folded[1].weight.shape == (3,)
    assert_close(folded(x), soft(x), rtol=1e-4, atol=1e-5)
    assert not model[1].affine


def test_remove_folds_a_sigmoid_dead_output_into_the_next_bias() -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.Sigmoid(), nn.Linear(4, 2, bias=False))
    randomize(model, torch.Generator().manual_seed(4))
    gated = attach_gates(model).eval()
    s = np.array([0.0, 1.0, 0.004, 0.6])
    removed = apply_participation(gated, s, mode="remove")
    mask = apply_participation(gated, s, mode="mask").eval()
    x = inputs(model)
    assert removed[2].in_features == 2
    expected_bias = 0.5 * (model[2].weight[:, 0] + model[2].weight[:, 2])
    assert_close(removed[2].bias, expected_bias)
    assert_close(removed(x), mask(x), rtol=1e-4, atol=1e-6)


def test_remove_handles_a_batchnorm_after_the_activation() -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.BatchNorm1d(4), nn.Linear(4, 2))
    randomize(model, torch.Generator().manual_seed(5))
    gated = attach_gates(model).eval()
    s = np.array([0.0, 1.0, 0.5, 0.0])
    removed = apply_participation(gated, s, mode="remove").eval()
    x = inputs(model)
    assert removed[2].num_features == 2
    assert_close(removed(x), apply_participation(gated, s, mode="mask").eval()(x), atol=1e-5)


def test_remove_rejects_a_nonzero_dead_output_into_a_conv() -> None:
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.Sigmoid(), nn.Conv2d(3, 2, 3))
    gated = attach_gates(model, level="filter")
    s = np.array([0.0, 1.0, 1.0])
    with pytest.raises(NotImplementedError, match="position"):
        apply_participation(gated, s, mode="remove")
    apply_participation(gated, s, mode="mask")  # masking needs no removal
    kept = apply_participation(gated, np.ones(3), mode="remove")
    assert kept[0].out_channels == 3


def test_remove_folds_a_sigmoid_conv_channel_into_the_flattened_linear_bias() -> None:
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.Sigmoid(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(3 * 16, 2))
    randomize(model, torch.Generator().manual_seed(8))
    gated = attach_gates(model, level="filter").eval()
    s = np.array([0.8, 0.0, 0.3])
    removed = apply_participation(gated, s, mode="remove")
    x = inputs(model)
    assert removed[4].in_features == 32
    assert_close(removed(x), apply_participation(gated, s, mode="mask").eval()(x), atol=1e-5)


def test_remove_rejects_a_constant_through_a_zero_padded_avgpool() -> None:
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Sigmoid(), nn.AvgPool2d(2, padding=1),
                          nn.Flatten(), nn.Linear(2 * 16, 2))
    gated = attach_gates(model, level="filter")
    with pytest.raises(NotImplementedError, match="AvgPool2d"):
        apply_participation(gated, np.array([0.0, 1.0]), mode="remove")
    relu = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.AvgPool2d(2, padding=1),
                         nn.Flatten(), nn.Linear(2 * 16, 2))
    gated = attach_gates(randomize(relu, torch.Generator().manual_seed(9)), level="filter")
    removed = apply_participation(gated, np.array([0.0, 1.0]), mode="remove")
    x = inputs(relu)
    assert_close(removed(x), apply_participation(gated, np.array([0.0, 1.0]), "mask")(x),
                 atol=1e-6)


def test_remove_rejects_a_linear_whose_inputs_do_not_split_into_channels() -> None:
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(10, 2))
    gated = attach_gates(model, level="filter")
    with pytest.raises(ValueError, match="10 inputs"):
        apply_participation(gated, np.array([0.0, 1.0, 1.0]), mode="remove")


def test_removed_model_is_smaller_and_standard() -> None:
    gated = attach_gates(cnn(c1=3, c2=4, hidden=5, batchnorm=True), level="all")
    s = np.array([1, 0, 1, 0, 0, 1, 1, 1, 0, 1, 0, 1], dtype=float)
    removed = apply_participation(gated, s, mode="remove")
    assert isinstance(removed, nn.Sequential) and len(removed) == 11
    shapes = [tuple(m.weight.shape) for m in removed if isinstance(m, nn.Linear | nn.Conv2d)]
    assert shapes == [(2, 1, 3, 3), (2, 2, 3, 3), (3, 32), (3, 3)]
    assert removed[1].running_var.shape == (2,)
    n_params = sum(p.numel() for p in removed.parameters())
    assert n_params < sum(p.numel() for p in gated.parameters())


# ----------------------------------------------------------------------------- emptied layers


def test_emptying_a_layer_raises_by_default() -> None:
    gated = attach_gates(mlp([4, 3, 5, 2]))
    s = np.array([0.5, 0.8, 0.2, 0.001, 0.0, 0.002, 0.0, 0.005])
    for mode in ("mask", "remove"):
        with pytest.raises(ValueError, match=r"threshold=0.01 would remove every unit of layer 3"):
            apply_participation(gated, s, mode=mode)
    with pytest.raises(ValueError, match="keep_strongest"):
        to_torch_prune(gated, s)
    apply_participation(gated, s, mode="fold")  # no threshold involved


def test_keep_strongest_keeps_the_largest_unit_of_an_emptied_layer() -> None:
    gated = attach_gates(mlp([4, 3, 5, 2])).eval()
    s = np.array([0.5, 0.8, 0.2, 0.001, 0.0, 0.002, 0.0, 0.005])
    mask = apply_participation(gated, s, mode="mask", on_empty="keep_strongest").eval()
    removed = apply_participation(gated, s, mode="remove", on_empty="keep_strongest")
    assert torch.equal(mask.get_participation()[3:], torch.tensor([0, 0, 0, 0, 0.005]))
    assert removed[2].out_features == 1 and removed[4].in_features == 1
    x = inputs(gated.model)
    assert_close(removed.eval()(x), mask(x), atol=1e-6)


# ----------------------------------------------------------------------------- torch pruning


def test_to_torch_prune_uses_torch_masks() -> None:
    gated = attach_gates(cnn(c1=2, c2=3, hidden=4, batchnorm=True), level="all").eval()
    s = np.array([1.0, 0.0, 0.5, 0.001, 1.0, 1.0, 0.0, 1.0, 1.0])
    pruned = to_torch_prune(gated, s).eval()
    conv = pruned[0]
    assert prune.is_pruned(pruned)
    assert torch.equal(conv.weight_mask[:, 0, 0, 0], torch.tensor([1.0, 0.0]))
    assert torch.equal(conv.bias_mask, torch.tensor([1.0, 0.0]))
    assert torch.equal(pruned[1].weight_mask, torch.tensor([1.0, 0.0]))
    assert torch.equal(pruned[8].weight_mask[:, 0], torch.tensor([1.0, 0.0, 1.0, 1.0]))
    assert conv.weight[1].abs().sum() == 0
    x = inputs(gated.model)
    expected = apply_participation(gated, s, mode="mask").eval()(x)
    assert_close(pruned(x), expected, atol=1e-5)
    for module in pruned:
        for name in ("weight", "bias"):
            if prune.is_pruned(module) and hasattr(module, f"{name}_mask"):
                prune.remove(module, name)
    assert not prune.is_pruned(pruned)
    assert_close(pruned(x), expected, atol=1e-5)


# ----------------------------------------------------------------------------- save and load


def test_save_load_round_trip_gives_identical_outputs(tmp_path: Path) -> None:
    gated = attach_gates(cnn(c1=3, c2=4, hidden=5, batchnorm=True), level="all")
    s = np.array([1, 0, 1, 0, 0.5, 1, 1, 1, 0, 1, 0, 1], dtype=float)
    removed = apply_participation(gated, s, mode="remove").eval()
    path = tmp_path / "model.pt"
    save_model(removed, path)
    save_model(removed, path)  # overwriting is fine
    assert sorted(os.listdir(tmp_path)) == ["model.pt"]  # no temporary file left behind
    loaded = load_model(path).eval()
    x = inputs(gated.model)
    assert torch.equal(loaded(x), removed(x))
    assert str(loaded) == str(removed)
    raw = torch.load(path, weights_only=True)
    assert [spec["type"] for spec in raw["modules"]][:3] == ["Conv2d", "BatchNorm2d", "ReLU"]


def test_load_does_not_touch_the_global_rng(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    save_model(cnn(batchnorm=True), path)
    state = torch.get_rng_state()
    load_model(path)
    assert torch.equal(torch.get_rng_state(), state)


def test_save_load_keeps_dtype_and_module_options(tmp_path: Path) -> None:
    model = nn.Sequential(
        nn.Conv2d(1, 2, (3, 2), stride=(1, 2), padding=(1, 0), bias=False),  # 2 x 8 x 4
        nn.LeakyReLU(0.2), nn.MaxPool2d((2, 1)), nn.AvgPool2d(2, count_include_pad=False),
        nn.GELU("tanh"), nn.Flatten(), nn.Dropout(0.3), nn.Linear(2 * 2 * 2, 3), nn.Tanh(),
        nn.BatchNorm1d(3, momentum=None, affine=False), nn.Sigmoid(), nn.Linear(3, 2),
        nn.ReLU(), nn.Identity()).double()
    randomize(model, torch.Generator().manual_seed(6))
    path = tmp_path / "m.pt"
    save_model(model, str(path))
    loaded = load_model(path)
    assert str(loaded) == str(model)
    assert loaded[0].weight.dtype == torch.float64 and loaded[0].bias is None
    x = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    model.eval()
    loaded.eval()
    assert torch.equal(loaded(x), model(x))


@pytest.mark.parametrize("make", [
    lambda: nn.Sequential(nn.Linear(2, 2), nn.LayerNorm(2)),
    lambda: nn.Linear(2, 2),
])
def test_other_modules_need_their_class_to_load(tmp_path: Path, make: Any) -> None:
    """A module outside the self-describing sequential layout saves its shapes and state; it
    loads into a fresh instance of its class, and without one the error says to pass it."""
    model = make()
    path = tmp_path / "x.pt"
    save_model(model, path)
    with pytest.raises(ValueError, match="pass model="):
        load_model(path)
    loaded = load_model(path, model=make())
    x = torch.randn(3, 2, generator=torch.Generator().manual_seed(0))
    assert torch.equal(loaded(x), model(x))


def test_save_rejects_gated_and_torch_pruned_models(tmp_path: Path) -> None:
    gated = attach_gates(mlp([3, 3, 2]))
    with pytest.raises(TypeError, match="fold"):
        save_model(gated, tmp_path / "x.pt")
    with pytest.raises(TypeError, match="ParticipationGate"):
        save_model(gated.model, tmp_path / "x.pt")
    with pytest.raises(TypeError, match=r"prune\.remove"):
        save_model(to_torch_prune(gated), tmp_path / "x.pt")
    assert os.listdir(tmp_path) == []


def test_load_rejects_foreign_files(tmp_path: Path) -> None:
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.ones(2)}, path)
    with pytest.raises(ValueError, match="save_model"):
        load_model(path)


# ----------------------------------------------------------------------------- bad arguments


@pytest.mark.parametrize("kwargs, name", [
    ({"mode": "prune"}, "mode"),
    ({"mode": "mask", "threshold": -0.1}, "threshold"),
    ({"mode": "mask", "threshold": float("nan")}, "threshold"),
    ({"mode": "remove", "threshold": float("inf")}, "threshold"),
    ({"mode": "mask", "threshold": "0.01"}, "threshold"),
    ({"s": np.ones(4)}, "s"),
    ({"s": np.full(5, 1.2)}, "s"),
    ({"s": torch.tensor([1.0, 1.0, float("nan"), 1.0, 1.0])}, "s"),
    ({"mode": "remove", "on_empty": "drop"}, "on_empty"),
])
def test_bad_arguments_raise_value_errors_naming_them(kwargs: dict, name: str) -> None:
    gated = attach_gates(mlp([4, 3, 2, 2]))
    with pytest.raises(ValueError, match=rf"^{name} "):
        apply_participation(gated, **kwargs)
    if "mode" not in kwargs:
        with pytest.raises(ValueError, match=rf"^{name} "):
            to_torch_prune(gated, **kwargs)


def test_non_gated_input_raises_type_error() -> None:
    with pytest.raises(TypeError, match="attach_gates"):
        apply_participation(mlp([3, 3, 2]), mode="fold")
    with pytest.raises(TypeError, match="attach_gates"):
        to_torch_prune(mlp([3, 3, 2]))
