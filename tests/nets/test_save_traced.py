"""Saving and loading pruned traced models (nets.saving, the "pruning-game/module" layout):
every nested model of nets.models and a user-defined residual module, pruned at random
players, loads into a fresh instance with the same outputs and parameter count; the file is
weights_only-loadable; damaged and mismatched files are refused in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from nets import apply_participation, attach_gates, load_model, save_model
from nets.models import mlp, resnet_cifar, vit
from nets.saving import MODULE_FORMAT, SHAPE_ATTRIBUTES
from tests.bad_input.conftest import assert_one_line
from tests.nets.test_structure import MODELS, X, n_parameters, random_keep, randomized

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def pruned(name: str, seed: int = 0) -> nn.Module:
    """Model ``name`` with non-trivial BatchNorm statistics, a random set of players removed."""
    model = randomized(MODELS[name](0), 1).eval()
    gated = attach_gates(model, "all", example_inputs=X[:1]).eval()
    keep = random_keep(gated, seed)
    assert not bool(keep.all())
    return apply_participation(gated, keep.double(), mode="remove").eval()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_pruned_traced_model_loads_into_a_fresh_instance(tmp_path: Path, name: str) -> None:
    removed = pruned(name)
    fresh = MODELS[name](7)  # another seed: every value must come from the file
    assert n_parameters(removed) < n_parameters(fresh)
    path = tmp_path / "pruned.pt"
    save_model(removed, path)
    raw = torch.load(path, weights_only=True)  # plain types only: no pickled module
    assert raw["format"] == MODULE_FORMAT
    assert raw["class"].endswith(type(removed).__qualname__)
    loaded = load_model(path, model=fresh)
    assert loaded is fresh
    loaded.eval()
    assert n_parameters(loaded) == n_parameters(removed)
    with torch.no_grad():
        torch.testing.assert_close(loaded(X), removed(X), atol=1e-6, rtol=0)
    for key, tensor in removed.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], tensor), key
    for module_name, module in removed.named_modules():
        twin = loaded.get_submodule(module_name)
        for attribute in SHAPE_ATTRIBUTES:
            assert getattr(twin, attribute, None) == getattr(module, attribute, None)


def test_shapes_come_from_the_file_not_from_the_builder_arguments(tmp_path: Path) -> None:
    """A fresh instance built wider (the same modules) still loads the saved, narrower one."""
    removed = pruned("resnet_cifar")
    save_model(removed, tmp_path / "m.pt")
    loaded = load_model(tmp_path / "m.pt", model=resnet_cifar(8, 6, input_size=8, seed=0)).eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(X), removed(X), atol=1e-6, rtol=0)


def test_dtype_and_requires_grad_survive(tmp_path: Path) -> None:
    removed = pruned("user_residual").double()
    removed.head[2].weight.requires_grad_(False)
    save_model(removed, tmp_path / "m.pt")
    fresh = MODELS["user_residual"](3)
    fresh.head[2].weight.requires_grad_(False)
    loaded = load_model(tmp_path / "m.pt", model=fresh).eval()
    assert all(p.dtype == torch.float64 for p in loaded.parameters())
    assert not loaded.head[2].weight.requires_grad and loaded.head[4].weight.requires_grad
    with torch.no_grad():
        assert torch.equal(loaded(X.double()), removed(X.double()))


def test_loading_goes_through_map_location(tmp_path: Path) -> None:
    removed = pruned("vit")
    save_model(removed, tmp_path / "m.pt")
    for device in ("cpu", "auto", torch.device("cpu")):
        loaded = load_model(tmp_path / "m.pt", device, model=MODELS["vit"](1)).eval()
        expected = torch.device("cuda") if device == "auto" and torch.cuda.is_available() \
            else torch.device("cpu")
        assert all(t.device.type == expected.type for t in loaded.state_dict().values())
        with torch.no_grad():
            torch.testing.assert_close(loaded.cpu()(X), removed(X), atol=1e-6, rtol=0)


@CUDA
def test_a_traced_model_saved_on_cuda_loads_on_the_cpu(tmp_path: Path) -> None:
    removed = pruned("resnet_cifar")
    save_model(removed.to("cuda"), tmp_path / "gpu.pt")
    loaded = load_model(tmp_path / "gpu.pt", model=MODELS["resnet_cifar"](1)).eval()
    assert all(t.device.type == "cpu" for t in loaded.state_dict().values())
    with torch.no_grad():
        torch.testing.assert_close(loaded(X), removed(X.to("cuda")).cpu(), atol=1e-5,
                                   rtol=1e-5)


def test_without_model_the_error_says_to_pass_the_unpruned_model(tmp_path: Path) -> None:
    save_model(pruned("resnet_cifar"), tmp_path / "m.pt")
    with pytest.raises(ValueError) as caught:
        load_model(tmp_path / "m.pt")
    assert_one_line(str(caught.value), "ResNet", "model=")


def test_a_sequential_file_also_loads_into_a_fresh_instance(tmp_path: Path) -> None:
    model = mlp(8, (6,), 3, seed=0)
    gated = attach_gates(model)
    removed = apply_participation(gated, torch.tensor([1.0, 0, 1, 0, 1, 1]), mode="remove")
    save_model(removed, tmp_path / "m.pt")
    assert torch.load(tmp_path / "m.pt", weights_only=True)["format"] == "pruning-game/sequential"
    loaded = load_model(tmp_path / "m.pt", model=mlp(8, (6,), 3, seed=5))
    x = torch.randn(4, 8, generator=torch.Generator().manual_seed(0))
    assert torch.equal(loaded(x), removed(x))
    with pytest.raises(ValueError) as caught:
        load_model(tmp_path / "m.pt", model=nn.Sequential(nn.Flatten(), nn.Conv2d(1, 2, 3),
                                                          nn.ReLU(), nn.Linear(2, 3)))
    assert_one_line(str(caught.value), "module 1")


def damaged(tmp_path: Path, change) -> Path:
    """A copy of a pruned resnet's file with ``change(payload)`` applied."""
    save_model(pruned("resnet_cifar"), tmp_path / "good.pt")
    payload = torch.load(tmp_path / "good.pt", weights_only=True)
    change(payload)
    path = tmp_path / "bad.pt"
    torch.save(payload, path)
    return path


def _wrong_shape(payload: dict) -> None:
    payload["attributes"]["layers.0.conv1"]["out_channels"] += 1


def _missing_tensor(payload: dict) -> None:
    del payload["state_dict"]["fc.weight"]


def _unknown_module(payload: dict) -> None:
    payload["attributes"]["nowhere"] = {"out_channels": 3}


def _bad_version(payload: dict) -> None:
    payload["version"] = 99


def _not_tensors(payload: dict) -> None:
    payload["state_dict"]["fc.weight"] = [1.0]


@pytest.mark.parametrize("change, words", [
    (_wrong_shape, ("damaged", "layers.0")),
    (_missing_tensor, ("fc.weight",)),
    (_unknown_module, ("nowhere",)),
    (_bad_version, ("version",)),
    (_not_tensors, ("state_dict",)),
])
def test_a_damaged_file_is_refused_in_one_line(tmp_path: Path, change, words) -> None:
    path = damaged(tmp_path, change)
    with pytest.raises(ValueError) as caught:
        load_model(path, model=MODELS["resnet_cifar"](0))
    assert_one_line(str(caught.value), str(path), *words)


@pytest.mark.parametrize("cut", [0.5, 0.0])
def test_a_truncated_or_foreign_file_is_refused_in_one_line(tmp_path: Path, cut: float) -> None:
    save_model(pruned("resnet_cifar"), tmp_path / "good.pt")
    data = (tmp_path / "good.pt").read_bytes()
    path = tmp_path / "bad.pt"
    path.write_bytes(data[:int(len(data) * cut)] if cut else b"not a torch file at all")
    with pytest.raises(ValueError) as caught:
        load_model(path, model=MODELS["resnet_cifar"](0))
    assert_one_line(str(caught.value), "save_model")


def test_a_file_with_pickled_code_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "pickled.pt"
    torch.save(resnet_cifar(8, 4, input_size=8, seed=0), path)  # a whole module, pickled
    with pytest.raises(ValueError) as caught:
        load_model(path, model=MODELS["resnet_cifar"](0))
    assert_one_line(str(caught.value), "save_model")


def test_another_class_or_architecture_is_refused_in_one_line(tmp_path: Path) -> None:
    save_model(pruned("resnet_cifar"), tmp_path / "m.pt")
    fresh = vit(input_size=8, patch=2, seed=0)
    with pytest.raises(ValueError) as caught:
        load_model(tmp_path / "m.pt", model=fresh)
    assert_one_line(str(caught.value), "ResNet", "_ViT")
    assert fresh.blocks[0].attn.num_heads == 4  # refused before anything changed
    deeper = resnet_cifar(14, 4, input_size=8, seed=0)
    before = {k: v.clone() for k, v in deeper.state_dict().items()}
    with pytest.raises(ValueError) as caught:
        load_model(tmp_path / "m.pt", model=deeper)
    assert_one_line(str(caught.value), "another architecture")
    assert all(torch.equal(before[k], v) for k, v in deeper.state_dict().items())


def test_gated_models_are_refused(tmp_path: Path) -> None:
    gated = attach_gates(MODELS["resnet_cifar"](0), "all", example_inputs=X[:1])
    with pytest.raises(TypeError, match="GatedNetwork"):
        save_model(gated, tmp_path / "m.pt")
    with pytest.raises(TypeError, match="hooks"):
        save_model(gated.model, tmp_path / "m.pt")
    assert not list(tmp_path.iterdir())
