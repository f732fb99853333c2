"""Network statistics that the participation game is built from (docs/design.md, "Payoffs built
from network statistics").

`collect` measures, on real batches and at the gated network's current participation s, every
per-player quantity that `equilibria.spec.build_game` turns into a game:

==================  ===========================================================================
statistic           definition (player i, parameter group theta_i = `unit_parameters` row i)
==================  ===========================================================================
``dloss_ds``        ``dL/ds_i`` by autograd through the gate; for a layer without BatchNorm it
                    equals ``<grad L at the effective incoming s_i theta_i, theta_i>``
``grad_inner``      ``<dL/dtheta_i, theta_i>`` at the raw theta_i (Shah & Khan 2025, Eq. 9
                    literally); for incoming-only groups without BatchNorm it is
                    ``s_i * dloss_ds_i``
``taylor``          first-order Taylor contribution of unit i's output a_i (Molchanov et al.
                    2017, ICLR; 2019, CVPR): ``sum_b | sum_spatial a_i dL/da_i |``
``sq_norms``        ``||theta_i||^2`` (the L2 cost of Eq. 10)
``parameter_gram``  per layer ``<theta_i, theta_j>`` (the competition of Eq. 10)
``activation_``     per layer, the overlap of the units' activations over the batch (and
``overlap``         spatial positions), the activation-overlap competition: by default their
                    correlation (cosine of the activations centered per unit), with
                    ``overlap_measure="cosine"`` the plain (uncentered) cosine
``curvature_``      F with ``H = F F^T`` (damping aside) the empirical Fisher or Gauss-Newton of
``factors``         the loss in the gates, from per-example gate gradients (``curvature=``; the
                    ``second_order`` payoff, docs/explanation/second-order.md)
``reconstruction``  per layer, ``M_ij = E <v_i, v_j>`` of the units' contributions v to the next
``_gram``           layer's output (``reconstruction=True``; the ``reconstruction`` payoff)
==================  ===========================================================================

Why correlation is the default overlap: ReLU outputs are non-negative and share a positive mean,
so the plain cosine of two *unrelated* units is far from 0. On the synthetic teacher-student
data (`nets.data.load("synthetic")` with the student of `nets.data.synthetic_teacher_student`,
seeds 0-2, whole training set) it is 0.1-0.7 (median 0.28) between distinct teacher units, so
competition ``eta cos(act_i, act_j)`` makes every pair of units compete and an equilibrium
prunes almost everything. Centered per unit, the cosine is the Pearson correlation over the
batch: exactly 1 for the planted duplicates and near 0 between distinct units (median |r| 0.1,
90-100% of pairs within +-0.3, the largest 0.57 for two teacher units whose weights point in
similar directions), so competition concentrates on redundant units, which is what it is meant
to detect (Shah & Khan 2025, Eq. 10).

Measuring has no side effects: the participation, the weights, their ``.grad``, the
``requires_grad`` flags, the training mode and the BatchNorm running statistics are as they were
afterwards (gradients come from ``torch.autograd.grad``, never ``.backward``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from equilibria.spec import CURVATURES, NetworkStatistics
from nets.gates import (
    ELEMENTWISE,
    GatedNetwork,
    ParticipationGate,
    PlayerLayer,
    TracedGatedNetwork,
    columns_per_unit,
)

__all__ = [
    "CURVATURES",
    "DEFAULT_DAMPING",
    "OVERLAP_MEASURES",
    "TAYLOR_MODES",
    "activation_cosine",
    "batch_game_statistics",
    "collect",
    "group_by_unit",
]

#: A loss function ``loss_fn(outputs, labels) -> scalar tensor``.
LossFn = Callable[[torch.Tensor, Any], torch.Tensor]

#: Where the absolute value of the Taylor criterion is taken (see `collect`).
TAYLOR_MODES = ("per_example", "batch")

#: The damping lambda `collect` stores for the second-order readings unless told otherwise:
#: absolute, in units of the loss per squared participation.
DEFAULT_DAMPING = 1e-3

#: How the activation overlap is measured (see `collect`); the first is the default.
OVERLAP_MEASURES = ("correlation", "cosine")

#: A unit whose centered activations have a norm below this fraction of the norm of its raw
#: activations counts as constant (zero variance): float64 rounding of the mean leaves residues
#: of about 1e-16 relative, far below the spread of distinct float32 values (about 1e-7
#: relative per differing value).
_CONSTANT_RTOL = 1e-12

#: Elementwise modules that are not activations: a unit's activation is read after a module
#: of ``ELEMENTWISE`` that directly follows its gate, unless it is one of these.
_NOT_ACTIVATIONS: tuple[type[nn.Module], ...] = (nn.Identity, nn.Dropout, nn.Dropout1d,
                                                 nn.Dropout2d)


# --------------------------------------------------------------------------- public helpers


def activation_cosine(activations: torch.Tensor, *, centered: bool = False) -> np.ndarray:
    """Cosine similarity of the units' activations over a batch (and spatial positions).

    Parameters
    ----------
    activations : torch.Tensor of shape (B, n) or (B, n, H, W)
        Unit j's activation vector is ``activations[:, j]`` flattened over the batch and the
        spatial positions.
    centered : bool, default False
        Subtract each unit's mean over the batch and spatial positions first, which makes the
        result the Pearson correlation of the units' activations (``overlap_measure=
        "correlation"`` of `collect`). Without it, the plain (uncentered) cosine.

    Returns
    -------
    numpy.ndarray of shape (n, n), float64
        ``cos(act_i, act_j)`` of the (centered) activation vectors, clipped to [-1, 1], with
        ones on the diagonal. A unit whose vector is zero has 0 with every other unit (never
        NaN), so it competes with nobody under the activation-overlap competition: uncentered,
        a unit whose activation is identically zero; centered, any unit with zero variance
        (constant activation, dead units included). With ``centered=True`` and a single
        example of a dense layer every unit is constant, so the result is the identity.

    Raises
    ------
    ValueError
        When ``activations`` has fewer than 2 dimensions.
    TypeError
        When ``centered`` is not a bool.
    """
    if not isinstance(activations, torch.Tensor) or activations.dim() < 2:
        shape = tuple(activations.shape) if isinstance(activations, torch.Tensor) else None
        raise ValueError("activations must be a tensor of shape (B, n) or (B, n, H, W); got "
                         f"{type(activations).__name__} of shape {shape}")
    if not isinstance(centered, bool):
        raise TypeError(f"centered must be a bool; got {centered!r}")
    n = activations.shape[1]
    rows = activations.detach().to(torch.float64).transpose(0, 1).reshape(n, -1)
    if centered:
        raw_norms = rows.norm(dim=1)
        rows = rows - rows.mean(dim=1, keepdim=True)
        norms = rows.norm(dim=1)
        alive = norms > _CONSTANT_RTOL * raw_norms
    else:
        norms = rows.norm(dim=1)
        alive = norms > 0
    unit = rows / torch.where(alive, norms, torch.ones_like(norms)).unsqueeze(1)
    cosine = (unit @ unit.T).clamp(-1.0, 1.0)
    cosine[~alive, :] = 0.0
    cosine[:, ~alive] = 0.0
    cosine.fill_diagonal_(1.0)
    return cosine.cpu().numpy()


def group_by_unit(gated: GatedNetwork, layer: int, weight: torch.Tensor,
                  bias: torch.Tensor | None, next_weight: torch.Tensor | None) -> torch.Tensor:
    """Arrange tensors shaped like a player layer's parameters into per-unit rows.

    The rows are laid out exactly as `GatedNetwork.unit_parameters` lays out theta_i (incoming
    weights, then bias, then the outgoing weights), so that passing the gradients of the
    weight, bias and next weight gives the per-unit gradients ``dL/dtheta_i`` and passing the
    parameters themselves gives ``unit_parameters(layer, include_outgoing)``.

    Parameters
    ----------
    gated : GatedNetwork
    layer : int
        Index into ``gated.layers``.
    weight : torch.Tensor
        Shaped like the player layer's weight.
    bias : torch.Tensor or None
        Shaped like its bias; None when the layer has no bias.
    next_weight : torch.Tensor or None
        Shaped like the next Linear/Conv layer's weight to append the outgoing weights; None
        for incoming-only groups.

    Returns
    -------
    torch.Tensor of shape (n_units, group_dim)
    """
    info = gated.layers[layer]
    parts = [weight.reshape(info.n_units, -1)]
    if bias is not None:
        parts.append(bias.reshape(info.n_units, 1))
    if next_weight is not None:
        following = gated.model[info.next_index]
        if isinstance(following, nn.Conv2d):
            parts.append(next_weight.transpose(0, 1).reshape(info.n_units, -1))
        else:
            block = columns_per_unit(gated.model, info)
            parts.append(next_weight.reshape(next_weight.shape[0], info.n_units, block)
                         .transpose(0, 1).reshape(info.n_units, -1))
    return torch.cat(parts, dim=1)


# --------------------------------------------------------------------------- entry points


def collect(gated: GatedNetwork, loader: Iterable[Any], loss_fn: LossFn | None = None, *,
            n_batches: int = 1, parameter_gram: bool = True, activation_overlap: bool = True,
            include_outgoing: bool | None = None, taylor_mode: str = "per_example",
            overlap_measure: str = "correlation", curvature: str | None = None,
            damping: float = DEFAULT_DAMPING, reconstruction: bool = False) -> NetworkStatistics:
    """Measure the statistics of the participation game on real batches.

    The network runs on the effective parameters s_i theta_i (Shah & Khan 2025, Eq. 3-4) at
    its current participation s, in its current training mode. Per batch, with ``L`` the loss
    returned by ``loss_fn`` (default: cross-entropy, mean over the batch):

    - ``dloss_ds[i] = dL/ds_i``, by autograd through the gate's participation buffer. For a
      layer without BatchNorm it equals ``<grad L at the effective s_i theta_i, theta_i>``
      (incoming theta_i); it is the benefit of the ``loss_descent`` payoff.
    - ``grad_inner[i] = <dL/dtheta_i, theta_i>`` with the gradient taken with respect to the
      raw parameters theta_i, grouped as ``gated.unit_parameters(layer, include_outgoing)``
      (the paper's benefit, Eq. 9 literally). For incoming-only groups without BatchNorm it is
      ``s_i * dloss_ds[i]``, so ``s_i = 0`` is absorbing under this reading.
    - ``taylor[i]``: the first-order Taylor estimate of the loss change when unit i is removed
      (Molchanov et al. 2017, "Pruning convolutional neural networks for resource efficient
      inference", ICLR; Molchanov et al. 2019, "Importance estimation for neural network
      pruning", CVPR), with a_i the gate's output. With ``taylor_mode="per_example"`` (the
      default, as in Molchanov et al. 2017 and docs/design.md's ``sum_batch |a_i dL/da_i|``) it is
      ``sum_b | sum_spatial a_i dL/da_i |``; with ``"batch"`` it is
      ``| sum_b sum_spatial a_i dL/da_i |``, which equals ``|s_i dloss_ds[i]|``. For a
      mean-reduced loss ``dL/da_i`` of example b is ``1/B`` times the gradient of that
      example's own loss, so both are already per-example means (divided by the batch size)
      on the scale of the mean loss; no further division is applied.
    - ``sq_norms[i] = ||theta_i||^2``, ``parameter_gram[k] = U_k U_k^T`` with
      ``U_k = unit_parameters(k, include_outgoing)`` (the cost and competition of Eq. 10),
      taken at the raw parameters.
    - ``activation_overlap[k]``: the overlap of layer k's activations (the output of the
      elementwise activation module (ReLU, Tanh, ...) that directly follows the gate, or the
      gate's output when none does), over the batch and the spatial positions. With
      ``overlap_measure="correlation"`` (the default) it is their Pearson correlation: the
      cosine of the activations centered per unit (`activation_cosine` with
      ``centered=True``); with ``"cosine"`` the plain uncentered cosine. Correlation is the
      default because ReLU outputs share a positive mean: on the synthetic teacher-student
      data the plain cosine of distinct units is 0.1-0.7, so every pair would compete, while
      their correlation is near 0 (median |r| 0.1, mostly within +-0.3) and that of
      duplicated units is 1 (see the module docstring).
      A unit with zero variance (or, for the cosine, zero activation) has overlap 0 with the
      others and 1 with itself.
    - ``curvature_factors`` (with ``curvature="fisher"`` or ``"gauss_newton"``; the
      ``second_order`` payoff, docs/explanation/second-order.md): F of shape (N, d) with
      ``H = F F^T`` a curvature of the loss in the gates. Per-example gate gradients come from
      one backward pass per batch: the gate computes ``a_i = s_i x_i``, so example e's
      ``dL_e/ds_i = B sum_spatial (dL/da_i)_e (x_i)_e`` for a mean-reduced loss (``B`` the
      batch size), exact when examples do not interact in the forward pass (hence refused
      with BatchNorm in training mode). This is cheaper than ``torch.func.vmap`` over
      ``grad`` (which would re-run the network per example) and needs no functional copy of
      the model. ``"fisher"``: the empirical Fisher, one column ``g_e / sqrt(n)`` per
      example (n examples in all). ``"gauss_newton"`` (cross-entropy only): ``H = (1/n)
      sum_e J_e^T (diag p_e - p_e p_e^T) J_e`` with J_e = d logits / ds of example e (one
      backward pass per class), one column ``sqrt(p_ec) (J_ec - p_e^T J_e) / sqrt(n)`` per
      example and class; averaged over all n examples of the batches used (a batch weighs
      by its size, where the per-batch statistics above weigh each batch once).
      ``curvature_damping = damping``. When F has more columns than rows
      (more examples, or examples times classes, than gates) it is replaced by the (N, r)
      factor ``V sqrt(Lambda)`` of the eigendecomposition of ``F F^T`` (r <= N, the same H to
      rounding), so the game's LowRank competition never costs more than a dense one.
    - ``reconstruction_gram[k]`` (with ``reconstruction=True``; the ``reconstruction``
      payoff): ``M_ij = mean_e <v_ei, v_ej>`` with ``v_ei = d z_e / d s_i`` the contribution of
      unit i, per unit of participation, to the next layer's output z (its weights applied to
      what follows the gate, bias excluded), from a forward-mode product (``torch.func.jvp``)
      through the modules between the gate and the next layer; exact for ReLU networks,
      where z is linear in the layer's own gates.

    On a `TracedGatedNetwork` a player group's gate runs at every site of its group (after each
    conv or BatchNorm writing to a residual stage's channel, at the input of ``out_proj`` for
    a head): ``taylor`` and the per-example gate gradients of ``curvature`` sum over the sites
    (``sum_sites sum_spatial a_i dL/da_i``, still ``s_i dL/ds_i`` per example), and the
    activation overlap is read on the gate outputs (before any activation), a player's vector
    holding all its channels at all its sites. ``reconstruction`` is read where a group has
    one gate site and one reading layer (`_single_reader`: MLP and Transformer hidden units,
    attention heads, a BasicBlock's inner ``conv1`` filters), by forward-mode AD through the
    model; a group tied across a residual stage has no single next layer and raises
    NotImplementedError naming it and the fix (``ignored_layers``).

    Per-player statistics and activation overlaps are the unweighted means over the batches
    used (each batch counts once, whatever its size; correlations are per batch, centered on
    the batch's own means).

    Parameters
    ----------
    gated : GatedNetwork
        From `nets.gates.attach_gates`. Its participation, weights, ``.grad``, ``requires_grad``
        flags, training mode and BatchNorm running statistics are left as they were.
    loader : iterable of (inputs, labels)
        A ``torch.utils.data.DataLoader`` or any iterable of pairs; the first ``n_batches``
        are used. Floating inputs are cast to the network's dtype and moved to its device
        (statistics are computed where the network is; the result holds host numpy arrays).
    loss_fn : callable or None, default None
        ``loss_fn(outputs, labels)`` returning a scalar tensor; None means
        ``torch.nn.functional.cross_entropy`` (mean over the batch).
    n_batches : int, default 1
        Batches to average over (fewer if the loader runs out).
    parameter_gram, activation_overlap : bool, default True
        Whether to compute these blocks (None in the result otherwise).
    include_outgoing : bool or None, default None
        Whether theta_i also holds the outgoing weights; None uses ``gated.include_outgoing``.
    taylor_mode : {"per_example", "batch"}, default "per_example"
        Where the absolute value of the Taylor criterion is taken.
    overlap_measure : {"correlation", "cosine"}, default "correlation"
        How ``activation_overlap`` is measured: the cosine of the activations centered per
        unit over the batch (and spatial positions), or the plain uncentered cosine.
    curvature : {"fisher", "gauss_newton"} or None, default None
        Collect ``curvature_factors`` with this estimate (None: not collected).
    damping : float, default `DEFAULT_DAMPING`
        ``curvature_damping``, the lambda >= 0 that both second-order readings add to their
        curvature's diagonal (> 0 makes the game monotone).
    reconstruction : bool, default False
        Collect ``reconstruction_gram``.

    Returns
    -------
    equilibria.spec.NetworkStatistics
        With ``participation = s``, ``layer = gated.player_layer``, the layer names and the
        number of batches used.

    Raises
    ------
    TypeError
        When ``gated`` is not a `GatedNetwork`, ``loader`` is not iterable or yields something
        other than (inputs, labels) pairs, or an option has the wrong type.
    ValueError
        When ``n_batches < 1``, ``loader`` is empty, the inputs do not fit the network,
        ``loss_fn`` does not return a finite scalar, ``taylor_mode``, ``overlap_measure`` or
        ``curvature`` is not one of the accepted values, ``damping`` is negative, a curvature
        is asked of a network with BatchNorm in training mode, or ``"gauss_newton"`` of a
        loss other than the default cross-entropy.
    NotImplementedError
        With ``reconstruction=True`` on a `TracedGatedNetwork` with a player group that is not
        read by exactly one Linear or ungrouped convolution (a residual stage's channels; see
        `_single_reader` for why the reading is not defined there), naming the group and the
        ``ignored_layers`` that makes it a non-player.
    """
    options = _check_options(gated, loss_fn, parameter_gram, activation_overlap,
                             include_outgoing, taylor_mode, overlap_measure)
    _check_second_order(gated, loss_fn, curvature, damping, reconstruction)
    if isinstance(n_batches, bool) or not isinstance(n_batches, int | np.integer):
        raise TypeError(f"n_batches must be a positive int; got {n_batches!r}")
    if n_batches < 1:
        raise ValueError(f"n_batches must be >= 1 (the number of batches to average over); got "
                         f"{n_batches}")
    batches = _batches(loader, int(n_batches))
    records: list[_BatchRecord] = []
    columns: list[np.ndarray] = []
    grams: list[tuple[np.ndarray, ...]] = []
    n_examples = 0
    with _measuring(gated, options) as recorder:
        for index, (inputs, labels) in batches:
            where = f"loader batch {index}"
            records.append(_measure_batch(gated, recorder, inputs, labels, options, where))
            if curvature is not None:
                columns.append(_curvature_columns(gated, recorder, inputs, labels, options,
                                                  curvature, where))
                n_examples += int(inputs.shape[0])
            if reconstruction:
                grams.append(_reconstruction_grams(gated, recorder, inputs))
    if not records:
        raise ValueError("loader yielded no batches; pass a non-empty DataLoader or a list of "
                         "(inputs, labels) pairs")
    stats = _assemble(gated, records, options)
    extra: dict[str, Any] = {"curvature_damping": float(damping)}
    if curvature is not None:
        extra["curvature_factors"] = _narrow(np.concatenate(columns, axis=0).T
                                             / np.sqrt(n_examples))
        extra["curvature"] = curvature
    if reconstruction:
        extra["reconstruction_gram"] = tuple(np.mean([g[k] for g in grams], axis=0)
                                             for k in range(len(gated.layers)))
    return dataclasses.replace(stats, **extra)


def batch_game_statistics(gated: GatedNetwork, inputs: torch.Tensor, labels: Any,
                          loss_fn: LossFn | None = None, **kw: Any) -> NetworkStatistics:
    """The statistics of the participation game on one given batch.

    Same as ``collect(gated, [(inputs, labels)], loss_fn, **kw)`` (Shah & Khan 2025, Eq. 9-10;
    Molchanov et al. 2017 for ``taylor``); the trainer calls it to build the game of the batch.

    Parameters
    ----------
    gated : GatedNetwork
    inputs : torch.Tensor
        One batch of inputs.
    labels : torch.Tensor
        Its labels (whatever ``loss_fn`` expects; class indices for cross-entropy).
    loss_fn : callable or None, default None
        As in `collect`.
    **kw
        ``parameter_gram``, ``activation_overlap``, ``include_outgoing``, ``taylor_mode``,
        ``overlap_measure`` (default ``"correlation"``) as in `collect`.

    Returns
    -------
    equilibria.spec.NetworkStatistics
        With ``n_batches = 1``.
    """
    unknown = set(kw) - {"parameter_gram", "activation_overlap", "include_outgoing",
                         "taylor_mode", "overlap_measure"}
    if unknown:
        raise TypeError(f"batch_game_statistics got unexpected keyword arguments "
                        f"{sorted(unknown)}; accepted: parameter_gram, activation_overlap, "
                        "include_outgoing, taylor_mode, overlap_measure")
    if not isinstance(inputs, torch.Tensor):
        raise TypeError(f"inputs must be a torch.Tensor batch; got {type(inputs).__name__}. "
                        "Convert it with torch.as_tensor")
    return collect(gated, [(inputs, labels)], loss_fn, n_batches=1, **kw)


# --------------------------------------------------------------------------- internals


@dataclass(frozen=True)
class _Options:
    loss_fn: LossFn
    parameter_gram: bool
    activation_overlap: bool
    include_outgoing: bool
    taylor_mode: str
    overlap_measure: str


@dataclass(frozen=True)
class _BatchRecord:
    dloss_ds: np.ndarray
    grad_inner: np.ndarray
    taylor: np.ndarray
    overlap: tuple[np.ndarray, ...] | None


@dataclass(frozen=True)
class _Call:
    """One call of a gate: its output a (kept for dL/da), input x, channel dim and the
    channel -> player index of a traced site (None on the flat path: channel i is player i)."""

    output: torch.Tensor
    input: torch.Tensor
    dim: int
    index: torch.Tensor | None


class _Recorder:
    """What the forward hooks saw during one forward pass.

    A flat network calls each gate once per forward pass; a traced one calls a player
    group's gate at each of its sites, so ``calls[k]`` lists every call of gate k.
    """

    def __init__(self, n_layers: int) -> None:
        self.calls: list[list[_Call]] = [[] for _ in range(n_layers)]
        self.overlap: list[np.ndarray | None] = [None] * n_layers

    def reset(self) -> None:
        n = len(self.calls)
        self.calls = [[] for _ in range(n)]
        self.overlap = [None] * n

    def outputs(self) -> list[torch.Tensor]:
        """Every recorded gate output, layers in order, sites in call order."""
        if any(not calls for calls in self.calls):
            raise RuntimeError("a participation gate did not run in the forward pass; is "
                               "gated.forward bypassing gated.model?")
        return [call.output for calls in self.calls for call in calls]

    def per_unit(self, grads: Sequence[torch.Tensor | None], n_units: Sequence[int],
                 use_inputs: bool = False) -> list[torch.Tensor]:
        """Per layer, ``sum_sites sum_spatial t * g`` per example and player, shape (B, n_k),
        float64, with t the gate outputs (or inputs) and ``grads`` aligned with `outputs`."""
        result, position = [], 0
        for k, calls in enumerate(self.calls):
            total = None
            for call in calls:
                grad = grads[position]
                position += 1
                t = call.input if use_inputs else call.output
                g = grad if grad is not None else torch.zeros_like(t)
                part = _unit_products(t, g, call.dim, call.index, n_units[k])
                total = part if total is None else total + part
            result.append(total)
        return result


def _unit_products(t: torch.Tensor, g: torch.Tensor, dim: int, index: torch.Tensor | None,
                   n_units: int) -> torch.Tensor:
    """``sum_spatial t g`` per example and player (channels summed into their player)."""
    product = (t.detach().to(torch.float64) * g.detach().to(torch.float64)).movedim(dim, 1)
    per_channel = product.reshape(product.shape[0], product.shape[1], -1).sum(dim=2)
    if index is None:
        return per_channel
    out = torch.zeros(per_channel.shape[0], n_units, dtype=torch.float64,
                      device=per_channel.device)
    return out.index_add_(1, index.to(per_channel.device), per_channel)


def _unit_activations(calls: list[_Call], n_units: int) -> torch.Tensor:
    """The players' activation vectors over the batch, positions and sites: (M, n_units).

    Only sites where every player owns the same number of channels are used (a concatenated
    branch's site, which holds some players only, is left out), so the vectors stay aligned.
    """
    columns = []
    for call in calls:
        a = call.output.detach().movedim(call.dim, 1)
        a = a.reshape(a.shape[0], a.shape[1], -1)
        if call.index is None:
            columns.append(a.transpose(0, 1).reshape(n_units, -1))
            continue
        index = call.index.to(a.device)
        counts = torch.bincount(index, minlength=n_units)
        if bool((counts != counts[0]).any()) or int(counts[0]) == 0:
            continue
        order = torch.argsort(index, stable=True)
        grouped = a[:, order].reshape(a.shape[0], n_units, int(counts[0]), -1)
        columns.append(grouped.transpose(0, 1).reshape(n_units, -1))
    return torch.cat(columns, dim=1).transpose(0, 1)


def _check_options(gated: Any, loss_fn: Any, parameter_gram: Any, activation_overlap: Any,
                   include_outgoing: Any, taylor_mode: Any, overlap_measure: Any) -> _Options:
    """Validate the arguments shared by `collect` and `batch_game_statistics`."""
    if not isinstance(gated, GatedNetwork):
        raise TypeError(f"gated must be a GatedNetwork; got {type(gated).__name__}. Build one "
                        "with nets.gates.attach_gates(model)")
    if loss_fn is None:
        loss_fn = F.cross_entropy
    elif not callable(loss_fn):
        raise TypeError(f"loss_fn must be a callable loss_fn(outputs, labels) -> scalar tensor "
                        f"or None (cross-entropy); got {type(loss_fn).__name__}")
    for name, value in (("parameter_gram", parameter_gram),
                        ("activation_overlap", activation_overlap)):
        if not isinstance(value, bool):
            raise TypeError(f"{name} must be a bool; got {value!r}")
    if include_outgoing is None:
        include_outgoing = gated.include_outgoing
    elif not isinstance(include_outgoing, bool):
        raise TypeError(f"include_outgoing must be a bool or None (the value given to "
                        f"attach_gates); got {include_outgoing!r}")
    if taylor_mode not in TAYLOR_MODES:
        raise ValueError(f"taylor_mode must be one of {TAYLOR_MODES}; got {taylor_mode!r}")
    if not isinstance(overlap_measure, str) or overlap_measure not in OVERLAP_MEASURES:
        raise ValueError(f"overlap_measure must be one of {OVERLAP_MEASURES} (centered or plain "
                         f"cosine of the activations); got {overlap_measure!r}")
    return _Options(loss_fn, parameter_gram, activation_overlap, include_outgoing, taylor_mode,
                    overlap_measure)


def _batches(loader: Any, n_batches: int) -> Iterator[tuple[int, tuple[torch.Tensor, Any]]]:
    """Yield ``(index, (inputs, labels))`` for the first ``n_batches`` items of ``loader``."""
    try:
        iterator = iter(loader)
    except TypeError as error:
        raise TypeError(f"loader must be an iterable of (inputs, labels) pairs, such as a "
                        f"torch DataLoader; got {type(loader).__name__}") from error
    for index in range(n_batches):
        try:
            batch = next(iterator)
        except StopIteration:
            return
        yield index, _split_batch(batch, index)


def _split_batch(batch: Any, index: int) -> tuple[torch.Tensor, Any]:
    """Check that one item of the loader is an (inputs, labels) pair."""
    if not isinstance(batch, tuple | list) or len(batch) != 2:
        size = f" of length {len(batch)}" if isinstance(batch, tuple | list) else ""
        raise TypeError(f"loader must yield (inputs, labels) pairs; batch {index} is a "
                        f"{type(batch).__name__}{size}. Wrap the data in "
                        "DataLoader(TensorDataset(inputs, labels)) or zip(inputs, labels)")
    inputs, labels = batch
    if not isinstance(inputs, torch.Tensor):
        raise TypeError(f"loader batch {index}: inputs must be a torch.Tensor; got "
                        f"{type(inputs).__name__}. Convert it with torch.as_tensor")
    return inputs, labels


def _activation_index(gated: GatedNetwork, info: PlayerLayer) -> int | None:
    """Position of the activation module that directly follows the gate, if any (None on a
    traced network: its overlap is read at the gate outputs)."""
    if isinstance(gated, TracedGatedNetwork):
        return None
    position = info.gate_index + 1
    if position >= len(gated.model):
        return None
    module = gated.model[position]
    if isinstance(module, ELEMENTWISE) and not isinstance(module, _NOT_ACTIVATIONS):
        return position
    return None


def _needed_parameters(gated: GatedNetwork, include_outgoing: bool) -> list[torch.Tensor]:
    """The distinct parameters that make up the groups theta_i (in a stable order)."""
    seen: dict[int, torch.Tensor] = {}
    if isinstance(gated, TracedGatedNetwork):
        for info in gated.layers:
            for member in info.members:
                module = gated.model.get_submodule(member.module)
                if isinstance(module, nn.Linear | nn.Conv1d | nn.Conv2d) and (
                        member.role == "out" or include_outgoing):
                    for tensor in (module.weight, module.bias):
                        if tensor is not None:
                            seen.setdefault(id(tensor), tensor)
        return list(seen.values())
    for info in gated.layers:
        module = gated.model[info.layer_index]
        tensors = [module.weight, module.bias]
        if include_outgoing:
            tensors.append(gated.model[info.next_index].weight)
        for tensor in tensors:
            if tensor is not None:
                seen.setdefault(id(tensor), tensor)
    return list(seen.values())


@contextmanager
def _measuring(gated: GatedNetwork, options: _Options) -> Iterator[_Recorder]:
    """Hooks and temporary requires_grad flags; everything is restored on exit."""
    recorder = _Recorder(len(gated.layers))
    gates = list(gated.gates())
    parameters = _needed_parameters(gated, options.include_outgoing)
    tracked = [gate.participation for gate in gates] + parameters
    flags = [tensor.requires_grad for tensor in tracked]
    buffers = [(buffer, buffer.detach().clone()) for module in gated.model.modules()
               if not isinstance(module, ParticipationGate)
               for buffer in module.buffers(recurse=False)]
    handles: list[torch.utils.hooks.RemovableHandle] = []
    try:
        for tensor in tracked:
            tensor.requires_grad_(True)
        centered = options.overlap_measure == "correlation"
        for k, (info, gate) in enumerate(zip(gated.layers, gates, strict=True)):
            activation = _activation_index(gated, info)
            overlap_here = options.activation_overlap and activation is None
            handles.append(gate.register_forward_hook(
                _gate_hook(recorder, k, overlap_here, centered)))
            if options.activation_overlap and activation is not None:
                handles.append(gated.model[activation].register_forward_hook(
                    _activation_hook(recorder, k, centered)))
        yield recorder
    finally:
        for handle in handles:
            handle.remove()
        for tensor, flag in zip(tracked, flags, strict=True):
            tensor.requires_grad_(flag)
        with torch.no_grad():
            for buffer, saved in buffers:
                buffer.copy_(saved)


def _gate_hook(recorder: _Recorder, k: int, record_overlap: bool,
               centered: bool) -> Callable[..., torch.Tensor]:
    """Forward hook of gate k: keep its output a_k (for dL/da_k) and pass a copy on."""
    def hook(module: nn.Module, args: tuple[Any, ...], output: torch.Tensor) -> torch.Tensor:
        dim = args[1] if len(args) > 1 else 1
        index = args[2] if len(args) > 2 else None
        recorder.calls[k].append(_Call(output, args[0].detach(), dim, index))
        if record_overlap and index is None:
            recorder.overlap[k] = activation_cosine(output, centered=centered)
        # The copy keeps a_k out of reach of an in-place activation (ReLU(inplace=True)),
        # which would otherwise overwrite a_k and rewrite its autograd history.
        return output.clone()
    return hook


def _activation_hook(recorder: _Recorder, k: int, centered: bool) -> Callable[..., None]:
    """Forward hook of the activation module after gate k: record the activation overlap."""
    def hook(module: nn.Module, args: tuple[Any, ...], output: torch.Tensor) -> None:
        recorder.overlap[k] = activation_cosine(output, centered=centered)
    return hook


def _model_tensor_kind(gated: GatedNetwork) -> tuple[torch.device, torch.dtype]:
    """Device and floating dtype of the network's parameters."""
    parameter = next(gated.parameters())
    return parameter.device, parameter.dtype


def _forward_loss(gated: GatedNetwork, inputs: torch.Tensor, labels: Any, loss_fn: LossFn,
                  where: str) -> torch.Tensor:
    """Run the network and the loss, turning deep torch errors into messages about inputs."""
    return _forward_outputs_loss(gated, inputs, labels, loss_fn, where)[1]


def _forward_outputs_loss(gated: GatedNetwork, inputs: torch.Tensor, labels: Any,
                          loss_fn: LossFn, where: str) -> tuple[torch.Tensor, torch.Tensor]:
    """`_forward_loss` that also returns the network's outputs."""
    device, dtype = _model_tensor_kind(gated)
    inputs = inputs.to(device=device, dtype=dtype if inputs.is_floating_point() else None)
    if isinstance(labels, torch.Tensor):
        labels = labels.to(device)
    try:
        outputs = gated(inputs)
    except (RuntimeError, ValueError) as error:
        raise ValueError(f"{where}: the network cannot run on inputs of shape "
                         f"{tuple(inputs.shape)} and dtype {inputs.dtype}; check that the "
                         f"loader matches the model ({error})") from error
    try:
        loss = loss_fn(outputs, labels)
    except (RuntimeError, ValueError, IndexError) as error:
        raise ValueError(f"{where}: loss_fn failed on outputs of shape {tuple(outputs.shape)} "
                         f"and these labels; check the labels (class indices for the default "
                         f"cross-entropy) or pass a matching loss_fn ({error})") from error
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1 or not loss.is_floating_point():
        raise ValueError(f"{where}: loss_fn must return a scalar floating tensor (e.g. "
                         f"reduction='mean'); got {type(loss).__name__} of shape "
                         f"{tuple(getattr(loss, 'shape', ()))}")
    if not bool(torch.isfinite(loss.detach()).all()):
        raise ValueError(f"{where}: the loss is {loss.item()}; statistics need a finite loss. "
                         "Check the inputs, labels and weights for NaN or inf")
    if not loss.requires_grad:
        raise ValueError(f"{where}: the loss returned by loss_fn does not depend on the network "
                         "(it has no autograd graph); do not detach the outputs in loss_fn")
    return outputs, loss.reshape(())


def _taylor(per_example: torch.Tensor, mode: str) -> np.ndarray:
    """Molchanov et al. (2017) first-order Taylor criterion of one layer's units, from the
    per-example sums ``sum_spatial a_i dL/da_i`` (B, n) (summed over a traced group's sites)."""
    if mode == "per_example":
        return per_example.abs().sum(dim=0).cpu().numpy()
    return per_example.sum(dim=0).abs().cpu().numpy()


def _measure_batch(gated: GatedNetwork, recorder: _Recorder, inputs: torch.Tensor,
                   labels: Any, options: _Options, where: str) -> _BatchRecord:
    """All per-player statistics of one batch (hooks and flags set up by `_measuring`)."""
    recorder.reset()
    gates = list(gated.gates())
    parameters = _needed_parameters(gated, options.include_outgoing)
    with torch.enable_grad():
        loss = _forward_loss(gated, inputs, labels, options.loss_fn, where)
        outputs = recorder.outputs()
        targets = [gate.participation for gate in gates] + outputs + parameters
        grads = torch.autograd.grad(loss, targets, allow_unused=True)
    n, m = len(gates), len(outputs)
    grad_of = {id(t): (g if g is not None else torch.zeros_like(t))
               for t, g in zip(parameters, grads[n + m:], strict=True)}
    products = recorder.per_unit(grads[n:n + m], [info.n_units for info in gated.layers])
    dloss_ds, grad_inner, taylor = [], [], []
    for k, info in enumerate(gated.layers):
        g_s = grads[k] if grads[k] is not None else torch.zeros_like(gates[k].participation)
        dloss_ds.append(g_s.detach().to(torch.float64).cpu().numpy())
        taylor.append(_taylor(products[k], options.taylor_mode))
        grad_inner.append(_grad_inner(gated, k, info, grad_of, options.include_outgoing))
    overlap = None
    if options.activation_overlap:
        for k, info in enumerate(gated.layers):
            if recorder.overlap[k] is None and isinstance(gated, TracedGatedNetwork):
                recorder.overlap[k] = activation_cosine(
                    _unit_activations(recorder.calls[k], info.n_units),
                    centered=options.overlap_measure == "correlation")
        if any(block is None for block in recorder.overlap):
            raise RuntimeError("an activation hook did not run in the forward pass; is "
                               "gated.forward bypassing gated.model?")
        overlap = tuple(recorder.overlap)
    recorder.reset()
    return _BatchRecord(np.concatenate(dloss_ds), np.concatenate(grad_inner),
                        np.concatenate(taylor), overlap)


def _grad_inner(gated: GatedNetwork, k: int, info: PlayerLayer,
                grad_of: dict[int, torch.Tensor], include_outgoing: bool) -> np.ndarray:
    """``<dL/dtheta_i, theta_i>`` for the players of layer k (Shah & Khan 2025, Eq. 9)."""
    if isinstance(gated, TracedGatedNetwork):
        grouped = gated.unit_rows(k, include_outgoing, lambda tensor: grad_of[id(tensor)])
        with torch.no_grad():
            theta = gated.unit_parameters(k, include_outgoing)
        return (grouped.detach().to(torch.float64) * theta.to(torch.float64)).sum(dim=1) \
            .cpu().numpy()
    module = gated.model[info.layer_index]
    bias = grad_of[id(module.bias)] if module.bias is not None else None
    next_weight = None
    if include_outgoing:
        next_weight = grad_of[id(gated.model[info.next_index].weight)]
    grouped = group_by_unit(gated, k, grad_of[id(module.weight)], bias, next_weight)
    with torch.no_grad():
        theta = gated.unit_parameters(k, include_outgoing)
    inner = (grouped.detach().to(torch.float64) * theta.to(torch.float64)).sum(dim=1)
    return inner.cpu().numpy()


def _assemble(gated: GatedNetwork, records: list[_BatchRecord],
              options: _Options) -> NetworkStatistics:
    """Average the per-batch records and add the parameter statistics."""
    with torch.no_grad():
        groups = [gated.unit_parameters(k, options.include_outgoing).to(torch.float64)
                  for k in range(len(gated.layers))]
    sq_norms = np.concatenate([(u * u).sum(dim=1).cpu().numpy() for u in groups])
    gram = tuple((u @ u.T).cpu().numpy() for u in groups) if options.parameter_gram else None
    overlap = None
    if options.activation_overlap:
        overlap = tuple(np.mean(np.stack([r.overlap[k] for r in records]), axis=0)
                        for k in range(len(gated.layers)))
    return NetworkStatistics(
        layer=gated.player_layer,
        grad_inner=np.mean([r.grad_inner for r in records], axis=0),
        dloss_ds=np.mean([r.dloss_ds for r in records], axis=0),
        taylor=np.mean([r.taylor for r in records], axis=0),
        sq_norms=sq_norms,
        parameter_gram=gram,
        activation_overlap=overlap,
        participation=gated.get_participation().to(torch.float64).numpy(),
        layer_names=tuple(info.name for info in gated.layers),
        n_batches=len(records),
    )


# --------------------------------------------------------------------------- second order


def _check_second_order(gated: GatedNetwork, loss_fn: Any, curvature: Any, damping: Any,
                        reconstruction: Any) -> None:
    """Validate `collect`'s second-order options."""
    if curvature is not None and curvature not in CURVATURES:
        raise ValueError(f"curvature must be one of {CURVATURES} or None; got {curvature!r}")
    if isinstance(damping, bool) or not isinstance(damping, int | float | np.floating) or not (
            np.isfinite(damping) and damping >= 0):
        raise ValueError(f"damping must be a finite number >= 0 (added to the curvature's "
                         f"diagonal); got {damping!r}")
    if not isinstance(reconstruction, bool):
        raise TypeError(f"reconstruction must be a bool; got {reconstruction!r}")
    if reconstruction and isinstance(gated, TracedGatedNetwork):
        for layer in gated.layers:
            _single_reader(gated, layer)
    if curvature is None:
        return
    if curvature == "gauss_newton" and loss_fn not in (None, F.cross_entropy):
        raise ValueError("curvature='gauss_newton' is implemented for the default "
                         "cross-entropy loss only (loss_fn=None); use curvature='fisher' with "
                         "a custom loss_fn")
    training_norms = [type(m).__name__ for m in gated.model.modules()
                      if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training]
    if training_norms:
        raise ValueError("curvature needs per-example gradients, but BatchNorm in training mode "
                         "couples the examples of a batch; call gated.eval() before collect")


def _per_example_gate_products(gated: GatedNetwork, recorder: _Recorder,
                               grads: tuple[torch.Tensor | None, ...]) -> torch.Tensor:
    """``sum_spatial (dY/da_i)_e (x_i)_e`` for every example e and gate i, shape (B, N).

    With ``a_i = s_i x_i`` (the gate) and examples that do not interact, this is the gradient
    of example e's share of Y with respect to s_i (summed over a traced group's sites).
    """
    return torch.cat(recorder.per_unit(grads, [info.n_units for info in gated.layers],
                                       use_inputs=True), dim=1)


def _curvature_columns(gated: GatedNetwork, recorder: _Recorder, inputs: torch.Tensor,
                       labels: Any, options: _Options, curvature: str,
                       where: str) -> np.ndarray:
    """One batch's rows of F^T (before the 1/sqrt(n)): per example (and class for GN)."""
    recorder.reset()
    with torch.enable_grad():
        outputs, loss = _forward_outputs_loss(gated, inputs, labels, options.loss_fn, where)
        gate_outputs = recorder.outputs()
        batch = outputs.shape[0]
        if curvature == "fisher":
            grads = torch.autograd.grad(loss, gate_outputs, allow_unused=True)
            rows = batch * _per_example_gate_products(gated, recorder, grads)
        else:
            if outputs.dim() != 2:
                raise ValueError(f"{where}: curvature='gauss_newton' needs (B, classes) logits; "
                                 f"got outputs of shape {tuple(outputs.shape)}")
            n_classes = outputs.shape[1]
            jac = torch.stack([
                _per_example_gate_products(gated, recorder, torch.autograd.grad(
                    outputs[:, c].sum(), gate_outputs, retain_graph=c < n_classes - 1,
                    allow_unused=True))
                for c in range(n_classes)], dim=1)                      # (B, C, N)
            p = torch.softmax(outputs.detach().to(torch.float64), dim=1)  # (B, C)
            mean = torch.einsum("bc,bcn->bn", p, jac)
            rows = (p.sqrt().unsqueeze(2) * (jac - mean.unsqueeze(1))).reshape(-1, jac.shape[2])
    recorder.reset()
    return rows.cpu().numpy()


def _narrow(factors: np.ndarray) -> np.ndarray:
    """An (N, r <= N) factor with the same ``F F^T`` when F is wider than tall."""
    n, width = factors.shape
    if width <= n:
        return factors
    values, vectors = np.linalg.eigh(factors @ factors.T)
    keep = values > max(float(values.max(initial=0.0)), 0.0) * n * np.finfo(np.float64).eps
    return np.ascontiguousarray(vectors[:, keep] * np.sqrt(values[keep]))


#: Examples per chunk when the units' contributions to the next layer are expanded.
_RECONSTRUCTION_CHUNK = 32


def _reconstruction_grams(gated: GatedNetwork, recorder: _Recorder,
                          inputs: torch.Tensor) -> tuple[np.ndarray, ...]:
    """Per layer ``M = mean_e V_e V_e^T`` with ``V_e[i] = d z_e / d s_i`` (see `collect`)."""
    if isinstance(gated, TracedGatedNetwork):
        return _traced_reconstruction_grams(gated, recorder, inputs)
    recorder.reset()
    device, dtype = _model_tensor_kind(gated)
    inputs = inputs.to(device=device, dtype=dtype if inputs.is_floating_point() else None)
    with torch.no_grad():
        gated(inputs)
    grams = []
    for k, info in enumerate(gated.layers):
        a, x = recorder.calls[k][0].output, recorder.calls[k][0].input
        chain = [gated.model[j] for j in range(info.gate_index + 1, info.next_index)]

        def through(value: torch.Tensor, chain: list[nn.Module] = chain) -> torch.Tensor:
            for module in chain:  # .forward: the collection hooks stay out of this pass
                value = module.forward(value)
            return value

        a64 = a.detach().to(torch.float64).clone()
        _, tangent = torch.func.jvp(through, (a64,), (x.to(torch.float64),))
        following = gated.model[info.next_index]
        weight = following.weight.detach().to(torch.float64)
        gram = torch.zeros(info.n_units, info.n_units, dtype=torch.float64,
                           device=tangent.device)
        for start in range(0, tangent.shape[0], _RECONSTRUCTION_CHUNK):
            part = tangent[start:start + _RECONSTRUCTION_CHUNK]
            contributions = _contributions(following, weight, part, info.n_units)
            gram += torch.einsum("bip,bjp->ij", contributions, contributions)
        grams.append((gram / tangent.shape[0]).cpu().numpy())
    recorder.reset()
    return tuple(grams)


def _contributions(following: nn.Module, weight: torch.Tensor, tangent: torch.Tensor,
                   n_units: int) -> torch.Tensor:
    """Each unit's contribution to the next layer's output, shape (B, n_units, outputs)."""
    batch = tangent.shape[0]
    if isinstance(following, nn.Linear):
        per_unit = tangent.reshape(batch, n_units, -1)
        block = weight.reshape(weight.shape[0], n_units, per_unit.shape[2])
        return torch.einsum("oip,bip->bio", block, per_unit)
    if following.padding_mode != "zeros" or following.groups != 1:
        raise NotImplementedError("the reconstruction reading supports a next Conv2d with "
                                  "zero padding and groups=1 only")
    out_channels = weight.shape[0]
    grouped = weight.transpose(0, 1).reshape(n_units * out_channels, 1, *weight.shape[2:])
    maps = F.conv2d(tangent, grouped, stride=following.stride, padding=following.padding,
                    dilation=following.dilation, groups=n_units)
    return maps.reshape(batch, n_units, -1)


def _single_reader(gated: TracedGatedNetwork, layer: Any) -> nn.Module:
    """The one layer that reads a traced player group, where the reconstruction reading is
    defined; a NotImplementedError saying why otherwise.

    The reading (``v_ei = d z_e / d s_i``, z the next layer's output, bias excluded) needs one
    next layer reached through channel-wise operations only: a group with one gate site and
    one input member that is a Linear or an ungrouped, zero-padded convolution (an MLP's or a
    Transformer block's hidden units, a BasicBlock's inner ``conv1`` filters, attention heads
    read by ``out_proj``). A group tied by residual adds has a gate at every block writing to
    it and is read by every block after: the players' contributions reach several layers,
    through later gates of the same group, so z is neither one layer's output nor linear in
    the group's gates, and no single "next layer" exists to reconstruct.
    """
    readers = [m for m in layer.members if m.role == "in"]
    fix = (f"pass ignored_layers=[{layer.name!r}] (or another layer writing to that group) to "
           "attach_gates to make it a non-player, or use a payoff other than reconstruction")
    if len(layer.sites) != 1 or len(readers) != 1:
        raise NotImplementedError(
            f"reconstruction=True is defined for a player group read by one layer (a hidden "
            f"layer, a block's inner conv, attention heads); layer {layer.name!r} has "
            f"{len(layer.sites)} gate sites and {len(readers)} reading layers (channels tied "
            f"across a residual stage or a concatenation), so it has no single next layer; "
            f"{fix}")
    reader = gated.model.get_submodule(readers[0].module)
    if not (isinstance(reader, nn.Linear) or (
            isinstance(reader, nn.Conv1d | nn.Conv2d) and reader.groups == 1
            and reader.padding_mode == "zeros")):
        raise NotImplementedError(
            f"reconstruction=True needs the layer reading player group {layer.name!r} to be a "
            f"Linear or an ungrouped, zero-padded Conv1d/Conv2d; {readers[0].module!r} is a "
            f"{type(reader).__name__}; {fix}")
    return reader


def _traced_reconstruction_grams(gated: TracedGatedNetwork, recorder: _Recorder,
                                 inputs: torch.Tensor) -> tuple[np.ndarray, ...]:
    """`_reconstruction_grams` of a traced network: per group, one forward pass in forward-mode
    AD (``torch.autograd.forward_ad``) with the tangent 1 on every participation of the group.

    Gate k computes ``a = s_k[index] * y``, so the tangent at its site is y on the group's
    channels; the operations up to the group's one reader are channel-wise (`_single_reader`),
    so the tangent of the reader's input at player i's channels is ``d x / d s_i`` there and 0
    elsewhere, and player i's contribution is the reader's weight applied to it alone.
    """
    from torch.autograd import forward_ad

    recorder.reset()
    device, dtype = _model_tensor_kind(gated)
    inputs = inputs.to(device=device, dtype=dtype if inputs.is_floating_point() else None)
    grams = []
    for k, layer in enumerate(gated.layers):
        reader = _single_reader(gated, layer)
        member = next(m for m in layer.members if m.role == "in")
        gate = gated.gate_module(k)
        seen: list[torch.Tensor] = []

        def capture(module: nn.Module, args: tuple[Any, ...], seen: list = seen) -> None:
            tangent = forward_ad.unpack_dual(args[0]).tangent
            seen.append(torch.zeros_like(args[0]) if tangent is None else tangent.detach())

        handle = reader.register_forward_pre_hook(capture)  # after the gates' own pre-hooks
        saved = gate._buffers["participation"]
        try:
            with forward_ad.dual_level(), torch.no_grad():
                primal = saved.detach()
                gate._buffers["participation"] = forward_ad.make_dual(primal,
                                                                      torch.ones_like(primal))
                gated(inputs)
        finally:
            gate._buffers["participation"] = saved
            handle.remove()
        tangent = seen[0].to(torch.float64)
        weight = reader.weight.detach().to(torch.float64)
        gram = torch.zeros(layer.n_units, layer.n_units, dtype=torch.float64,
                           device=tangent.device)
        for start in range(0, tangent.shape[0], _RECONSTRUCTION_CHUNK):
            part = _reader_contributions(reader, weight, tangent[start:start
                                                                 + _RECONSTRUCTION_CHUNK],
                                         member.indices)
            gram += torch.einsum("bip,bjp->ij", part, part)
        grams.append((gram / tangent.shape[0]).cpu().numpy())
    recorder.reset()
    return tuple(grams)


def _reader_contributions(reader: nn.Module, weight: torch.Tensor, tangent: torch.Tensor,
                          indices: tuple[tuple[int, ...], ...]) -> torch.Tensor:
    """Each player's contribution to ``reader``'s output (bias excluded): its weight applied
    to the tangent restricted to the player's input channels; shape (B, n_players, outputs)."""
    parts = []
    for channels in indices:
        index = torch.tensor(channels, dtype=torch.long, device=tangent.device)
        if isinstance(reader, nn.Linear):
            part = tangent.index_select(-1, index) @ weight.index_select(1, index).T
        else:
            conv = F.conv2d if isinstance(reader, nn.Conv2d) else F.conv1d
            part = conv(tangent.index_select(1, index), weight.index_select(1, index),
                        stride=reader.stride, padding=reader.padding, dilation=reader.dilation)
        parts.append(part.reshape(tangent.shape[0], -1))
    return torch.stack(parts, dim=1)
