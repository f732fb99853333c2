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

Two second-order readings (`SECOND_ORDER_PAYOFFS`, `equilibria.secondorder`,
docs/explanation/second-order.md) make U_i minus a quadratic model of a loss around the measured
participation s0, minus the price: ``b = alpha (-g + H s0)``, ``q = alpha H_ii / 2 + beta
||theta_i||^2``, ``R = alpha offdiag(H)``, ``c = gamma``:

==================  ========================================================================
payoff              model loss
==================  ========================================================================
``second_order``    the training loss, ``g = dloss_ds`` and ``H = F F^T + lambda I`` with F
                    ``curvature_factors`` (damped empirical Fisher or Gauss-Newton of the
                    gates, `nets.stats.collect(curvature=...)`); R is ``LowRank(F)``
``reconstruction``  ``E || sum_i (s0_i - s_i) v_i ||^2``, the error of each layer's
                    contribution to the next layer's input (v_i: unit i's contribution per unit
                    of participation); ``g = 0`` and ``H = 2 M + lambda I`` with M the
                    per-layer ``reconstruction_gram``; R is block diagonal
==================  ========================================================================

Both take their damping lambda from ``curvature_damping`` and refuse ``eta != 0`` (their
competition is the curvature's, not an overlap's).

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
from equilibria.secondorder import QuadraticModel, quadratic_game

PAYOFFS = ("paper", "loss_descent", "taylor")
#: Payoffs whose game is minus a quadratic model of a loss (`equilibria.secondorder`); they need
#: statistics collected with ``nets.stats.collect(curvature=...)`` or ``reconstruction=True``.
SECOND_ORDER_PAYOFFS = ("second_order", "reconstruction")
#: Curvature estimates that ``curvature_factors`` may hold (``H ~ F F^T``).
CURVATURES = ("fisher", "gauss_newton")
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
    curvature_factors : ndarray (N, d), optional
        F with ``H = F F^T`` a curvature of the loss in the gates (the ``second_order``
        payoff): for the empirical Fisher the per-example gate gradients over sqrt(n), one
        column per example; for Gauss-Newton one column per example and output.
    curvature : {"fisher", "gauss_newton"}, optional
        Which estimate ``curvature_factors`` holds (set exactly when it is).
    curvature_damping : float, default 0.0
        lambda >= 0 added to the diagonal of both second-order readings' curvature.
    reconstruction_gram : tuple of ndarray, optional
        Per layer, ``M_ij = E <v_i, v_j>`` of the units' contributions to the next layer's
        input (the ``reconstruction`` payoff).
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
    curvature_factors: np.ndarray | None = None
    curvature: str | None = None
    curvature_damping: float = 0.0
    reconstruction_gram: tuple[np.ndarray, ...] | None = None

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
        self._check_curvature(n)
        sizes = np.bincount(layer)
        for name in ("parameter_gram", "activation_overlap", "reconstruction_gram"):
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

    def _check_curvature(self, n: int) -> None:
        """Validate and normalize the second-order fields."""
        damping = self.curvature_damping
        if isinstance(damping, bool) or not isinstance(damping, int | float | np.number) or not (
                np.isfinite(damping) and damping >= 0):
            raise InvalidGameError(f"curvature_damping must be a finite number >= 0; got "
                                   f"{damping!r}")
        object.__setattr__(self, "curvature_damping", float(damping))
        if (self.curvature_factors is None) != (self.curvature is None):
            raise InvalidGameError("curvature (the estimate's name) and curvature_factors are "
                                   "given together or not at all")
        if self.curvature_factors is None:
            return
        if self.curvature not in CURVATURES:
            raise InvalidGameError(f"curvature must be one of {CURVATURES}; got "
                                   f"{self.curvature!r}")
        factors = np.asarray(self.curvature_factors, dtype=np.float64)
        if factors.ndim != 2 or factors.shape[0] != n or not np.all(np.isfinite(factors)):
            raise InvalidGameError(f"curvature_factors must be a finite ({n}, d) array, one row "
                                   f"per player; got shape {factors.shape}")
        object.__setattr__(self, "curvature_factors", factors)

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
        if self.curvature_factors is not None:
            arrays["curvature_factors"] = self.curvature_factors
            arrays["curvature"] = np.array(self.curvature, dtype=str)
        arrays["curvature_damping"] = self.curvature_damping
        for name in ("parameter_gram", "activation_overlap", "reconstruction_gram"):
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
                      for name in ("parameter_gram", "activation_overlap",
                                   "reconstruction_gram")}
            curvature = str(data["curvature"]) if "curvature" in data else None
            damping = float(data["curvature_damping"]) if "curvature_damping" in data else 0.0
            return cls(layer=data["layer"], grad_inner=data["grad_inner"],
                       dloss_ds=data["dloss_ds"], taylor=data["taylor"],
                       sq_norms=data["sq_norms"], participation=data.get("participation"),
                       layer_names=tuple(str(x) for x in data["layer_names"]),
                       n_batches=int(data["n_batches"]),
                       curvature_factors=data.get("curvature_factors"), curvature=curvature,
                       curvature_damping=damping, **blocks)


def benefit(stats: NetworkStatistics, payoff: str, alpha: float = 1.0) -> np.ndarray:
    """The benefit b under one reading of the paper's Eq. 9 (see the module table)."""
    if payoff == "paper":
        return alpha * stats.grad_inner
    if payoff == "loss_descent":
        return -alpha * stats.dloss_ds
    if payoff == "taylor":
        return alpha * stats.taylor
    if payoff in SECOND_ORDER_PAYOFFS:
        return build_game(stats, payoff, alpha=alpha).benefit
    raise UnknownMethodError(f"payoff must be one of {PAYOFFS + SECOND_ORDER_PAYOFFS}; got "
                             f"{payoff!r}")


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


def quadratic_model(stats: NetworkStatistics, payoff: str = "second_order") -> QuadraticModel:
    """The quadratic model of a loss in the gates that a second-order reading is built from.

    ``second_order``: ``L(s) - L(s0) ~ g^T d + 1/2 d^T H d`` with ``g = dloss_ds``, ``H =
    F F^T + lambda I`` (``curvature_factors``, ``curvature_damping``); ``reconstruction``:
    ``E || sum_i (s0_i - s_i) v_i ||^2 = d^T M d`` with M block diagonal
    (``reconstruction_gram``), so ``g = 0`` and ``H = 2 M + lambda I``
    (docs/explanation/second-order.md). ``s0`` is ``stats.participation`` (ones if absent).

    Raises
    ------
    InvalidGameError
        When the statistics lack what the reading needs.
    UnknownMethodError
        When ``payoff`` is not one of `SECOND_ORDER_PAYOFFS`.
    """
    reference = (stats.participation if stats.participation is not None
                 else np.ones(stats.n_players))
    if payoff == "second_order":
        if stats.curvature_factors is None:
            raise InvalidGameError("payoff='second_order' needs stats.curvature_factors; collect "
                                   "them with nets.stats.collect(..., curvature='fisher' or "
                                   "'gauss_newton')")
        return QuadraticModel(stats.dloss_ds, reference, factors=stats.curvature_factors,
                              damping=stats.curvature_damping)
    if payoff == "reconstruction":
        if stats.reconstruction_gram is None:
            raise InvalidGameError("payoff='reconstruction' needs stats.reconstruction_gram; "
                                   "collect it with nets.stats.collect(..., reconstruction=True)")
        matrix = sp.csr_matrix(sp.block_diag([2.0 * m for m in stats.reconstruction_gram],
                                             format="csr"))
        return QuadraticModel(np.zeros(stats.n_players), reference, matrix=matrix,
                              damping=stats.curvature_damping)
    raise UnknownMethodError(f"payoff must be one of {SECOND_ORDER_PAYOFFS} for a quadratic "
                             f"model; got {payoff!r}")


def build_game(stats: NetworkStatistics, payoff: str = "paper",
               overlap: str | None = "parameters", alpha: float = 1.0, beta: float = 0.0,
               gamma: float = 0.0, eta: float = 0.0,
               bounds: tuple[float, float] = (0.0, 1.0)) -> ParticipationGame:
    """The participation game of a network under one explicit reading of the paper.

    ``b`` from `benefit`, ``q = beta ||theta||^2``, ``c = gamma``, ``R = eta * overlap``
    within each layer (Shah & Khan 2025, Eq. 8-10). For a second-order reading
    (`SECOND_ORDER_PAYOFFS`) the game is `equilibria.secondorder.quadratic_game` of
    `quadratic_model`: ``b = alpha (-g + H s0)``, ``q = alpha H_ii / 2 + beta ||theta||^2``,
    ``R = alpha offdiag(H)``, ``c = gamma``; ``overlap`` is ignored and ``eta`` must be 0.

    Parameters
    ----------
    stats : NetworkStatistics
    payoff : {"paper", "loss_descent", "taylor", "second_order", "reconstruction"}
        Default "paper".
    overlap : {"parameters", "activations", None}, default "parameters"
    alpha, beta, gamma, eta : float
        The paper's weights; beta, gamma >= 0 (alpha > 0 for the second-order readings).
    bounds : (float, float), default (0, 1)
    """
    for name, value in (("alpha", alpha), ("beta", beta), ("gamma", gamma), ("eta", eta)):
        if not np.isfinite(value):
            raise InvalidGameError(f"{name} must be finite; got {value}")
    if beta < 0 or gamma < 0:
        raise InvalidGameError(f"beta and gamma are costs and must be >= 0; got beta={beta}, "
                               f"gamma={gamma}")
    if payoff in SECOND_ORDER_PAYOFFS:
        if eta != 0.0:
            raise InvalidGameError(f"payoff={payoff!r} prices redundancy by its curvature; an "
                                   f"overlap competition does not apply: pass eta=0 (got {eta})")
        return quadratic_game(quadratic_model(stats, payoff), alpha=alpha, gamma=gamma,
                              l2=beta * stats.sq_norms, bounds=bounds)
    return ParticipationGame(benefit(stats, payoff, alpha), beta * stats.sq_norms, gamma,
                             block_competition(stats, overlap, eta), bounds)
