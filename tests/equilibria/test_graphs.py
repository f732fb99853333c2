"""Tests of equilibria.graphs (the interaction graph, its components) and of
equilibria.solvers.components (solving by component)."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from equilibria.competition import LowRank
from equilibria.errors import UnknownMethodError
from equilibria.game import ParticipationGame
from equilibria.gap import nash_gap
from equilibria.graphs import components, interaction_graph
from equilibria.solvers.components import solve_by_components

# players of block A, block B, and two players who compete with no one, interleaved so that
# the components are not contiguous ranges
BLOCK_A = np.array([0, 2, 5, 7, 8])
BLOCK_B = np.array([1, 3, 6, 9])
ALONE = np.array([4, 10])
N = 11


def _block_factors(rng: np.random.Generator) -> np.ndarray:
    """Factors with disjoint supports: block A uses columns 0-1, block B columns 2-3."""
    factors = np.zeros((N, 4))
    factors[BLOCK_A, 0:2] = rng.uniform(0.2, 1.0, (BLOCK_A.size, 2))
    factors[BLOCK_B, 2:4] = rng.uniform(0.2, 1.0, (BLOCK_B.size, 2))
    return factors


def _block_games(seed: int = 0) -> dict[str, ParticipationGame]:
    """One monotone block-diagonal game (unique equilibrium) in dense, sparse, LowRank form."""
    rng = np.random.default_rng(seed)
    factors = _block_factors(rng)
    low_rank = LowRank(factors, scale=0.15)
    dense = low_rank.rows(0, N)
    benefit = rng.uniform(-0.2, 1.5, N)
    quadratic = rng.uniform(0.8, 1.5, N)
    linear = rng.uniform(0.0, 0.2, N)
    return {form: ParticipationGame(benefit, quadratic, linear, competition)
            for form, competition in (("dense", dense), ("sparse", sp.csr_matrix(dense)),
                                      ("lowrank", low_rank))}


def _partition(parts: list[np.ndarray]) -> list[list[int]]:
    return [part.tolist() for part in parts]


# ------------------------------------------------------------------------- graph
@pytest.mark.parametrize("form", ["dense", "sparse", "lowrank"])
def test_block_diagonal_game_has_the_blocks_as_components(form: str) -> None:
    game = _block_games()[form]
    parts = components(game)
    assert _partition(parts) == [[0, 2, 5, 7, 8], [1, 3, 6, 9], [4], [10]]
    assert all(part.dtype == np.int64 for part in parts)
    graph = interaction_graph(game)
    assert sorted(graph.nodes) == list(range(N))
    assert graph.number_of_edges() == 5 * 4 // 2 + 4 * 3 // 2  # complete blocks
    assert nx.number_connected_components(graph) == 4


def test_two_blocks_without_isolated_players_give_exactly_two_components() -> None:
    rng = np.random.default_rng(1)
    R = np.zeros((6, 6))
    R[:3, :3] = rng.uniform(0.1, 1.0, (3, 3))
    R[3:, 3:] = rng.uniform(0.1, 1.0, (3, 3))
    game = ParticipationGame(np.ones(6), 1.0, competition=R)
    assert _partition(components(game)) == [[0, 1, 2], [3, 4, 5]]


def test_forms_give_the_same_weighted_graph() -> None:
    graphs = {form: interaction_graph(game) for form, game in _block_games().items()}
    reference = graphs["dense"]
    for graph in graphs.values():
        assert set(graph.edges) == set(reference.edges)
        for i, j in reference.edges:
            assert graph[i][j]["weight"] == pytest.approx(reference[i][j]["weight"], rel=1e-12)


def test_edges_and_weights_follow_both_directions_and_tol() -> None:
    R = np.zeros((4, 4))
    R[0, 1] = -0.5  # one direction only, negative
    R[1, 0] = 0.2
    R[2, 3] = 0.05  # only R_23: still an edge
    for competition in (R, sp.csr_matrix(R)):
        game = ParticipationGame(np.ones(4), 1.0, competition=competition)
        graph = interaction_graph(game)
        assert set(graph.edges) == {(0, 1), (2, 3)}
        assert graph[0][1]["weight"] == pytest.approx(0.5)
        assert graph[3][2]["weight"] == pytest.approx(0.05)
        strong = interaction_graph(game, tol=0.1)
        assert set(strong.edges) == {(0, 1)}
        assert sorted(strong.nodes) == [0, 1, 2, 3]
        assert _partition(components(game, tol=0.1)) == [[0, 1], [2], [3]]


def test_no_competition_means_isolated_players() -> None:
    game = ParticipationGame(np.ones(5), 1.0)
    graph = interaction_graph(game)
    assert sorted(graph.nodes) == list(range(5))
    assert graph.number_of_edges() == 0
    assert _partition(components(game)) == [[0], [1], [2], [3], [4]]


@settings(max_examples=40, deadline=None, derandomize=True)
@given(n=st.integers(1, 40), density=st.floats(0.0, 0.15), symmetric=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_networkx_and_scipy_components_agree(n: int, density: float, symmetric: bool,
                                             seed: int) -> None:
    rng = np.random.default_rng(seed)
    R = sp.random(n, n, density=density, random_state=rng, format="csr")
    R.data = rng.uniform(-1.0, 1.0, R.nnz)
    if symmetric:
        R = sp.triu(R, k=1) + sp.triu(R, k=1).T
    for competition in (R, R.toarray()):
        game = ParticipationGame(rng.uniform(0.0, 1.0, n), 1.0, competition=competition)
        by_networkx = components(game, backend="networkx")
        by_scipy = components(game, backend="scipy")
        assert _partition(by_networkx) == _partition(by_scipy)
        assert np.array_equal(np.sort(np.concatenate(by_scipy)), np.arange(n))
        assert [part[0] for part in by_scipy] == sorted(part[0] for part in by_scipy)
        assert len(by_networkx) == nx.number_connected_components(interaction_graph(game))


def test_lowrank_components_by_both_backends() -> None:
    game = _block_games()["lowrank"]
    assert _partition(components(game, backend="scipy")) == \
        _partition(components(game, backend="networkx"))


def test_large_lowrank_graph_is_refused_with_advice() -> None:
    n = 50_001
    game = ParticipationGame(np.ones(n), 1.0, competition=LowRank(np.ones((n, 1))))
    with pytest.raises(ValueError, match="factors"):
        interaction_graph(game)
    with pytest.raises(ValueError, match="LOWRANK_GRAPH_LIMIT"):
        components(game)


def test_bad_arguments_are_named() -> None:
    game = _block_games()["dense"]
    with pytest.raises(ValueError, match="tol must be a finite number >= 0"):
        interaction_graph(game, tol=-1.0)
    with pytest.raises(ValueError, match="tol must be"):
        components(ParticipationGame(np.ones(2), 1.0), tol=float("nan"))
    with pytest.raises(ValueError, match="backend must be one of"):
        components(game, backend="igraph")
    with pytest.raises(TypeError, match="game must be a ParticipationGame"):
        interaction_graph("not a game")  # type: ignore[arg-type]


# ------------------------------------------------------------------------- solving
@pytest.mark.parametrize("form", ["dense", "sparse", "lowrank"])
def test_solve_by_components_matches_the_undecomposed_solve(form: str) -> None:
    from equilibria.solvers import solve

    game = _block_games()[form]
    tol = 1e-10
    whole = solve(game, tol=tol)
    split = solve_by_components(game, tol=tol)
    assert whole.converged
    assert split.converged
    np.testing.assert_allclose(split.profile, whole.profile, atol=1e-6)
    assert split.nash_gap <= tol
    assert split.nash_gap == pytest.approx(nash_gap(game, split.profile), abs=1e-15)
    np.testing.assert_array_equal(split.history, [split.nash_gap])
    assert split.method == "best_response+components"
    assert "4 components" in split.message
    assert split.iterations >= 1
    assert split.trajectory is None


def test_all_forms_reach_the_same_equilibrium() -> None:
    profiles = [solve_by_components(game, tol=1e-10).profile
                for game in _block_games(seed=3).values()]
    for profile in profiles[1:]:
        np.testing.assert_allclose(profile, profiles[0], atol=1e-6)


@pytest.mark.parametrize("method", ["projected_gradient", "extragradient"])
def test_solve_by_components_with_other_methods(method: str) -> None:
    game = _block_games()["dense"]
    reference = solve_by_components(game, tol=1e-10).profile
    # the gap is quadratic in the distance to the equilibrium: 1e-13 puts it within ~1e-6
    result = solve_by_components(game, method, tol=1e-13, max_iter=50_000)
    assert result.converged
    assert result.method == f"{method}+components"
    np.testing.assert_allclose(result.profile, reference, atol=1e-5)


def test_solve_with_decompose_uses_components() -> None:
    from equilibria.solvers import solve

    game = _block_games()["sparse"]
    result = solve(game, decompose=True, tol=1e-10)
    assert result.method.endswith("+components")
    np.testing.assert_allclose(result.profile, solve_by_components(game, tol=1e-10).profile,
                               atol=1e-12)


def test_singletons_are_exact_best_responses() -> None:
    rng = np.random.default_rng(4)
    game = ParticipationGame(rng.uniform(-1.0, 2.0, 30), rng.uniform(0.0, 1.0, 30),
                             rng.uniform(0.0, 0.3, 30))
    result = solve_by_components(game, tol=0.0)
    np.testing.assert_array_equal(result.profile, game.best_response(np.ones(30)))
    assert result.nash_gap == 0.0
    assert result.converged
    assert result.iterations == 1
    assert "30 singletons" in result.message


def test_record_runs_component_trajectories_side_by_side() -> None:
    game = _block_games()["dense"]
    lo, hi = game.bounds
    s0 = np.full(N, 0.5 * (lo + hi))
    result = solve_by_components(game, s0=s0, tol=1e-10, record=True)
    trajectory = result.trajectory
    assert trajectory is not None
    assert trajectory.shape == (result.iterations + 1, N)
    np.testing.assert_array_equal(trajectory[0], s0)
    np.testing.assert_array_equal(trajectory[-1], result.profile)


def test_random_start_is_reproducible() -> None:
    game = _block_games()["dense"]
    first = solve_by_components(game, s0="random", rng=7, max_iter=2, record=True)
    again = solve_by_components(game, s0="random", rng=7, max_iter=2, record=True)
    np.testing.assert_array_equal(first.trajectory, again.trajectory)
    other = solve_by_components(game, s0="random", rng=8, max_iter=2, record=True)
    assert not np.array_equal(first.trajectory[0], other.trajectory[0])


def test_unconverged_components_are_reported() -> None:
    game = _block_games()["dense"]
    result = solve_by_components(game, tol=1e-12, max_iter=1)
    assert not result.converged
    assert "did not converge" in result.message
    assert result.nash_gap == pytest.approx(nash_gap(game, result.profile), abs=1e-15)
    assert result.nash_gap > 1e-12


def test_solve_by_components_needs_a_participation_game() -> None:
    with pytest.raises(TypeError, match="game must be a ParticipationGame"):
        solve_by_components(object())  # type: ignore[arg-type]


def test_unknown_method_or_option_is_refused_even_without_components_to_iterate() -> None:
    game = ParticipationGame(np.ones(3), 1.0)  # only singletons: solve is never called
    with pytest.raises(UnknownMethodError, match="best_response"):
        solve_by_components(game, "simplex")
    with pytest.raises(TypeError, match="unexpected"):
        solve_by_components(game, "projected_gradient", scheme="jacobi")


def test_trajectory_length_matches_iterations_for_singletons() -> None:
    game = ParticipationGame(np.array([2.0, 3.0]), 0.5)  # best response hi = the default start
    result = solve_by_components(game, record=True)
    assert result.iterations == 0
    assert result.trajectory is not None
    assert result.trajectory.shape == (1, 2)
    moved = solve_by_components(game, s0=[0.0, 0.0], record=True)
    assert moved.iterations == 1
    np.testing.assert_array_equal(moved.trajectory, [[0.0, 0.0], [1.0, 1.0]])
