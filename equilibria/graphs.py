"""The interaction graph of a participation game, its components, and solving by component.

Player i's utility depends on player j only through the competition term ``-s_i R_ij s_j``
(docs/design.md; Shah & Khan 2025, Eq. 10), so the players interact along the edges of the graph
with an edge {i, j} whenever ``R_ij != 0`` or ``R_ji != 0``. Players in different connected
components never affect each other's payoffs: the game is the product of its components'
sub-games, a profile is a Nash equilibrium exactly when its restriction to every component is
an equilibrium of that component's game (``ParticipationGame.restrict``), and each component
can be solved on its own.

The graph is a `networkx.Graph` (Hagberg, Schult & Swart 2008, "Exploring network structure,
dynamics, and function using NetworkX", Proc. SciPy); large components are found with
`scipy.sparse.csgraph.connected_components` (breadth-first search; Pearce 2005's algorithm for
the directed case), which gives the same partition.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import networkx as nx
import numpy as np
import scipy.sparse as sp
from scipy.sparse import csgraph

from equilibria.competition import LowRank
from equilibria.errors import (
    InvalidGameError,
    UnknownMethodError,
    as_generator,
    check_count,
    check_seconds,
    check_tol,
)
from equilibria.game import ParticipationGame
from equilibria.gap import nash_gap

if TYPE_CHECKING:
    from equilibria.solvers.result import EquilibriumResult

#: Largest N whose LowRank competition is expanded entrywise into a graph.
LOWRANK_GRAPH_LIMIT = 50_000

#: Above this many players `components(backend="auto")` uses scipy instead of networkx.
NETWORKX_COMPONENTS_LIMIT = 5_000

#: Rows of a LowRank operator expanded at a time.
_CHUNK_ROWS = 1024

BACKENDS: tuple[str, ...] = ("auto", "networkx", "scipy")

__all__ = [
    "BACKENDS",
    "LOWRANK_GRAPH_LIMIT",
    "components",
    "interaction_graph",
    "solve_by_components",
]


def interaction_graph(game: ParticipationGame, *, tol: float = 0.0) -> nx.Graph:
    """The interaction graph: players are nodes, competing players are joined.

    Parameters
    ----------
    game : ParticipationGame
    tol : float, default 0.0
        An edge {i, j} is drawn when ``|R_ij| > tol`` or ``|R_ji| > tol``; >= 0.

    Returns
    -------
    networkx.Graph
        Nodes ``0 .. N-1`` (every player, isolated ones too); edge attribute ``"weight"`` is
        ``max(|R_ij|, |R_ji|)``.

    Raises
    ------
    TypeError
        When `game` is not a ParticipationGame.
    ValueError
        For a negative or non-finite `tol`, or a LowRank competition with N above
        `LOWRANK_GRAPH_LIMIT` (its graph would need up to N^2 / 2 edges).

    Notes
    -----
    Dense R: the nonzeros of the upper triangle of ``max(|R|, |R|^T)``; sparse R: the same
    from its COO form, O(nnz); LowRank R: expanded row block by row block, O(N^2 d) time and
    memory proportional to the number of edges.
    """
    rows, cols, weights = _edges(game, tol)
    graph = nx.Graph()
    graph.add_nodes_from(range(game.n_players))
    graph.add_weighted_edges_from(zip(rows.tolist(), cols.tolist(), weights.tolist(),
                                      strict=True))
    return graph


def components(game: ParticipationGame, *, tol: float = 0.0,
               backend: str = "auto") -> list[np.ndarray]:
    """Connected components of the interaction graph.

    Parameters
    ----------
    game : ParticipationGame
    tol : float, default 0.0
        Edge threshold, as in `interaction_graph`. With ``tol > 0`` the components may
        interact weakly and solving them separately is an approximation.
    backend : {"auto", "networkx", "scipy"}, default "auto"
        ``networkx.connected_components`` on `interaction_graph`, or
        ``scipy.sparse.csgraph.connected_components`` on the sparse adjacency matrix (faster
        for large N). ``"auto"`` uses networkx up to `NETWORKX_COMPONENTS_LIMIT` players.
        Both give the same partition.

    Returns
    -------
    list of ndarray of int64
        Each component's players in increasing order; components ordered by their smallest
        player. Without competition every player is a singleton.
    """
    if backend not in BACKENDS:
        raise UnknownMethodError(f"backend must be one of {list(BACKENDS)}; got {backend!r}")
    _check_game(game)
    n = game.n_players
    if game.competition is None:
        _check_tol(tol)
        return [np.array([i], dtype=np.int64) for i in range(n)]
    if backend == "networkx" or (backend == "auto" and n <= NETWORKX_COMPONENTS_LIMIT):
        graph = interaction_graph(game, tol=tol)
        parts = [np.array(sorted(part), dtype=np.int64)
                 for part in nx.connected_components(graph)]
    else:
        rows, cols, weights = _edges(game, tol)
        adjacency = sp.coo_array((weights, (rows, cols)), shape=(n, n))
        count, labels = csgraph.connected_components(adjacency, directed=False)
        order = np.argsort(labels, kind="stable")
        splits = np.cumsum(np.bincount(labels, minlength=count))[:-1]
        parts = [part.astype(np.int64) for part in np.split(order, splits)]
    parts.sort(key=lambda part: int(part[0]))
    return parts


def solve_by_components(game: ParticipationGame, method: str = "best_response", *,
                        s0: Any = None, tol: float = 1e-8, max_iter: int = 10_000,
                        rng: Any = None, record: bool = False,
                        max_seconds: float | None = None,
                        **options: Any) -> EquilibriumResult:
    """Solve each connected component of the interaction graph on its own.

    The game is the product of its components' games (module docstring), so solving every
    component's exact sub-game ``game.restrict(idx)`` with `equilibria.solvers.solve` and
    putting the pieces together gives an equilibrium of the whole game. Players alone in
    their component face no one: their exact best response ``game.restrict(idx)
    .best_response(...)`` is their equilibrium strategy, and no iterative solver runs for
    them. The assembled profile is certified by the Nash gap of the whole game
    (`equilibria.gap.nash_gap`).

    Parameters
    ----------
    game : ParticipationGame
    method : str, default "best_response"
        Any method of `equilibria.solvers.solve`, used for every component of two or more
        players.
    s0 : None, "random" or array_like of shape (N,), optional
        Starting profile of the whole game, as in `solve` (None: everyone at hi); each
        component starts from its slice.
    tol : float, default 1e-8
        Tolerance of each component's relative Nash gap, and of the whole game's.
    max_iter : int, default 10_000
        Per component.
    rng : numpy.random.Generator or int, optional
        Passed to `solve` for every component (a Generator is consumed in component order).
    record : bool, default False
        Keep the trajectory: component trajectories run side by side, each held at its last
        iterate once it has stopped.
    max_seconds : float, optional
        Wall-clock budget of each component's solve.
    **options
        Method options, passed to `solve`.

    Returns
    -------
    EquilibriumResult
        ``profile`` assembled from the components; ``nash_gap`` the relative gap of the whole
        game; ``converged`` when every component converged and that gap is at most `tol`;
        ``iterations`` the largest over components; ``history`` a one-element array holding
        the whole game's gap (components run on different clocks, so there is no joint
        per-iteration history); ``method`` is ``f"{method}+components"``.
    """
    from equilibria.solvers import check_method, initial_profile, solve
    from equilibria.solvers.result import EquilibriumResult

    _check_game(game)
    check_method(method, options)  # here too: singletons never reach `solve`
    tol = check_tol(tol)
    max_iter = check_count(max_iter, "max_iter")
    max_seconds = check_seconds(max_seconds)
    clock = time.perf_counter()
    generator = as_generator(rng)
    start = initial_profile(game, s0, generator)
    if game.competition is None:  # no one interacts: skip building N singleton arrays
        singles, groups = np.arange(game.n_players), []
    else:
        parts = components(game)
        singles = np.array([part[0] for part in parts if part.size == 1], dtype=np.int64)
        groups = [part for part in parts if part.size > 1]
    profile = start.copy()
    iterations = 0
    failures = []
    tracks: list[tuple[np.ndarray, np.ndarray]] = []
    if singles.size:  # best response to nothing: exact in one step
        profile[singles] = game.restrict(singles).best_response(start[singles])
        iterations = int(np.any(profile[singles] != start[singles]))
        tracks.append((singles, np.vstack([start[singles], profile[singles]])[:iterations + 1]))
    for part in groups:
        result = solve(game.restrict(part), method, s0=start[part], tol=tol, max_iter=max_iter,
                       rng=generator, record=record, max_seconds=max_seconds, **options)
        profile[part] = result.profile
        iterations = max(iterations, result.iterations)
        if not result.converged:
            failures.append(f"component of {part.size} players starting at player {part[0]}: "
                            f"{result.message}")
        if record and result.trajectory is not None:
            tracks.append((part, result.trajectory))
    gap = float(nash_gap(game, profile))
    converged = not failures and gap <= tol
    largest = max((part.size for part in groups), default=1)
    summary = (f"{singles.size + len(groups)} components (largest {largest} players, "
               f"{singles.size} singletons); whole-game relative Nash gap {gap:.3g}")
    if converged:
        message = f"{summary} <= tol={tol:g}"
    elif failures:
        message = f"{summary}; {len(failures)} did not converge: " + "; ".join(failures[:3])
    else:
        message = f"{summary} > tol={tol:g}"
    return EquilibriumResult(
        profile=profile, converged=bool(converged), iterations=int(iterations), nash_gap=gap,
        history=np.array([gap]), method=f"{method}+components", message=message,
        seconds=time.perf_counter() - clock,
        trajectory=_assemble(start, tracks) if record else None,
        stop_reason="converged" if converged else "components")


# ---------------------------------------------------------------------------------- helpers
def _assemble(start: np.ndarray, tracks: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Run component trajectories side by side, each held at its last row once it stops."""
    length = max((track.shape[0] for _, track in tracks), default=1)
    trajectory = np.tile(start, (length, 1))
    for index, track in tracks:
        trajectory[:track.shape[0], index] = track
        trajectory[track.shape[0]:, index] = track[-1]
    return trajectory


def _edges(game: ParticipationGame, tol: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Upper-triangle edges (i < j) with weight ``max(|R_ij|, |R_ji|) > tol``."""
    _check_game(game)
    _check_tol(tol)
    R = game.competition
    if R is None:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)
    if isinstance(R, LowRank):
        return _lowrank_edges(R, tol)
    if sp.issparse(R):
        magnitude = abs(sp.csr_matrix(R))
        upper = sp.triu(magnitude.maximum(magnitude.T), k=1).tocoo()
        keep = upper.data > tol
        return (upper.row[keep].astype(np.int64), upper.col[keep].astype(np.int64),
                upper.data[keep])
    magnitude = np.abs(R)
    weight = np.maximum(magnitude, magnitude.T)
    rows, cols = np.nonzero(np.triu(weight > tol, k=1))
    return rows.astype(np.int64), cols.astype(np.int64), weight[rows, cols]


def _lowrank_edges(R: LowRank, tol: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = R.shape[0]
    if n > LOWRANK_GRAPH_LIMIT:
        raise InvalidGameError(f"the LowRank competition has N = {n} players, above "
                         f"LOWRANK_GRAPH_LIMIT = {LOWRANK_GRAPH_LIMIT}: its interaction graph "
                         "may need N^2 / 2 edges. Analyse the factors instead: players whose "
                         "factor rows have disjoint supports do not interact, so the connected "
                         "components of the bipartite player-factor graph (nonzeros of the "
                         "factors) are unions of interaction components")
    rows, cols, weights = [], [], []
    for start in range(0, n, _CHUNK_ROWS):
        stop = min(start + _CHUNK_ROWS, n)
        block = np.abs(R.rows(start, stop))  # R = R^T, so max(|R_ij|, |R_ji|) = |R_ij|
        local, col = np.nonzero(block > tol)
        upper = col > local + start
        local, col = local[upper], col[upper]
        rows.append(local + start)
        cols.append(col)
        weights.append(block[local, col])
    return (np.concatenate(rows).astype(np.int64), np.concatenate(cols).astype(np.int64),
            np.concatenate(weights))


def _check_game(game: Any) -> None:
    if not isinstance(game, ParticipationGame):
        raise TypeError(f"game must be a ParticipationGame (the interaction graph comes from "
                        f"its competition matrix); got {type(game).__name__}")


def _check_tol(tol: float) -> None:
    check_tol(tol)
