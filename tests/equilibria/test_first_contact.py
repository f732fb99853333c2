"""Issue 9 in equilibria: tiny and empty competitions, budgets, capped finite solvers."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from hypothesis import given, settings
from hypothesis import strategies as st

from equilibria import CallableGame, LowRank, ParticipationGame, analyze_stability, is_monotone
from equilibria import stability as stability_module
from equilibria.errors import IncompleteSearchWarning, SolverStoppedWarning
from equilibria.finite import (
    bimatrix_equilibria,
    bimatrix_gap,
    bimatrix_solution,
    pair_game,
    solve_pair,
)
from equilibria.solvers import NUMERIC_FICTITIOUS_PLAY_SECONDS, solve
from equilibria.solvers.result import STOP_REASONS

SETTINGS = settings(max_examples=20, deadline=None, derandomize=True)


# ------------------------------------------------------------------ item 4: no ArpackError
def _competition(kind: str, n: int, form: str, value: float):
    """No competition, an all-zero one, or a single off-diagonal entry, in one of the forms."""
    R = np.zeros((n, n))
    if kind == "single" and n >= 2:
        R[0, n - 1] = value
    if form == "sparse":
        return sp.csr_matrix(R)
    if form == "lowrank":
        factors = np.zeros((n, 1))
        return LowRank(factors, 1.0)
    return None if kind == "none" else R


@SETTINGS
@given(n=st.integers(1, 2) | st.integers(3, 8), kind=st.sampled_from(["none", "zero", "single"]),
       form=st.sampled_from(["dense", "sparse", "lowrank"]), value=st.floats(-2.0, 2.0),
       arpack=st.booleans(), seed=st.integers(0, 2**16))
def test_games_with_an_empty_or_one_entry_competition_solve_and_classify(
        n, kind, form, value, arpack, seed):
    rng = np.random.default_rng(seed)
    game = ParticipationGame(rng.uniform(-0.5, 1.5, n), rng.uniform(0.1, 1.0, n), 0.0,
                             _competition(kind, n, form, value))
    with pytest.MonkeyPatch.context() as patch:
        # arpack=True takes the large-game path (ARPACK) on these tiny operators, where
        # eigsh with k=1 cannot run (k must be < n) and a zero operator has a zero start
        patch.setattr(stability_module, "FULL_SPECTRUM_LIMIT", 0 if arpack else 2000)
        result = solve(game, "newton", tol=1e-12)
        assert result.converged and result.stop_reason == "converged"
        report = analyze_stability(game, result.profile)
        monotone = is_monotone(game)
    assert report.is_monotone == monotone
    dense = game.jacobian()
    assert monotone == bool(np.linalg.eigvalsh(-(dense + dense.T) / 2).min() > 0)
    assert report.br_spectral_radius == pytest.approx(0.0, abs=1e-12), \
        "a single entry (or none) is nilpotent: every eigenvalue of diag(1/2q) R is 0"
    assert report.classification == "stable", "J_FF is triangular with -2q < 0 on its diagonal"
    json.dumps(report.to_dict())


@pytest.mark.parametrize("which", ["largest_real", "smallest_real", "largest_magnitude"])
@pytest.mark.parametrize("symmetric", [True, False])
def test_extreme_eigenvalue_matches_dense_on_small_and_zero_operators(monkeypatch, which,
                                                                      symmetric):
    monkeypatch.setattr(stability_module, "FULL_SPECTRUM_LIMIT", 0)
    rng = np.random.default_rng(3)
    for n in (1, 2, 3, 40):
        for matrix in (np.zeros((n, n)), rng.standard_normal((n, n))):
            if symmetric:
                matrix = matrix + matrix.T
            values = np.linalg.eigvals(matrix)
            pick = {"largest_real": np.argmax(values.real), "smallest_real":
                    np.argmin(values.real), "largest_magnitude": np.argmax(np.abs(values))}
            expected = values[pick[which]]
            got = stability_module.extreme_eigenvalue(spla.aslinearoperator(matrix), which,
                                                      symmetric=symmetric)
            if which == "largest_magnitude":
                assert abs(got) == pytest.approx(abs(expected), rel=1e-6, abs=1e-9)
            else:
                assert got.real == pytest.approx(expected.real, rel=1e-6, abs=1e-9)


def test_a_large_game_without_competition_entries_is_classified(monkeypatch):
    n = 30
    monkeypatch.setattr(stability_module, "FULL_SPECTRUM_LIMIT", 5)
    game = ParticipationGame(np.linspace(0.1, 1.0, n), 0.5, 0.0, sp.csr_matrix((n, n)))
    report = analyze_stability(game, solve(game, "newton").profile)
    assert report.br_spectral_radius == 0.0 and report.is_monotone
    assert report.classification == "stable"


# ------------------------------------------------------------------ item 10: budgets
def _slow_callable_game(n: int = 30) -> CallableGame:
    coupling = 0.3 * (np.ones((n, n)) - np.eye(n)) / n
    return CallableGame(lambda s: s * (1.0 - 0.5 * s - coupling @ s), n)


def test_fictitious_play_on_a_callable_game_stops_by_default_and_says_so(monkeypatch):
    import equilibria.solvers.dispatch as solvers  # where solve reads its default budget

    monkeypatch.setattr(solvers, "NUMERIC_FICTITIOUS_PLAY_SECONDS", 0.5)
    result = solve(_slow_callable_game(), "fictitious_play", tol=1e-14)
    assert not result.converged and result.stop_reason == "max_seconds"
    assert "max_seconds=0.5" in result.message and "default budget" in result.message
    assert NUMERIC_FICTITIOUS_PLAY_SECONDS <= 30, "the default ends in seconds"


def test_max_seconds_none_means_no_budget_and_max_iter_is_reported():
    result = solve(_slow_callable_game(4), "fictitious_play", tol=1e-14, max_iter=3,
                   max_seconds=None)
    assert result.iterations == 3 and result.stop_reason == "max_iter"
    assert set(STOP_REASONS) >= {"converged", "max_iter", "max_seconds", "non_finite"}


def test_the_automatic_max_seconds_is_solves_default_and_keeps_its_old_name():
    import inspect

    from equilibria.solvers import AUTO_MAX_SECONDS, DEFAULT_BUDGET

    assert inspect.signature(solve).parameters["max_seconds"].default == AUTO_MAX_SECONDS
    assert DEFAULT_BUDGET == AUTO_MAX_SECONDS == "default"


@pytest.mark.parametrize("method", ["best_response", "fictitious_play", "projected_gradient",
                                    "extragradient", "newton"])
def test_every_solver_honours_a_tiny_time_budget(method):
    rng = np.random.default_rng(0)
    n = 200
    upper = np.triu(rng.uniform(0, 2.0 / n, (n, n)), 1)
    game = ParticipationGame(rng.uniform(0, 1, n), 0.01, 0.0, upper + upper.T)
    result = solve(game, method, tol=0.0, max_iter=10**9, max_seconds=1e-9)
    assert result.stop_reason == "max_seconds" and not result.converged
    assert "max_seconds" in result.message


def test_newton_at_beta_zero_handles_singular_sparse_blocks():
    rng = np.random.default_rng(0)
    converged = 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scipy's MatrixRankWarning would raise here
        for t in range(30):
            factors = rng.normal(size=(6, 2))  # rank-2 Gram matrix: singular free blocks
            gram = factors @ factors.T
            np.fill_diagonal(gram, 0.0)
            game = ParticipationGame(rng.normal(size=6) * 0.5, 0.0, 0.0, sp.csr_matrix(gram))
            result = solve(game, "newton", s0="random", rng=t, max_iter=200)
            converged += result.converged
            assert np.all(np.isfinite(result.profile))
    assert converged > 0


# ------------------------------------------------------------------ item 12: finite games
#: A 4 x 4 game (payoffs on a 0.1 grid) on which nashpy 0.0.43's Lemke-Howson from initial
#: label 3 pivots forever (a pivot near 1e-300; found by searching random games with a cap).
CYCLING_A = np.array([[0.2, 0.5, 0.4, 0.6], [0.4, 0.4, 0.4, 0.0],
                      [0.9, 0.1, 0.8, 0.9], [0.1, 0.0, 0.6, 0.4]])
CYCLING_B = np.array([[0.7, 0.4, 0.1, 0.0], [0.6, 0.7, 0.4, 0.9],
                      [0.7, 0.3, 0.7, 0.2], [0.0, 0.5, 0.5, 0.1]])


def test_lemke_howson_that_cycles_stops_within_its_pivot_cap_and_says_so():
    solution = bimatrix_solution(CYCLING_A, CYCLING_B, "lemke_howson", max_pivots=300)
    assert not solution.finished and not solution.complete
    assert "label 3" in solution.message and "max_pivots=300" in solution.message
    assert solution.steps <= 300 * 8
    for x, y in solution.equilibria:
        assert bimatrix_gap(CYCLING_A, CYCLING_B, x, y) <= 1e-9
    with pytest.warns(SolverStoppedWarning, match="max_pivots"):
        bimatrix_equilibria(CYCLING_A, CYCLING_B, "lemke_howson", max_pivots=300)


def test_a_time_budget_stops_every_finite_method():
    rng = np.random.default_rng(1)
    A, B = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
    for method in ("support_enumeration", "vertex_enumeration", "lemke_howson"):
        solution = bimatrix_solution(A, B, method, max_seconds=1e-9)
        assert not solution.finished and "max_seconds" in solution.message
        assert solution.steps <= 2


def test_support_enumeration_incompleteness_is_reported(monkeypatch):
    """Simulate nashpy's rounding rejection (it drops a support whose solved probabilities
    hold -1e-17 outside it) by dropping the first equilibrium support enumeration finds."""
    from equilibria import finite

    rng = np.random.default_rng(7)
    A, B = rng.normal(size=(3, 3)), rng.normal(size=(3, 3))
    vertex = bimatrix_solution(A, B, "vertex_enumeration")
    assert vertex.complete and len(vertex.equilibria) % 2 == 1
    honest = finite._support_enumeration
    monkeypatch.setattr(finite, "_support_enumeration",
                        lambda A, B, budget: list(honest(A, B, budget))[1:])
    support = bimatrix_solution(A, B, "support_enumeration")
    assert support.finished and not support.complete
    assert len(support.equilibria) == len(vertex.equilibria) - 1
    assert f"missed 1 of the {len(vertex.equilibria)}" in support.message
    with pytest.warns(IncompleteSearchWarning, match="use vertex_enumeration"):
        bimatrix_equilibria(A, B, "support_enumeration")


@settings(max_examples=15, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), m=st.integers(2, 5), n=st.integers(2, 5))
def test_support_enumeration_says_complete_exactly_when_it_found_every_equilibrium(seed, m, n):
    """nashpy's misses depend on LAPACK's rounding (about one random game in five here), so
    the property is checked both ways on random games."""
    rng = np.random.default_rng(seed)
    A, B = rng.normal(size=(m, n)), rng.normal(size=(m, n))
    vertex = bimatrix_solution(A, B, "vertex_enumeration")
    support = bimatrix_solution(A, B, "support_enumeration")
    missed = len(vertex.equilibria) - len(support.equilibria)
    if vertex.complete:
        assert support.complete == (missed == 0)
    if missed:
        assert not support.complete and f"missed {missed} of the" in support.message


@settings(max_examples=10, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), m=st.integers(2, 4), n=st.integers(2, 4))
def test_complete_results_agree_and_incomplete_ones_are_subsets(seed, m, n):
    rng = np.random.default_rng(seed)
    A, B = rng.normal(size=(m, n)), rng.normal(size=(m, n))
    vertex = bimatrix_solution(A, B, "vertex_enumeration")
    for method in ("support_enumeration", "lemke_howson"):
        other = bimatrix_solution(A, B, method)
        assert other.finished
        for x, y in other.equilibria:
            assert any(np.allclose(x, u, atol=1e-7) and np.allclose(y, v, atol=1e-7)
                       for u, v in vertex.equilibria)
        if other.complete:
            assert len(other.equilibria) == len(vertex.equilibria)
    assert not bimatrix_solution(A, B, "lemke_howson").complete


def test_solve_pair_passes_the_budgets_on():
    game = ParticipationGame([1.0, 1.0, 0.5], 0.1, competition=0.8 * (1 - np.eye(3)))
    pair = pair_game(game, 0, 1, [1.0, 1.0, 0.0], grid=4)
    with pytest.warns(SolverStoppedWarning, match="max_seconds"):
        solve_pair(pair, "vertex_enumeration", max_seconds=1e-9)
    assert solve_pair(pair)  # the default budget finishes on a small game
