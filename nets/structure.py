"""Players of any PyTorch model, found by tracing with Torch-Pruning (DepGraph).

A player is one group of coupled channels that can only be removed together (Fang et al. 2023,
"DepGraph: Towards any structural pruning", CVPR): an output neuron of a Linear, a filter of a
convolution with its BatchNorm entry and the input channels of the layers that read it, one
channel of a residual stage (tied across every block by the residual adds), or one attention
head. `trace_players` builds a ``torch_pruning.DependencyGraph`` on an example input,
enumerates its groups (``DependencyGraph.get_all_groups``, rooted at Linear and Conv layers) and
returns a frozen `Structure`: per player layer the root module, the number of players and, for
every module in the group, which of its channels each player owns. We use Torch-Pruning rather
than our own graph walk: it handles residual adds, concatenation, grouped and depthwise
convolutions, normalization layers and flattening, and removes the channels physically
(`remove_players`, through ``Group.prune``).

What is a player and what is not:

- The output layer (the module whose output is the model's output) never holds players.
- A group that passes through a LayerNorm or GroupNorm is not a player layer: those layers
  normalize across channels, so zeroing a channel is not the same as removing it (in a
  Transformer or MLP-Mixer this is the embedding width, tied to every LayerNorm). Nor is a
  group holding a bare ``nn.Parameter`` (a position embedding, a layer scale): an added
  parameter keeps a masked channel alive. Both are listed in `Structure.skipped` with the
  reason.
- An attention module with an int ``num_heads``, an int ``head_dim`` and Linear children
  ``q_proj``, ``k_proj``, ``v_proj``, ``out_proj`` (`nets.models.SelfAttention`, the naming of
  most Transformer code) gives one player per head: head h owns rows ``h d .. (h+1) d - 1``
  of the three projections and those columns of ``out_proj``.
- Recurrent layers (LSTM, GRU, RNN) and ``nn.MultiheadAttention`` are refused with a
  `nets.checks.PruningError` naming the layer: their units cannot be gated by a hook on a
  module output. Passing the layer's name in ``ignored_layers`` leaves it whole (a non-player;
  the layers that feed it stay players where Torch-Pruning can prune its inputs).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from nets.checks import PruningError

__all__ = [
    "Member",
    "PlayerGroup",
    "Site",
    "Structure",
    "eval_mode",
    "example_input",
    "remove_players",
    "torch_pruning_reference",
    "trace_players",
]

#: Player levels: which root layers' groups are players (as in `nets.gates.LEVELS`).
LEVELS = ("neuron", "filter", "all")

#: Layers whose units a forward hook cannot gate: refused unless listed in ``ignored_layers``.
REFUSED: tuple[type[nn.Module], ...] = (nn.RNNBase, nn.MultiheadAttention)

#: Normalizations across channels: a group through one of these is not a player layer.
MIXING_NORMS: tuple[type[nn.Module], ...] = (nn.LayerNorm, nn.GroupNorm)

#: Modules a player group may contain (as output or input members).
_PRODUCERS: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv1d, nn.Conv2d)
_PER_CHANNEL: tuple[type[nn.Module], ...] = (nn.BatchNorm1d, nn.BatchNorm2d, nn.PReLU)
_ATTENTION_CHILDREN = ("q_proj", "k_proj", "v_proj", "out_proj")


@dataclass(frozen=True)
class Member:
    """One module of a player group and the channels each player owns in it.

    Attributes
    ----------
    module : str
        Qualified name in the model (``model.get_submodule(module)``).
    role : {"out", "in"}
        ``"out"``: the group is made of this module's output channels (rows of a Linear
        weight, filters of a conv, entries of a BatchNorm); ``"in"``: of its input channels
        (columns of a Linear weight, input channels of a conv).
    kind : str
        The module's class name.
    indices : tuple of tuple of int
        ``indices[i]``: the channels of this module that player i owns (several for a head,
        or for the columns a Linear reads from one flattened conv channel).
    """

    module: str
    role: str
    kind: str
    indices: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class Site:
    """Where a player group's gate multiplies a tensor.

    Attributes
    ----------
    module : str
        Qualified name of the module.
    where : {"output", "input"}
        Its output (a forward hook) or its first input (a forward pre-hook).
    dim : int
        The channel dimension of that tensor: 1 for conv and BatchNorm maps, -1 for Linear.
    indices : tuple of tuple of int
        ``indices[i]``: the channels along ``dim`` that player i's participation multiplies.
    """

    module: str
    where: str
    dim: int
    indices: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class PlayerGroup:
    """One player layer of a traced model: a Torch-Pruning group split into players.

    Attributes
    ----------
    name : str
        The root module's qualified name (the group is rebuilt from it on removal).
    kind : {"linear", "conv2d", "conv1d", "heads"}
    n_units : int
        Number of players.
    offset : int
        Start of this layer's players in the global participation vector.
    root_indices : tuple of tuple of int
        Per player, its output channels of the root module.
    members : tuple of Member
        Every module of the group (outputs and inputs).
    sites : tuple of Site
        Where the gate multiplies: after each producing Linear/Conv of the group, or after the
        BatchNorm that directly follows it; for heads, the input of ``out_proj``.
    attention : str or None
        For heads, the attention module whose ``num_heads`` changes on removal.
    """

    name: str
    kind: str
    n_units: int
    offset: int
    root_indices: tuple[tuple[int, ...], ...]
    members: tuple[Member, ...]
    sites: tuple[Site, ...]
    attention: str | None = None

    @property
    def players(self) -> slice:
        """Slice of this layer's players in the global participation vector."""
        return slice(self.offset, self.offset + self.n_units)

    def partial_members(self) -> tuple[tuple[str, tuple[int, ...]], ...]:
        """``(module, players)`` for each output member that only some players own channels
        in (e.g. a branch concatenated into the group): removal must keep one of them, or the
        module would have no output channels left."""
        result = []
        for member in self.members:
            owners = tuple(i for i, indices in enumerate(member.indices) if indices)
            if member.role == "out" and len(owners) < self.n_units:
                result.append((member.module, owners))
        return tuple(result)


@dataclass(frozen=True)
class Structure:
    """The players of a traced model (`trace_players`).

    Attributes
    ----------
    layers : tuple of PlayerGroup
        In the order of their root modules in ``model.named_modules()``.
    skipped : tuple of (str, str)
        ``(root module, reason)`` of the groups that are not player layers.
    ignored : tuple of str
        Modules left whole: the output layer and ``ignored_layers``.
    level : str
    """

    layers: tuple[PlayerGroup, ...]
    skipped: tuple[tuple[str, str], ...]
    ignored: tuple[str, ...]
    level: str

    @property
    def n_players(self) -> int:
        """Total number of players."""
        return sum(layer.n_units for layer in self.layers)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (`equilibria.to_plain`)."""
        from equilibria.plain import to_plain
        return to_plain({f.name: getattr(self, f.name) for f in dataclasses.fields(self)})


def example_input(dataset: Any) -> torch.Tensor:
    """A batch of one input from a dataset of ``(input, label)`` pairs (for tracing)."""
    try:
        first = dataset[0]
    except (TypeError, IndexError, KeyError) as error:
        raise PruningError(f"cannot read an example input from {type(dataset).__name__}: "
                           "pass example_inputs= (a batch of one input) instead") from error
    inputs = first[0] if isinstance(first, tuple | list) else first
    if not isinstance(inputs, torch.Tensor):
        raise PruningError(f"the dataset's first item holds a {type(inputs).__name__}, not a "
                           "tensor; pass example_inputs= (a batch of one input) instead")
    return inputs.detach().unsqueeze(0).clone()


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Every module of ``model`` in eval mode, each module's training flag restored afterwards
    (for tracing, measuring, and statistics of the deployed network: BatchNorm then uses, and
    leaves as they were, its running statistics)."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, mode in modes:
            module.training = mode


def _dependency_graph(model: nn.Module, example_inputs: torch.Tensor) -> Any:
    import torch_pruning as tp
    with eval_mode(model), torch.enable_grad():
        try:
            return tp.DependencyGraph().build_dependency(model, example_inputs=example_inputs,
                                                         verbose=False)
        except Exception as error:  # noqa: BLE001 - any tracer failure, reported on one line
            raise PruningError(f"Torch-Pruning could not trace this {type(model).__name__} on "
                               f"an input of shape {tuple(example_inputs.shape)} "
                               f"({type(error).__name__}: {error}); check example_inputs, or "
                               "use a flat nn.Sequential") from error


def _output_modules(model: nn.Module, example_inputs: torch.Tensor) -> list[nn.Module]:
    """Modules whose output is the model's output (the output layer: never players)."""
    outputs: dict[int, nn.Module] = {}
    seen: list[tuple[nn.Module, Any]] = []

    def hook(module: nn.Module, args: Any, output: Any) -> None:
        seen.append((module, output))

    handles = [m.register_forward_hook(hook) for m in model.modules() if m is not model]
    try:
        with eval_mode(model), torch.no_grad():
            result = model(example_inputs)
    finally:
        for handle in handles:
            handle.remove()
    if not isinstance(result, torch.Tensor):
        raise PruningError(f"{type(model).__name__} returns a {type(result).__name__}; tracing "
                           "needs a model that returns one tensor (wrap it to return the "
                           "logits)")
    for module, output in seen:
        if output is result and not isinstance(module, nn.Sequential):
            outputs[id(module)] = module
    return list(outputs.values())


def _resolve_ignored(model: nn.Module, ignored_layers: Sequence[str | nn.Module]
                     ) -> list[nn.Module]:
    if isinstance(ignored_layers, str | nn.Module):
        ignored_layers = [ignored_layers]
    modules = []
    names = dict(model.named_modules())
    for item in ignored_layers:
        if isinstance(item, nn.Module):
            modules.append(item)
        elif isinstance(item, str) and item in names:
            modules.append(names[item])
        else:
            raise PruningError(f"ignored_layers names {item!r}, which is not a module of this "
                               f"model; use names from model.named_modules()")
    # A container's children are left whole with it.
    return [sub for module in modules for sub in module.modules()]


def _is_attention(module: nn.Module) -> bool:
    return (isinstance(getattr(module, "num_heads", None), int)
            and isinstance(getattr(module, "head_dim", None), int)
            and all(isinstance(getattr(module, child, None), nn.Linear)
                    for child in _ATTENTION_CHILDREN))


def trace_players(model: nn.Module, example_inputs: torch.Tensor, level: str = "all", *,
                  ignored_layers: Sequence[str | nn.Module] = ()) -> Structure:
    """Find the players of any ``nn.Module`` by tracing (Fang et al. 2023, DepGraph).

    Parameters
    ----------
    model : nn.Module
        Not modified (traced in eval mode, its training flags restored).
    example_inputs : torch.Tensor
        A batch the model runs on (one example is enough).
    level : {"neuron", "filter", "all"}, default "all"
        Groups rooted at Linear layers (neurons, attention heads), at convolutions (filters,
        channels of a residual stage), or both.
    ignored_layers : sequence of str or nn.Module, default ()
        Modules (names from ``model.named_modules()``, or the modules) whose output channels
        are not players; a container leaves all its children whole.

    Returns
    -------
    Structure

    Raises
    ------
    PruningError
        For a recurrent layer or ``nn.MultiheadAttention`` not in ``ignored_layers``, a layer
        type a group cannot hold, a model the tracer cannot run, or no players at ``level``.
    """
    if not isinstance(model, nn.Module):
        raise PruningError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    if not isinstance(example_inputs, torch.Tensor):
        raise PruningError(f"example_inputs must be a tensor batch the model runs on (e.g. "
                           f"torch.zeros(1, 1, 28, 28)); got {type(example_inputs).__name__}")
    if level not in LEVELS:
        raise PruningError(f"level must be one of {LEVELS}; got {level!r}")
    names = {module: name for name, module in model.named_modules()}
    ignored = _resolve_ignored(model, ignored_layers)
    ignored_ids = {id(m) for m in ignored}
    for module, name in names.items():
        if isinstance(module, REFUSED) and id(module) not in ignored_ids:
            raise PruningError(
                f"layer {name!r} is a {type(module).__name__}, whose units the tracer cannot "
                f"gate or group into players; pass ignored_layers=[{name!r}] to keep it whole "
                "(a non-player)")
    reference = next(iter(model.parameters()), None)
    if reference is not None and example_inputs.is_floating_point():
        example_inputs = example_inputs.to(dtype=reference.dtype, device=reference.device)
    outputs = _output_modules(model, example_inputs)
    graph = _dependency_graph(model, example_inputs)
    roots: tuple[type[nn.Module], ...] = {
        "neuron": (nn.Linear,), "filter": (nn.Conv1d, nn.Conv2d),
        "all": (nn.Linear, nn.Conv1d, nn.Conv2d)}[level]
    attention = {id(getattr(m, child)): m for m in model.modules() if _is_attention(m)
                 for child in ("q_proj", "k_proj", "v_proj")}
    order = {name: position for position, name in enumerate(names.values())}
    found: list[tuple[int, PlayerGroup]] = []
    skipped: list[tuple[str, str]] = []
    skip_roots = outputs + ignored
    for group in graph.get_all_groups(ignored_layers=skip_roots, root_module_types=roots):
        result = _player_group(group, graph, names, attention, ignored_ids)
        if isinstance(result, str):
            skipped.append((names.get(group[0].dep.target.module, "?"), result))
            continue
        found.append((min(order[m.module] for m in result.members if m.role == "out"), result))
    found.sort(key=lambda item: item[0])
    layers, offset = [], 0
    for _, layer in found:
        layers.append(_with_offset(layer, offset))
        offset += layer.n_units
    if not layers:
        reasons = "; ".join(f"{name}: {why}" for name, why in skipped) or "no prunable groups"
        raise PruningError(f"level={level!r} finds no players in this {type(model).__name__} "
                           f"({reasons}); try level='all'")
    ignored_names = tuple(sorted({names[m] for m in skip_roots if m in names}))
    return Structure(tuple(layers), tuple(skipped), ignored_names, level)


def _with_offset(layer: PlayerGroup, offset: int) -> PlayerGroup:
    return PlayerGroup(layer.name, layer.kind, layer.n_units, offset, layer.root_indices,
                       layer.members, layer.sites, layer.attention)


def _player_group(group: Any, graph: Any, names: dict[nn.Module, str],
                  attention: dict[int, nn.Module], ignored_ids: set[int]) -> PlayerGroup | str:
    """A `PlayerGroup` from a Torch-Pruning group, or the reason it is not a player layer."""
    root = group[0].dep.target.module
    root_name = names[root]
    items = []
    for item in group:
        module = item.dep.target.module
        if isinstance(module, nn.Parameter):
            return "holds an unwrapped nn.Parameter (an added parameter keeps masked " \
                   "channels alive)"
        if module not in names:
            continue  # Torch-Pruning's own nodes for adds, reshapes, concatenations
        role = "out" if graph.is_out_channel_pruning_fn(item.dep.handler) else "in"
        if isinstance(module, MIXING_NORMS):
            return f"passes through {type(module).__name__} {names[module]!r}, which " \
                   "normalizes across channels (masking is not removal there)"
        if id(module) in ignored_ids and role == "out":
            return f"includes the ignored layer {names[module]!r}"
        if not isinstance(module, _PRODUCERS + _PER_CHANNEL) and not (
                role == "in" and isinstance(module, nn.RNNBase | nn.Embedding)):
            raise PruningError(
                f"layer {names[module]!r} is a {type(module).__name__}, which a player group "
                f"(rooted at {root_name!r}) cannot hold; pass ignored_layers=[{root_name!r}] "
                "to make that group a non-player")
        items.append((module, role, list(item.idxs), list(item.root_idxs)))
    head_owner = attention.get(id(root))
    if head_owner is not None:
        return _head_group(root, head_owner, items, names)
    n_out = len(items[0][2])
    if sorted(items[0][3]) != list(range(n_out)):
        return "its root channels are not a full range"
    unit_of_root = {r: r for r in range(n_out)}
    members = tuple(_member(module, role, idxs, roots, unit_of_root, n_out, names)
                    for module, role, idxs, roots in items)
    out = [(module, member) for (module, _, _, _), member in zip(items, members, strict=True)
           if member.role == "out"]
    sites = []
    for module, member in out:
        if isinstance(module, _PER_CHANNEL):
            continue
        site_module, site_member = module, member
        node = graph.module2node[module]
        for bn, bn_member in out:
            if isinstance(bn, nn.BatchNorm1d | nn.BatchNorm2d) and any(
                    n is node for n in graph.module2node[bn].inputs):
                site_module, site_member = bn, bn_member
        dim = -1 if isinstance(site_module, nn.Linear) else 1
        sites.append(Site(names[site_module], "output", dim, site_member.indices))
    kind = {nn.Linear: "linear", nn.Conv1d: "conv1d", nn.Conv2d: "conv2d"}[type(root)] \
        if type(root) in (nn.Linear, nn.Conv1d, nn.Conv2d) else type(root).__name__.lower()
    root_indices = tuple((r,) for r in range(n_out))
    return PlayerGroup(root_name, kind, n_out, 0, root_indices, members, tuple(sites))


def _member(module: nn.Module, role: str, idxs: list[int], roots: list[int],
            unit_of_root: dict[int, int], n_units: int, names: dict[nn.Module, str]) -> Member:
    per_unit: list[list[int]] = [[] for _ in range(n_units)]
    for index, root in zip(idxs, roots, strict=True):
        per_unit[unit_of_root[root]].append(int(index))
    return Member(names[module], role, type(module).__name__,
                  tuple(tuple(indices) for indices in per_unit))


def _head_group(root: nn.Module, owner: nn.Module, items: list[Any],
                names: dict[nn.Module, str]) -> PlayerGroup | str:
    heads, width = owner.num_heads, owner.head_dim
    if root.out_features != heads * width:
        return f"{names[root]!r} has {root.out_features} outputs, not num_heads * head_dim = " \
               f"{heads * width}"
    unit_of_root = {r: r // width for r in range(heads * width)}
    members = tuple(_member(module, role, idxs, roots, unit_of_root, heads, names)
                    for module, role, idxs, roots in items)
    out_proj = names[owner.out_proj]
    reads = [m for m in members if m.module == out_proj and m.role == "in"]
    if not reads:
        return f"the head group of {names[owner]!r} does not reach its out_proj"
    site = Site(out_proj, "input", -1, reads[0].indices)
    return PlayerGroup(names[root], "heads", heads, 0,
                       tuple(tuple(range(h * width, (h + 1) * width)) for h in range(heads)),
                       members, (site,), attention=names[owner])


def remove_players(model: nn.Module, structure: Structure, keep: Any,
                   example_inputs: torch.Tensor) -> nn.Module:
    """A copy of ``model`` without the players where ``keep`` is False (``Group.prune``).

    Each player layer's group is rebuilt from its root on a Torch-Pruning dependency graph of
    the copy and pruned at the removed players' root channels; a head layer's attention module
    gets its ``num_heads`` lowered. ``model`` is never modified.

    Parameters
    ----------
    model : nn.Module
        The plain model `structure` was traced on (no gates).
    structure : Structure
    keep : array_like of bool, shape (n_players,)
        Which players stay; every layer must keep at least one.
    example_inputs : torch.Tensor
        A batch the model runs on.

    Returns
    -------
    nn.Module
        The pruned copy, of the same class.
    """
    keep = torch.as_tensor(keep, dtype=torch.bool).flatten()
    if keep.shape != (structure.n_players,):
        raise PruningError(f"keep must have {structure.n_players} entries, one per player; "
                           f"got {tuple(keep.shape)}")
    work = copy.deepcopy(model)
    if bool(keep.all()):
        return work
    reference = next(iter(work.parameters()), None)
    if reference is not None and example_inputs.is_floating_point():
        example_inputs = example_inputs.to(dtype=reference.dtype, device=reference.device)
    graph = _dependency_graph(work, example_inputs)
    for layer in structure.layers:
        unit_keep = keep[layer.players]
        if not bool(unit_keep.any()):
            raise PruningError(f"keep removes every player of layer {layer.name}; keep at "
                               "least one")
        removed = [int(i) for i in torch.nonzero(~unit_keep).flatten()]
        if not removed:
            continue
        root = work.get_submodule(layer.name)
        idxs = sorted(index for unit in removed for index in layer.root_indices[unit])
        for module, owners in layer.partial_members():
            if not bool(unit_keep[list(owners)].any()):
                raise PruningError(f"keep removes every output channel of {module!r} (players "
                                   f"{list(owners)} of layer {layer.name}); keep one of them")
        pruner = graph.get_pruner_of_module(root)
        group = graph.get_pruning_group(root, pruner.prune_out_channels, idxs)
        group.prune()
        if layer.attention is not None:
            owner = work.get_submodule(layer.attention)
            owner.num_heads = owner.num_heads - len(removed)
    return work


def torch_pruning_reference(model: nn.Module, structure: Structure, keep: Any,
                            example_inputs: torch.Tensor) -> nn.Module:
    """The same channel groups removed by Torch-Pruning directly, as its user would write it:
    the reference our removal (`remove_players`, `nets.apply_participation` mode "remove") is
    timed against.

    On a copy of ``model``, a ``torch_pruning.DependencyGraph`` is built and, for every player
    layer of ``structure`` with removed players, ``get_pruning_group(root, prune_out_channels,
    removed channels).prune()`` is called. Head layers are left whole (Torch-Pruning prunes
    attention through its own head-aware pruners, not through one group call), so give them
    ``keep = True``. Nothing is folded: with ``keep`` from a participation of 0 or 1 the copy
    computes what the masked model computes.

    Parameters
    ----------
    model : nn.Module
        The plain model `structure` was traced on (no gates); not modified.
    structure : Structure
    keep : array_like of bool, shape (n_players,)
    example_inputs : torch.Tensor

    Returns
    -------
    nn.Module
        The pruned copy, in eval mode.
    """
    keep = torch.as_tensor(keep, dtype=torch.bool).flatten()
    if keep.shape != (structure.n_players,):
        raise PruningError(f"keep must have {structure.n_players} entries, one per player; "
                           f"got {tuple(keep.shape)}")
    reference = copy.deepcopy(model).eval()
    graph = _dependency_graph(reference, example_inputs)
    for layer in structure.layers:
        kept = keep[layer.players]
        removed = sorted(channel for unit, channels in enumerate(layer.root_indices)
                         if not bool(kept[unit]) for channel in channels)
        if removed and layer.kind != "heads":
            root = reference.get_submodule(layer.name)
            graph.get_pruning_group(root, graph.get_pruner_of_module(root).prune_out_channels,
                                    removed).prune()
    return reference
