"""Property tests of equilibrium claims: hypothesis strategies for games, and assertions.

Users of this package write property-based tests of their own claims about equilibria
(docs/design.md, "Users"); this module gives them the two halves of such a test.

**Strategies** draw `ParticipationGame` s on the box [0, 1]^N (the paper's box) that have a
stated property, each checked by ``tests/equilibria/test_testing.py``:

- `monotone_games`: ``is_monotone(game)``, so a unique equilibrium (Rosen 1965), and the
  Jacobi best-response map is a max-norm contraction;
- `potential_games`: symmetric R, so ``game.is_potential``, an exact potential (Monderer &
  Shapley 1996); possibly several equilibria;
- `games_with_dominated_players`: at least ``dominated`` players are in
  ``dominated_players(game)`` (Shah & Khan 2025, Eq. 12);
- `games_with_duplicates`: draws ``(game, pairs)``; swapping the two players of a pair maps
  the game onto itself;
- `low_rank_games`: R is a `LowRank` with exactly ``rank`` factor columns;
- `network_statistics`: a valid `equilibria.spec.NetworkStatistics` of a random network (the
  numbers ``nets.stats.collect`` measures);
- `network_games`: ``build_game`` of `network_statistics`, an exact potential game whose
  competition stays within each layer;
- `profiles`: a profile in the box, bounds included.

The arrays of a game come from a numpy generator seeded by a drawn integer, so every example
is well scaled and reproducible; hypothesis shrinks the number of players, the seed and the
drawn parameters. (We deliberately do not draw every entry with ``hypothesis.extra.numpy``:
games with entries of 1e300 or subnormal costs test the floating point, not the claim.)

**Assertions** raise `AssertionError` with a message that names the offending player and the
numbers, so a failing hypothesis example says what went wrong:

- `assert_equilibrium`: the relative Nash gap is at most ``tol`` (`equilibria.nash_gap`);
- `assert_dominated_at_zero`: every dominated player sits at the lower bound (paper Eq. 12);
- `assert_unique`: uniqueness is certified (`is_monotone`), else the distinct equilibria
  found from several starts are shown;
- `assert_stable`: `analyze_stability` certifies the profile locally asymptotically stable.

Examples
--------
>>> from hypothesis import given, settings
>>> from equilibria import solve
>>> from equilibria.testing import assert_equilibrium, monotone_games
>>> @settings(max_examples=10, derandomize=True)
... @given(monotone_games(max_players=6))
... def test_newton_finds_the_equilibrium(game):
...     assert_equilibrium(game, solve(game, "newton").profile)
>>> test_newton_finds_the_equilibrium()
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from equilibria import competition as comp
from equilibria.callable_game import ContinuousGame
from equilibria.certify import distinct_profiles
from equilibria.dominance import dominated_players
from equilibria.errors import InvalidOptionError, check_count, check_tol
from equilibria.game import ParticipationGame
from equilibria.gap import nash_gap
from equilibria.solvers import solve
from equilibria.spec import PAYOFFS, NetworkStatistics, build_game
from equilibria.stability import analyze_stability, is_monotone

__all__ = [
    "assert_dominated_at_zero",
    "assert_equilibrium",
    "assert_stable",
    "assert_unique",
    "games_with_dominated_players",
    "games_with_duplicates",
    "low_rank_games",
    "monotone_games",
    "network_games",
    "network_statistics",
    "potential_games",
    "profiles",
]

#: Players listed by name in a message before it says "and N more".
_LISTED = 5
_SEEDS = st.integers(0, 2**32 - 1)


def _check_sizes(min_players: int, max_players: int, smallest: int = 1) -> None:
    check_count(min_players, "min_players", smallest)
    check_count(max_players, "max_players", smallest)
    if max_players < min_players:
        raise InvalidOptionError(f"max_players must be >= min_players; got {max_players} < "
                                 f"{min_players}")


def _costs(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Benefit b in [-1, 3], quadratic cost q in [0.5, 2], linear cost c in [0, 0.5]."""
    return rng.uniform(-1.0, 3.0, n), rng.uniform(0.5, 2.0, n), rng.uniform(0.0, 0.5, n)


# ---------------------------------------------------------------------------- strategies
def monotone_games(min_players: int = 1, max_players: int = 8, *,
                   symmetric: bool | None = None, margin: float = 0.7
                   ) -> st.SearchStrategy[ParticipationGame]:
    """Strictly diagonally dominant games: monotone, so the equilibrium is unique.

    Every row and every column of ``|R|`` sums to at most ``margin * 2 min(q)``, so
    ``2 diag(q) + (R + R^T) / 2`` is positive definite (Gershgorin): the game is monotone
    (``is_monotone(game)``, Rosen 1965) and the Jacobi best-response map, whose derivative is
    ``-diag(1/2q) R``, contracts in the max-norm with factor at most ``margin``.

    Parameters
    ----------
    min_players, max_players : int, default 1 and 8
    symmetric : bool, optional
        True: symmetric R (also a potential game); False: general R; None (default): drawn.
    margin : float in (0, 1), default 0.7
    """
    _check_sizes(min_players, max_players)
    if not 0 < margin < 1:
        raise InvalidOptionError(f"margin must be in (0, 1); got {margin}")
    return _monotone_games(min_players, max_players, symmetric, margin)


@st.composite
def _monotone_games(draw: Any, min_players: int, max_players: int, symmetric: bool | None,
                    margin: float) -> ParticipationGame:
    n = draw(st.integers(min_players, max_players))
    symmetric = draw(st.booleans()) if symmetric is None else bool(symmetric)
    rng = np.random.default_rng(draw(_SEEDS))
    b, q, c = _costs(rng, n)
    R = rng.uniform(-1.0, 1.0, (n, n))
    if symmetric:
        R = 0.5 * (R + R.T)
    np.fill_diagonal(R, 0.0)
    largest = max(np.abs(R).sum(axis=1).max(), np.abs(R).sum(axis=0).max(), 1e-12)
    return ParticipationGame(b, q, c, R * (margin * 2.0 * q.min() / largest))


def potential_games(min_players: int = 1, max_players: int = 8, *,
                    strength: float = 2.0) -> st.SearchStrategy[ParticipationGame]:
    """Games with symmetric competition: exact potential games, not necessarily monotone.

    ``R_ij = R_ji`` uniform in ``[-strength, strength] * mean(q)``, so ``game.is_potential``
    and ``U_i(t, s_-i) - U_i(s) = Phi(t, s_-i) - Phi(s)`` for every unilateral deviation
    (Monderer & Shapley 1996; `ParticipationGame.potential`). With a large ``strength`` the
    game may have several equilibria (duplicate players competing hard).

    Parameters
    ----------
    min_players, max_players : int, default 1 and 8
    strength : float >= 0, default 2.0
    """
    _check_sizes(min_players, max_players)
    if not (np.isfinite(strength) and strength >= 0):
        raise InvalidOptionError(f"strength must be a finite number >= 0; got {strength}")
    return _potential_games(min_players, max_players, float(strength))


@st.composite
def _potential_games(draw: Any, min_players: int, max_players: int,
                     strength: float) -> ParticipationGame:
    n = draw(st.integers(min_players, max_players))
    rng = np.random.default_rng(draw(_SEEDS))
    b, q, c = _costs(rng, n)
    R = rng.uniform(-strength, strength, (n, n)) * q.mean()
    R = 0.5 * (R + R.T)
    np.fill_diagonal(R, 0.0)
    return ParticipationGame(b, q, c, R)


def games_with_dominated_players(min_players: int | None = None, max_players: int = 8, *,
                                 dominated: int = 1) -> st.SearchStrategy[ParticipationGame]:
    """Games in which at least ``dominated`` players have s_i = 0 as a dominant strategy.

    A general game (any R) in which ``dominated`` players, chosen at random, get a net benefit
    below their smallest competition over the box: ``a_i - min_{s in box} (R s)_i < 0``
    (Shah & Khan 2025, Eq. 12), so every such player is in ``dominated_players(game)`` and
    sits at 0 in every equilibrium. Other players may be dominated too.

    Parameters
    ----------
    min_players : int, optional
        Default ``max(dominated, 1)``.
    max_players : int, default 8
    dominated : int >= 1, default 1
        Players planted dominated.
    """
    dominated = check_count(dominated, "dominated", 1)
    min_players = max(dominated, 1) if min_players is None else min_players
    _check_sizes(min_players, max_players, dominated)
    return _games_with_dominated_players(min_players, max_players, dominated)


@st.composite
def _games_with_dominated_players(draw: Any, min_players: int, max_players: int,
                                  dominated: int) -> ParticipationGame:
    n = draw(st.integers(min_players, max_players))
    rng = np.random.default_rng(draw(_SEEDS))
    b, q, c = _costs(rng, n)
    R = rng.uniform(-1.0, 1.0, (n, n)) * q.mean()
    np.fill_diagonal(R, 0.0)
    smallest, _ = comp.interval_products(comp.normalize(R, n), np.zeros(n), np.ones(n))
    planted = rng.choice(n, size=dominated, replace=False)
    b[planted] = c[planted] + smallest[planted] - rng.uniform(0.05, 1.0, dominated)
    return ParticipationGame(b, q, c, R)


def games_with_duplicates(min_players: int | None = None, max_players: int = 8, *,
                          pairs: int = 1, mutual: tuple[float, float] = (0.0, 3.0)
                          ) -> st.SearchStrategy[tuple[ParticipationGame,
                                                       tuple[tuple[int, int], ...]]]:
    """Games with planted duplicate players, and where they are: ``(game, pairs)``.

    The two players ``(i, j)`` of every pair have the same benefit and costs and the same
    competition with every other player (``R_ik = R_jk``, ``R_ki = R_kj``), and compete with
    each other by ``R_ij = R_ji`` drawn from ``mutual`` (times mean q): swapping them maps the
    game onto itself (``game.permuted(swap)`` has the same arrays), as two units with the same
    incoming weights do in the paper's game (Eq. 10). Redundancy claims (the competition prunes
    one of two duplicates) are tested on these.

    Parameters
    ----------
    min_players : int, optional
        Default ``2 * pairs``.
    max_players : int, default 8
    pairs : int >= 1, default 1
        Disjoint duplicate pairs, at random positions.
    mutual : (float, float), default (0.0, 3.0)
        Range of the competition within a pair, relative to mean q.

    Returns
    -------
    (ParticipationGame, tuple of (int, int))
        The game and its duplicate pairs, each as ``(i, j)`` with ``i < j``.
    """
    pairs = check_count(pairs, "pairs", 1)
    min_players = 2 * pairs if min_players is None else min_players
    _check_sizes(min_players, max_players, 2 * pairs)
    low, high = mutual
    if not (np.isfinite(low) and np.isfinite(high) and low <= high):
        raise InvalidOptionError(f"mutual must be a finite range (low, high); got {mutual}")
    return _games_with_duplicates(min_players, max_players, pairs, float(low), float(high))


@st.composite
def _games_with_duplicates(draw: Any, min_players: int, max_players: int, pairs: int,
                           low: float, high: float
                           ) -> tuple[ParticipationGame, tuple[tuple[int, int], ...]]:
    n = draw(st.integers(min_players, max_players))
    rng = np.random.default_rng(draw(_SEEDS))
    b, q, c = _costs(rng, n)
    R = rng.uniform(-1.0, 1.0, (n, n)) * q.mean()
    places = rng.permutation(n)[: 2 * pairs].reshape(pairs, 2)
    planted = tuple(sorted((int(min(i, j)), int(max(i, j))) for i, j in places))
    for i, j in planted:
        b[j], q[j], c[j] = b[i], q[i], c[i]
        R[j, :], R[:, j] = R[i, :], R[:, i]
        R[i, i] = R[j, j] = 0.0
        R[i, j] = R[j, i] = rng.uniform(low, high) * q.mean()
    np.fill_diagonal(R, 0.0)
    return ParticipationGame(b, q, c, R), planted


def low_rank_games(rank: int, min_players: int = 1, max_players: int = 8, *,
                   scale: float | None = None, monotone: bool = False
                   ) -> st.SearchStrategy[ParticipationGame]:
    """Games whose competition is ``LowRank(F, scale)`` with F of shape (N, rank).

    ``R = scale (F F^T - diag(F F^T))``, the paper's ``eta <theta_i, theta_j>`` (Eq. 10) with
    the parameter groups of ``rank`` weights each; ``game.competition.rank == rank``.

    Parameters
    ----------
    rank : int >= 1
        Factor columns d.
    min_players, max_players : int, default 1 and 8
    scale : float > 0, optional
        Drawn from [0.05, 1] when omitted.
    monotone : bool, default False
        Raise q so that ``2 q_i > scale ||F_i||^2``: then ``2 diag(q) + R`` is positive
        definite (``R + scale diag(F F^T)`` is positive semidefinite) and the game monotone.
    """
    rank = check_count(rank, "rank", 1)
    _check_sizes(min_players, max_players)
    if scale is not None and not (np.isfinite(scale) and scale > 0):
        raise InvalidOptionError(f"scale must be a finite number > 0; got {scale}")
    return _low_rank_games(rank, min_players, max_players, scale, bool(monotone))


@st.composite
def _low_rank_games(draw: Any, rank: int, min_players: int, max_players: int,
                    scale: float | None, monotone: bool) -> ParticipationGame:
    n = draw(st.integers(min_players, max_players))
    scale = draw(st.floats(0.05, 1.0)) if scale is None else float(scale)
    rng = np.random.default_rng(draw(_SEEDS))
    b, q, c = _costs(rng, n)
    factors = rng.standard_normal((n, rank))
    if monotone:
        q = q + 0.5 * scale * np.einsum("ij,ij->i", factors, factors)
    return ParticipationGame(b, q, c, comp.LowRank(factors, scale))


def network_statistics(min_layers: int = 1, max_layers: int = 3, min_width: int = 1,
                       max_width: int = 6) -> st.SearchStrategy[NetworkStatistics]:
    """Statistics of a random network, as `nets.stats.collect` measures them (numpy only).

    Each layer has a drawn width and fan-in; unit i has incoming weights theta_i and a loss
    gradient g_i, both standard normal: ``grad_inner = dloss_ds = <g_i, theta_i>`` (measured at
    s = 1), ``sq_norms = ||theta_i||^2``, ``parameter_gram`` the per-layer Gram matrix of the
    theta_i, ``activation_overlap`` the per-layer correlation of 16 random activations, and
    ``taylor >= 0``. No curvature: the second-order payoffs need ``nets.stats.collect``.

    Parameters
    ----------
    min_layers, max_layers : int, default 1 and 3
    min_width, max_width : int, default 1 and 6
        Players per layer.
    """
    check_count(min_layers, "min_layers", 1)
    check_count(min_width, "min_width", 1)
    if max_layers < min_layers or max_width < min_width:
        raise InvalidOptionError("max_layers and max_width must be >= min_layers and min_width")
    return _network_statistics(min_layers, max_layers, min_width, max_width)


@st.composite
def _network_statistics(draw: Any, min_layers: int, max_layers: int, min_width: int,
                        max_width: int) -> NetworkStatistics:
    n_layers = draw(st.integers(min_layers, max_layers))
    widths = [draw(st.integers(min_width, max_width)) for _ in range(n_layers)]
    rng = np.random.default_rng(draw(_SEEDS))
    grad_inner, taylor, sq_norms, grams, overlaps = [], [], [], [], []
    for width in widths:
        theta = rng.standard_normal((width, int(rng.integers(2, 9))))
        grad = rng.standard_normal(theta.shape) * 0.5
        grad_inner.append(np.einsum("ij,ij->i", grad, theta))
        taylor.append(np.abs(rng.standard_normal(width)))
        sq_norms.append(np.einsum("ij,ij->i", theta, theta))
        grams.append(theta @ theta.T)
        activations = rng.standard_normal((16, width))
        centered = activations - activations.mean(axis=0)
        unit = centered / np.linalg.norm(centered, axis=0)
        overlaps.append(unit.T @ unit)
    inner = np.concatenate(grad_inner)
    return NetworkStatistics(
        layer=np.repeat(np.arange(n_layers), widths), grad_inner=inner, dloss_ds=inner.copy(),
        taylor=np.concatenate(taylor), sq_norms=np.concatenate(sq_norms),
        parameter_gram=tuple(grams), activation_overlap=tuple(overlaps),
        participation=np.ones(inner.size), layer_names=tuple(f"layer{k}" for k in
                                                            range(n_layers)))


def network_games(payoff: str | None = None, overlap: str | None | bool = False,
                  **sizes: int) -> st.SearchStrategy[ParticipationGame]:
    """``build_game`` of drawn `network_statistics`: the game of a random network.

    beta in [0.1, 1] (so every q_i > 0), gamma in [0, 0.5], eta in [0, 0.5] are drawn, as are
    ``payoff`` and ``overlap`` when not given. Every game is an exact potential game (both
    overlaps are symmetric) whose competition is zero between players of different layers
    (`equilibria.spec`, Eq. 8-10 of Shah & Khan 2025).

    Parameters
    ----------
    payoff : {"paper", "loss_descent", "taylor"}, optional
        Drawn when omitted.
    overlap : {"parameters", "activations", None}, optional
        Drawn when omitted (``False``, the default).
    **sizes
        ``min_layers``, ``max_layers``, ``min_width``, ``max_width`` of `network_statistics`.
    """
    if payoff is not None and payoff not in PAYOFFS:
        raise InvalidOptionError(f"payoff must be one of {PAYOFFS} (the second-order payoffs "
                                 f"need measured curvature); got {payoff!r}")
    if overlap not in (False, "parameters", "activations", None):
        raise InvalidOptionError(f"overlap must be 'parameters', 'activations' or None; got "
                                 f"{overlap!r}")
    return _network_games(network_statistics(**sizes), payoff, overlap)


@st.composite
def _network_games(draw: Any, statistics: st.SearchStrategy[NetworkStatistics],
                   payoff: str | None, overlap: str | None | bool) -> ParticipationGame:
    stats = draw(statistics)
    payoff = draw(st.sampled_from(PAYOFFS)) if payoff is None else payoff
    if overlap is False:
        overlap = draw(st.sampled_from(("parameters", "activations", None)))
    beta, gamma, eta = draw(st.floats(0.1, 1.0)), draw(st.floats(0.0, 0.5)), \
        draw(st.floats(0.0, 0.5))
    return build_game(stats, payoff, overlap, alpha=1.0, beta=beta, gamma=gamma, eta=eta)


def profiles(n_players: int, bounds: tuple[float, float] = (0.0, 1.0)) -> Any:
    """Profiles of ``n_players`` participations in ``bounds``, the bounds themselves included.

    A strategy of float64 arrays of shape (n_players,); draw it inside a test with
    ``data.draw(profiles(game.n_players))`` (hypothesis's ``st.data()``).
    """
    n_players = check_count(n_players, "n_players", 1)
    lo, hi = (float(x) for x in bounds)
    value = st.one_of(st.sampled_from((lo, hi)), st.floats(lo, hi))
    return st.lists(value, min_size=n_players, max_size=n_players).map(
        lambda values: np.asarray(values, dtype=np.float64))


# ---------------------------------------------------------------------------- assertions
def _players(index: np.ndarray) -> str:
    listed = ", ".join(str(int(i)) for i in index[:_LISTED])
    more = f" and {index.size - _LISTED} more" if index.size > _LISTED else ""
    return f"{listed}{more}"


def assert_equilibrium(game: ContinuousGame, s: Any, tol: float = 1e-8) -> None:
    """Assert that `s` is a Nash equilibrium of `game` within `tol` (relative Nash gap).

    Raises
    ------
    AssertionError
        Naming the player who gains most by deviating alone, its gain (relative to the payoff
        scale, as `equilibria.nash_gap`), its participation and its best response, and how
        many players gain more than `tol`.
    """
    tol = check_tol(tol)
    s = game.check(s)
    gaps = np.asarray(nash_gap(game, s, per_player=True))
    offending = np.flatnonzero(gaps > tol)
    if offending.size == 0:
        return
    i = int(np.argmax(gaps))
    response = game.player_best_response(i, s)
    raise AssertionError(
        f"s is not an equilibrium within tol={tol:g}: player {i} gains {gaps[i]:.6g} "
        f"(relative Nash gap) by moving from s_{i} = {s[i]:.6g} to its best response "
        f"{response:.6g}; {offending.size} of {s.size} players gain more than tol (players "
        f"{_players(offending)})")


def assert_dominated_at_zero(game: ParticipationGame, s: Any, atol: float = 1e-8) -> None:
    """Assert that every dominated player of `game` sits at the lower bound in `s`.

    The dominated players are ``dominated_players(game)`` (Shah & Khan 2025, Eq. 12): their
    largest marginal utility at lo over the whole box is <= 0, so they play lo (0 on the
    default box) in every equilibrium.

    Parameters
    ----------
    atol : float, default 1e-8
        Distance from lo allowed, relative to ``hi - lo``.

    Raises
    ------
    AssertionError
        Naming the first dominated player off the bound, its participation and its largest
        marginal utility at lo.
    """
    if not isinstance(game, ParticipationGame):
        raise TypeError("assert_dominated_at_zero needs a ParticipationGame (dominance has a "
                        f"closed form there); got {type(game).__name__}")
    atol = check_tol(atol, "atol")
    s = game.check(s)
    lo, hi = game.bounds
    dominated = dominated_players(game)
    off = dominated[s[dominated] > lo + atol * (hi - lo)]
    if off.size == 0:
        return
    n = game.n_players
    smallest, _ = comp.interval_products(game.competition, np.full(n, lo), np.full(n, hi))
    margin = game.net_benefit - smallest - 2.0 * game.quadratic_cost * lo
    i = int(off[0])
    raise AssertionError(
        f"player {i} is dominated (its largest marginal utility at lo over the box is "
        f"{margin[i]:.6g} <= 0, paper Eq. 12) but s_{i} = {s[i]:.6g}, not lo = {lo:g} "
        f"(atol {atol:g}); {off.size} of {dominated.size} dominated players are off lo "
        f"(players {_players(off)})")


def _monotonicity_witness(game: ContinuousGame) -> tuple[float, int]:
    """The largest eigenvalue of ``(J + J^T) / 2`` and the player its eigenvector weighs most."""
    if isinstance(game, ParticipationGame):
        n = game.n_players
        dense = comp.to_dense(game.competition, n) if game.competition is not None else \
            np.zeros((n, n))
        symmetric = -0.5 * (dense + dense.T)
        symmetric[np.diag_indices(n)] = -2.0 * game.quadratic_cost
    else:
        J = game.jacobian()
        symmetric = 0.5 * (J + J.T)
    values, vectors = np.linalg.eigh(symmetric)
    return float(values[-1]), int(np.argmax(np.abs(vectors[:, -1])))


def assert_unique(game: ContinuousGame, *, starts: int = 4, seed: int = 0,
                  tol: float = 1e-8) -> None:
    """Assert that `game` has a certified unique equilibrium.

    Passes when the game is monotone, ``J + J^T`` negative definite (`is_monotone`; Rosen
    1965), which proves uniqueness. Otherwise it fails, and says whether a search found
    several equilibria (solves from zeros, ones and ``starts`` random profiles) or only one
    (then uniqueness is plausible but not certified).

    Parameters
    ----------
    starts : int, default 4
        Random starts of the search run when the game is not monotone.
    seed : int, default 0
    tol : float, default 1e-8
        Relative Nash gap of each solve.

    Raises
    ------
    AssertionError
        Naming, for two distinct equilibria found, the player where they differ most and its
        participation in each; otherwise the largest eigenvalue of ``(J + J^T) / 2`` and the
        player its eigenvector weighs most.
    """
    starts = check_count(starts, "starts")
    tol = check_tol(tol)
    if is_monotone(game):
        return
    n = game.n_players
    lo, hi = game.bounds
    rng = np.random.default_rng(seed)
    initial = [np.full(n, lo), np.full(n, hi)] + [rng.uniform(lo, hi, n) for _ in range(starts)]
    method = "newton" if isinstance(game, ParticipationGame) else "best_response"
    found = [result.profile for start in initial
             if (result := solve(game, method, s0=start, tol=tol, max_seconds=10.0)).converged]
    distinct = distinct_profiles(found)
    eigenvalue, player = _monotonicity_witness(game)
    reason = (f"(J + J^T)/2 has eigenvalue {eigenvalue:.6g} >= 0, its eigenvector largest at "
              f"player {player} (Rosen 1965 needs J + J^T negative definite)")
    if len(distinct) >= 2:
        first, second = distinct[0], distinct[1]
        i = int(np.argmax(np.abs(first - second)))
        raise AssertionError(
            f"the equilibrium is not unique: {len(distinct)} distinct equilibria from "
            f"{len(initial)} starts; two differ most at player {i}: s_{i} = {first[i]:.6g} in "
            f"one and {second[i]:.6g} in the other; {reason}")
    raise AssertionError(
        f"uniqueness is not certified: the game is not monotone, {reason}; "
        f"{len(found)} of {len(initial)} starts converged, to {len(distinct)} equilibrium")


def assert_stable(game: ContinuousGame, s: Any, tol: float = 1e-9) -> None:
    """Assert that `analyze_stability` certifies `s` locally asymptotically stable.

    Parameters
    ----------
    tol : float, default 1e-9
        As in `analyze_stability`.

    Raises
    ------
    AssertionError
        With the classification and, for a degenerate bound, the player at a bound whose
        pseudo-gradient is (numerically) zero; else the eigenvalue of the free players'
        Jacobian with the largest real part and the player its eigenvector weighs most.
    """
    report = analyze_stability(game, s, tol=tol)
    if report.classification == "stable":
        return
    s = game.check(s)
    lo, hi = game.bounds
    g = game.pseudo_gradient(s)
    width, scale = hi - lo, game.payoff_scale()
    at_lower, at_upper = s <= lo + tol * width, s >= hi - tol * width
    bound = (at_lower & (g < -tol * scale)) | (at_upper & (g > tol * scale))
    degenerate = np.flatnonzero((at_lower | at_upper) & ~bound)
    head = f"s is not certified stable (classification {report.classification!r})"
    free = np.flatnonzero(~bound)
    J = np.asarray(game.jacobian(s))[np.ix_(free, free)]
    values, vectors = np.linalg.eig(J) if free.size else (np.zeros(0), np.zeros((0, 0)))
    if values.size:
        k = int(np.argmax(values.real))
        i = int(free[np.argmax(np.abs(vectors[:, k]))])
        spectrum = (f"the Jacobian of the {free.size} free players has eigenvalue "
                    f"{values[k]:.6g} (largest real part), its eigenvector largest at player "
                    f"{i} (s_{i} = {s[i]:.6g})")
    else:
        spectrum = "no player is free"
    if degenerate.size:
        i = int(degenerate[0])
        raise AssertionError(
            f"{head}: player {i} sits at a bound (s_{i} = {s[i]:.6g}) with pseudo-gradient "
            f"{g[i]:.3g}, not strictly pointing out of the box (degenerate complementarity; "
            f"players {_players(degenerate)}); {spectrum}")
    raise AssertionError(f"{head}: {spectrum}")
