"""Certificates of a participation profile: is s an equilibrium, is it stable, is it unique?

Shah & Khan (2025) train with Algorithm 1 (Eq. 16-17) and call the final participation s an
equilibrium (Eq. 11) without checking it. `certify` answers, for any s on any
`ParticipationGame`:

(i)   is s a Nash equilibrium? the relative Nash gap (Eq. 11, `equilibria.nash_gap`) and the
      natural-map (KKT) residual; s counts as one when the gap is <= `EQUILIBRIUM_TOL`;
(ii)  is it stable? `equilibria.analyze_stability` at s and at the nearest equilibrium;
(iii) is the equilibrium unique? Rosen's (1965) monotonicity certificate, and the equilibria
      found from several solver starts (lo, hi, s, seeded random) counted as distinct when
      more than `DISTINCT_TOL` apart in max-norm (`distinct_profiles`);
(iv)  how far is the nearest equilibrium (`nearest_equilibrium`, every solve `polish`-ed by
      Newton) from s, how many players does each prune (s < epsilon), and how much do the two
      pruned sets agree (`jaccard`)? For a strongly monotone game, `equilibria.bounds` also
      bounds the distance from s to the equilibrium by its natural-map residual
      (Facchinei & Pang 2003, Prop. 6.3.1), and says when no bound is available.

`certify_profile` is the cheap part of (i)-(ii) at s alone (what ``pruning-game solve`` and
``pruning-game train`` report). Every solve runs under a `SolveBudget`; its wall-clock limit is
a safety net only, and the certificate counts the solves that hit it. Moved here from
``papers/beyond/certificates.py`` (which keeps the study: training runs, tables, figures).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from equilibria.bounds import _distance_bound
from equilibria.errors import GameTypeError, InvalidOptionError, InvalidProfileError
from equilibria.game import ParticipationGame
from equilibria.gap import kkt_residual, nash_gap
from equilibria.plain import to_plain
from equilibria.solvers import solve
from equilibria.solvers.result import EquilibriumResult
from equilibria.stability import (
    StabilityReport,
    analyze_stability,
    is_monotone,
    monotonicity_modulus,
)

__all__ = ["DISTINCT_TOL", "EQUILIBRIUM_TOL", "NEAREST_METHODS", "SOLVE_TOL", "Certificate",
           "ProfileCertificate", "SolveBudget", "certify", "certify_profile",
           "distinct_profiles", "first_equilibrium", "jaccard", "nearest_equilibrium", "polish",
           "solve_within", "solver_starts"]

#: Relative Nash gap at or below which the final s counts as an equilibrium (question i).
EQUILIBRIUM_TOL = 1e-6
#: Tolerance (relative Nash gap) of every solve: an equilibrium "found" is certified to it.
SOLVE_TOL = 1e-10
#: Max-norm distance above which two certified equilibria count as distinct (question iii).
DISTINCT_TOL = 1e-4
#: Solvers tried from s for the nearest equilibrium, Newton first (question ii, iv).
NEAREST_METHODS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("newton", {}), ("best_response", {"scheme": "gauss_seidel"}),
    ("projected_gradient", {}), ("extragradient", {}))


# ---------------------------------------------------------------------------- certificates
def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard index ``|A & B| / |A | B|`` of two boolean masks (1.0 when both are empty)."""
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    if a.shape != b.shape:
        raise InvalidProfileError(f"a and b must have the same shape; got {a.shape} and {b.shape}")
    union = int((a | b).sum())
    return 1.0 if union == 0 else float((a & b).sum()) / union


def distinct_profiles(profiles: Sequence[np.ndarray],
                      tol: float = DISTINCT_TOL) -> list[np.ndarray]:
    """Greedy representatives of `profiles`: each one farther than `tol` (max-norm) from the
    representatives before it."""
    if not (np.isfinite(tol) and tol >= 0):
        raise InvalidOptionError(f"tol must be a finite number >= 0; got {tol}")
    kept: list[np.ndarray] = []
    for profile in profiles:
        if all(float(np.abs(profile - other).max()) > tol for other in kept):
            kept.append(np.asarray(profile))
    return kept


@dataclass(frozen=True)
class SolveBudget:
    """Work limits of every solve of a certificate (iterations, seconds, random starts).

    Attributes
    ----------
    max_iter : int
        Iteration cap of the first-order solvers (deterministic).
    newton_max_iter : int
        Iteration cap of Newton, which either converges in a few steps or cycles.
    max_seconds : float
        Wall-clock safety net per solve (the result's message says when it was hit).
    random_starts : int
        Uniform random starts of the uniqueness search, besides zeros, ones and s.
    """

    max_iter: int = 20_000
    newton_max_iter: int = 200
    max_seconds: float = 60.0
    random_starts: int = 3

    def __post_init__(self) -> None:
        for name in ("max_iter", "newton_max_iter"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise InvalidOptionError(f"{name} must be a positive integer; got {value!r}")
        if not (np.isfinite(self.max_seconds) and self.max_seconds > 0):
            raise InvalidOptionError(f"max_seconds must be a finite number > 0; got "
                                     f"{self.max_seconds}")
        if not isinstance(self.random_starts, int) or self.random_starts < 0:
            raise InvalidOptionError(f"random_starts must be an integer >= 0; got "
                                     f"{self.random_starts!r}")

    def iterations(self, method: str) -> int:
        """The iteration cap of `method` (Gauss-Seidel sweeps are capped at a quarter)."""
        if method == "newton":
            return self.newton_max_iter
        return max(1, self.max_iter // 4) if method == "best_response" else self.max_iter


def solve_within(game: ParticipationGame, method: str, options: Mapping[str, Any],
                 start: np.ndarray, budget: SolveBudget) -> EquilibriumResult:
    """`solve` from `start` to `SOLVE_TOL` under `budget` (its cap for `method`)."""
    return solve(game, method, s0=start, tol=SOLVE_TOL, max_iter=budget.iterations(method),
                 max_seconds=budget.max_seconds, **options)


def polish(game: ParticipationGame, result: EquilibriumResult,
           budget: SolveBudget) -> EquilibriumResult:
    """Refine a certified equilibrium with Newton from its own profile.

    On an ill-conditioned game (``J + J^T`` nearly singular) a profile with relative Nash gap
    below `SOLVE_TOL` can still lie more than `DISTINCT_TOL` from the exact equilibrium, which
    would count one equilibrium twice. Newton from a nearby profile finds the active set and
    solves the linear first-order conditions (Eq. 13/18 set to zero on the free players)
    exactly; its profile replaces the original when it certifies a gap no larger. An
    unconverged `result` is returned unchanged.
    """
    if not result.converged:
        return result
    refined = solve(game, "newton", s0=result.profile, tol=1e-15,
                    max_iter=budget.newton_max_iter, max_seconds=budget.max_seconds)
    if refined.nash_gap > max(result.nash_gap, 1e-15):
        return result
    return dataclasses.replace(result, profile=refined.profile, nash_gap=refined.nash_gap,
                               message=f"{result.message}; polished by Newton "
                                       f"({refined.iterations} steps)")


Attempt = tuple[EquilibriumResult | None, tuple[EquilibriumResult, ...]]


def nearest_equilibrium(game: ParticipationGame, s: np.ndarray, budget: SolveBudget) -> Attempt:
    """The closest (max-norm) certified equilibrium reached from s by `NEAREST_METHODS`.

    Newton (``solve(game, "newton", s0=s)``) first; Gauss-Seidel best response, projected
    gradient (the continuous limit of Algorithm 1's s-step, Eq. 17) and extragradient from the
    same start too, since Newton may cycle on a non-monotone game. Every certified result is
    `polish`-ed.

    Returns
    -------
    (EquilibriumResult or None, tuple of EquilibriumResult)
        The closest certified result (None if no solver certifies) and every solve tried.
    """
    tried = tuple(polish(game, solve_within(game, m, o, s, budget), budget)
                  for m, o in NEAREST_METHODS)
    found = [r for r in tried if r.converged]
    if not found:
        return None, tried
    distances = [float(np.abs(r.profile - s).max()) for r in found]
    # Ties (the same equilibrium reached by several solvers) go to the earliest method.
    best = next(r for r, d in zip(found, distances, strict=True)
                if d <= min(distances) + DISTINCT_TOL)
    return best, tried


def first_equilibrium(game: ParticipationGame, start: np.ndarray, budget: SolveBudget) -> Attempt:
    """The first certified equilibrium from `start` in the order of `NEAREST_METHODS`
    (None if none certifies), and every solve tried."""
    tried: list[EquilibriumResult] = []
    for method, options in NEAREST_METHODS:
        tried.append(polish(game, solve_within(game, method, options, start, budget), budget))
        if tried[-1].converged:
            return tried[-1], tuple(tried)
    return None, tuple(tried)


def solver_starts(s: np.ndarray, n_random: int, rng: np.random.Generator,
                  bounds: tuple[float, float]) -> dict[str, np.ndarray]:
    """Starting profiles for the uniqueness search: lo, hi, s and `n_random` uniform draws."""
    lo, hi = bounds
    starts = {"zeros": np.full(s.shape, lo), "ones": np.full(s.shape, hi), "s": s.copy()}
    for k in range(n_random):
        starts[f"random{k}"] = rng.uniform(lo, hi, s.shape)
    return starts


@dataclass(frozen=True)
class Certificate:
    """Answers (i)-(iv) for one final participation s on its final game.

    Scalars go to the CSV (`to_row`); `nearest_profile` and the spectra are kept for figures
    and checks. Distances are max-norm; "pruned" means s < epsilon. `distance_bound` bounds
    the Euclidean (so also the max-norm) distance from s to the equilibrium of a strongly
    monotone game (`equilibria.bounds.distance_bound`); it is None, and
    `distance_bound_reason` says why, when the game gives no bound.
    """

    n_players: int
    nash_gap: float
    kkt_residual: float
    is_equilibrium: bool
    stability_at_s: str
    max_real_eig_at_s: float
    free_at_s: int
    monotone: bool
    potential: bool
    starts: int
    starts_converged: int
    distinct_equilibria: int
    stable_equilibria: int
    newton_converged: bool
    newton_distance: float
    stability_at_newton: str
    nearest_method: str
    nearest_nash_gap: float
    nearest_distance: float
    nearest_mean_distance: float
    stability_at_nearest: str
    max_real_eig_at_nearest: float
    pruned_at_s: int
    pruned_at_nearest: int
    jaccard: float
    solves: int
    solves_out_of_time: int
    seconds: float
    distance_bound: float | None = None
    distance_bound_reason: str = "not computed"
    nearest_profile: np.ndarray | None = dataclasses.field(default=None, repr=False)
    eigenvalues_at_s: np.ndarray | None = dataclasses.field(default=None, repr=False)
    eigenvalues_at_nearest: np.ndarray | None = dataclasses.field(default=None, repr=False)

    def to_row(self) -> dict[str, Any]:
        """The scalar answers (one CSV row without the run's labels)."""
        skip = {"nearest_profile", "eigenvalues_at_s", "eigenvalues_at_nearest"}
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name not in skip}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (arrays as lists, eigenvalues as [real, imag] pairs)."""
        def pairs(values: np.ndarray | None) -> list[list[float]] | None:
            return None if values is None else [[float(z.real), float(z.imag)] for z in values]

        return to_plain({**self.to_row(),
                         "nearest_profile": self.nearest_profile,
                         "eigenvalues_at_s": pairs(self.eigenvalues_at_s),
                         "eigenvalues_at_nearest": pairs(self.eigenvalues_at_nearest)})

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> Certificate:
        """Inverse of `to_dict`."""
        def complex_array(values: Any) -> np.ndarray | None:
            return None if values is None else np.array([complex(re, im) for re, im in values],
                                                         dtype=complex)

        fields = {f.name for f in dataclasses.fields(cls)}
        data = {k: v for k, v in payload.items() if k in fields}
        data["nearest_profile"] = None if payload.get("nearest_profile") is None \
            else np.asarray(payload["nearest_profile"], dtype=float)
        data["eigenvalues_at_s"] = complex_array(payload.get("eigenvalues_at_s"))
        data["eigenvalues_at_nearest"] = complex_array(payload.get("eigenvalues_at_nearest"))
        return cls(**data)


def _max_real(values: np.ndarray) -> float:
    return float(values.real.max()) if values.size else float("nan")


def certify(game: ParticipationGame, s: Any, *, epsilon: float = 0.01, seed: int = 0,
            budget: SolveBudget | None = None) -> Certificate:
    """Certify a participation profile s on `game`: equilibrium, stability, uniqueness.

    Parameters
    ----------
    game : ParticipationGame
        The final game (Shah & Khan 2025, Eq. 8-10 or another benefit reading).
    s : array_like of shape (N,)
        The final participation of Algorithm 1.
    epsilon : float, default 0.01
        Prune threshold (the paper's step 3): a player is pruned when its s < epsilon.
    seed : int, default 0
        Seeds the random solver starts.
    budget : SolveBudget, optional
        Iteration caps, wall-clock safety net and the number of random starts.

    Returns
    -------
    Certificate
        (i) relative Nash gap (Eq. 11) and max-norm natural-map residual of s, and whether
        the gap is <= `EQUILIBRIUM_TOL`; (ii) ``analyze_stability`` at s and at the nearest
        equilibrium (the closest one any solver certified from s) and at Newton's
        (``solve(game, "newton", s0=s)``, which can land on an unstable one); (iii) Rosen's
        monotonicity certificate (J + J^T negative definite with J = -2 diag(q) - R, Eq.
        13/18), the number of distinct certified equilibria found from every start and how
        many of them are classified stable; (iv) the nearest equilibrium's distance, pruned
        counts and Jaccard, and the a-posteriori bound on the distance from s to the
        equilibrium of a strongly monotone game (`equilibria.bounds.distance_bound`; None
        with its reason otherwise).
        When no solver certifies an equilibrium from s, the nearest-equilibrium fields are NaN
        and ``nearest_method`` is ``"none"``.
    """
    _check_game(game)
    if not (np.isfinite(epsilon) and epsilon > 0):
        raise InvalidOptionError(f"epsilon must be a finite number > 0; got {epsilon}")
    budget = budget or SolveBudget()
    started = time.perf_counter()
    s = game.check(s)
    # the game's smallest eigenvalue of -(J + J^T)/2, once for the uniqueness verdict, every
    # stability report below and the distance bound
    modulus = monotonicity_modulus(game)
    monotone = is_monotone(game, modulus=modulus)
    at = certify_profile(game, s, ord=np.inf, monotone=monotone)
    bound = _distance_bound(game, s, modulus, None)  # the modulus of any sign: no re-solve
    gap, at_s = at.nash_gap, at.stability
    nearest, tried = nearest_equilibrium(game, s, budget)
    rng = np.random.default_rng(seed)
    starts = solver_starts(s, budget.random_starts, rng, game.bounds)
    attempts = [first_equilibrium(game, start, budget) for start in starts.values()]
    found = [result for result, _ in attempts]
    tried = tried + tuple(r for _, more in attempts for r in more)
    certified = [r.profile for r in found if r is not None]
    if nearest is not None:
        certified.append(nearest.profile)
    distinct = distinct_profiles(certified)
    newton = tried[0]  # solve(game, "newton", s0=s), polished
    newton_fields = dict(
        newton_converged=newton.converged,
        newton_distance=float(np.abs(newton.profile - s).max()) if newton.converged
        else float("nan"),
        stability_at_newton=analyze_stability(game, newton.profile,
                                              monotone=monotone).classification
        if newton.converged else "none")
    pruned_s = s < epsilon
    if nearest is None:
        nan = float("nan")
        near_fields = dict(nearest_method="none", nearest_nash_gap=nan, nearest_distance=nan,
                           nearest_mean_distance=nan, stability_at_nearest="none",
                           max_real_eig_at_nearest=nan, pruned_at_nearest=-1, jaccard=nan,
                           nearest_profile=None, eigenvalues_at_nearest=None)
    else:
        at_nearest = analyze_stability(game, nearest.profile, monotone=monotone)
        difference = np.abs(nearest.profile - s)
        pruned_nearest = nearest.profile < epsilon
        near_fields = dict(nearest_method=nearest.method, nearest_nash_gap=nearest.nash_gap,
                           nearest_distance=float(difference.max()),
                           nearest_mean_distance=float(difference.mean()),
                           stability_at_nearest=at_nearest.classification,
                           max_real_eig_at_nearest=_max_real(at_nearest.eigenvalues),
                           pruned_at_nearest=int(pruned_nearest.sum()),
                           jaccard=jaccard(pruned_s, pruned_nearest),
                           nearest_profile=nearest.profile,
                           eigenvalues_at_nearest=at_nearest.eigenvalues)
    return Certificate(
        n_players=game.n_players, nash_gap=gap,
        kkt_residual=at.kkt_residual,
        is_equilibrium=gap <= EQUILIBRIUM_TOL, stability_at_s=at_s.classification,
        max_real_eig_at_s=_max_real(at_s.eigenvalues), free_at_s=at_s.n_free,
        monotone=at_s.is_monotone, potential=at_s.is_potential, starts=len(starts),
        starts_converged=sum(r is not None for r in found),
        distinct_equilibria=len(distinct),
        stable_equilibria=sum(analyze_stability(game, p, monotone=monotone).classification
                              == "stable" for p in distinct),
        pruned_at_s=int(pruned_s.sum()), **newton_fields,
        solves=len(tried), solves_out_of_time=sum("max_seconds" in r.message for r in tried),
        distance_bound=bound.bound, distance_bound_reason=bound.reason,
        seconds=time.perf_counter() - started, eigenvalues_at_s=at_s.eigenvalues,
        **near_fields)


@dataclass(frozen=True)
class ProfileCertificate:
    """Questions (i) and (ii) at one profile s: its Nash gap, KKT residual and stability.

    Attributes
    ----------
    nash_gap : float
        Relative Nash gap of s (Shah & Khan 2025, Eq. 11; `equilibria.nash_gap`).
    kkt_residual : float
        Norm of the natural map at s (`equilibria.kkt_residual`, in the norm asked for).
    stability : StabilityReport
        `equilibria.analyze_stability` at s.
    """

    nash_gap: float
    kkt_residual: float
    stability: StabilityReport

    @property
    def is_equilibrium(self) -> bool:
        """Whether the relative Nash gap is at most `EQUILIBRIUM_TOL`."""
        return self.nash_gap <= EQUILIBRIUM_TOL

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary (the stability report as its own ``to_dict``)."""
        return to_plain({"nash_gap": self.nash_gap, "kkt_residual": self.kkt_residual,
                         "is_equilibrium": self.is_equilibrium,
                         "stability": self.stability.to_dict()})


def certify_profile(game: ParticipationGame, s: Any, *, ord: float = 2,
                    monotone: bool | None = None) -> ProfileCertificate:
    """Nash gap, KKT residual (norm `ord`) and stability report of the profile s on `game`
    (`monotone`: the game's `is_monotone` when already known, as in `analyze_stability`).

    Raises
    ------
    GameTypeError
        When `game` is not a ParticipationGame; `InvalidProfileError` for an s outside the box.
    """
    _check_game(game)
    s = game.check(s)
    return ProfileCertificate(nash_gap=float(nash_gap(game, s)),
                              kkt_residual=float(kkt_residual(game, s, ord=ord)),
                              stability=analyze_stability(game, s, monotone=monotone))


def _check_game(game: Any) -> None:
    if not isinstance(game, ParticipationGame):
        raise GameTypeError(f"game must be an equilibria.ParticipationGame; got "
                            f"{type(game).__name__}")
