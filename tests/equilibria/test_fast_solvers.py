"""Compiled Gauss-Seidel sweeps, the dual Newton step and batched numeric best responses.

Each fast path is checked against the slow reference it replaces: the Python sweep, the
active-set Newton step, scipy's scalar bounded search and closed-form best responses.
"""

from __future__ import annotations

import subprocess
import sys
from unittest import mock

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize_scalar

from equilibria import CallableGame, LowRank, ParticipationGame, nash_gap, solve
from equilibria.bounded_search import minimize_bounded
from equilibria.errors import InvalidGameError
from equilibria.solvers import best_response
from equilibria.solvers._loop import iterate
from equilibria.solvers.best_response import gauss_seidel_step
from equilibria.solvers.newton import (
    DualNewton,
    _updated_core,
    active_set_step,
    dual_applies,
    solve_free_block,
)
from tests.equilibria.games import low_rank_game

SETTINGS = settings(max_examples=15, deadline=None, derandomize=True)
#: Accuracy of the bounded Brent search on [0, 1] with xtol = 1e-10: sqrt(eps) |x| + xtol / 3.
SEARCH_ACCURACY = 3e-8


# ------------------------------------------------------------------ Gauss-Seidel sweeps
def reference_sweep(game: ParticipationGame, s: np.ndarray, damping: float,
                    order: np.ndarray) -> np.ndarray:
    """The Python sweep the compiled kernels replace: one player at a time, R s recomputed."""
    s = s.copy()
    R = game.competition
    for i in order:
        if isinstance(R, LowRank):
            r_i = R.scale * (R.factors[i] @ (R.factors.T @ s) - R.factors[i] @ R.factors[i] * s[i])
        else:
            r_i = float(np.asarray(R[i] @ s).ravel()[0]) if sp.issparse(R) else float(R[i] @ s)
        s[i] += damping * (game.best_response_to_player(int(i), r_i) - s[i])
    return s


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 30), d=st.integers(1, 6),
       scale=st.sampled_from([0.05, 0.2, 1.0]), damping=st.sampled_from([1.0, 0.7]),
       random_order=st.booleans())
def test_compiled_sweeps_equal_the_python_sweep(seed, n, d, scale, damping, random_order):
    rng = np.random.default_rng(seed)
    s = rng.uniform(0.0, 1.0, n)
    # the budget of moves in Python: none (compiled sweeps only), one sweep (the switch from
    # Python to compiled sweeps inside a solve), and all of them (Python sweeps only)
    for python_moves in (0, n, 3 * n):
        for game in low_rank_game(seed, n, d, scale):  # LowRank, dense and CSR forms of a game
            order = "random" if random_order else "cyclic"
            with mock.patch.object(best_response, "PYTHON_SWEEP_MOVES", python_moves):
                step = gauss_seidel_step(game, damping, order, np.random.default_rng(seed))
                orders = np.random.default_rng(seed)  # the same draws as the step's generator
                got = reference = s
                for k in range(3):  # several sweeps: the LowRank one carries F^T s between them
                    got = step(got, k)
                    expected_order = orders.permutation(n) if random_order else np.arange(n)
                    reference = reference_sweep(game, reference, damping, expected_order)
            np.testing.assert_allclose(got, reference, rtol=0, atol=1e-12)


def test_python_and_compiled_gauss_seidel_solves_agree():
    for game in low_rank_game(11, 40, 3, 0.2):
        results = []
        for python_moves in (0, 10**9):
            with mock.patch.object(best_response, "PYTHON_SWEEP_MOVES", python_moves):
                results.append(solve(game, "best_response", tol=1e-12))
        assert all(r.converged for r in results)
        assert results[0].iterations == results[1].iterations
        np.testing.assert_allclose(results[0].profile, results[1].profile, rtol=0, atol=1e-12)
        np.testing.assert_allclose(results[0].history, results[1].history, rtol=1e-9,
                                   atol=1e-13)


def test_a_sweep_without_competition_is_the_best_response():
    game = ParticipationGame([0.5, 2.0, -1.0], 1.0, 0.0, None)
    step = gauss_seidel_step(game)
    np.testing.assert_allclose(step(np.ones(3), 0), [0.25, 1.0, 0.0])


def test_a_sweep_with_zero_quadratic_costs_goes_to_the_bounds():
    game = ParticipationGame([1.0, 0.2], 0.0, 0.0, sp.csr_matrix([[0.0, 0.5], [0.5, 0.0]]))
    got = gauss_seidel_step(game)(np.ones(2), 0)
    np.testing.assert_array_equal(got, reference_sweep(game, np.ones(2), 1.0, np.arange(2)))


# ------------------------------------------------------------------ Newton in the dual
@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 40), d=st.integers(1, 8),
       scale=st.sampled_from([0.05, 0.5, 2.0]))
def test_dual_newton_certifies_and_agrees_with_the_dense_solve(seed, n, d, scale):
    low, dense, _ = low_rank_game(seed, n, d, scale)
    assert dual_applies(low) and not dual_applies(dense)
    result = solve(low, "newton", tol=1e-13)
    reference = solve(dense, "newton", tol=1e-13)
    assert result.converged and reference.converged
    np.testing.assert_allclose(result.profile, reference.profile, atol=1e-8)
    assert nash_gap(dense, result.profile) <= 1e-12


@settings(max_examples=8, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 60), d=st.integers(1, 6),
       scale=st.sampled_from([0.05, 0.5, 2.0]), lower=st.sampled_from([0.0, 0.1]))
def test_compiled_and_numpy_dual_newton_agree_and_share_exact_products(seed, n, d, scale, lower):
    low, _, _ = low_rank_game(seed, n, d, scale)
    low = ParticipationGame(low.benefit, low.quadratic_cost, low.linear_cost, low.competition,
                            bounds=(lower, 1.0))
    runs = []
    for compiled in (False, True):
        step = DualNewton(low, compiled=compiled)
        s, gaps = np.random.default_rng(seed).uniform(lower, 1.0, n), []
        for k in range(6):
            gaps.append(step.gap(s))  # the loop's order: certify, then step
            assert gaps[-1] == pytest.approx(nash_gap(low, s), rel=1e-9, abs=1e-13)
            s = step(s, k)
            # F^T s carried to the next step (corrected after a line-search step t != 1)
            np.testing.assert_allclose(step._state.acc, low.competition.factors.T @ s,
                                       rtol=0, atol=1e-12 * max(1.0, np.abs(s).sum()))
        runs.append((s, gaps))
    np.testing.assert_allclose(runs[0][0], runs[1][0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(runs[0][1], runs[1][1], rtol=1e-9, atol=1e-13)


def test_the_loop_certifies_with_the_steps_own_gap_and_restarts_from_any_profile():
    low, dense, _ = low_rank_game(7, 80, 5, 0.5)
    step = DualNewton(low, compiled=False)
    first = iterate(low, step, np.ones(80), method="newton", tol=1e-13, max_iter=50,
                    record=True)
    assert first.converged
    for s, gap in zip(first.trajectory, first.history, strict=True):
        assert gap == pytest.approx(nash_gap(low, s), rel=1e-9, abs=1e-14)
    # the same step object restarted from a profile it never returned
    again = iterate(low, step, np.full(80, 0.3), method="newton", tol=1e-13, max_iter=50,
                    record=False)
    assert again.converged
    np.testing.assert_allclose(again.profile, solve(dense, "newton", tol=1e-13).profile,
                               atol=1e-9)


@settings(max_examples=10, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 60), d=st.integers(1, 6),
       scale=st.sampled_from([0.05, 0.5, 2.0]), lower=st.sampled_from([0.0, 0.1]))
def test_the_gain_bound_of_a_dual_iterate_bounds_its_nash_gap(seed, n, d, scale, lower):
    # gain_i <= scale^2 ||F_i||^2 ||y - F^T s(y)||^2 / (4 q_i) at s = s(y), for any dual y
    low, _, _ = low_rank_game(seed, n, d, scale)
    low = ParticipationGame(low.benefit, low.quadratic_cost, low.linear_cost, low.competition,
                            bounds=(lower, 1.0))
    step = DualNewton(low, compiled=False)
    factors = low.competition.factors
    y = np.random.default_rng(seed).normal(0.0, 1.0, d)
    s = step._primal(factors @ y)
    residual = y - factors.T @ s
    bound = (scale ** 2 * np.max(np.einsum("ij,ij->i", factors, factors)
                                 / low.quadratic_cost) / 4.0 * float(residual @ residual))
    gap = nash_gap(low, s) * low.payoff_scale()
    assert gap <= bound * (1.0 + 1e-9) + 1e-13
    state = step._dual_start(s)[1]  # y' = F^T s, with s(y') and its F^T s(y')
    relative = nash_gap(low, state.s)
    assert not step._surely_within(state, relative * (1.0 - 1e-6) - 1e-15)


def test_a_compiled_solve_ends_on_the_gap_only_check_with_the_same_profile():
    low, dense, _ = low_rank_game(3, 120, 5, 0.5)
    runs = {}
    for compiled in (False, True):
        step = DualNewton(low, compiled=compiled)
        runs[compiled] = iterate(low, step, np.ones(120), method="newton", tol=1e-10,
                                 max_iter=50, record=True)
        assert runs[compiled].converged
        for s, gap in zip(runs[compiled].trajectory, runs[compiled].history, strict=True):
            assert gap == pytest.approx(nash_gap(low, s), rel=1e-9, abs=1e-14)
        # compiled: the last check measured the gap alone, no direction for a step never taken
        assert (step._state.pending is None) == compiled
        assert (step._state.gain is not None) == compiled
    assert runs[True].iterations == runs[False].iterations
    np.testing.assert_allclose(runs[True].profile, runs[False].profile, rtol=0, atol=1e-12)


def test_a_line_search_step_sums_f_t_s_from_the_rows_that_moved():
    from equilibria.solvers import _numba

    with mock.patch.object(_numba, "moved_transpose_product",
                           wraps=_numba.moved_transpose_product) as moved:
        for seed in range(12):
            n = 30 + seed
            low, _, _ = low_rank_game(seed, n, 4, 2.0)
            step = DualNewton(low, compiled=True)
            s = np.random.default_rng(seed).uniform(0.0, 1.0, n)
            for k in range(6):
                step.gap(s)
                s = step(s, k)
                np.testing.assert_allclose(step._state.acc, low.competition.factors.T @ s,
                                           rtol=0, atol=1e-12 * max(1.0, np.abs(s).sum()))
    assert moved.called  # the path these games take: many players changed bound


def test_the_parallel_dual_kernels_do_not_depend_on_the_thread_count():
    import numba

    from equilibria.solvers import _numba

    rng = np.random.default_rng(5)
    n, d = 3000, 7  # several blocks of _PASS_BLOCK rows
    factors = rng.normal(0.0, 0.3, (n, d))
    a, q = rng.uniform(-1, 2, n), rng.uniform(0.5, 1, n)
    row_sq = np.einsum("ij,ij->i", factors, factors)
    inverse = 1.0 / (2.0 * q - 0.5 * row_sq)
    x, dx, s = rng.normal(size=d), rng.normal(size=d), rng.uniform(0, 1, n)
    z = factors @ x
    runs = []
    for threads in (1, numba.config.NUMBA_NUM_THREADS):
        numba.set_num_threads(threads)
        try:
            out = [np.empty(n), np.empty(n), np.empty(n, dtype=bool), np.empty(d), np.empty(d)]
            scalars = _numba.dual_pass(factors, x, s, dx, z, a, q, inverse, row_sq, 0.5, 0.0,
                                       1.0, True, s, factors.T @ s, *out)
            moved = np.empty(d)
            _numba.moved_transpose_product(factors, out[1], s, factors.T @ s, moved)
            gain = _numba.dual_gain(factors, x, s, a, q, row_sq, 0.5, 0.0, 1.0)
        finally:
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        runs.append((scalars, out, moved, gain))
    (first, out1, moved1, gain1), (second, out2, moved2, gain2) = runs
    assert first == second and gain1 == gain2
    assert gain1 == pytest.approx(first[0], rel=1e-12)  # the gain alone, as in the full pass
    for u, v in zip(out1, out2, strict=True):
        np.testing.assert_array_equal(u, v)
    np.testing.assert_array_equal(moved1, moved2)
    np.testing.assert_allclose(moved1, factors.T @ out1[1], rtol=0, atol=1e-12 * n)


def test_small_games_never_import_numba():
    code = ("import sys; import numpy as np; from equilibria import LowRank, ParticipationGame, "
            "solve; from equilibria.certify import certify; rng = np.random.default_rng(0); "
            "f = rng.standard_normal((300, 8)); "
            "g = ParticipationGame(rng.uniform(-1, 2, 300), 1.0 + np.einsum('ij,ij->i', f, f), "
            "0.1, LowRank(f, 0.5)); r = solve(g, 'newton'); assert r.converged; "
            "assert solve(g, 'best_response').converged; "
            "certify(g, r.profile); print('numba' in sys.modules)")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                               check=True)
    assert completed.stdout.strip() == "False"


def test_dual_newton_from_a_random_start_on_a_strongly_competitive_game():
    rng = np.random.default_rng(4)
    n, d = 400, 6
    factors = rng.normal(0.0, 0.3, (n, d))
    quadratic = rng.uniform(0.5, 1, n) + 1.5 * np.einsum("ij,ij->i", factors, factors)
    game = ParticipationGame(rng.uniform(-1, 2, n), quadratic, 0.1, LowRank(factors, 3.0))
    assert dual_applies(game)
    result = solve(game, "newton", s0="random", rng=1, tol=1e-12)
    assert result.converged and result.iterations <= 15
    assert nash_gap(game, result.profile) <= 1e-12


def test_dual_newton_on_a_box_that_does_not_start_at_zero():
    rng = np.random.default_rng(0)
    n = 50
    factors = rng.standard_normal((n, 4))
    quadratic = rng.uniform(0.5, 1, n) + 0.5 * np.einsum("ij,ij->i", factors, factors)
    benefit = rng.uniform(-1, 3, n)
    low = ParticipationGame(benefit, quadratic, 0.1, LowRank(factors, 0.5), bounds=(0.1, 2.0))
    dense = ParticipationGame(benefit, quadratic, 0.1, 0.5 * factors @ factors.T,
                              bounds=(0.1, 2.0))
    result = solve(low, "newton", s0="random", rng=3, tol=1e-13)
    assert result.converged
    np.testing.assert_allclose(result.profile, solve(dense, "newton", tol=1e-13).profile,
                               atol=1e-10)


def test_games_outside_the_dual_take_the_active_set_steps():
    rng = np.random.default_rng(2)
    factors = rng.standard_normal((20, 3))
    negative = ParticipationGame(rng.uniform(0, 2, 20), 1.0, 0.0, LowRank(factors, -0.05))
    weak_cost = ParticipationGame(rng.uniform(0, 2, 20), 0.01, 0.0, LowRank(factors, 0.5))
    for game in (negative, weak_cost):
        assert not dual_applies(game)
        assert solve(game, "newton", tol=1e-12).converged


def test_the_active_set_step_still_certifies_a_low_rank_game():
    low, dense, _ = low_rank_game(5, 30, 4, 0.5)
    s = np.ones(30)
    step = active_set_step(low)
    for k in range(50):
        if nash_gap(low, s) <= 1e-12:
            break
        s = step(s, k)
    np.testing.assert_allclose(s, solve(dense, "newton", tol=1e-13).profile, atol=1e-8)


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1))
def test_the_updated_core_equals_a_fresh_one(seed):
    rng = np.random.default_rng(seed)
    n, d = 60, 5
    factors = rng.standard_normal((n, d))
    inverse = rng.uniform(0.5, 2.0, n)
    core = np.zeros((d, d))
    current = np.zeros(n, dtype=bool)
    for _ in range(4):
        free = rng.uniform(size=n) < rng.uniform(0.05, 0.95)
        core = _updated_core(factors, inverse, core, current, free)
        current = free
        fresh = factors[free].T @ (factors[free] * inverse[free, None])
        np.testing.assert_allclose(core, fresh, rtol=0, atol=1e-12)


# ------------------------------------------------------------------ batched scalar search
@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), size=st.integers(1, 25))
def test_the_batched_search_takes_scipys_iterates_for_every_problem(seed, size):
    rng = np.random.default_rng(seed)
    centre, width, power = rng.uniform(-1, 2, size), rng.uniform(0.1, 3, size), \
        rng.integers(1, 4, size).astype(float)

    def f(x: np.ndarray, index=slice(None)) -> np.ndarray:
        return width[index] * np.abs(x - centre[index]) ** (power[index] + 0.5) \
            + 0.1 * np.sin(5 * x)

    x, values = minimize_bounded(f, 0.0, 1.0, size, xatol=1e-10)
    for m in range(size):
        scalar = minimize_scalar(lambda t, m=m: float(f(np.array([t]), slice(m, m + 1))[0]),
                                 bounds=(0.0, 1.0), method="bounded", options={"xatol": 1e-10})
        assert x[m] == scalar.x and values[m] == scalar.fun


# ------------------------------------------------------------------ batched best responses
def quadratic_utility(game: ParticipationGame):
    """The game's utilities for one profile (N,) or a stack (M, N), by broadcasting."""
    n = game.n_players
    R = np.zeros((n, n)) if game.competition is None else np.asarray(game.competition)
    a, q = game.net_benefit, game.quadratic_cost
    return lambda s: s * (a - q * s - s @ R.T)


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 10), vectorized=st.booleans())
def test_batched_best_responses_equal_the_per_player_ones_and_the_closed_form(seed, n,
                                                                              vectorized):
    rng = np.random.default_rng(seed)
    R = np.triu(rng.uniform(-0.5, 1.0, (n, n)), 1)
    game = ParticipationGame(rng.uniform(-1, 3, n), rng.uniform(0.2, 2.0, n),
                             rng.uniform(0, 0.5, n), R + R.T)
    wrapped = CallableGame(quadratic_utility(game), n, vectorized=vectorized)
    s = rng.uniform(0, 1, n)
    batched = wrapped.best_response(s)
    one_at_a_time = np.array([wrapped.player_best_response(i, s) for i in range(n)])
    # Both run scipy's bounded Brent search (accurate to about sqrt(eps) |x| + xtol / 3);
    # with one utility call per player they make the very same calls, while stacked
    # profiles round the utility differently in the last bit, which may move the search.
    np.testing.assert_allclose(batched, one_at_a_time, rtol=0,
                               atol=SEARCH_ACCURACY if vectorized else 1e-15)
    np.testing.assert_allclose(batched, game.best_response(s), rtol=0, atol=SEARCH_ACCURACY)
    np.testing.assert_allclose(wrapped.deviation_gains(s), game.deviation_gains(s), atol=1e-12)
    np.testing.assert_allclose(wrapped.pseudo_gradient(s), game.pseudo_gradient(s), atol=1e-6)


def tullock(n: int, k: float, vectorized: bool) -> CallableGame:
    """Tullock contest U_i = s_i / sum_j s_j - k s_i on [1e-3, 1] (the issue's test game)."""
    return CallableGame(lambda s: s / s.sum(axis=-1, keepdims=True) - k * s, n,
                        bounds=(1e-3, 1.0), vectorized=vectorized)


@pytest.mark.parametrize(("n", "k"), [(2, 1.0), (4, 1.0), (8, 0.5)])
def test_tullock_best_responses_batched_equal_per_player_and_the_closed_form(n, k):
    s = np.random.default_rng(n).uniform(1e-3, 1.0, n)
    others = s.sum() - s
    closed_form = np.clip(np.sqrt(others / k) - others, 1e-3, 1.0)
    for vectorized in (True, False):
        game = tullock(n, k, vectorized)
        batched = game.best_response(s)
        np.testing.assert_allclose(batched, [game.player_best_response(i, s) for i in range(n)],
                                   rtol=0, atol=SEARCH_ACCURACY if vectorized else 1e-15)
        np.testing.assert_allclose(batched, closed_form, atol=SEARCH_ACCURACY)


def test_tullock_best_response_dynamics_reach_the_symmetric_equilibrium():
    n, k = 4, 1.0
    result = solve(tullock(n, k, True), "best_response", scheme="jacobi", damping=0.5,
                   s0=np.full(n, 0.5), tol=1e-10)
    assert result.converged
    np.testing.assert_allclose(result.profile, (n - 1) / (n * n * k), atol=1e-5)


def test_fictitious_play_is_the_same_with_and_without_vectorized_utilities():
    n = 12
    coupling = 0.3 * (np.ones((n, n)) - np.eye(n)) / n
    runs = [solve(CallableGame(lambda s: s * (1.0 - 0.5 * s - s @ coupling.T), n,
                               vectorized=vectorized), "fictitious_play", tol=0.0, max_iter=40,
                  max_seconds=None)
            for vectorized in (True, False)]
    np.testing.assert_allclose(runs[0].profile, runs[1].profile, rtol=0, atol=SEARCH_ACCURACY)
    np.testing.assert_allclose(runs[0].history, runs[1].history, rtol=1e-4, atol=1e-14)


def test_deviation_utilities_are_each_player_deviating_alone():
    game = CallableGame(lambda s: s * (1.0 - s - 0.5 * s[..., ::-1]), 2, vectorized=True)
    got = game.deviation_utilities([0.2, 0.9], [0.5, 0.5])
    np.testing.assert_allclose(got, [0.2 * (1 - 0.2 - 0.25), 0.9 * (1 - 0.9 - 0.25)])


def test_a_vectorized_utility_that_does_not_take_stacks_is_named():
    game = CallableGame(lambda s: s.ravel()[:3] * (1.0 - s.ravel()[:3]), 3, vectorized=True)
    with pytest.raises(InvalidGameError, match="vectorized=True"):
        game.best_response(np.full(3, 0.5))


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 30), scale=st.sampled_from([-0.4, 0.3]),
       weak=st.booleans())
def test_the_low_rank_free_block_solve_equals_the_dense_one(seed, n, scale, weak):
    rng = np.random.default_rng(seed)
    factors = rng.standard_normal((n, 3))
    row_sq = np.einsum("ij,ij->i", factors, factors)
    # weak: some 2 q_i < scale ||F_i||^2, so the Woodbury diagonal has both signs
    quadratic = rng.uniform(0.05, 0.3, n) * row_sq if weak else rng.uniform(0.5, 1.0, n) + row_sq
    low = ParticipationGame(np.ones(n), quadratic, 0.0, LowRank(factors, scale))
    dense = ParticipationGame(np.ones(n), quadratic, 0.0, scale * (factors @ factors.T))
    free = np.flatnonzero(rng.uniform(size=n) < 0.7)
    if free.size == 0:
        free = np.arange(n)
    rhs = rng.standard_normal(free.size)
    block = np.diag(2.0 * quadratic[free]) + dense.competition[np.ix_(free, free)]
    if np.linalg.cond(block) > 1e8:
        return
    expected = np.linalg.solve(block, rhs)
    np.testing.assert_allclose(solve_free_block(low, free, rhs), expected, rtol=1e-7, atol=1e-7)
