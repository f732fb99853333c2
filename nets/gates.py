"""Participation gates: the players of the pruning game on a real network.

The players are units: the output features of hidden ``nn.Linear`` layers ("neuron" players) and
the output channels of ``nn.Conv2d`` layers ("filter" players); the last Linear/Conv layer (the
output layer) never holds players. Each player i has a participation s_i in [0, 1] and the
network runs on the effective parameters s_i * theta_i (Shah & Khan 2025, Eq. 3-4). Because a
unit's output is linear in its incoming weights and bias, scaling them by s_i is the same as
multiplying the unit's pre-activation output by s_i, which is what a `ParticipationGate` does.
When a BatchNorm directly follows the layer, the gate sits after that BatchNorm (a BatchNorm
would otherwise normalize the scaling away).

A flat ``nn.Sequential`` takes the fast path: `attach_gates` deep-copies it and inserts a
`ParticipationGate` after each player layer (or after its BatchNorm). Any other ``nn.Module``
is traced (`nets.structure.trace_players`, Torch-Pruning's DepGraph): its players are groups of
coupled channels (a residual stage's channel, an attention head), and the gates act through
forward hooks on a deep copy (`TracedGatedNetwork`), so the user's module is not rewritten.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from nets.checks import PruningError
from nets.structure import PlayerGroup, Structure, trace_players

__all__ = [
    "LEVELS",
    "GatedNetwork",
    "ParticipationGate",
    "PlayerLayer",
    "TracedGatedNetwork",
    "attach_gates",
    "strip_gates",
]

#: Player levels accepted by `attach_gates`.
LEVELS = ("neuron", "filter", "all")

#: Modules that act on every unit separately and identically (activations, dropout, identity).
ELEMENTWISE: tuple[type[nn.Module], ...] = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
    nn.Sigmoid, nn.Tanh, nn.Hardtanh, nn.Hardsigmoid, nn.Hardswish, nn.Softplus, nn.Softsign,
    nn.Tanhshrink, nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d,
)

#: Spatial pooling modules allowed between a conv player layer and the next layer.
POOLS: tuple[type[nn.Module], ...] = (nn.MaxPool2d, nn.AvgPool2d)

_SUPPORTED_BETWEEN = (
    "activations (ReLU, Sigmoid, Tanh, GELU, LeakyReLU, ...), Dropout, Identity, "
    "BatchNorm1d/2d, MaxPool2d/AvgPool2d and Flatten"
)


class ParticipationGate(nn.Module):
    """Multiply each unit's output by its participation s_i (Shah & Khan 2025, Eq. 3-4).

    The participation is a float32 buffer of shape ``(n_units,)``: it is saved in the
    ``state_dict`` but is not in ``parameters()``, so a weight optimizer never updates it. Call
    ``gate.participation.requires_grad_(True)`` to obtain dL/ds by autograd.

    Parameters
    ----------
    n_units : int
        Number of units (output features or channels) the gate scales.
    """

    participation: torch.Tensor

    def __init__(self, n_units: int) -> None:
        super().__init__()
        if isinstance(n_units, bool) or not isinstance(n_units, int) or n_units < 1:
            raise ValueError(f"n_units must be a positive int; got {n_units!r}")
        self.n_units = n_units
        self.register_buffer("participation", torch.ones(n_units, dtype=torch.float32))

    def forward(self, x: torch.Tensor, dim: int = 1,
                index: torch.Tensor | None = None) -> torch.Tensor:
        """Scale ``x`` along ``dim``: works for (B, n), (B, n, H, W) and (B, T, n) inputs.

        With ``index`` (a traced site, `TracedGatedNetwork`), channel c of ``x`` along ``dim``
        is multiplied by ``participation[index[c]]``.
        """
        if index is not None:
            if x.dim() < 2 or x.shape[dim] != index.shape[0]:
                raise ValueError(f"ParticipationGate expects {index.shape[0]} channels along "
                                 f"dim {dim}; got shape {tuple(x.shape)}")
            scale = self.participation.to(x.dtype)[index.to(x.device)]
            shape = [1] * x.dim()
            shape[dim] = index.shape[0]
            return x * scale.view(shape)
        dims = x.dim()
        if dims < 2 or x.shape[1] != self.n_units:
            raise ValueError(f"ParticipationGate expects an input of shape (B, {self.n_units}, "
                             f"...); got shape {tuple(x.shape)}")
        s = self.participation
        if s.dtype != x.dtype:
            s = s.to(x.dtype)
        if dims == 2:  # (B, n) broadcasts against (n,): the same products, and no view
            return x * s  # (nor its node in the backward graph) on the training path
        return x * s.view((1, self.n_units) + (1,) * (dims - 2))

    def extra_repr(self) -> str:
        return f"n_units={self.n_units}"


@dataclass(frozen=True)
class PlayerLayer:
    """One layer whose units are players.

    Attributes
    ----------
    name : str
        Name of the layer in the gated ``nn.Sequential`` (its index as a string).
    kind : str
        ``"linear"`` or ``"conv2d"``.
    n_units : int
        Number of players (output features or output channels).
    offset : int
        Start index of this layer's players in the global participation vector.
    layer_index : int
        Position of the Linear/Conv layer in the gated ``nn.Sequential``.
    gate_index : int
        Position of its `ParticipationGate`.
    batchnorm_index : int or None
        Position of the BatchNorm that directly follows the layer (the gate sits after it).
    next_index : int or None
        Position of the next Linear/Conv layer, which consumes this layer's output.
    """

    name: str
    kind: str
    n_units: int
    offset: int
    layer_index: int
    gate_index: int
    batchnorm_index: int | None
    next_index: int | None

    @property
    def players(self) -> slice:
        """Slice of this layer's players in the global participation vector."""
        return slice(self.offset, self.offset + self.n_units)


class GatedNetwork(nn.Module):
    """A flat ``nn.Sequential`` with a `ParticipationGate` after each player layer.

    Build it with `attach_gates`. ``forward`` delegates to ``.model``.

    Attributes
    ----------
    model : nn.Sequential
        The network with the gates inserted.
    layers : tuple of PlayerLayer
        The player layers, in network order.
    level : str
        The level the players were attached at (``"neuron"``, ``"filter"`` or ``"all"``).
    include_outgoing : bool
        Default of `unit_parameters`: whether theta_i also holds the outgoing weights.
    """

    def __init__(self, model: nn.Sequential, layers: tuple[PlayerLayer, ...], level: str,
                 include_outgoing: bool) -> None:
        super().__init__()
        self.model = model
        self.layers = tuple(layers)
        self.level = level
        self.include_outgoing = include_outgoing

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run the gated network (effective parameters s_i * theta_i, Eq. 3-4)."""
        return self.model(x)

    @property
    def n_players(self) -> int:
        """Total number of players."""
        return sum(layer.n_units for layer in self.layers)

    @property
    def player_layer(self) -> np.ndarray:
        """Int array of length `n_players`: index in `layers` of each player's layer."""
        sizes = [layer.n_units for layer in self.layers]
        return np.repeat(np.arange(len(self.layers), dtype=np.int64), sizes)

    def gate_module(self, layer: int) -> nn.Module:
        """The gate module of layer ``layer`` (a `ParticipationGate` unless replaced)."""
        return self.model[self.layers[layer].gate_index]

    def replace_gate(self, layer: int, gate: nn.Module) -> None:
        """Put ``gate`` (a module scaling dim 1 of its input) in place of layer ``layer``'s
        gate."""
        self.model[self.layers[layer].gate_index] = gate

    def gates(self) -> Iterator[ParticipationGate]:
        """Yield the gate modules in layer order."""
        for layer in self.layers:
            gate = self.model[layer.gate_index]
            assert isinstance(gate, ParticipationGate)
            yield gate

    def get_participation(self) -> torch.Tensor:
        """Return the participation vector s: a detached copy, players concatenated.

        Its dtype is the gates' (float32 unless the network was converted, e.g. ``.double()``).
        """
        return torch.cat([gate.participation.detach().cpu() for gate in self.gates()]).clone()

    def set_participation(self, s: Any) -> None:
        """Set the participation vector.

        Parameters
        ----------
        s : numpy.ndarray or torch.Tensor of shape (n_players,)
            Participations in [0, 1], players concatenated in layer order.

        Raises
        ------
        ValueError
            When ``s`` has the wrong length, holds NaN or inf, or leaves [0, 1].
        """
        values = as_participation(s, self.n_players, "s")
        with torch.no_grad():
            for layer, gate in zip(self.layers, self.gates(), strict=True):
                gate.participation.copy_(values[layer.players])

    def unit_parameters(self, layer: int, include_outgoing: bool | None = None) -> torch.Tensor:
        """Parameter groups theta_i of one layer's players (Shah & Khan 2025, Eq. 1).

        Row i is player i's incoming weights (flattened: for a conv, the filter's
        in_channels * kh * kw weights) followed by its bias (when the layer has one); with
        ``include_outgoing`` also the weights of the next Linear/Conv that read unit i (a column
        of a next Linear, an input-channel slice of a next Conv, or the block of flattened
        columns of that channel for Conv -> Flatten -> Linear). The result is built with
        ``torch.cat`` from views of the real parameters, so autograd flows to them.

        Parameters
        ----------
        layer : int
            Index into `layers`.
        include_outgoing : bool or None, default None
            None uses the value given to `attach_gates`.

        Returns
        -------
        torch.Tensor of shape (n_units, group_dim)
        """
        info = self._layer(layer)
        if include_outgoing is None:
            include_outgoing = self.include_outgoing
        if not isinstance(include_outgoing, bool):
            raise TypeError(f"include_outgoing must be a bool or None; got {include_outgoing!r}")
        module = self.model[info.layer_index]
        parts = [module.weight.reshape(info.n_units, -1)]
        if module.bias is not None:
            parts.append(module.bias.unsqueeze(1))
        if include_outgoing:
            parts.append(outgoing_weights(self.model, info))
        return torch.cat(parts, dim=1)

    def _layer(self, layer: int) -> PlayerLayer:
        if isinstance(layer, bool) or not isinstance(layer, int | np.integer):
            raise TypeError(f"layer must be an int index into .layers; got {layer!r}")
        if not 0 <= int(layer) < len(self.layers):
            raise ValueError(f"layer must be in [0, {len(self.layers)}) (an index into .layers, "
                             f"which has {len(self.layers)} player layers); got {layer}")
        return self.layers[int(layer)]


class _SiteHook:
    """Forward hook multiplying a module's output by a player group's gate ``gates[k]``.

    A plain object (not a closure), so ``copy.deepcopy`` of the gated network maps it to the
    copied gates; the gate is looked up at call time, so `GatedNetwork.replace_gate` works.
    """

    def __init__(self, gates: nn.ModuleList, k: int, dim: int, index: torch.Tensor) -> None:
        self.gates, self.k, self.dim, self.index = gates, k, dim, index

    def __call__(self, module: nn.Module, args: Any, output: torch.Tensor) -> torch.Tensor:
        return self.gates[self.k](output, self.dim, self.index)


class _SitePreHook(_SiteHook):
    """Forward pre-hook multiplying a module's first input (the head site of ``out_proj``)."""

    def __call__(self, module: nn.Module, args: Any) -> Any:  # type: ignore[override]
        return (self.gates[self.k](args[0], self.dim, self.index),) + tuple(args[1:])


def _site_index(indices: tuple[tuple[int, ...], ...]) -> torch.Tensor:
    """Channel -> player index of one site."""
    total = sum(len(unit) for unit in indices)
    index = torch.full((total,), -1, dtype=torch.long)
    for unit, channels in enumerate(indices):
        index[list(channels)] = unit
    if bool((index < 0).any()):
        raise PruningError("a gate site has channels that belong to no player; the traced "
                           "group does not cover the whole tensor")
    return index


def strip_gates(model: nn.Module) -> nn.Module:
    """Remove the gate hooks of a `TracedGatedNetwork` from ``model`` (in place); returns it."""
    for module in model.modules():
        for hooks in (module._forward_hooks, module._forward_pre_hooks):
            for key in [k for k, hook in hooks.items() if isinstance(hook, _SiteHook)]:
                del hooks[key]
    return model


class TracedGatedNetwork(GatedNetwork):
    """Any ``nn.Module`` with one `ParticipationGate` per traced player group.

    Build it with `attach_gates`. ``.model`` is a deep copy of the user's model, unchanged but
    for forward hooks (`strip_gates` removes them) that multiply each player's channels by its
    participation at every `nets.structure.Site` of its group; the gates live in
    ``.gate_modules``.

    Attributes
    ----------
    model : nn.Module
    layers : tuple of nets.structure.PlayerGroup
    structure : nets.structure.Structure
    example_inputs : torch.Tensor
        The batch the model was traced on (a non-persistent buffer), reused for removal.
    """

    example_inputs: torch.Tensor

    def __init__(self, model: nn.Module, structure: Structure, level: str,
                 include_outgoing: bool, example_inputs: torch.Tensor) -> None:
        super().__init__(model, structure.layers, level, include_outgoing)  # type: ignore[arg-type]
        self.structure = structure
        self.gate_modules = nn.ModuleList(ParticipationGate(layer.n_units)
                                          for layer in structure.layers)
        self.register_buffer("example_inputs", example_inputs.detach().clone(),
                             persistent=False)
        self._index_cache: dict[tuple[int, str, str], tuple[torch.Tensor, torch.Tensor]] = {}
        for k, layer in enumerate(structure.layers):
            for site in layer.sites:
                module = model.get_submodule(site.module)
                index = _site_index(site.indices)
                if site.where == "input":
                    module.register_forward_pre_hook(
                        _SitePreHook(self.gate_modules, k, site.dim, index))
                else:
                    module.register_forward_hook(_SiteHook(self.gate_modules, k, site.dim, index))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run the gated network. A gate module with a ``new_pass()`` method (a stochastic
        gate, `nets.baselines.l0.HardConcreteGate`) is told before each pass, so that it draws
        one sample per pass and uses it at every site of its group."""
        for gate in self.gate_modules:
            new_pass = getattr(gate, "new_pass", None)
            if callable(new_pass):
                new_pass()
        return self.model(x)

    def gate_module(self, layer: int) -> nn.Module:
        """The gate module of layer ``layer`` (a `ParticipationGate` unless replaced)."""
        return self.gate_modules[layer]

    def replace_gate(self, layer: int, gate: nn.Module) -> None:
        """Put ``gate`` in place of layer ``layer``'s gate. It is called as
        ``gate(x, dim, index)`` at each site (see `ParticipationGate.forward`)."""
        self.gate_modules[layer] = gate

    def gates(self) -> Iterator[ParticipationGate]:
        """Yield the gate modules in layer order."""
        for gate in self.gate_modules:
            assert isinstance(gate, ParticipationGate)
            yield gate

    def unit_parameters(self, layer: int, include_outgoing: bool | None = None) -> torch.Tensor:
        """Parameter groups theta_i of one layer's players (Shah & Khan 2025, Eq. 1).

        Row i: the weights and biases of player i's output channels in every Linear and conv
        of its group (in member order: for a residual stage, every conv writing to that
        channel; for a head, its rows of q, k and v), with ``include_outgoing`` followed by
        the input-channel weights of the Linear and conv layers that read it. Built from the
        real parameters by indexing, so autograd flows to them.
        """
        return self.unit_rows(layer, include_outgoing, lambda tensor: tensor)

    def unit_gradients(self, layer: int, include_outgoing: bool | None = None) -> torch.Tensor:
        """``.grad`` of the parameters laid out like `unit_parameters` (zeros where unset)."""
        return self.unit_rows(layer, include_outgoing, lambda tensor: tensor.grad
                              if tensor.grad is not None else torch.zeros_like(tensor))

    def unit_rows(self, layer: int, include_outgoing: bool | None,
                  read: Any) -> torch.Tensor:
        """Rows laid out like `unit_parameters`, of ``read(parameter)`` for each parameter."""
        info = self._layer(layer)
        assert isinstance(info, PlayerGroup)
        if include_outgoing is None:
            include_outgoing = self.include_outgoing
        if not isinstance(include_outgoing, bool):
            raise TypeError(f"include_outgoing must be a bool or None; got {include_outgoing!r}")
        n = info.n_units
        parts = []
        for member in info.members:
            module = self.model.get_submodule(member.module)
            if not isinstance(module, nn.Linear | nn.Conv1d | nn.Conv2d):
                continue
            if member.role == "in" and not include_outgoing:
                continue
            key = (int(layer), member.module, member.role)
            if key not in self._index_cache:
                self._index_cache[key] = _padded_index(member.indices, torch.device("cpu"))
            index, present = (t.to(module.weight.device) for t in self._index_cache[key])
            if member.role == "out":
                tensors = [read(module.weight)]
                if module.bias is not None:
                    tensors.append(read(module.bias))
                for tensor in tensors:
                    rows = tensor.index_select(0, index).reshape(n, -1, *tensor.shape[1:])
                    rows = rows * present.view(n, -1, *[1] * (tensor.dim() - 1)).to(rows)
                    parts.append(rows.reshape(n, -1))
            else:
                weight = read(module.weight).index_select(1, index)
                weight = weight.reshape(weight.shape[0], n, -1, *weight.shape[2:])
                weight = weight * present.view(1, n, -1, *[1] * (weight.dim() - 3)).to(weight)
                parts.append(weight.transpose(0, 1).reshape(n, -1))
        return torch.cat(parts, dim=1)


def _padded_index(indices: tuple[tuple[int, ...], ...], device: torch.device
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat channel index (n * width) and a (n, width) presence mask: players owning fewer
    channels of a member than others (a concatenated branch) are padded with zeros, so every
    player's row has the same layout and the padding adds nothing to norms or products."""
    width = max(len(unit) for unit in indices)
    index = torch.zeros(len(indices), width, dtype=torch.long)
    present = torch.zeros(len(indices), width, dtype=torch.bool)
    for unit, channels in enumerate(indices):
        index[unit, :len(channels)] = torch.tensor(channels, dtype=torch.long)
        present[unit, :len(channels)] = True
    return index.flatten().to(device), present.to(device)


def as_participation(s: Any, n: int, name: str) -> torch.Tensor:
    """Validate a participation profile (Shah & Khan 2025, Eq. 2: s_i in [0, 1]).

    Parameters
    ----------
    s : array_like or torch.Tensor
        The profile, one entry per player.
    n : int
        Number of players.
    name : str
        Argument name used in error messages.

    Returns
    -------
    torch.Tensor
        ``s`` as a float64 CPU tensor of shape (n,).

    Raises
    ------
    ValueError
        Naming ``name`` when the shape, finiteness or range is wrong.
    """
    if isinstance(s, torch.Tensor):
        values = s.detach().cpu().to(torch.float64)
    else:
        try:
            values = torch.as_tensor(np.asarray(s, dtype=np.float64))
        except (TypeError, ValueError) as error:
            raise ValueError(f"{name} must be a numeric 1-D array of {n} participations; got "
                             f"{type(s).__name__}") from error
    if values.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), one participation per player; got "
                         f"shape {tuple(values.shape)}")
    if not bool(torch.isfinite(values).all()):
        raise ValueError(f"{name} holds NaN or inf; every participation must be finite")
    if bool((values < 0).any()) or bool((values > 1).any()):
        raise ValueError(f"{name} must lie in [0, 1]; got values in [{values.min().item():g}, "
                         f"{values.max().item():g}]. Clip it with s.clip(0, 1) if that is meant")
    return values


def attach_gates(model: nn.Module, level: str = "neuron", *,
                 include_outgoing: bool = False, example_inputs: torch.Tensor | None = None,
                 ignored_layers: Any = (), traced: bool | None = None) -> GatedNetwork:
    """Make the units of a network players with participation gates.

    Deep-copies ``model`` and gates each player so that the network runs on effective
    parameters s_i * theta_i (Shah & Khan 2025, Eq. 3-4). The input model is not modified.

    A flat ``nn.Sequential`` (the fast path) gets a `ParticipationGate` (all ones) inserted
    after each player layer, or after the BatchNorm that directly follows it. Any other module
    is traced with Torch-Pruning (`nets.structure.trace_players`): players are its groups of
    coupled channels and attention heads, gated by forward hooks (`TracedGatedNetwork`).

    Parameters
    ----------
    model : nn.Module
        A flat sequential network of Linear, Conv2d, BatchNorm1d/2d, activations, pools,
        Flatten and Dropout modules, or any module the tracer handles.
    level : {"neuron", "filter", "all"}, default "neuron"
        ``"neuron"``: output features of hidden Linear layers (and attention heads);
        ``"filter"``: output channels of Conv2d layers; ``"all"``: both. The output layer is
        never a player.
    include_outgoing : bool, default False
        Default for `GatedNetwork.unit_parameters`.
    example_inputs : torch.Tensor or None
        A batch the model runs on; required to trace (ignored on the flat path).
    ignored_layers : sequence of str or nn.Module, default ()
        Traced path: modules whose outputs are not players (`nets.structure.trace_players`).
    traced : bool or None, default None
        None: the flat path for a flat ``nn.Sequential``, tracing otherwise; True: trace
        (also a flat Sequential); False: the flat path only.

    Returns
    -------
    GatedNetwork
        A `TracedGatedNetwork` on the traced path.

    Raises
    ------
    TypeError
        When ``model`` is not an ``nn.Module``, or on the flat path a module between a player
        layer and the next layer is not supported.
    ValueError
        When ``level`` is unknown or the model has no players at that level.
    nets.checks.PruningError
        Traced path: ``example_inputs`` missing, or a layer the tracer refuses (LSTM, ...).
    """
    if traced is None:
        traced = not _is_flat_sequential(model)
    if traced:
        return _attach_traced(model, level, include_outgoing, example_inputs, ignored_layers)
    check_flat_sequential(model, "model")
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}; got {level!r}")
    if not isinstance(include_outgoing, bool):
        raise TypeError(f"include_outgoing must be a bool; got {include_outgoing!r}")
    modules = list(copy.deepcopy(model))
    compute = [i for i, m in enumerate(modules) if isinstance(m, nn.Linear | nn.Conv2d)]
    wanted = {"neuron": (nn.Linear,), "filter": (nn.Conv2d,),
              "all": (nn.Linear, nn.Conv2d)}[level]
    players = [i for i in compute[:-1] if isinstance(modules[i], wanted)]
    if not players:
        raise ValueError(f"level={level!r} finds no players in this model: players are the "
                         "output units of Linear layers ('neuron') or Conv2d layers ('filter') "
                         "other than the last Linear/Conv layer; try level='all'")
    gate_after: dict[int, int] = {}
    for i in players:
        nxt = compute[compute.index(i) + 1]
        gate_after[_gate_position(modules, i)] = i
        _check_between(modules, i, nxt)
    new_modules: list[nn.Module] = []
    position: dict[int, int] = {}
    gate_position: dict[int, int] = {}
    for i, module in enumerate(modules):
        position[i] = len(new_modules)
        new_modules.append(module)
        if i in gate_after:
            player = gate_after[i]
            gate_position[player] = len(new_modules)
            new_modules.append(ParticipationGate(_n_units(modules[player])))
    layers: list[PlayerLayer] = []
    offset = 0
    for i in players:
        n = _n_units(modules[i])
        bn = _gate_position(modules, i)
        nxt = compute[compute.index(i) + 1]
        layers.append(PlayerLayer(
            name=str(position[i]),
            kind="linear" if isinstance(modules[i], nn.Linear) else "conv2d",
            n_units=n, offset=offset, layer_index=position[i], gate_index=gate_position[i],
            batchnorm_index=position[bn] if bn != i else None, next_index=position[nxt]))
        offset += n
    return GatedNetwork(nn.Sequential(*new_modules), tuple(layers), level, include_outgoing)


def _is_flat_sequential(model: Any) -> bool:
    if isinstance(model, GatedNetwork) or not isinstance(model, nn.Sequential):
        return isinstance(model, GatedNetwork)  # a GatedNetwork gets the flat path's error
    return all(next(iter(module.children()), None) is None for module in model)


def _attach_traced(model: nn.Module, level: str, include_outgoing: bool,
                   example_inputs: torch.Tensor | None, ignored_layers: Any) -> GatedNetwork:
    if isinstance(model, GatedNetwork):
        raise TypeError("model is already a GatedNetwork; use it directly, or gate a plain "
                        "copy: attach_gates(apply_participation(model, mode='fold'))")
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}; got {level!r}")
    if not isinstance(include_outgoing, bool):
        raise TypeError(f"include_outgoing must be a bool; got {include_outgoing!r}")
    if example_inputs is None:
        raise PruningError(f"attach_gates needs example_inputs= (a batch the model runs on, "
                           f"e.g. torch.zeros(1, 1, 28, 28)) to trace a {type(model).__name__}")
    work = copy.deepcopy(model)
    structure = trace_players(work, example_inputs, level, ignored_layers=ignored_layers)
    return TracedGatedNetwork(work, structure, level, include_outgoing, example_inputs)


def check_flat_sequential(model: Any, name: str) -> None:
    """Check that ``model`` is a flat ``nn.Sequential`` of distinct leaf modules without gates.

    Parameters
    ----------
    model : object
        The object to check.
    name : str
        Argument name used in error messages.

    Raises
    ------
    TypeError
        Naming ``name`` and saying how to fix the model.
    """
    if isinstance(model, GatedNetwork):
        raise TypeError(f"{name} is already a GatedNetwork; use it directly, or gate a plain "
                        f"copy: attach_gates(apply_participation({name}, mode='fold'))")
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"{name} must be a flat torch.nn.Sequential; got {type(model).__name__}. "
                        "Rewrite the model as nn.Sequential(Flatten, Linear, ReLU, ...)")
    seen: dict[int, int] = {}
    for index, module in enumerate(model):
        if id(module) in seen:
            raise TypeError(f"{name}[{index}] is the same module object as {name}"
                            f"[{seen[id(module)]}]; shared modules are not supported, use "
                            "separate modules (copy.deepcopy) instead")
        seen[id(module)] = index
        if isinstance(module, ParticipationGate):
            raise TypeError(f"{name}[{index}] is a ParticipationGate; {name} is already gated. "
                            "Use the GatedNetwork returned by attach_gates instead")
        if next(iter(module.children()), None) is not None:
            raise TypeError(f"{name} must be a flat nn.Sequential, but {name}[{index}] is a "
                            f"{type(module).__name__} with submodules; flatten it into a single "
                            "nn.Sequential of leaf modules")


def _n_units(module: nn.Module) -> int:
    return module.out_features if isinstance(module, nn.Linear) else module.out_channels


def _matching_batchnorm(layer: nn.Module) -> type[nn.Module]:
    return nn.BatchNorm1d if isinstance(layer, nn.Linear) else nn.BatchNorm2d


def _gate_position(modules: list[nn.Module], i: int) -> int:
    """Index of the module after which the gate of player layer ``i`` goes."""
    if i + 1 < len(modules) and type(modules[i + 1]) is _matching_batchnorm(modules[i]):
        return i + 1
    return i


def _check_between(modules: list[nn.Module], i: int, nxt: int) -> None:
    """Check that the modules between player layer ``i`` and layer ``nxt`` are supported."""
    layer, following = modules[i], modules[nxt]
    n = _n_units(layer)
    for index, module in ((i, layer), (nxt, following)):
        if isinstance(module, nn.Conv2d) and module.groups != 1:
            raise TypeError(f"model[{index}] is a grouped Conv2d "
                            f"(groups={module.groups}); grouped convolutions are not supported "
                            "around players. Use level='neuron' or groups=1")
    if isinstance(layer, nn.Linear) and isinstance(following, nn.Conv2d):
        raise TypeError(f"model[{i}] (Linear) feeds model[{nxt}] (Conv2d); a Linear player "
                        "must feed a Linear layer")
    flattens = 0
    for j in range(i + 1, nxt):
        module = modules[j]
        if isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
            if type(module) is not _matching_batchnorm(layer) or module.num_features != n:
                raise TypeError(f"model[{j}] ({module}) does not match the {n} units of "
                                f"model[{i}]")
        elif isinstance(module, nn.Flatten):
            if (module.start_dim, module.end_dim) != (1, -1):
                raise TypeError(f"model[{j}] is Flatten(start_dim={module.start_dim}, end_dim="
                                f"{module.end_dim}); only Flatten(1, -1) is supported")
            flattens += 1
        elif isinstance(module, POOLS):
            if isinstance(layer, nn.Linear) or flattens:
                raise TypeError(f"model[{j}] ({type(module).__name__}) must act on conv "
                                "feature maps, before any Flatten")
            if getattr(module, "return_indices", False):
                raise TypeError(f"model[{j}] has return_indices=True, which a Sequential "
                                "cannot pass on; use return_indices=False")
        elif not isinstance(module, ELEMENTWISE):
            raise TypeError(f"model[{j}] is a {type(module).__name__}, which is not supported "
                            f"between the player layer model[{i}] and the next layer "
                            f"model[{nxt}]; supported: {_SUPPORTED_BETWEEN}")
    if isinstance(layer, nn.Conv2d) and isinstance(following, nn.Linear) and flattens != 1:
        raise TypeError(f"model[{i}] (Conv2d) feeds model[{nxt}] (Linear) without a "
                        "Flatten(1, -1) between them; insert exactly one nn.Flatten()")
    if isinstance(layer, nn.Conv2d) and isinstance(following, nn.Conv2d) and flattens:
        raise TypeError(f"a Flatten sits between the conv layers model[{i}] and model[{nxt}]")


def columns_per_unit(model: nn.Sequential, info: PlayerLayer) -> int:
    """Number of inputs of the next layer that read one unit of ``info``.

    Parameters
    ----------
    model : nn.Sequential
        The gated sequential (`GatedNetwork.model`).
    info : PlayerLayer
        One of the `GatedNetwork.layers`.

    Returns
    -------
    int
        1 for Linear -> Linear and Conv -> Conv (one input channel); H * W for
        Conv -> Flatten -> Linear, inferred as ``in_features / n_units`` of the next Linear.

    Raises
    ------
    ValueError
        When the next Linear's in_features is not a multiple of the layer's units.
    """
    following = model[info.next_index]
    if isinstance(following, nn.Conv2d):
        return 1
    if following.in_features % info.n_units != 0 or (
            info.kind == "linear" and following.in_features != info.n_units):
        raise ValueError(f"the Linear layer {info.next_index} reads {following.in_features} "
                         f"inputs, which does not split into {info.n_units} equal blocks, one "
                         f"per unit of layer {info.name}; check the model's shapes")
    return following.in_features // info.n_units


def outgoing_weights(model: nn.Sequential, info: PlayerLayer) -> torch.Tensor:
    """Weights of the next layer that read each unit of ``info``.

    Parameters
    ----------
    model : nn.Sequential
        The gated sequential (`GatedNetwork.model`).
    info : PlayerLayer
        One of the `GatedNetwork.layers`.

    Returns
    -------
    torch.Tensor of shape (n_units, n_outgoing)
        Row i holds the column of a next Linear, the input-channel slice of a next Conv, or
        the block of flattened columns of channel i for Conv -> Flatten -> Linear. Built from
        the real parameter by reshapes, so gradients flow back to it.
    """
    following = model[info.next_index]
    weight = following.weight
    if isinstance(following, nn.Conv2d):
        return weight.transpose(0, 1).reshape(info.n_units, -1)
    block = columns_per_unit(model, info)
    return weight.reshape(weight.shape[0], info.n_units, block).transpose(0, 1).reshape(
        info.n_units, -1)
