"""Stability and uniqueness of an equilibrium (docs/design.md, "The game").

At a profile s the players split into those held at a bound with the pseudo-gradient pointing
out of the box (strictly complementary) and the free ones. Around s the projected gradient
flow ``ds/dt = g(s)`` (the paper's Eq. 17 in continuous time) behaves like ``J_FF`` on the free
players, so s is locally asymptotically stable when every eigenvalue of the free block of
``J = -2 diag(q) - R`` has a negative real part and complementarity is strict.

- Jacobi best-response map: its derivative on the free players is ``-diag(1 / 2 q_F) R_FF``;
  spectral radius below 1 means simultaneous best-response play contracts (the paper's
  informal "eta not too large" condition, made precise).
- Potential: R symmetric (Monderer & Shapley 1996).
- Monotone: ``J + J^T`` negative definite, Rosen's (1965) diagonal strict concavity, which
  makes the equilibrium unique (Rosen 1965, Thm. 2; Facchinei & Pang 2003, Thm. 2.3.3).

The empirical `perturbation_test` perturbs s, re-solves, and measures how far it lands.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse.linalg as spla

from equilibria import competition as comp
from equilibria.callable_game import ContinuousGame
from equilibria.competition import LowRank
from equilibria.errors import (
    EigenvalueSearchError,
    InvalidGameError,
    UnknownMethodError,
    as_generator,
    check_count,
    check_positive,
    check_tol,
)
from equilibria.game import ParticipationGame
from equilibria.plain import to_plain

#: Largest block for which full spectra are computed; above it, extreme eigenvalues only.
FULL_SPECTRUM_LIMIT = 2000

#: Largest operator ARPACK fails on that is still expanded to a dense matrix as the fallback.
DENSE_FALLBACK_LIMIT = 6000

#: ARPACK's "which" for each extreme eigenvalue asked of `extreme_eigenvalue`.
_WHICH = {"largest_real": "LR", "smallest_real": "SR", "largest_magnitude": "LM"}

#: Operators smaller than this always take the dense path (ARPACK needs k < n - 1, ncv <= n).
_ARPACK_MIN_SIZE = 10


@dataclass(frozen=True)
class StabilityReport:
    """What `analyze_stability` found at a profile.

    Attributes
    ----------
    eigenvalues : ndarray (complex)
        Eigenvalues of the Jacobian's free block J_FF (all of them when the block has at most
        `FULL_SPECTRUM_LIMIT` players, otherwise the one with the largest real part).
    eigenvalues_complete : bool
        Whether `eigenvalues` is the whole spectrum.
    locally_stable : bool
        Every eigenvalue of J_FF has negative real part and complementarity is strict.
    br_spectral_radius : float
        Spectral radius of the Jacobi best-response map's derivative on the free players.
    is_potential : bool
        Exact potential game (symmetric competition).
    is_monotone : bool
        J + J^T negative definite: the equilibrium is unique (Rosen 1965).
    strictly_complementary : bool
        Every player at a bound has a pseudo-gradient strictly pointing out of the box.
    n_free, n_at_lower, n_at_upper : int
        How many players are free, at lo and at hi.
    classification : str
        ``"stable"`` (certified locally asymptotically stable), ``"unstable"`` (the Jacobian
        of the strictly interior players has an eigenvalue with positive real part: some
        direction inside the box repels) or ``"inconclusive"`` (degenerate complementarity in
        a non-potential game, or a zero eigenvalue): False in `locally_stable` then means "not
        certified", not "unstable".
    """

    eigenvalues: np.ndarray
    eigenvalues_complete: bool
    locally_stable: bool
    br_spectral_radius: float
    is_potential: bool
    is_monotone: bool
    strictly_complementary: bool
    n_free: int
    n_at_lower: int
    n_at_upper: int
    classification: str

    @property
    def unique(self) -> bool:
        """Uniqueness is certified (monotone game); False means not certified, not 'many'."""
        return self.is_monotone

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary of plain Python types (eigenvalues as [real, imag] pairs)."""
        return to_plain({
            "eigenvalues": [[float(z.real), float(z.imag)] for z in self.eigenvalues],
            "eigenvalues_complete": self.eigenvalues_complete,
            "locally_stable": self.locally_stable,
            "br_spectral_radius": self.br_spectral_radius,
            "is_potential": self.is_potential,
            "is_monotone": self.is_monotone,
            "strictly_complementary": self.strictly_complementary,
            "n_free": self.n_free, "n_at_lower": self.n_at_lower, "n_at_upper": self.n_at_upper,
            "classification": self.classification,
        })


def analyze_stability(game: ContinuousGame, s: Any, *, tol: float = 1e-9,
                      monotone: bool | None = None) -> StabilityReport:
    """Classify the profile `s`: local stability, best-response contraction, uniqueness.

    Parameters
    ----------
    game : ParticipationGame or ContinuousGame
        For other games the Jacobian is the finite-difference one at s.
    s : array_like of shape (N,)
        Usually an equilibrium from `equilibria.solve`.
    tol : float, default 1e-9
        Relative tolerance: a player is at a bound when within ``tol * (hi - lo)`` of it, and
        its gradient counts as nonzero above ``tol * payoff_scale``.
    monotone : bool, optional
        The ParticipationGame's `is_monotone`, when already known (a property of the game, the
        same at every s: `equilibria.certify.certify` computes it once for all its reports);
        computed when None.
    """
    s = game.check(s)
    tol = check_tol(tol)
    lo, hi = game.bounds
    g = game.pseudo_gradient(s)
    width, scale = hi - lo, game.payoff_scale()
    at_lower = s <= lo + tol * width
    at_upper = s >= hi - tol * width
    strict_lower = at_lower & (g < -tol * scale)
    strict_upper = at_upper & (g > tol * scale)
    strictly_complementary = bool(np.all(strict_lower == at_lower)
                                  and np.all(strict_upper == at_upper))
    free = np.flatnonzero(~(strict_lower | strict_upper))
    eigenvalues, complete = _free_block_eigenvalues(game, s, free)
    largest_real = float(eigenvalues.real.max()) if eigenvalues.size else -np.inf
    potential = _is_potential(game, s)
    if largest_real < 0 and (strictly_complementary or potential):
        # Strict complementarity: the bounded players stay put and J_FF governs the rest.
        # Degenerate bounds in a potential game: J_FF negative definite makes s a strict
        # local maximum of the potential over the box, which gradient play cannot leave.
        classification = "stable"
    else:
        interior = np.flatnonzero(~(at_lower | at_upper))
        inner = eigenvalues if interior.size == free.size else \
            _free_block_eigenvalues(game, s, interior)[0]
        repels = inner.size > 0 and float(inner.real.max()) > 0
        classification = "unstable" if repels else "inconclusive"
    return StabilityReport(
        eigenvalues=eigenvalues,
        eigenvalues_complete=complete,
        locally_stable=classification == "stable",
        br_spectral_radius=float(_best_response_radius(game, s, free)),
        is_potential=bool(potential),
        is_monotone=bool(is_monotone(game, s) if monotone is None or
                         not isinstance(game, ParticipationGame) else monotone),
        strictly_complementary=strictly_complementary,
        n_free=int(free.size),
        n_at_lower=int(at_lower.sum()),
        n_at_upper=int(at_upper.sum()),
        classification=classification,
    )


def _is_potential(game: ContinuousGame, s: np.ndarray) -> bool:
    if isinstance(game, ParticipationGame):
        return game.is_potential
    J = game.jacobian(s)
    return bool(np.allclose(J, J.T, rtol=1e-5, atol=1e-7 * max(np.abs(J).max(), 1.0)))


def _free_block_eigenvalues(game: ContinuousGame, s: np.ndarray,
                            free: np.ndarray) -> tuple[np.ndarray, bool]:
    if free.size == 0:
        return np.zeros(0, dtype=complex), True
    if not isinstance(game, ParticipationGame):
        return np.linalg.eigvals(game.jacobian(s)[np.ix_(free, free)]).astype(complex), True
    if free.size <= FULL_SPECTRUM_LIMIT:
        block = -comp.principal_dense(game.competition, free)
        block[np.diag_indices_from(block)] = -2.0 * game.quadratic_cost[free]
        if game.is_potential:
            return np.linalg.eigvalsh(block).astype(complex), True
        return np.linalg.eigvals(block).astype(complex), True
    operator = _free_operator(game, free, negate=False)
    value = extreme_eigenvalue(operator, "largest_real", symmetric=game.is_potential)
    return np.array([value], dtype=complex), False


def extreme_eigenvalue(operator: spla.LinearOperator, which: str, *,
                       symmetric: bool = False) -> complex:
    """One extreme eigenvalue of a square operator, robust to tiny and zero operators.

    ARPACK (`scipy.sparse.linalg.eigsh` / `eigs` with k=1) needs ``k < n`` (``k < n - 1``
    for eigs), fails with "starting vector is zero" on the zero operator and may not
    converge. So: up to `FULL_SPECTRUM_LIMIT` rows (and always below 10) the operator is
    expanded and its whole spectrum computed densely; a zero operator (checked on a random
    Gaussian vector, which a nonzero linear map sends to zero with probability 0) has
    eigenvalue 0; otherwise ARPACK runs from a fixed start vector and, on no convergence,
    again with a larger Krylov space; if that fails too the operator is expanded densely up to
    `DENSE_FALLBACK_LIMIT` rows.

    Parameters
    ----------
    operator : scipy.sparse.linalg.LinearOperator
        Square, real.
    which : {"largest_real", "smallest_real", "largest_magnitude"}
    symmetric : bool, default False
        The operator is symmetric (real eigenvalues; eigsh and eigvalsh are used).

    Returns
    -------
    complex
        The eigenvalue (a real one as ``complex(x, 0)``).

    Raises
    ------
    UnknownMethodError
        For an unknown `which`.
    RuntimeError
        When ARPACK fails twice on an operator above `DENSE_FALLBACK_LIMIT` rows.
    """
    if which not in _WHICH:
        raise UnknownMethodError(f"which must be one of {sorted(_WHICH)}; got {which!r}")
    n = operator.shape[0]
    if n == 0:
        raise InvalidGameError("operator is empty; an extreme eigenvalue needs at least one row")
    if n <= max(FULL_SPECTRUM_LIMIT, _ARPACK_MIN_SIZE):
        return _dense_extreme(operator, which, symmetric)
    probe = np.random.default_rng(0).standard_normal(n)
    if not np.any(operator.matvec(probe)):
        return complex(0.0)
    arpack_which = _WHICH[which]
    if symmetric:
        arpack_which = {"LR": "LA", "SR": "SA"}.get(arpack_which, arpack_which)
    failure: Exception | None = None
    for ncv, maxiter in ((min(n, 20), 10 * n), (min(n, 80), 100 * n)):
        try:
            if symmetric:
                values = spla.eigsh(operator, k=1, which=arpack_which, v0=probe, ncv=ncv,
                                    maxiter=maxiter, return_eigenvectors=False)
            else:
                values = spla.eigs(operator, k=1, which=arpack_which, v0=probe, ncv=ncv,
                                   maxiter=maxiter, return_eigenvectors=False)
            return complex(np.asarray(values).ravel()[0])
        except (spla.ArpackNoConvergence, spla.ArpackError) as error:
            failure = error
    if n <= DENSE_FALLBACK_LIMIT:
        return _dense_extreme(operator, which, symmetric)
    raise EigenvalueSearchError(f"ARPACK did not find the {which.replace('_', ' ')} eigenvalue "
                                f"of a {n} x {n} operator ({failure}); this size is above "
                                f"DENSE_FALLBACK_LIMIT = {DENSE_FALLBACK_LIMIT}, so no dense "
                                "fallback")


def _dense_extreme(operator: spla.LinearOperator, which: str, symmetric: bool) -> complex:
    """`extreme_eigenvalue` by expanding the operator into a dense matrix."""
    matrix = operator.matmat(np.eye(operator.shape[0]))
    values = np.linalg.eigvalsh(0.5 * (matrix + matrix.T)).astype(complex) if symmetric \
        else np.linalg.eigvals(matrix).astype(complex)
    if which == "largest_real":
        return complex(values[np.argmax(values.real)])
    if which == "smallest_real":
        return complex(values[np.argmin(values.real)])
    return complex(values[np.argmax(np.abs(values))])


def _free_operator(game: ParticipationGame, free: np.ndarray,
                   negate: bool) -> spla.LinearOperator:
    """J restricted to the free players (or -J with ``negate``), matrix-free."""
    n, sign = game.n_players, (-1.0 if negate else 1.0)
    q2 = 2.0 * game.quadratic_cost

    def matvec(v: np.ndarray) -> np.ndarray:
        full = np.zeros(n)
        full[free] = np.ravel(v)
        out = -q2 * full - game.competition_product(full)
        return sign * out[free]

    return spla.LinearOperator((free.size, free.size), matvec=matvec, dtype=np.float64)


def best_response_radius(game: ParticipationGame, players: np.ndarray | None = None) -> float:
    """Spectral radius of the Jacobi best-response map's derivative ``diag(1/2q) R``.

    On `players` (default: everyone), i.e. in the region where those players respond in the
    interior of the box. Below 1, simultaneous best response contracts there; well above 1 it
    oscillates. Exact eigenvalues up to `FULL_SPECTRUM_LIMIT` players, ARPACK above.
    """
    players = np.arange(game.n_players) if players is None else np.asarray(players)
    return _best_response_radius(game, np.full(game.n_players, game.bounds[0]), players)


def _best_response_radius(game: ContinuousGame, s: np.ndarray, free: np.ndarray) -> float:
    """Spectral radius of the derivative ``-diag(1/2q_F) R_FF`` of the Jacobi map."""
    if not isinstance(game, ParticipationGame):
        J = game.jacobian(s)[np.ix_(free, free)]
        diagonal = np.diag(J)
        responsive = diagonal < 0
        block = -(J / diagonal[:, None])[np.ix_(responsive, responsive)]
        np.fill_diagonal(block, 0.0)
        return float(np.abs(np.linalg.eigvals(block)).max(initial=0.0))
    responsive = free[game.quadratic_cost[free] > 0]
    if responsive.size == 0 or game.competition is None:
        return 0.0
    inverse = 1.0 / (2.0 * game.quadratic_cost[responsive])
    if responsive.size <= FULL_SPECTRUM_LIMIT:
        block = comp.principal_dense(game.competition, responsive) * inverse[:, None]
        return float(np.abs(np.linalg.eigvals(block)).max(initial=0.0))
    n = game.n_players

    def matvec(v: np.ndarray) -> np.ndarray:
        full = np.zeros(n)
        full[responsive] = np.ravel(v)
        return inverse * game.competition_product(full)[responsive]

    operator = spla.LinearOperator((responsive.size,) * 2, matvec=matvec, dtype=np.float64)
    return float(abs(extreme_eigenvalue(operator, "largest_magnitude")))


def symmetric_part(game: ParticipationGame) -> np.ndarray | spla.LinearOperator:
    """``H = 2 diag(q) + (R + R^T) / 2``, minus the symmetrized Jacobian ``(J + J^T) / 2``
    (``J = -2 diag(q) - R``): dense up to `FULL_SPECTRUM_LIMIT` players, an operator above.
    The game is monotone when H is positive definite (Rosen 1965), strongly so with modulus
    its smallest eigenvalue (`monotonicity_modulus`)."""
    n, R = game.n_players, game.competition
    q2 = 2.0 * game.quadratic_cost
    if n <= FULL_SPECTRUM_LIMIT:
        dense = comp.to_dense(R, n) if R is not None else np.zeros((n, n))
        H = 0.5 * (dense + dense.T)
        H[np.diag_indices(n)] = q2
        return H

    def matvec(v: np.ndarray) -> np.ndarray:
        v = np.ravel(v)
        if R is None:
            return q2 * v
        return q2 * v + 0.5 * (comp.matvec(R, v) + comp.rmatvec(R, v))

    return spla.LinearOperator((n, n), matvec=matvec, dtype=np.float64)


def monotonicity_modulus(game: ParticipationGame) -> float:
    """mu = the smallest eigenvalue of ``2 diag(q) + (R + R^T) / 2`` (`symmetric_part`).

    The game is strongly monotone with modulus mu when mu > 0 (Rosen 1965; Facchinei & Pang
    2003, Def. 2.3.1). Dense ``eigvalsh`` up to `FULL_SPECTRUM_LIMIT` players, ARPACK above
    (`extreme_eigenvalue`).
    """
    if game.competition is None:
        return float(2.0 * game.quadratic_cost.min())
    H = symmetric_part(game)
    if isinstance(H, np.ndarray):
        return float(np.linalg.eigvalsh(H)[0])
    return float(extreme_eigenvalue(H, "smallest_real", symmetric=True).real)


def is_monotone(game: ContinuousGame, s: Any = None, *, modulus: float | None = None) -> bool:
    """Whether ``J + J^T`` is negative definite (Rosen 1965 diagonal strict concavity).

    Exact for ParticipationGame: dense eigenvalues up to `FULL_SPECTRUM_LIMIT` players, the
    inertia of ``2 diag(q) + R`` through a d x d Schur complement for LowRank (Haynsworth
    inertia additivity), an extreme-eigenvalue solve (ARPACK) for large sparse R
    (`monotonicity_modulus`). For other games, at the profile s (finite-difference Jacobian).

    `modulus`, the game's `monotonicity_modulus` when already computed, replaces the
    eigenvalue solve of the dense and sparse tests (the same smallest eigenvalue of the same
    matrix); the LowRank inertia test and other games ignore it.
    """
    if not isinstance(game, ParticipationGame):
        J = game.jacobian(s)
        return bool(np.linalg.eigvalsh(J + J.T).max() < 0)
    n, R = game.n_players, game.competition
    q2 = 2.0 * game.quadratic_cost
    if R is None:
        return bool(np.all(q2 > 0))
    if isinstance(R, LowRank) and n > FULL_SPECTRUM_LIMIT:
        return _low_rank_positive_definite(q2, R)
    H = symmetric_part(game)
    if isinstance(H, np.ndarray):  # relative to the entries: rounding of a singular H
        smallest = np.linalg.eigvalsh(H)[0] if modulus is None else modulus
        return bool(smallest > 1e-12 * max(np.abs(H).max(), 1e-300))
    if modulus is not None:
        return bool(modulus > 0)
    return bool(extreme_eigenvalue(H, "smallest_real", symmetric=True).real > 0)


def _low_rank_positive_definite(q2: np.ndarray, R: LowRank) -> bool:
    """Whether ``M = D + c F F^T`` (D = 2q - c||F_i||^2) is positive definite, in O(N d^2).

    With ``C = I/c + F^T D^{-1} F``, inertia additivity on ``[[D, F], [F^T, -I/c]]`` gives
    ``#neg(M) = #neg(D) + #pos(C) - (d if c > 0 else 0)`` and ``#zero(M) = #zero(C)`` when D
    has no zero entry (Haynsworth 1968). A zero in D falls back to an ARPACK solve.
    """
    c, F = R.scale, R.factors
    if c == 0.0:
        return bool(np.all(q2 > 0))
    D = q2 - c * np.einsum("ij,ij->i", F, F)
    reference = max(float(np.abs(D).max()), 1e-300)
    if np.abs(D).min() <= 1e-12 * reference:
        n = F.shape[0]
        operator = spla.LinearOperator(
            (n, n), dtype=np.float64,
            matvec=lambda v: D * np.ravel(v) + c * (F @ (F.T @ np.ravel(v))))
        return bool(extreme_eigenvalue(operator, "smallest_real", symmetric=True).real > 0)
    C = np.eye(F.shape[1]) / c + F.T @ (F / D[:, None])
    eigen = np.linalg.eigvalsh(0.5 * (C + C.T))
    tiny = 1e-12 * max(np.abs(eigen).max(), 1e-300)
    if np.any(np.abs(eigen) <= tiny):
        return False
    negatives = int((D < 0).sum()) + int((eigen > 0).sum()) - (F.shape[1] if c > 0 else 0)
    return negatives == 0


@dataclass(frozen=True)
class PerturbationReport:
    """Outcome of `perturbation_test`.

    Attributes
    ----------
    radius : float
        Size of each perturbation (max-norm, relative to hi - lo).
    return_distances : ndarray
        Max-norm distance from s to where each re-solve ended.
    converged : ndarray of bool
        Whether each re-solve was certified.
    returned : bool
        Every re-solve converged within ``return_tol`` of s.
    """

    radius: float
    return_distances: np.ndarray
    converged: np.ndarray
    returned: bool

    @property
    def max_return_distance(self) -> float:
        """The farthest any perturbed start ended from s."""
        return float(self.return_distances.max(initial=0.0))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary of plain Python types."""
        return to_plain({"radius": self.radius, "return_distances": self.return_distances,
                         "converged": self.converged, "returned": self.returned,
                         "max_return_distance": self.max_return_distance})


def perturbation_test(game: ContinuousGame, s: Any, *, radius: float = 0.05, trials: int = 8,
                      method: str = "best_response", rng: Any = None, tol: float = 1e-10,
                      return_tol: float = 1e-3, **options: Any) -> PerturbationReport:
    """Perturb s, re-solve from the perturbed profile, measure how far the solver lands.

    An empirical companion to the eigenvalue test: a stable, unique equilibrium pulls every
    perturbed start back; with several equilibria some starts end elsewhere.

    Parameters
    ----------
    radius : float, default 0.05
        Uniform perturbation in ``[-radius, radius] * (hi - lo)`` per player, clipped to the box.
    trials : int, default 8
    method, **options
        Passed to `equilibria.solve`.
    rng : numpy.random.Generator or int, optional
    tol : float
        Solver tolerance (relative Nash gap).
    return_tol : float, default 1e-3
        Distance (relative to hi - lo) under which a trial counts as returned.
    """
    from equilibria.solvers import solve

    radius = check_positive(radius, "radius")
    trials = check_count(trials, "trials", 1)
    tol = check_tol(tol)
    return_tol = check_positive(return_tol, "return_tol")
    s = game.check(s)
    lo, hi = game.bounds
    generator = as_generator(rng)
    distances, converged = np.empty(trials), np.empty(trials, dtype=bool)
    for k in range(trials):
        start = np.clip(s + generator.uniform(-radius, radius, s.shape) * (hi - lo), lo, hi)
        result = solve(game, method, s0=start, tol=tol, rng=generator, **options)
        distances[k] = float(np.abs(result.profile - s).max())
        converged[k] = result.converged
    returned = bool(np.all(converged) and np.all(distances <= return_tol * (hi - lo)))
    return PerturbationReport(float(radius), distances, converged, returned)
