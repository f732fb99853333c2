"""Apply a participation profile to a real network: soft gates, hard masks, folding, removal.

The network runs on effective parameters s_i * theta_i (Shah & Khan 2025, Eq. 3-4); after
training, Algorithm 1 step 3 prunes every group with s_i < epsilon (epsilon = 0.01). This module
turns a `GatedNetwork` and a profile s into:

- ``"soft"``: a gated copy running on s;
- ``"mask"``: a gated copy running on s with pruned units (s_i < threshold) set to 0;
- ``"fold"``: a plain ``nn.Sequential`` without gates whose outputs equal the soft model's;
- ``"remove"``: a smaller plain ``nn.Sequential`` without the pruned units whose outputs equal
  the mask model's (in eval mode);

plus `to_torch_prune` (masks through ``torch.nn.utils.prune``); `save_model` / `load_model`
(defined in `nets.saving`) are re-exported here.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import prune

from nets.gates import (
    ELEMENTWISE,
    GatedNetwork,
    PlayerLayer,
    TracedGatedNetwork,
    as_participation,
    columns_per_unit,
    strip_gates,
)
from nets.saving import load_model, save_model
from nets.structure import eval_mode, remove_players

__all__ = [
    "MODES",
    "ON_EMPTY",
    "apply_participation",
    "load_model",
    "save_model",
    "to_torch_prune",
]

#: Modes of `apply_participation`.
MODES = ("soft", "mask", "fold", "remove")

#: Policies when a threshold would remove every unit of a layer.
ON_EMPTY = ("raise", "keep_strongest")

def apply_participation(gated: GatedNetwork, s: Any = None, mode: str = "soft",
                        threshold: float = 0.01, *, on_empty: str = "raise") -> nn.Module:
    """Apply a participation profile s to a gated network (Shah & Khan 2025, Eq. 3-4, Alg. 1).

    ``gated`` is never modified.

    Parameters
    ----------
    gated : GatedNetwork
        The network from `nets.gates.attach_gates`.
    s : array_like of shape (n_players,) or None, default None
        Participations in [0, 1]; None uses the gated network's current participation.
    mode : {"soft", "mask", "fold", "remove"}, default "soft"
        - ``"soft"``: a deep-copied `GatedNetwork` with gates = s.
        - ``"mask"``: a `GatedNetwork` copy with gates = where(s < threshold, 0, s): the
          paper's "prune groups with s_i < epsilon" (Algorithm 1, step 3).
        - ``"fold"``: a plain ``nn.Sequential`` whose outputs equal the soft model's: s_i is
          folded into the incoming weight row and bias (W_i <- s_i W_i, b_i <- s_i b_i), or
          into the affine weight and bias of the BatchNorm that follows the layer (a BatchNorm
          with ``affine=False`` is made affine first).
        - ``"remove"``: mask, fold, then delete the pruned units: their rows / output channels,
          bias and BatchNorm entries, and the next layer's input columns / channels. When a
          removed unit's dead output is not zero (e.g. sigmoid(0) = 0.5), its constant
          contribution is added to the next Linear's bias. Outputs equal the mask model's in
          eval mode.
    threshold : float, default 0.01
        Units with s_i < threshold are pruned (modes "mask" and "remove").
    on_empty : {"raise", "keep_strongest"}, default "raise"
        What to do when the threshold would prune every unit of a layer: raise a ValueError, or
        keep that layer's unit with the largest s_i (modes "mask" and "remove").

    Returns
    -------
    nn.Module
        A `GatedNetwork` for "soft" and "mask", a plain ``nn.Sequential`` otherwise (for a
        `TracedGatedNetwork`: a plain copy of the user's module, of its class).

    Notes
    -----
    On a `TracedGatedNetwork`, "fold" scales, at every gate site of a player group, the
    output rows and bias of the Linear/conv (or the affine weight and bias of the BatchNorm)
    that the gate followed, or for heads the input columns of ``out_proj``; "remove" folds
    the masked profile, then removes the pruned groups physically through Torch-Pruning
    (`nets.structure.remove_players`), and checks on the traced example input that the
    outputs equal the mask model's in eval mode (a NotImplementedError otherwise: a removed
    channel whose zero does not stay zero, e.g. sigmoid(0) = 0.5 after a gate).

    Raises
    ------
    ValueError
        Unknown ``mode`` or ``on_empty``, bad ``threshold`` (not finite or < 0), ``s`` of the
        wrong length or outside [0, 1], or a layer emptied with ``on_empty="raise"``.
    NotImplementedError
        In "remove" mode, when a removed unit has a non-zero dead output that feeds a Conv2d
        (zero padding makes its contribution position dependent).
    """
    _check_gated(gated)
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}; got {mode!r}")
    threshold = _check_threshold(threshold)
    _check_on_empty(on_empty)
    values = _resolve(gated, s)
    if mode == "soft":
        return _with_participation(gated, values)
    if mode == "fold":
        return fold(gated, values)
    keep = keep_mask(gated, values, threshold, on_empty)
    masked = torch.where(keep, values, torch.zeros_like(values))
    if mode == "mask":
        return _with_participation(gated, masked)
    if isinstance(gated, TracedGatedNetwork):
        return _remove_traced(gated, masked, keep)
    return _remove(gated, masked, keep)


def to_torch_prune(gated: GatedNetwork, s: Any = None, threshold: float = 0.01, *,
                   on_empty: str = "raise") -> nn.Module:
    """The folded plain model with pruning masks from ``torch.nn.utils.prune``.

    Folds the masked profile (as in `apply_participation` mode "mask") into the weights, then
    applies ``torch.nn.utils.prune.custom_from_mask`` to each player layer's ``weight`` and
    ``bias`` (rows / output channels of pruned units zeroed) and, when the gate sat after a
    BatchNorm, to that BatchNorm's ``weight`` and ``bias``. Outputs equal the mask model's, and
    the result works with torch's pruning tools (``prune.remove``, further ``prune`` calls;
    see https://pytorch.org/docs/stable/generated/torch.nn.utils.prune.custom_from_mask.html).

    On a `TracedGatedNetwork` every member of each player group is masked
    (`nets.structure.Member`): the out-members' pruned rows / output channels (the ``weight``
    and ``bias`` of each Linear and convolution writing to the group, the affine ``weight``
    and ``bias`` of its BatchNorms and PReLUs; for heads, their rows of ``q_proj``,
    ``k_proj`` and ``v_proj``), and the in-members' pruned input columns / channels (the
    Linear and convolution layers that read the group) where, with the out-members masked,
    those inputs are exactly zero on the traced example input: there masking them changes
    nothing, and the kept entries are then those that removal keeps. Where a removed channel
    reaches its reader as a non-zero constant (e.g. sigmoid(0) = 0.5) its columns are left
    unmasked, since the mask model still reads that constant. A grouped or depthwise
    convolution's input channels are its output channels (masked as an out-member). The
    outputs are checked against the mask model's on the traced example input.

    Parameters
    ----------
    gated : GatedNetwork
    s : array_like of shape (n_players,) or None, default None
        None uses the gated network's current participation.
    threshold : float, default 0.01
        Units with s_i < threshold are pruned.
    on_empty : {"raise", "keep_strongest"}, default "raise"
        As in `apply_participation`.

    Returns
    -------
    nn.Module
        An ``nn.Sequential`` for a flat network; for a traced one a plain copy of the user's
        module, of its class.

    Raises
    ------
    NotImplementedError
        On a traced network, when the masked model's outputs differ from the mask model's on
        the traced example input (a group member the gate sites do not cover).
    """
    _check_gated(gated)
    threshold = _check_threshold(threshold)
    _check_on_empty(on_empty)
    values = _resolve(gated, s)
    keep = keep_mask(gated, values, threshold, on_empty)
    plain = fold(gated, torch.where(keep, values, torch.zeros_like(values)))
    if isinstance(gated, TracedGatedNetwork):
        return _torch_prune_traced(gated, plain, keep,
                                   torch.where(keep, values, torch.zeros_like(values)))
    for info in gated.layers:
        unit_keep = keep[info.players]
        targets = [plain[plain_index(gated, info.layer_index)]]
        if info.batchnorm_index is not None:
            targets.append(plain[plain_index(gated, info.batchnorm_index)])
        for module in targets:
            for name in ("weight", "bias"):
                tensor = getattr(module, name)
                if tensor is None:
                    continue
                shape = (-1,) + (1,) * (tensor.dim() - 1)
                mask = unit_keep.view(shape).expand_as(tensor).to(tensor).clone()
                prune.custom_from_mask(module, name, mask)
    return plain


def _torch_prune_traced(gated: TracedGatedNetwork, plain: nn.Module, keep: torch.Tensor,
                        masked: torch.Tensor) -> nn.Module:
    """`to_torch_prune` of a traced network: masks on every member of each group."""
    masks: dict[tuple[str, str], torch.Tensor] = {}

    def mask_of(module_name: str, name: str) -> torch.Tensor | None:
        tensor = getattr(plain.get_submodule(module_name), name, None)
        if not isinstance(tensor, nn.Parameter):
            return None
        return masks.setdefault((module_name, name), torch.ones_like(tensor))

    readers: list[tuple[str, list[int], int]] = []
    for layer in gated.layers:
        gone = [i for i in range(layer.n_units) if not bool(keep[layer.offset + i])]
        for member in layer.members:
            channels = sorted({c for i in gone for c in member.indices[i]})
            module = plain.get_submodule(member.module)
            if member.role == "out":
                for name in ("weight", "bias"):
                    mask = mask_of(member.module, name)
                    if mask is not None and not (isinstance(module, nn.PReLU)
                                                 and mask.numel() == 1):
                        mask[channels] = 0
            elif isinstance(module, nn.Linear) or (
                    isinstance(module, nn.Conv1d | nn.Conv2d) and module.groups == 1):
                mask_of(member.module, "weight")
                readers.append((member.module, channels, 1))
    zero = _zero_inputs(plain, masks, readers, gated.example_inputs)
    for (module_name, channels, dim), is_zero in zip(readers, zero, strict=True):
        if is_zero:
            mask = masks[(module_name, "weight")]
            mask.index_fill_(dim, torch.tensor(channels, dtype=torch.long, device=mask.device), 0)
    for (module_name, name), mask in masks.items():
        prune.custom_from_mask(plain.get_submodule(module_name), name, mask)
    expected = _outputs(_with_participation(gated, masked), gated.example_inputs)
    got = _outputs(plain, gated.example_inputs)
    if float((expected - got).abs().max()) > _REMOVE_RTOL * (1.0 + float(expected.abs().max())):
        raise NotImplementedError(
            "the torch.nn.utils.prune masks change this model's outputs on the traced example "
            "input (a member of a player group that no gate site covers); use "
            "apply_participation(mode='mask') or mode='remove'")
    return plain


def _outputs(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """``model(inputs)`` in eval mode, the training flags restored."""
    with eval_mode(model), torch.no_grad():
        return model(inputs)


def _zero_inputs(plain: nn.Module, masks: dict[tuple[str, str], torch.Tensor],
                 readers: list[tuple[str, list[int], int]],
                 inputs: torch.Tensor) -> list[bool]:
    """Whether each reader's ``channels`` of its input are exactly zero on ``inputs`` once the
    out-member masks so far are applied (on a copy of ``plain``)."""
    work = copy.deepcopy(plain)
    with torch.no_grad():
        for (module_name, name), mask in masks.items():
            getattr(work.get_submodule(module_name), name).mul_(mask)
    seen: dict[str, torch.Tensor] = {}

    def recorder(name: str) -> Any:
        def hook(module: nn.Module, args: tuple[Any, ...]) -> None:
            x = args[0].detach()
            x = x.movedim(-1, 0) if isinstance(module, nn.Linear) else x.movedim(1, 0)
            nonzero = (x != 0).reshape(x.shape[0], -1).any(dim=1)
            seen[name] = nonzero | seen[name] if name in seen else nonzero
        return hook

    handles = [work.get_submodule(name).register_forward_pre_hook(recorder(name))
               for name in {name for name, _, _ in readers}]
    try:
        _outputs(work, inputs)
    finally:
        for handle in handles:
            handle.remove()
    return [name in seen and not bool(seen[name][channels].any())
            for name, channels, _ in readers]


def fold(gated: GatedNetwork, s: torch.Tensor) -> nn.Sequential:
    """Plain ``nn.Sequential`` computing the gated network at participation ``s`` (no gates).

    s_i multiplies the incoming weight row and bias of unit i (effective parameters
    s_i * theta_i, Shah & Khan 2025, Eq. 3-4), or the affine weight and bias of the BatchNorm
    that directly follows the layer (made affine first if needed). Building block of
    `apply_participation` mode "fold".

    Parameters
    ----------
    gated : GatedNetwork
        Not modified.
    s : array_like of shape (n_players,)
        Participations in [0, 1].

    Returns
    -------
    nn.Sequential
    """
    s = as_participation(s, gated.n_players, "s")
    if isinstance(gated, TracedGatedNetwork):
        return _fold_traced(gated, s)
    model = copy.deepcopy(gated.model)
    for info in gated.layers:
        factors = s[info.players]
        if info.batchnorm_index is not None:
            _scale_batchnorm(model[info.batchnorm_index], factors,
                             model[info.layer_index].weight)
        else:
            _scale_units(model[info.layer_index], factors)
    gates = {info.gate_index for info in gated.layers}
    return nn.Sequential(*[m for i, m in enumerate(model) if i not in gates])


def keep_mask(gated: GatedNetwork, s: torch.Tensor, threshold: float,
              on_empty: str) -> torch.Tensor:
    """Boolean vector of kept players: s_i >= threshold (Shah & Khan 2025, Algorithm 1, step 3).

    Parameters
    ----------
    gated : GatedNetwork
    s : torch.Tensor of shape (n_players,)
        A validated profile (see `nets.gates.as_participation`).
    threshold : float
        Units with s_i < threshold are pruned.
    on_empty : {"raise", "keep_strongest"}
        What to do when a layer would lose every unit.

    Returns
    -------
    torch.Tensor of bool, shape (n_players,)

    Raises
    ------
    ValueError
        When a layer would lose every unit and ``on_empty="raise"``.
    """
    keep = s >= threshold
    for info in gated.layers:
        for module, owners in getattr(info, "partial_members", tuple)():
            # A traced group's branch (e.g. a conv concatenated into it) must keep a channel.
            players = torch.tensor([info.offset + i for i in owners])
            if bool(keep[players].any()):
                continue
            if on_empty == "raise":
                raise ValueError(
                    f"threshold={threshold:g} would remove every output channel of {module} "
                    f"(players {list(owners)} of layer {info.name}); lower the threshold or "
                    "pass on_empty='keep_strongest' to keep its strongest player")
            keep[players[int(torch.argmax(s[players]))]] = True
        if bool(keep[info.players].any()):
            continue
        if on_empty == "raise":
            raise ValueError(
                f"threshold={threshold:g} would remove every unit of layer {info.name} "
                f"({info.kind}, {info.n_units} units, largest participation "
                f"{s[info.players].max().item():g}); lower the threshold or pass "
                "on_empty='keep_strongest' to keep its strongest unit")
        keep[info.offset + int(torch.argmax(s[info.players]))] = True
    return keep


def plain_index(gated: GatedNetwork, index: int) -> int:
    """Position in the folded (gate-free) model of module ``index`` of ``gated.model``.

    Parameters
    ----------
    gated : GatedNetwork
    index : int
        Position of a non-gate module in ``gated.model``.

    Returns
    -------
    int
    """
    return index - sum(1 for info in gated.layers if info.gate_index < index)


def dead_values(gated: GatedNetwork, info: PlayerLayer) -> torch.Tensor:
    """Value each unit of ``info`` delivers to the next layer when its gate is 0.

    Propagates a zero gate output through the modules between the gate and the next layer
    (activations, BatchNorm with running statistics, pools, Flatten, Dropout) in eval mode.
    It is 0 for ReLU-like activations and e.g. 0.5 for sigmoid.

    Parameters
    ----------
    gated : GatedNetwork
    info : PlayerLayer
        One of ``gated.layers``.

    Returns
    -------
    torch.Tensor of shape (n_units,)

    Raises
    ------
    NotImplementedError
        When a non-zero value passes a zero-padded AvgPool2d (the value becomes position
        dependent).
    """
    shape = (1, info.n_units) if info.kind == "linear" else (1, info.n_units, 1, 1)
    weight = gated.model[info.layer_index].weight
    x = torch.zeros(shape, dtype=weight.dtype, device=weight.device)
    with torch.no_grad():
        for index in range(info.gate_index + 1, info.next_index):
            module = gated.model[index]
            if isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
                x = _batchnorm_constant(module, x)
            elif isinstance(module, nn.AvgPool2d):
                if module.padding != 0 and module.count_include_pad and bool((x != 0).any()):
                    raise NotImplementedError(
                        f"module {index} (zero-padded AvgPool2d) makes the constant output of "
                        f"removed units of layer {info.name} position dependent; use "
                        "mode='fold' or 'mask', or an activation with act(0) = 0")
            elif isinstance(module, ELEMENTWISE) and not isinstance(
                    module, nn.Dropout | nn.Dropout1d | nn.Dropout2d):
                x = module(x)
    return x.reshape(info.n_units)


# --------------------------------------------------------------------------- internals


def _check_gated(gated: Any) -> None:
    if not isinstance(gated, GatedNetwork):
        raise TypeError(f"gated must be a GatedNetwork from nets.gates.attach_gates(model); got "
                        f"{type(gated).__name__}")


def _check_threshold(threshold: Any) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise ValueError(f"threshold must be a finite number >= 0; got {threshold!r}")
    value = float(threshold)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"threshold must be a finite number >= 0 (units with s < threshold "
                         f"are pruned); got {threshold!r}")
    return value


def _check_on_empty(on_empty: Any) -> None:
    if on_empty not in ON_EMPTY:
        raise ValueError(f"on_empty must be one of {ON_EMPTY}; got {on_empty!r}")


def _resolve(gated: GatedNetwork, s: Any) -> torch.Tensor:
    if s is None:
        return gated.get_participation().to(torch.float64)
    return as_participation(s, gated.n_players, "s")


def _with_participation(gated: GatedNetwork, s: torch.Tensor) -> GatedNetwork:
    result = copy.deepcopy(gated)
    result.set_participation(s)
    return result


def _unit_shape(tensor: torch.Tensor) -> tuple[int, ...]:
    return (-1,) + (1,) * (tensor.dim() - 1)


def _scale_units(layer: nn.Module, factors: torch.Tensor) -> None:
    """W_i <- s_i W_i and b_i <- s_i b_i (Eq. 3-4) for a Linear or Conv2d layer."""
    with torch.no_grad():
        layer.weight.mul_(factors.to(layer.weight).view(_unit_shape(layer.weight)))
        if layer.bias is not None:
            layer.bias.mul_(factors.to(layer.bias))


def _scale_batchnorm(bn: nn.Module, factors: torch.Tensor, like: torch.Tensor) -> None:
    """Fold s into a BatchNorm's affine weight and bias (making it affine if needed)."""
    if not bn.affine:
        reference = bn.running_mean if bn.running_mean is not None else like
        options = {"dtype": reference.dtype, "device": reference.device}
        bn.affine = True
        bn.weight = nn.Parameter(torch.ones(bn.num_features, **options))
        bn.bias = nn.Parameter(torch.zeros(bn.num_features, **options))
    with torch.no_grad():
        bn.weight.mul_(factors.to(bn.weight))
        bn.bias.mul_(factors.to(bn.bias))


def _batchnorm_constant(bn: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Eval-mode BatchNorm of a per-channel constant ``x``."""
    if bn.running_mean is None:
        # Batch statistics of a constant channel: mean = x, var = 0, so the output is the bias.
        return bn.bias.detach().view(x.shape).clone() if bn.affine else torch.zeros_like(x)
    return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias,
                        training=False, eps=bn.eps)


def _new_parameter(tensor: torch.Tensor, old: nn.Parameter) -> nn.Parameter:
    return nn.Parameter(tensor.detach().clone(), requires_grad=old.requires_grad)


def _keep_outputs(layer: nn.Module, index: torch.Tensor) -> None:
    layer.weight = _new_parameter(layer.weight[index], layer.weight)
    if layer.bias is not None:
        layer.bias = _new_parameter(layer.bias[index], layer.bias)
    if isinstance(layer, nn.Linear):
        layer.out_features = len(index)
    else:
        layer.out_channels = len(index)


def _keep_batchnorm(bn: nn.Module, index: torch.Tensor) -> None:
    bn.num_features = len(index)
    if bn.weight is not None:
        bn.weight = _new_parameter(bn.weight[index], bn.weight)
        bn.bias = _new_parameter(bn.bias[index], bn.bias)
    if bn.running_mean is not None:
        bn.running_mean = bn.running_mean[index].clone()
        bn.running_var = bn.running_var[index].clone()


def _keep_inputs(gated: GatedNetwork, info: PlayerLayer, following: nn.Module,
                 keep: torch.Tensor, dead: torch.Tensor) -> None:
    """Drop the next layer's inputs that read removed units; fold dead outputs into its bias."""
    removed = torch.nonzero(~keep).flatten()
    kept = torch.nonzero(keep).flatten()
    constant = dead[removed]
    if isinstance(following, nn.Conv2d):
        if bool((constant != 0).any()):
            raise NotImplementedError(
                f"removed units of layer {info.name} output a non-zero constant (act(0) != 0, "
                f"e.g. {constant[constant != 0][0].item():g}) into the Conv2d at "
                f"{info.next_index}; with zero padding its contribution depends on the position, "
                "so it cannot be folded into a bias. Use mode='fold' or 'mask', or an "
                "activation with act(0) = 0")
        following.weight = _new_parameter(following.weight[:, kept], following.weight)
        following.in_channels = len(kept)
        return
    block = columns_per_unit(gated.model, info)
    weight = following.weight.detach()
    blocks = weight.reshape(weight.shape[0], info.n_units, block)
    if bool((constant != 0).any()):
        correction = (blocks[:, removed, :].sum(dim=2) * constant.to(weight)).sum(dim=1)
        if following.bias is None:
            following.bias = nn.Parameter(correction.clone(),
                                          requires_grad=following.weight.requires_grad)
        else:
            following.bias = _new_parameter(following.bias + correction, following.bias)
    following.weight = _new_parameter(blocks[:, kept, :].reshape(weight.shape[0], -1),
                                      following.weight)
    following.in_features = len(kept) * block


def _remove(gated: GatedNetwork, masked: torch.Tensor, keep: torch.Tensor) -> nn.Sequential:
    plain = fold(gated, masked)
    for info in gated.layers:
        unit_keep = keep[info.players]
        if bool(unit_keep.all()):
            continue
        dead = dead_values(gated, info)
        kept = torch.nonzero(unit_keep).flatten()
        columns_per_unit(gated.model, info)  # validate shapes before changing anything
        _keep_outputs(plain[plain_index(gated, info.layer_index)], kept)
        for index in range(info.layer_index + 1, info.next_index):
            module = gated.model[index]
            if isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
                _keep_batchnorm(plain[plain_index(gated, index)], kept)
        _keep_inputs(gated, info, plain[plain_index(gated, info.next_index)], unit_keep, dead)
    return plain


def _fold_traced(gated: TracedGatedNetwork, s: torch.Tensor) -> nn.Module:
    """`fold` of a traced network: s folded at every gate site, the hooks removed."""
    return fold_factors(gated, s)


def fold_factors(gated: TracedGatedNetwork, factors: torch.Tensor) -> nn.Module:
    """The plain model (hooks removed) with player i's channels multiplied by ``factors[i]``
    at every gate site of its group: any real factors (a trained scale gate), not only
    participations in [0, 1]."""
    s = torch.as_tensor(factors, dtype=torch.float64).detach().cpu().flatten()
    if s.shape != (gated.n_players,):
        raise ValueError(f"factors must have shape ({gated.n_players},); got {tuple(s.shape)}")
    model = strip_gates(copy.deepcopy(gated.model))
    for info in gated.layers:
        factors = s[info.players]
        for site in info.sites:
            module = model.get_submodule(site.module)
            index = torch.empty(sum(len(unit) for unit in site.indices), dtype=torch.long)
            for unit, channels in enumerate(site.indices):
                index[list(channels)] = unit
            scale = factors[index]
            if site.where == "input":
                with torch.no_grad():
                    module.weight.mul_(scale.to(module.weight).view(1, -1))
            elif isinstance(module, nn.modules.batchnorm._BatchNorm):
                _scale_batchnorm(module, scale, module.running_mean
                                 if module.running_mean is not None else scale)
            else:
                _scale_units(module, scale)
    return model


#: Largest difference allowed between the removed and the masked model's outputs on the
#: example input, relative to the outputs' scale (float32 rounding of the smaller sums).
_REMOVE_RTOL = 1e-4


def _remove_traced(gated: TracedGatedNetwork, masked: torch.Tensor,
                   keep: torch.Tensor) -> nn.Module:
    plain = fold(gated, masked)
    removed = remove_players(plain, gated.structure, keep, gated.example_inputs)
    inputs = gated.example_inputs
    with torch.no_grad():
        modes = [(m, m.training) for m in (plain, removed)]
        plain.eval()
        removed.eval()
        try:
            expected, got = plain(inputs), removed(inputs)
        finally:
            for module, mode in modes:
                module.train(mode)
    scale = 1.0 + float(expected.abs().max())
    if float((expected - got).abs().max()) > _REMOVE_RTOL * scale:
        raise NotImplementedError(
            "removing the pruned players changes this model's outputs on the traced example "
            "input (a removed channel's zero does not stay zero after its gate, e.g. "
            "sigmoid(0) = 0.5 or a bias added after it); use mode='mask' or mode='fold'")
    return removed
