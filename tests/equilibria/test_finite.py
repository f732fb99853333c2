"""Tests of equilibria.finite: pair sub-games solved by nashpy and re-verified."""

from __future__ import annotations

import dataclasses
import json
import warnings

import nashpy
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from equilibria import finite
from equilibria.errors import DegenerateGameWarning, InvalidProfileError, UnknownMethodError
from equilibria.finite import (
    METHODS,
    FiniteEquilibrium,
    PairGame,
    bimatrix_equilibria,
    bimatrix_gap,
    pair_game,
    pure_equilibria,
    solve_pair,
)
from equilibria.game import ParticipationGame

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True)
#: For the tests that run vertex enumeration (scipy halfspace intersections) on 4 x 4 games.
FEW = settings(max_examples=20, deadline=None, derandomize=True)


def _floats(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def _near_tie(*payoffs: np.ndarray, rtol: float = 1e-6) -> bool:
    """Whether two payoffs differ by a nonzero amount below `rtol` of the payoff scale."""
    values = np.concatenate([np.ravel(p) for p in payoffs])
    gaps = np.abs(values[:, None] - values[None, :])
    return bool(np.any((gaps > 0) & (gaps <= rtol * max(np.abs(values).max(), 1.0))))


@st.composite
def games_and_pairs(draw: st.DrawFn, grids: tuple[int | str, ...] = ("keep_drop", 3)
                    ) -> tuple[ParticipationGame, PairGame]:
    """A random game of 3-6 players with symmetric competition, and one of its pair games."""
    n = draw(st.integers(3, 6))
    benefit = draw(arrays(np.float64, n, elements=_floats(-1.0, 2.0)))
    quadratic = draw(arrays(np.float64, n, elements=_floats(0.0, 1.0)))
    linear = draw(arrays(np.float64, n, elements=_floats(0.0, 0.5)))
    upper = draw(arrays(np.float64, (n, n), elements=_floats(-1.0, 1.0)))
    competition = np.triu(upper, 1) + np.triu(upper, 1).T
    s = draw(arrays(np.float64, n, elements=_floats(0.0, 1.0)))
    i, j = draw(st.permutations(range(n)))[:2]
    grid = draw(st.sampled_from(grids))
    game = ParticipationGame(benefit, quadratic, linear, competition)
    return game, pair_game(game, i, j, s, grid)


def _solve_quietly(A: np.ndarray, B: np.ndarray, method: str
                   ) -> tuple[tuple[tuple[np.ndarray, np.ndarray], ...], bool]:
    """Equilibria and whether a DegenerateGameWarning was raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = bimatrix_equilibria(A, B, method)
    return found, any(issubclass(w.category, DegenerateGameWarning) for w in caught)


def _raw_nashpy(A: np.ndarray, B: np.ndarray, method: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """What nashpy itself returns (warnings silenced, a crash on a degenerate game = nothing)."""
    game = nashpy.Game(A, B)
    runs = {"support_enumeration": game.support_enumeration,
            "vertex_enumeration": game.vertex_enumeration,
            "lemke_howson": game.lemke_howson_enumeration}
    out: list[tuple[np.ndarray, np.ndarray]] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            out.extend(runs[method]())
        except (TypeError, ValueError, IndexError, RuntimeError):
            pass
    return out


def _contains(pairs: object, x: np.ndarray, y: np.ndarray, atol: float = 1e-7) -> bool:
    return any(np.allclose(x, u, atol=atol) and np.allclose(y, v, atol=atol) for u, v in pairs)


int8_games = st.tuples(st.integers(2, 4), st.integers(2, 4)).flatmap(
    lambda shape: st.tuples(arrays(np.int8, shape), arrays(np.int8, shape))).map(
    lambda ab: (ab[0].astype(np.float64), ab[1].astype(np.float64)))


@st.composite
def generic_games(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian payoffs of shape (m, n), m, n in 2..4: nondegenerate with probability one
    (hypothesis' own floats favour ties, which make games degenerate)."""
    m, n = draw(st.integers(2, 4)), draw(st.integers(2, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return rng.normal(size=(m, n)), rng.normal(size=(m, n))


generic_games = generic_games()


# ------------------------------------------------------------------------- pair games
@SETTINGS
@given(games_and_pairs())
def test_payoffs_are_the_full_game_utilities(data: tuple[ParticipationGame, PairGame]) -> None:
    game, pair = data
    i, j = pair.players
    k = len(pair.levels)
    for a in range(k):
        for b in range(k):
            u = game.utilities(pair.profile(a, b))
            assert pair.row_payoffs[a, b] == pytest.approx(u[i], abs=1e-12)
            assert pair.col_payoffs[a, b] == pytest.approx(u[j], abs=1e-12)


@SETTINGS
@given(games_and_pairs())
def test_pure_equilibria_agree_with_nashpy(data: tuple[ParticipationGame, PairGame]) -> None:
    _, pair = data
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = solve_pair(pair, "vertex_enumeration")
        support = solve_pair(pair, "support_enumeration")
    assume(not any(issubclass(w.category, DegenerateGameWarning) for w in caught))
    # pure_equilibria compares payoffs up to a relative 1e-9, nashpy exactly: a near-tie
    # (e.g. a payoff of 1e-53 against 0) is an equilibrium for one and not the other.
    assume(not _near_tie(pair.row_payoffs, pair.col_payoffs))
    ours = set(pure_equilibria(pair.row_payoffs, pair.col_payoffs))

    def pure(equilibria):
        return {(int(np.argmax(e.row_strategy)), int(np.argmax(e.col_strategy)))
                for e in equilibria if e.is_pure}

    assert ours == pure(found)
    # nashpy 0.0.43's support enumeration can miss equilibria without warning (it rounds some
    # zero probabilities to tiny negatives); what it finds must still be ours.
    assert pure(support) <= ours
    assert len(found) % 2 == 1  # nondegenerate games have an odd number of equilibria


@SETTINGS
@given(games_and_pairs(grids=("keep_drop", 2, 3, 4)))
def test_pure_equilibrium_profile_has_no_profitable_grid_deviation(
        data: tuple[ParticipationGame, PairGame]) -> None:
    game, pair = data
    i, j = pair.players
    scale = max(np.abs(pair.row_payoffs).max(), np.abs(pair.col_payoffs).max(), 1e-300)
    equilibria = pure_equilibria(pair.row_payoffs, pair.col_payoffs)
    assert equilibria, "a 2-player potential game on a grid always has a pure equilibrium"
    for a, b in equilibria:
        profile = pair.profile(a, b)
        u = game.utilities(profile)
        for level in pair.levels:
            for player in (i, j):
                deviation = profile.copy()
                deviation[player] = level
                assert game.utilities(deviation)[player] <= u[player] + 1e-9 * scale


@SETTINGS
@given(games_and_pairs())
def test_equilibrium_fields_are_consistent(data: tuple[ParticipationGame, PairGame]) -> None:
    _, pair = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateGameWarning)
        found = solve_pair(pair)
    levels = np.asarray(pair.levels)
    i, j = pair.players
    for eq in found:
        assert eq.gap <= 1e-9
        assert eq.row_strategy.sum() == pytest.approx(1.0)
        assert eq.col_strategy.sum() == pytest.approx(1.0)
        assert eq.expected_participation == pytest.approx(
            (levels @ eq.row_strategy, levels @ eq.col_strategy))
        assert (eq.profile[i], eq.profile[j]) == pytest.approx(eq.expected_participation)
        others = np.ones(eq.profile.size, dtype=bool)
        others[[i, j]] = False
        np.testing.assert_array_equal(eq.profile[others], pair.base_profile[others])
        assert eq.is_pure == (np.count_nonzero(eq.row_strategy) == 1
                              and np.count_nonzero(eq.col_strategy) == 1)


# ------------------------------------------------------------------------- bimatrix games
@FEW
@given(int8_games)
def test_every_nashpy_equilibrium_passes_the_gap(ab: tuple[np.ndarray, np.ndarray]) -> None:
    A, B = ab
    scale = max(np.abs(A).max(), np.abs(B).max())
    for method in METHODS:
        for x, y in _raw_nashpy(A, B, method):
            assert bimatrix_gap(A, B, x, y) <= 1e-9 * scale, method
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DegenerateGameWarning)
            verified = bimatrix_equilibria(A, B, method)
        for x, y in verified:
            assert bimatrix_gap(A, B, x, y) <= 1e-9 * scale
            if np.count_nonzero(x) == 1 and np.count_nonzero(y) == 1:
                assert (int(np.argmax(x)), int(np.argmax(y))) in pure_equilibria(A, B)


@FEW
@given(generic_games)
def test_lemke_howson_finds_a_subset_of_the_enumerations(
        ab: tuple[np.ndarray, np.ndarray]) -> None:
    A, B = ab
    support, degenerate_se = _solve_quietly(A, B, "support_enumeration")
    vertex, degenerate_ve = _solve_quietly(A, B, "vertex_enumeration")
    lemke, degenerate_lh = _solve_quietly(A, B, "lemke_howson")
    assume(not (degenerate_se or degenerate_ve or degenerate_lh))
    assert lemke, "Lemke-Howson always ends at an equilibrium"
    for x, y in lemke:
        assert _contains(vertex, x, y)
    if len(support) == len(vertex):  # support enumeration complete (see the test below)
        for x, y in lemke:
            assert _contains(support, x, y)


@FEW
@given(generic_games)
def test_support_enumeration_finds_a_subset_of_vertex_enumeration(
        ab: tuple[np.ndarray, np.ndarray]) -> None:
    A, B = ab
    support, degenerate_se = _solve_quietly(A, B, "support_enumeration")
    vertex, degenerate_ve = _solve_quietly(A, B, "vertex_enumeration")
    assume(not degenerate_se and not degenerate_ve)
    assert len(vertex) % 2 == 1  # a nondegenerate game has an odd number of equilibria
    for x, y in support:
        assert _contains(vertex, x, y)


def test_support_enumeration_rounding_miss_is_covered_by_vertex_enumeration() -> None:
    """A generic 4 x 4 game with 7 equilibria. nashpy 0.0.43's support enumeration rejects
    candidates whose solved probabilities hold -1e-17 for a column outside the support, and
    finds 5 of them, an odd number, so nothing warns; vertex enumeration finds all 7."""
    A = np.array([[1.67281345, -0.08916002, -0.73013585, 1.00830484],
                  [-0.47053762, -1.00061149, 1.06627638, 0.84777569],
                  [0.94506605, 0.84840059, 0.64893605, 0.40697035],
                  [-1.14085438, 0.83174373, 1.01099727, 1.17472742]])
    B = np.array([[-0.65851956, 0.03234633, -1.21556341, 0.05465381],
                  [-0.94170562, 1.03866363, 0.5407552, -1.4765791],
                  [0.48774198, 0.15712508, 0.34081483, -0.19515217],
                  [-0.61226835, -0.68630639, 0.38696455, 0.71388052]])
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateGameWarning)
        vertex = bimatrix_equilibria(A, B, "vertex_enumeration")
        support = bimatrix_equilibria(A, B, "support_enumeration")
    assert len(vertex) == 7
    assert 1 <= len(support) <= 7
    for x, y in support:
        assert _contains(vertex, x, y)
    scale = max(np.abs(A).max(), np.abs(B).max())
    for x, y in vertex:
        assert bimatrix_gap(A, B, x, y) <= 1e-9 * scale


def test_pure_equilibria_on_known_games() -> None:
    prisoners = np.array([[3.0, 0.0], [5.0, 1.0]])
    assert pure_equilibria(prisoners, prisoners.T) == [(1, 1)]
    coordination = np.eye(2)
    assert pure_equilibria(coordination, coordination) == [(0, 0), (1, 1)]
    pennies = np.array([[1.0, -1.0], [-1.0, 1.0]])
    assert pure_equilibria(pennies, -pennies) == []
    ties = np.zeros((2, 3))
    assert len(pure_equilibria(ties, ties)) == 6
    assert pure_equilibria([[1.0, 0.0]], [[1.0, 1.0 + 1e-12]], tol=1e-9) == [(0, 0), (0, 1)]
    assert pure_equilibria([[1.0, 0.0]], [[1.0, 1.0 + 1e-6]], tol=1e-9) == [(0, 1)]


def test_bimatrix_gap_values() -> None:
    pennies = np.array([[1.0, -1.0], [-1.0, 1.0]])
    half = np.array([0.5, 0.5])
    assert bimatrix_gap(pennies, -pennies, half, half) == pytest.approx(0.0, abs=1e-15)
    # pure (0, 0): the column player gains 2 by switching
    assert bimatrix_gap(pennies, -pennies, [1.0, 0.0], [1.0, 0.0]) == pytest.approx(2.0)
    prisoners = np.array([[3.0, 0.0], [5.0, 1.0]])
    # mutual cooperation: each gains 5 - 3 = 2 by defecting
    assert bimatrix_gap(prisoners, prisoners.T, [1.0, 0.0], [1.0, 0.0]) == pytest.approx(2.0)
    assert bimatrix_gap(prisoners, prisoners.T, [0.0, 1.0], [0.0, 1.0]) == 0.0


@pytest.mark.parametrize(("x", "y", "match"), [
    ([1.0, 0.0, 0.0], [1.0, 0.0], "row_strategy must have shape"),
    ([1.0, 0.0], [1.0], "col_strategy must have shape"),
    ([1.2, -0.2], [1.0, 0.0], "row_strategy must be nonnegative"),
    ([1.0, 0.0], [0.5, 0.4], "col_strategy must sum to 1"),
    ([np.nan, 1.0], [1.0, 0.0], "row_strategy holds NaN"),
])
def test_bimatrix_gap_rejects_bad_strategies(x: list[float], y: list[float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        bimatrix_gap(np.eye(2), np.eye(2), x, y)


def test_bimatrix_gap_tolerates_rounding_dust() -> None:
    gap = bimatrix_gap(np.eye(2), np.eye(2), [1.0 + 1e-12, -1e-12], [1.0, 0.0])
    assert gap == pytest.approx(0.0, abs=1e-11)


def test_payoff_matrices_are_checked() -> None:
    with pytest.raises(ValueError, match="A and B must have the same shape"):
        bimatrix_gap(np.eye(2), np.ones((2, 3)), [1.0, 0.0], [1.0, 0.0])
    with pytest.raises(ValueError, match="B holds NaN"):
        pure_equilibria(np.eye(2), [[np.nan, 0.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match="A must be a non-empty 2-D"):
        bimatrix_equilibria([1.0, 2.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="tol must be"):
        pure_equilibria(np.eye(2), np.eye(2), tol=-1.0)


# ------------------------------------------------------------------------- a known pair game
def _redundant_pair() -> tuple[ParticipationGame, PairGame]:
    """Players 0 and 1 are fully redundant: keeping both costs more than either brings."""
    competition = np.zeros((3, 3))
    competition[0, 1] = competition[1, 0] = 2.0
    game = ParticipationGame([1.0, 1.0, 0.3], 0.0, 0.0, competition)
    return game, pair_game(game, 0, 1, [1.0, 1.0, 0.25])


@pytest.mark.parametrize("method", ["support_enumeration", "vertex_enumeration"])
def test_redundant_pair_has_two_pure_and_one_mixed_equilibrium(method: str) -> None:
    _, pair = _redundant_pair()
    np.testing.assert_allclose(pair.row_payoffs, [[0.0, 0.0], [1.0, -1.0]])
    np.testing.assert_allclose(pair.col_payoffs, [[0.0, 1.0], [0.0, -1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateGameWarning)
        found = solve_pair(pair, method)
    pure = sorted(tuple(e.profile[:2]) for e in found if e.is_pure)
    assert pure == [(0.0, 1.0), (1.0, 0.0)]
    mixed = [e for e in found if not e.is_pure]
    assert len(mixed) == 1
    np.testing.assert_allclose(mixed[0].row_strategy, [0.5, 0.5])
    np.testing.assert_allclose(mixed[0].col_strategy, [0.5, 0.5])
    assert mixed[0].expected_participation == pytest.approx((0.5, 0.5))
    np.testing.assert_allclose(mixed[0].profile, [0.5, 0.5, 0.25])


def test_lemke_howson_on_the_redundant_pair_is_deduplicated() -> None:
    _, pair = _redundant_pair()
    found = solve_pair(pair, "lemke_howson")
    assert 1 <= len(found) <= 3
    keys = {(tuple(e.row_strategy), tuple(e.col_strategy)) for e in found}
    assert len(keys) == len(found)
    full = solve_pair(pair, "support_enumeration")
    for eq in found:
        assert _contains([(e.row_strategy, e.col_strategy) for e in full], eq.row_strategy,
                         eq.col_strategy)


def test_pair_game_grid_forms() -> None:
    game, _ = _redundant_pair()
    s = [1.0, 1.0, 0.25]
    assert pair_game(game, 0, 1, s).levels == (0.0, 1.0)
    assert pair_game(game, 0, 1, s, 5).levels == pytest.approx((0.0, 0.25, 0.5, 0.75, 1.0))
    pair = pair_game(game, 2, 0, s, [0.1, 0.7])
    assert pair.players == (2, 0)
    assert pair.levels == (0.1, 0.7)
    assert pair.row_payoffs.shape == (2, 2)
    # the row player is now player 2, whose utility does not depend on player 0
    np.testing.assert_allclose(pair.row_payoffs[:, 0], pair.row_payoffs[:, 1])


def test_pair_game_objects() -> None:
    game, pair = _redundant_pair()
    assert isinstance(pair.nashpy_game, nashpy.Game)
    np.testing.assert_array_equal(pair.nashpy_game.payoff_matrices[0], pair.row_payoffs)
    np.testing.assert_array_equal(pair.nashpy_game.payoff_matrices[1], pair.col_payoffs)
    np.testing.assert_array_equal(pair.profile(1, 0), [1.0, 0.0, 0.25])
    with pytest.raises(ValueError, match="b must be a level index"):
        pair.profile(0, 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        pair.levels = (0.0,)  # type: ignore[misc]
    with pytest.raises(ValueError, match="read-only"):
        pair.row_payoffs[0, 0] = 5.0
    assert json.loads(json.dumps(pair.to_dict()))["players"] == [0, 1]
    found = solve_pair(pair)
    assert all(isinstance(e, FiniteEquilibrium) for e in found)
    record = json.loads(json.dumps(found[0].to_dict()))
    assert set(record) == {"row_strategy", "col_strategy", "is_pure", "gap",
                           "expected_participation", "profile"}


def test_base_profile_is_a_copy() -> None:
    game, _ = _redundant_pair()
    s = np.array([1.0, 1.0, 0.25])
    pair = pair_game(game, 0, 1, s)
    s[2] = 0.9
    assert pair.base_profile[2] == 0.25


# ------------------------------------------------------------------------- degenerate games
@pytest.mark.parametrize("method", METHODS)
def test_all_equal_payoffs_warn_degenerate(method: str) -> None:
    A = np.full((2, 2), 3.0)
    with pytest.warns(DegenerateGameWarning, match="some equilibria may be missing"):
        found = bimatrix_equilibria(A, A, method)
    for x, y in found:
        assert bimatrix_gap(A, A, x, y) == 0.0


def test_zero_game_crash_of_vertex_enumeration_becomes_a_warning() -> None:
    zero = np.zeros((2, 2))
    with pytest.warns(DegenerateGameWarning, match="vertex_enumeration failed"):
        assert bimatrix_equilibria(zero, zero, "vertex_enumeration") == ()


def test_failed_verification_is_dropped_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    _, pair = _redundant_pair()

    def bogus(A: np.ndarray, B: np.ndarray, budget: object):  # not an equilibrium: both keep
        yield np.array([0.0, 1.0]), np.array([0.0, 1.0])
        yield np.array([1.0, 0.0]), np.array([0.0, 1.0])  # a real one

    monkeypatch.setattr(finite, "_support_enumeration", bogus)
    with pytest.warns(DegenerateGameWarning, match="dropped 1 strategy pair"):
        found = solve_pair(pair, "support_enumeration")
    assert len(found) == 1
    np.testing.assert_array_equal(found[0].profile, [0.0, 1.0, 0.25])


# ------------------------------------------------------------------------- bad input
def test_unknown_method_names_the_valid_ones() -> None:
    _, pair = _redundant_pair()
    with pytest.raises(UnknownMethodError, match="lemke_howson"):
        solve_pair(pair, "simplex")


@pytest.mark.parametrize(("i", "j", "grid", "match"), [
    (1, 1, "keep_drop", "i and j must be two different players"),
    (3, 0, "keep_drop", "i must be a player index in"),
    (0, -1, "keep_drop", "j must be a player index in"),
    (0.0, 1, "keep_drop", "i must be an int"),
    (0, 1, 1, "grid as an int is the number of levels and must be >= 2"),
    (0, 1, True, "grid must be"),
    (0, 1, "keep", "grid must be 'keep_drop'"),
    (0, 1, [0.5, 0.2], "grid levels must be strictly increasing"),
    (0, 1, [-0.1, 0.5], "grid levels must lie inside the box"),
    (0, 1, [0.5], "grid as a sequence must hold at least 2 levels"),
])
def test_bad_arguments_are_named(i: object, j: object, grid: object, match: str) -> None:
    game, _ = _redundant_pair()
    with pytest.raises(ValueError, match=match):
        pair_game(game, i, j, [1.0, 1.0, 0.25], grid)  # type: ignore[arg-type]


def test_profile_outside_the_box_is_named() -> None:
    game, _ = _redundant_pair()
    with pytest.raises(InvalidProfileError, match="s must lie in the box"):
        pair_game(game, 0, 1, [1.0, 1.0, 2.0])


def test_tol_is_checked() -> None:
    _, pair = _redundant_pair()
    with pytest.raises(ValueError, match="tol must be a finite number >= 0"):
        solve_pair(pair, tol=float("nan"))
