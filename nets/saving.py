"""Save and load pruned networks in files that ``torch.load(weights_only=True)`` reads.

Two layouts, both made only of dicts, lists, strings, numbers and tensors (no pickled module,
so loading runs no code from the file; https://pytorch.org/docs/stable/generated/torch.load.html):

- ``"pruning-game/sequential"``: a flat ``nn.Sequential`` of the standard layers
  (`SEQUENTIAL_LAYERS`): every module's class and constructor arguments, and the state. It is
  self-describing: `load_model` rebuilds the network from the file alone.
- ``"pruning-game/module"``: any other ``nn.Module`` (a traced model pruned through
  Torch-Pruning, `nets.apply.apply_participation` with ``mode="remove"``): the class's
  qualified name, the state dict, and per named module the plain shape attributes that
  physical pruning changes (`SHAPE_ATTRIBUTES`). Code cannot be rebuilt from plain data, so
  `load_model` takes ``model=``, a freshly built unpruned instance of the same class (e.g.
  ``nets.models.resnet_cifar(depth=8, width=4)``): the saved attributes are set on it, its
  parameters and buffers are replaced by tensors of the saved shapes, and the state is
  loaded strictly.

Why not Torch-Pruning's own ``torch_pruning.serialization`` (``state_dict`` /
``load_state_dict``): it stores every module's ``__dict__``, modules and hooks included, so
its files load only with ``weights_only=False``, which unpickles (and can run) arbitrary code.
Only its list of changed attributes is reused here (`SHAPE_ATTRIBUTES`).

Both layouts are written to a temporary file in the same folder and moved into place with
``os.replace``, so an interruption never leaves a partial file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.utils import prune

from equilibria.atomic import atomic_write
from nets.device import resolve_device
from nets.gates import GatedNetwork, ParticipationGate, _SiteHook

__all__ = ["FILE_FORMATS", "SEQUENTIAL_LAYERS", "SHAPE_ATTRIBUTES", "load_model", "save_model"]

#: Tag of a flat ``nn.Sequential`` file (self-describing).
SEQUENTIAL_FORMAT = "pruning-game/sequential"
#: Tag of any other ``nn.Module`` (loaded into a fresh instance of its class).
MODULE_FORMAT = "pruning-game/module"
#: The format tags `load_model` reads, with the version of each.
FILE_FORMATS = {SEQUENTIAL_FORMAT: 1, MODULE_FORMAT: 1}

#: Module attributes that physical pruning changes, stored per named module in a
#: ``"pruning-game/module"`` file: those the pruning functions of Torch-Pruning 1.6.1 set
#: (``torch_pruning/pruner/function.py``: Conv ``in_channels``/``out_channels``/``groups``,
#: Linear ``in_features``/``out_features``, BatchNorm/InstanceNorm ``num_features``,
#: LayerNorm ``normalized_shape``, GroupNorm ``num_channels``, PReLU ``num_parameters``,
#: Embedding ``embedding_dim``, LSTM ``hidden_size``/``input_size``, MultiheadAttention
#: ``embed_dim``/``head_dim``/``kdim``/``vdim``), the ``num_heads`` that
#: `nets.structure.remove_players` lowers on an attention module, and the BatchNorm
#: ``affine`` that folding a participation turns on. Other attributes keep the value the
#: fresh instance was built with: a model whose ``forward`` reads a width it stored itself
#: (``self.width = ...``) must derive it from a module or tensor shape instead.
SHAPE_ATTRIBUTES = ("in_channels", "out_channels", "groups", "in_features", "out_features",
                    "num_features", "normalized_shape", "num_channels", "num_parameters",
                    "embedding_dim", "hidden_size", "input_size", "embed_dim", "head_dim",
                    "kdim", "vdim", "num_heads", "affine")


def save_model(model: nn.Module, path: str | os.PathLike[str]) -> None:
    """Save a network (its architecture's shapes and its state) to one ``torch.save`` file.

    A flat ``nn.Sequential`` of `SEQUENTIAL_LAYERS` gets the self-describing
    ``"pruning-game/sequential"`` layout; any other module the ``"pruning-game/module"``
    layout (class name, state dict, `SHAPE_ATTRIBUTES` per named module), which
    `load_model` reads into a fresh instance of the class (see the module docstring).

    Parameters
    ----------
    model : nn.Module
        A plain network: no participation gates (save ``apply_participation(gated,
        mode="fold")`` or ``mode="remove"``) and no ``torch.nn.utils.prune`` masks.
    path : str or os.PathLike
        Destination file; its folder must exist.

    Raises
    ------
    TypeError
        When ``model`` is not an ``nn.Module``, is a `GatedNetwork`, holds a
        `ParticipationGate` or its hooks, or still carries ``torch.nn.utils.prune``
        reparametrizations.
    ValueError
        When the folder of ``path`` does not exist.
    """
    _check_plain(model)
    target = Path(path)
    if not target.parent.is_dir():
        raise ValueError(f"path {str(target)!r}: folder {str(target.parent)!r} does not exist; "
                         "create it first")
    if _is_standard_sequential(model):
        payload = {"format": SEQUENTIAL_FORMAT, "version": FILE_FORMATS[SEQUENTIAL_FORMAT],
                   "modules": [_module_spec(module) for module in model],
                   "state_dict": dict(model.state_dict())}
    else:
        payload = {"format": MODULE_FORMAT, "version": FILE_FORMATS[MODULE_FORMAT],
                   "class": class_name(model), "attributes": shape_attributes(model),
                   "state_dict": dict(model.state_dict())}
    with atomic_write(target, "wb") as handle:
        torch.save(payload, handle)


def load_model(path: str | os.PathLike[str], device: str | torch.device = "cpu", *,
               model: nn.Module | None = None) -> nn.Module:
    """Load a network written by `save_model` (``torch.load(weights_only=True)``).

    Parameters
    ----------
    path : str or os.PathLike
    device : {"cpu", "cuda", "mps", "auto"} or torch.device, default "cpu"
        Where the tensors go (``map_location``, `nets.device.resolve_device`), whatever
        device they were saved from: a model saved on a GPU loads on a CPU-only machine.
    model : nn.Module or None, default None
        A freshly built, unpruned instance of the saved class (e.g.
        ``nets.models.resnet_cifar(depth=8, width=4)``); needed for a
        ``"pruning-game/module"`` file. It is changed in place: the saved shape attributes are
        set, its parameters and buffers replaced by tensors of the saved shapes, and the state
        loaded strictly (dtypes included). For a ``"pruning-game/sequential"`` file it is
        optional: without it the network is built from the file.

    Returns
    -------
    nn.Module
        The loaded network (``model`` itself when given), on ``device``. Loading does not draw
        from torch's global random number generator.

    Raises
    ------
    ValueError
        One line naming ``path``, when the file is damaged or was not written by
        `save_model`, its version is unknown, ``model`` is missing for a
        ``"pruning-game/module"`` file, ``model`` is of another class or architecture than the
        saved one (a module, attribute or tensor it lacks), or the saved tensors disagree with
        the saved shapes; or when ``device`` is unknown or not available here
        (`nets.checks.PruningError`).
    OSError
        ``FileNotFoundError``, ``IsADirectoryError`` or ``PermissionError`` when ``path``
        cannot be opened.
    """
    where = resolve_device(device)
    payload = _read(path, where)
    if model is not None and not isinstance(model, nn.Module):
        raise ValueError(f"model must be a freshly built torch.nn.Module of the saved class; "
                         f"got {type(model).__name__}")
    if payload["format"] == SEQUENTIAL_FORMAT:
        specs = payload["modules"]
        if model is None:
            model = nn.Sequential(*[_build_module(path, i, spec) for i, spec in enumerate(specs)])
        expected = "torch.nn.modules.container.Sequential"
        attributes = _sequential_attributes(path, specs, model)
    else:
        if model is None:
            raise ValueError(
                f"path {str(path)!r} holds a pruned {payload['class']}, which needs its code: "
                "pass model=, a freshly built unpruned instance of that class, e.g. "
                "load_model(path, model=nets.models.resnet_cifar(...)) with the builder's "
                "arguments")
        expected = payload["class"]
        attributes = payload["attributes"]
    if class_name(model) != expected:
        raise ValueError(f"path {str(path)!r} holds a {expected}, but model is a "
                         f"{class_name(model)}; pass a fresh instance of the saved class")
    _apply(path, model, attributes, payload["state_dict"])
    return model.to(where)


def class_name(model: nn.Module) -> str:
    """The qualified name of ``model``'s class, ``module.QualName`` (stored in a file)."""
    kind = type(model)
    return f"{kind.__module__}.{kind.__qualname__}"


def shape_attributes(model: nn.Module) -> dict[str, dict[str, Any]]:
    """Per named module (``""`` is ``model`` itself), its `SHAPE_ATTRIBUTES` that hold plain
    ints, bools or tuples of ints (tuples as lists, as the file stores them)."""
    result: dict[str, dict[str, Any]] = {}
    for name, module in model.named_modules():
        found = {}
        for attribute in SHAPE_ATTRIBUTES:
            value = getattr(module, attribute, None)
            if isinstance(value, tuple) and all(isinstance(v, int) for v in value):
                found[attribute] = list(value)
            elif isinstance(value, bool | int):
                found[attribute] = value
        if found:
            result[name] = found
    return result


# --------------------------------------------------------------------------- internals


def _check_plain(model: Any) -> None:
    if isinstance(model, GatedNetwork):
        raise TypeError("model is a GatedNetwork; save apply_participation(model, "
                        "mode='fold') or mode='remove' instead, or its state_dict")
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    if prune.is_pruned(model):
        raise TypeError("model carries torch.nn.utils.prune masks; call "
                        "torch.nn.utils.prune.remove(module, name) on each pruned tensor first")
    for name, module in model.named_modules():
        if isinstance(module, ParticipationGate):
            raise TypeError(f"module {name!r} is a ParticipationGate; save "
                            "apply_participation(gated, mode='fold') or mode='remove' instead")
        hooks = list(module._forward_hooks.values()) + list(module._forward_pre_hooks.values())
        if any(isinstance(hook, _SiteHook) for hook in hooks):
            raise TypeError(f"module {name!r} carries participation-gate hooks (the .model of "
                            "a TracedGatedNetwork); save apply_participation(gated, "
                            "mode='fold') or mode='remove' instead")


def _is_standard_sequential(model: nn.Module) -> bool:
    return type(model) is nn.Sequential and all(
        type(module) is getattr(nn, type(module).__name__, None)
        and type(module).__name__ in SEQUENTIAL_LAYERS
        and not getattr(module, "return_indices", False) for module in model)


def _read(path: str | os.PathLike[str], where: torch.device) -> dict[str, Any]:
    """The checked payload of a `save_model` file (format, version and the keys it needs)."""
    name = str(path)
    try:
        payload = torch.load(path, map_location=where, weights_only=True)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise  # the path itself is wrong, not the file's contents
    except Exception as error:  # noqa: BLE001 - any unreadable file, reported on one line
        message = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise ValueError(f"path {name!r} is not a readable model file written by save_model "
                         f"({type(error).__name__}: {message[:200]})") from error
    tag = payload.get("format") if isinstance(payload, dict) else None
    if tag not in FILE_FORMATS:
        raise ValueError(f"path {name!r} is not a model file written by save_model (format tag "
                         f"{' or '.join(repr(f) for f in FILE_FORMATS)} missing)")
    if payload.get("version") != FILE_FORMATS[tag]:
        raise ValueError(f"path {name!r} has {tag} version {payload.get('version')!r}; this "
                         f"code reads version {FILE_FORMATS[tag]}")
    needed = {SEQUENTIAL_FORMAT: {"modules": list, "state_dict": dict},
              MODULE_FORMAT: {"class": str, "attributes": dict, "state_dict": dict}}[tag]
    for key, kind in needed.items():
        if not isinstance(payload.get(key), kind):
            raise ValueError(f"path {name!r} is damaged: its {key!r} is not a {kind.__name__}")
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor)
               for k, v in payload["state_dict"].items()):
        raise ValueError(f"path {name!r} is damaged: its state_dict does not map names to "
                         "tensors")
    return payload


def _build_module(path: Any, index: int, spec: Any) -> nn.Module:
    """Construct module ``index`` of a sequential file, restoring the global RNG its
    initializer draws from (the initial values are overwritten by the saved state)."""
    if not isinstance(spec, dict) or spec.get("type") not in SEQUENTIAL_LAYERS \
            or not isinstance(spec.get("args"), dict):
        kind = spec.get("type") if isinstance(spec, dict) else spec
        raise ValueError(f"path {str(path)!r}: module {index} has unsupported type {kind!r}")
    args = {k: tuple(v) if isinstance(v, list) else v for k, v in spec["args"].items()}
    try:
        with torch.random.fork_rng(devices=[]):
            return getattr(nn, spec["type"])(**args)
    except (TypeError, ValueError) as error:
        raise ValueError(f"path {str(path)!r} is damaged: module {index} ({spec['type']}) "
                         f"cannot be built from its arguments ({error})") from error


def _sequential_attributes(path: Any, specs: list[Any], model: nn.Module
                           ) -> dict[str, dict[str, Any]]:
    """The shape attributes of a sequential file's specs, checked against ``model``'s
    modules (the same types in the same order)."""
    if not isinstance(model, nn.Sequential) or len(model) != len(specs):
        return {}  # the class (or length) check reports it
    attributes = {}
    for index, (spec, module) in enumerate(zip(specs, model, strict=True)):
        if type(module).__name__ != spec.get("type"):
            raise ValueError(f"path {str(path)!r}: module {index} is a {spec.get('type')} in "
                             f"the file but a {type(module).__name__} in model; pass a fresh "
                             "instance of the saved architecture")
        found = {k: v for k, v in spec["args"].items() if k in SHAPE_ATTRIBUTES}
        if found:
            attributes[str(index)] = found
    return attributes


def _apply(path: Any, model: nn.Module, attributes: Mapping[str, Any],
           state: Mapping[str, torch.Tensor]) -> None:
    """Set the saved attributes on ``model``, give its parameters and buffers the saved
    shapes, load the state strictly; everything is checked before ``model`` changes."""
    name = str(path)
    modules = dict(model.named_modules())
    changes: list[tuple[nn.Module, str, Any]] = []
    for module_name, values in attributes.items():
        module = modules.get(module_name)
        if module is None or not isinstance(values, dict):
            raise ValueError(f"path {name!r} was saved from another architecture: module "
                             f"{module_name!r} is not in this {type(model).__name__}; pass a "
                             "fresh instance built with the same arguments")
        for attribute, value in values.items():
            current = getattr(module, attribute, None)
            if attribute not in SHAPE_ATTRIBUTES or current is None:
                raise ValueError(f"path {name!r} was saved from another architecture: module "
                                 f"{module_name!r} ({type(module).__name__}) has no "
                                 f"{attribute!r}")
            changes.append((module, attribute,
                            tuple(value) if isinstance(current, tuple) else value))
    slots: list[tuple[nn.Module, str, str, torch.Tensor]] = []
    for key, tensor in state.items():
        owner, _, local = key.rpartition(".")
        module = modules.get(owner)
        kind = None if module is None else "parameter" if local in module._parameters \
            else "buffer" if local in module._buffers else None
        if kind is None:
            raise ValueError(f"path {name!r} was saved from another architecture: this "
                             f"{type(model).__name__} has no tensor {key!r}; pass a fresh "
                             "instance built with the same arguments")
        slots.append((module, kind, local, tensor))
    expected = set(model.state_dict())
    missing = sorted(expected - set(state))
    if missing:
        raise ValueError(f"path {name!r} was saved from another architecture: it lacks "
                         f"{len(missing)} tensors of this {type(model).__name__}, e.g. "
                         f"{missing[0]!r}")
    for module, attribute, value in changes:
        setattr(module, attribute, value)
    with torch.no_grad():
        for module, kind, local, tensor in slots:
            old = getattr(module, local)
            if old is not None and old.shape == tensor.shape:
                continue
            placeholder = torch.empty(tensor.shape, dtype=tensor.dtype, device="meta")
            if kind == "parameter":
                module._parameters[local] = nn.Parameter(
                    placeholder, requires_grad=True if old is None else old.requires_grad)
            else:
                module._buffers[local] = placeholder
    try:
        model.load_state_dict(dict(state), strict=True, assign=True)
    except RuntimeError as error:
        raise ValueError(f"path {name!r} does not load into this {type(model).__name__}: "
                         f"{str(error).splitlines()[0]}") from error
    _check_shapes(name, model)


def _check_shapes(name: str, model: nn.Module) -> None:
    """The loaded tensors agree with the loaded shape attributes (a damaged file does not)."""
    for module_name, module in model.named_modules():
        expected: dict[str, tuple[int, ...]] = {}
        if isinstance(module, nn.Linear):
            expected["weight"] = (module.out_features, module.in_features)
        elif isinstance(module, nn.modules.conv._ConvNd) and isinstance(module.groups, int) \
                and module.groups > 0:
            expected["weight"] = (module.out_channels, module.in_channels // module.groups,
                                  *module.kernel_size)
        elif isinstance(module, nn.modules.batchnorm._NormBase):
            expected = {"weight": (module.num_features,), "running_mean": (module.num_features,)}
        elif isinstance(module, nn.LayerNorm):
            expected["weight"] = tuple(module.normalized_shape)
        for local, shape in expected.items():
            tensor = getattr(module, local, None)
            if isinstance(tensor, torch.Tensor) and tuple(tensor.shape) != shape:
                raise ValueError(f"path {name!r} is damaged: {module_name}.{local} has shape "
                                 f"{tuple(tensor.shape)}, but its module's attributes say "
                                 f"{shape}")


def _module_spec(module: nn.Module) -> dict[str, Any]:
    args = {key: list(value) if isinstance(value, tuple) else value
            for key, value in SEQUENTIAL_LAYERS[type(module).__name__](module).items()}
    return {"type": type(module).__name__, "args": args}


def _conv_args(m: nn.Conv2d) -> dict[str, Any]:
    return {"in_channels": m.in_channels, "out_channels": m.out_channels,
            "kernel_size": m.kernel_size, "stride": m.stride, "padding": m.padding,
            "dilation": m.dilation, "groups": m.groups, "bias": m.bias is not None,
            "padding_mode": m.padding_mode}


def _batchnorm_args(m: nn.Module) -> dict[str, Any]:
    return {"num_features": m.num_features, "eps": m.eps, "momentum": m.momentum,
            "affine": m.affine, "track_running_stats": m.track_running_stats}


def _maxpool_args(m: nn.MaxPool2d) -> dict[str, Any]:
    return {"kernel_size": m.kernel_size, "stride": m.stride, "padding": m.padding,
            "dilation": m.dilation, "ceil_mode": m.ceil_mode}


def _avgpool_args(m: nn.AvgPool2d) -> dict[str, Any]:
    return {"kernel_size": m.kernel_size, "stride": m.stride, "padding": m.padding,
            "ceil_mode": m.ceil_mode, "count_include_pad": m.count_include_pad,
            "divisor_override": m.divisor_override}


#: The ``torch.nn`` layers of a self-describing sequential file, each with the constructor
#: arguments read from an instance.
SEQUENTIAL_LAYERS: dict[str, Any] = {
    "Linear": lambda m: {"in_features": m.in_features, "out_features": m.out_features,
                         "bias": m.bias is not None},
    "Conv2d": _conv_args,
    "BatchNorm1d": _batchnorm_args,
    "BatchNorm2d": _batchnorm_args,
    "ReLU": lambda m: {"inplace": m.inplace},
    "Tanh": lambda m: {},
    "Sigmoid": lambda m: {},
    "GELU": lambda m: {"approximate": m.approximate},
    "LeakyReLU": lambda m: {"negative_slope": m.negative_slope, "inplace": m.inplace},
    "ELU": lambda m: {"alpha": m.alpha, "inplace": m.inplace},
    "SiLU": lambda m: {"inplace": m.inplace},
    "MaxPool2d": _maxpool_args,
    "AvgPool2d": _avgpool_args,
    "Flatten": lambda m: {"start_dim": m.start_dim, "end_dim": m.end_dim},
    "Dropout": lambda m: {"p": m.p, "inplace": m.inplace},
    "Dropout2d": lambda m: {"p": m.p, "inplace": m.inplace},
    "Identity": lambda m: {},
}
