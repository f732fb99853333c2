"""A-posteriori bound on the distance to the equilibrium of a strongly monotone game.

The relative Nash gap certifies that a profile is *almost* an equilibrium, but not how far it
is from one: the gap is quadratic in the distance for free players, so a profile with gap
1e-8 can sit 1e-4 from the equilibrium. For a strongly monotone game the natural-map residual
bounds the distance itself (Facchinei & Pang 2003, Vol. I, Prop. 6.3.1):

    ||s - s*||_2 <= (1 + L) / mu * ||s - clip(s + g(s), lo, hi)||_2,

with g the pseudo-gradient (the players *maximize*: the variational inequality is VI(box, F)
with F = -g), mu the monotonicity modulus ``(F(x) - F(y))^T (x - y) >= mu ||x - y||^2`` and L
the Lipschitz constant of g. For the participation game (docs/design.md, "The game") F is
affine with Jacobian ``-J = 2 diag(q) + R``, so ``mu = lambda_min(2 diag(q) + (R + R^T) / 2)``
(positive exactly when Rosen's monotonicity certificate holds) and ``L = ||J||_2``.

Derivation (for a scaled residual; t = 1 is the statement above). Fix t > 0, let
``y = clip(s + t g(s))`` and ``r = s - y``. The projection's variational characterization
gives ``(s + t g(s) - y)^T (z - y) <= 0`` for every z in the box, so with z = s*,
``(r + t g(s))^T (s* - y) <= 0``. The equilibrium solves the VI: ``g(s*)^T (y - s*) <= 0``.
Adding t times the second to the first and substituting ``y = s - r``:

    t (g(s*) - g(s))^T (s - s*) <= t (g(s*) - g(s))^T r + r^T (s - s*) - ||r||^2,

and strong monotonicity bounds the left side below by ``t mu ||s - s*||^2``, the right side
above by ``(t L + 1) ||r|| ||s - s*||``. Hence, for every t > 0,

    ||s - s*||_2 <= (1 + t L) / (t mu) * ||r_t(s)||_2.                          (B_t)

Every t gives a valid bound, so `distance_bound` reports the smallest over a geometric grid of
t L in [1e-8, 1e2] and t = 1 (Facchinei & Pang's own residual); ``||r_t|| / t`` decreases and
``||r_t||`` increases in t (Gafni & Bertsekas 1984), so the two terms of (B_t) trade off.
As t -> 0, ``r_t / t`` tends to minus the projected gradient ``P(s)`` (g_i for a free player,
``max(g_i, 0)`` at lo, ``min(g_i, 0)`` at hi) and (B_t) tends to ``||P(s)|| / mu`` whatever L
is: that limit is the bound used when L is unknown (a `CallableGame` with only ``modulus``).

The bound is in the Euclidean norm and therefore also bounds the max-norm distance that
`equilibria.certify` reports. It is rigorous up to the floating-point error of g(s) and of
the eigenvalue computation of mu. A game that is not strongly monotone (mu <= 0, e.g. two
duplicate players with strong competition, which has three equilibria) gets no bound, and
`DistanceBound.reason` says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from equilibria.callable_game import ContinuousGame
from equilibria.competition import LowRank
from equilibria.errors import InvalidOptionError
from equilibria.game import ParticipationGame
from equilibria.plain import to_plain
from equilibria.stability import FULL_SPECTRUM_LIMIT, monotonicity_modulus

__all__ = ["STEP_GRID", "DistanceBound", "distance_bound", "lipschitz_bound",
           "monotonicity_modulus"]

#: The scalings t L of the natural map over which (B_t) is minimized (t = 1 is added).
STEP_GRID: tuple[float, ...] = tuple(float(x) for x in np.logspace(-8, 2, 41))

#: mu at or below this share of L counts as zero (not strongly monotone).
_MODULUS_RTOL = 1e-12


@dataclass(frozen=True)
class DistanceBound:
    """An a-posteriori bound on ``||s - s*||_2`` (module docstring), or why there is none.

    Attributes
    ----------
    bound : float or None
        Upper bound on the Euclidean (hence also the max-norm) distance from s to the
        equilibrium s*; None when the game gives no bound.
    modulus : float or None
        The monotonicity modulus mu used (None when unknown).
    lipschitz : float or None
        The Lipschitz constant L of the pseudo-gradient used (None when unknown).
    natural_residual : float
        ``||s - clip(s + g(s), lo, hi)||_2``, Facchinei & Pang's residual (t = 1).
    step : float or None
        The scaling t of the natural map at which the bound was attained (0.0 for the
        projected-gradient limit t -> 0).
    reason : str
        Empty when a bound is given; otherwise why not, in one sentence.
    """

    bound: float | None
    modulus: float | None
    lipschitz: float | None
    natural_residual: float
    step: float | None
    reason: str

    @property
    def available(self) -> bool:
        """Whether a bound was given."""
        return self.bound is not None

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary of the fields and ``available``."""
        return to_plain({"bound": self.bound, "modulus": self.modulus,
                         "lipschitz": self.lipschitz, "natural_residual": self.natural_residual,
                         "step": self.step, "reason": self.reason,
                         "available": self.available})


def lipschitz_bound(game: ParticipationGame) -> float:
    """An upper bound on L = ``||J||_2``, the Lipschitz constant of the pseudo-gradient.

    Exact (the largest singular value of the dense J) up to `FULL_SPECTRUM_LIMIT` players.
    Above it: for ``R = c (F F^T - diag(F F^T))``, ``J = -(D + c F F^T)`` with
    ``D = diag(2 q - c ||F_i||^2)``, so ``||J||_2 <= max |D| + |c| lambda_max(F^T F)`` (a d x d
    eigenvalue); for a sparse R, ``||J||_2 <= sqrt(||J||_1 ||J||_inf)`` (Hoelder). Unlike
    `equilibria.solvers.projected_gradient.lipschitz_constant` (power iteration, from below)
    this never underestimates L.
    """
    n, R = game.n_players, game.competition
    q2 = 2.0 * game.quadratic_cost
    if R is None:
        return float(q2.max())
    if n <= FULL_SPECTRUM_LIMIT:
        if game.is_potential:  # symmetric J: the largest |eigenvalue| (cheaper than an SVD)
            return float(np.abs(np.linalg.eigvalsh(game.jacobian())[[0, -1]]).max())
        return float(np.linalg.norm(game.jacobian(), 2))
    if isinstance(R, LowRank):
        F = R.factors
        diagonal = q2 - R.scale * np.einsum("ij,ij->i", F, F)
        return float(np.abs(diagonal).max() + abs(R.scale) * np.linalg.eigvalsh(F.T @ F)[-1])
    absolute = abs(sp.csr_matrix(R)) + sp.diags(q2)
    rows = float(np.asarray(absolute.sum(axis=1)).max())
    columns = float(np.asarray(absolute.sum(axis=0)).max())
    return float(np.sqrt(rows * columns))


def _natural_residual(s: np.ndarray, g: np.ndarray, t: float, lo: float, hi: float) -> float:
    """``||s - clip(s + t g, lo, hi)||_2`` as ``||clip(t g, lo - s, hi - s)||_2``: the same
    number without the cancellation of ``s + t g - s`` at small t."""
    return float(np.linalg.norm(np.clip(t * g, lo - s, hi - s)))


def _projected_gradient(s: np.ndarray, g: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """``lim_{t -> 0} (clip(s + t g) - s) / t``: g projected on the box's tangent cone at s."""
    return np.where(s <= lo, np.maximum(g, 0.0), np.where(s >= hi, np.minimum(g, 0.0), g))


def _check_constant(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not np.isfinite(value) or value < 0:
        raise InvalidOptionError(f"{name} must be None or a finite number >= 0; got {value!r}")
    return float(value)


def distance_bound(game: ContinuousGame, s: Any, *, modulus: float | None = None,
                   lipschitz: float | None = None) -> DistanceBound:
    """Bound the distance from s to the equilibrium of a strongly monotone game.

    ``||s - s*||_2 <= min_t (1 + t L) / (t mu) ||s - clip(s + t g(s))||_2`` (module docstring;
    Facchinei & Pang 2003, Prop. 6.3.1 at t = 1).

    Parameters
    ----------
    game : ParticipationGame or ContinuousGame
        For a ParticipationGame mu and L are computed (`monotonicity_modulus`,
        `lipschitz_bound`); for any other game there is no bound unless `modulus` is given.
    s : array_like of shape (N,)
        A profile in the box.
    modulus : float, optional
        The monotonicity modulus mu over the whole box; overrides the computed one. The
        bound is only as true as this claim.
    lipschitz : float, optional
        The Lipschitz constant L of g over the box; overrides the computed one. Without it
        (a game that is not a ParticipationGame) only the t -> 0 limit ``||P(s)|| / mu`` is
        used.

    Returns
    -------
    DistanceBound
        ``bound`` None and ``reason`` saying why when the game is not strongly monotone or
        its modulus is unknown.

    Raises
    ------
    InvalidOptionError
        For a negative or non-finite `modulus` or `lipschitz`; `InvalidProfileError` for an s
        outside the box.
    """
    return _distance_bound(game, s, _check_constant(modulus, "modulus"),
                           _check_constant(lipschitz, "lipschitz"))


def _distance_bound(game: ContinuousGame, s: Any, modulus: float | None,
                    lipschitz: float | None) -> DistanceBound:
    """`distance_bound` with checked constants; a `modulus` <= 0 (the computed one of a game
    that is not strongly monotone, as `equilibria.certify.certify` passes it) gives no bound."""
    s = game.check(s)
    lo, hi = game.bounds
    g = np.asarray(game.pseudo_gradient(s), dtype=np.float64)
    residual = _natural_residual(s, g, 1.0, lo, hi)
    participation = isinstance(game, ParticipationGame)
    if modulus is None and not participation:
        return DistanceBound(None, None, lipschitz, residual, None,
                             f"no bound: the monotonicity modulus of a {type(game).__name__} "
                             "is unknown; pass modulus= (the smallest eigenvalue of "
                             "-(J + J^T)/2 over the box) if the game is strongly monotone")
    if participation:
        if modulus is None:
            modulus = monotonicity_modulus(game)
        if lipschitz is None:
            lipschitz = lipschitz_bound(game)
    assert modulus is not None
    if modulus <= _MODULUS_RTOL * float(lipschitz or 0.0):
        return DistanceBound(None, modulus, lipschitz, residual, None,
                             f"no bound: the game is not strongly monotone (the smallest "
                             f"eigenvalue of -(J + J^T)/2 is {modulus:.3g} <= 0), so it may "
                             "have several equilibria and the residual bounds no distance")
    candidates = [(float(np.linalg.norm(_projected_gradient(s, g, lo, hi))) / modulus, 0.0)]
    if lipschitz is not None:
        steps = [1.0] + ([x / lipschitz for x in STEP_GRID] if lipschitz > 0 else [])
        candidates += [((1.0 + t * lipschitz) / (t * modulus)
                        * _natural_residual(s, g, t, lo, hi), t) for t in steps]
    bound, step = min(candidates)
    return DistanceBound(float(bound), float(modulus), lipschitz, residual, float(step), "")
