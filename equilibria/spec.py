"""From network statistics to a participation game (the specification layer; docs/design.md).

`NetworkStatistics` holds, in numpy arrays only, what `nets.stats.collect` measures on a real
network; `build_game` turns it into a `ParticipationGame` under one explicit reading of the
paper's utility (Shah & Khan 2025, Eq. 8-10):

================  ==========================================================================
payoff            benefit b_i
================  ==========================================================================
``paper``         ``alpha <grad_{theta_i} L, theta_i>`` at the raw theta_i (Eq. 9 literally;
                  the gradient carries a factor s_i, so s_i = 0 is absorbing)
``loss_descent``  ``-alpha dL/ds_i``: the s-dynamics become projected gradient descent on the
                  regularized loss (L linearized at the measured point): the potential is
                  minus that loss and the equilibria are its KKT points
``taylor``        ``alpha sum_batch |a_i dL/da_i|`` (first-order Taylor, Molchanov et al. 2019)
================  ==========================================================================

Costs: ``q_i = beta ||theta_i||^2``, ``c_i = gamma`` (Eq. 10). Competition (within a layer
only, so R is block diagonal): ``R_ij = eta <theta_i, theta_j>`` (``overlap="parameters"``,
Eq. 10) or ``eta cos(act_i, act_j)`` over a batch (``overlap="activations"``), where the cosine
is that of the activations centered per unit, i.e. their correlation, by default
(`nets.stats.collect`, ``overlap_measure="correlation"``) and the plain uncentered cosine on
request (``overlap_measure="cosine"``). Both are symmetric, so every game built here is an exact
potential game.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from equilibria.atomic import atomic_write
from equilibria.errors import InvalidGameError, UnknownMethodError, as_finite_vector
from equilibria.game import ParticipationGame

PAYOFFS = ("paper", "loss_descent", "taylor")
OVERLAPS = ("parameters", "activations", None)


@dataclass(frozen=True, eq=False)
class NetworkStatistics:
    """Per-player statistics of a network, averaged over batches (numpy only).

    Attributes
    ----------
    layer : ndarray of int, shape (N,)
        Which layer each player belongs to (0, 1, ...); a layer's players are contiguous.
    grad_inner : ndarray (N,)
        ``<grad_{theta_i} L, theta_i>`` with the gradient taken at the raw theta_i.
    dloss_ds : ndarray (N,)
        ``dL/ds_i = <grad L at the effective s_i theta_i, theta_i>``.
    taylor : ndarray (N,)
        First-order Taylor contribution ``sum_batch |a_i dL/da_i|``.
    sq_norms : ndarray (N,)
        ``||theta_i||^2``.
    parameter_gram : tuple of ndarray, optional
        Per layer, ``<theta_i, theta_j>`` among its players.
    activation_overlap : tuple of ndarray, optional
        Per layer, the cosine similarity of the players' activations over the batch.
    participation : ndarray (N,), optional
        The participation at which the statistics were taken.
    layer_names : tuple of str
        Names of the layers, for reports.
    n_batches : int
        Batches averaged.
    """

    layer: np.ndarray
    grad_inner: np.ndarray
    dloss_ds: np.ndarray
    taylor: np.ndarray
    sq_norms: np.ndarray
    parameter_gram: tuple[np.ndarray, ...] | None = None
    activation_overlap: tuple[np.ndarray, ...] | None = None
    participation: np.ndarray | None = None
    layer_names: tuple[str, ...] = field(default=())
    n_batches: int = 1

    def __post_init__(self) -> None:
        layer = np.asarray(self.layer)
        if layer.ndim != 1 or layer.size == 0 or not np.issubdtype(layer.dtype, np.integer):
            raise InvalidGameError("layer must be a non-empty 1-D integer array (the layer of "
                                   "each player)")
        if np.any(np.diff(layer) < 0) or layer.min() != 0:
            raise InvalidGameError("layer must be sorted and start at 0: players of a layer "
                                   "are contiguous and layers are numbered 0, 1, ...")
        n = layer.size
        object.__setattr__(self, "layer", layer.astype(np.int64))
        for name in ("grad_inner", "dloss_ds", "taylor", "sq_norms"):
            object.__setattr__(self, name, as_finite_vector(getattr(self, name), name, n))
        if np.any(self.sq_norms < 0):
            raise InvalidGameError("sq_norms must be >= 0")
        if self.participation is not None:
            object.__setattr__(self, "participation",
                               as_finite_vector(self.participation, "participation", n))
        sizes = np.bincount(layer)
        for name in ("parameter_gram", "activation_overlap"):
            blocks = getattr(self, name)
            if blocks is None:
                continue
            blocks = tuple(np.asarray(b, dtype=np.float64) for b in blocks)
            if len(blocks) != sizes.size:
                raise InvalidGameError(f"{name} needs one block per layer ({sizes.size}); got "
                                       f"{len(blocks)}")
            for k, (block, size) in enumerate(zip(blocks, sizes, strict=True)):
                if block.shape != (size, size) or not np.all(np.isfinite(block)):
                    raise InvalidGameError(f"{name}[{k}] must be a finite ({size}, {size}) "
                                           f"array; got shape {block.shape}")
            object.__setattr__(self, name, blocks)

    @property
    def n_players(self) -> int:
        """Number of players N."""
        return self.layer.size

    def save(self, path: str | os.PathLike) -> None:
        """Write to a ``.npz`` file atomically (temporary file, then rename)."""
        arrays: dict[str, Any] = {"layer": self.layer, "grad_inner": self.grad_inner,
                                  "dloss_ds": self.dloss_ds, "taylor": self.taylor,
                                  "sq_norms": self.sq_norms, "n_batches": self.n_batches,
                                  "layer_names": np.array(self.layer_names, dtype=str)}
        if self.participation is not None:
            arrays["participation"] = self.participation
        for name in ("parameter_gram", "activation_overlap"):
            for k, block in enumerate(getattr(self, name) or ()):
                arrays[f"{name}_{k}"] = block
        with atomic_write(path, "wb") as handle:
            np.savez(handle, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> NetworkStatistics:
        """Read what `save` wrote."""
        with np.load(path) as data:
            n_layers = int(data["layer"].max()) + 1
            blocks = {name: tuple(data[f"{name}_{k}"] for k in range(n_layers))
                      if f"{name}_0" in data else None
                      for name in ("parameter_gram", "activation_overlap")}
            return cls(layer=data["layer"], grad_inner=data["grad_inner"],
                       dloss_ds=data["dloss_ds"], taylor=data["taylor"],
                       sq_norms=data["sq_norms"], participation=data.get("participation"),
                       layer_names=tuple(str(x) for x in data["layer_names"]),
                       n_batches=int(data["n_batches"]), **blocks)


def benefit(stats: NetworkStatistics, payoff: str, alpha: float = 1.0) -> np.ndarray:
    """The benefit b under one reading of the paper's Eq. 9 (see the module table)."""
    if payoff == "paper":
        return alpha * stats.grad_inner
    if payoff == "loss_descent":
        return -alpha * stats.dloss_ds
    if payoff == "taylor":
        return alpha * stats.taylor
    raise UnknownMethodError(f"payoff must be one of {PAYOFFS}; got {payoff!r}")


def block_competition(stats: NetworkStatistics, overlap: str | None,
                      eta: float) -> sp.csr_matrix | None:
    """``eta`` times the per-layer overlap blocks as one block-diagonal sparse matrix."""
    if overlap not in OVERLAPS:
        raise UnknownMethodError(f"overlap must be one of {OVERLAPS}; got {overlap!r}")
    if overlap is None or eta == 0.0:
        return None
    blocks = stats.parameter_gram if overlap == "parameters" else stats.activation_overlap
    if blocks is None:
        field_name = "parameter_gram" if overlap == "parameters" else "activation_overlap"
        raise InvalidGameError(f"overlap={overlap!r} needs stats.{field_name}; collect it "
                               "(nets.stats.collect) or pass overlap=None")
    return sp.csr_matrix(sp.block_diag([eta * b for b in blocks], format="csr"))


def build_game(stats: NetworkStatistics, payoff: str = "paper",
               overlap: str | None = "parameters", alpha: float = 1.0, beta: float = 0.0,
               gamma: float = 0.0, eta: float = 0.0,
               bounds: tuple[float, float] = (0.0, 1.0)) -> ParticipationGame:
    """The participation game of a network under one explicit reading of the paper.

    ``b`` from `benefit`, ``q = beta ||theta||^2``, ``c = gamma``, ``R = eta * overlap``
    within each layer (Shah & Khan 2025, Eq. 8-10).

    Parameters
    ----------
    stats : NetworkStatistics
    payoff : {"paper", "loss_descent", "taylor"}, default "paper"
    overlap : {"parameters", "activations", None}, default "parameters"
    alpha, beta, gamma, eta : float
        The paper's weights; beta, gamma >= 0.
    bounds : (float, float), default (0, 1)
    """
    for name, value in (("alpha", alpha), ("beta", beta), ("gamma", gamma), ("eta", eta)):
        if not np.isfinite(value):
            raise InvalidGameError(f"{name} must be finite; got {value}")
    if beta < 0 or gamma < 0:
        raise InvalidGameError(f"beta and gamma are costs and must be >= 0; got beta={beta}, "
                               f"gamma={gamma}")
    return ParticipationGame(benefit(stats, payoff, alpha), beta * stats.sq_norms, gamma,
                             block_competition(stats, overlap, eta), bounds)
