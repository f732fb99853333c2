"""The interaction graph of a participation game and its connected components.

Player i's utility depends on player j only through the competition term ``-s_i R_ij s_j``
(docs/design.md; Shah & Khan 2025, Eq. 10), so the players interact along the edges of the graph
with an edge {i, j} whenever ``R_ij != 0`` or ``R_ji != 0``. Players in different connected
components never affect each other's payoffs: the game is the product of its components'
sub-games, a profile is a Nash equilibrium exactly when its restriction to every component is
an equilibrium of that component's game (``ParticipationGame.restrict``), and each component
can be solved on its own (`equilibria.solvers.components.solve_by_components`, or
``solve(game, decompose=True)``).

The graph is a `networkx.Graph` (Hagberg, Schult & Swart 2008, "Exploring network structure,
dynamics, and function using NetworkX", Proc. SciPy); large components are found with
`scipy.sparse.csgraph.connected_components` (breadth-first search; Pearce 2005's algorithm for
the directed case), which gives the same partition.
"""

from __future__ import annotations

from typing import Any

import networkx as nx
import numpy as np
import scipy.sparse as sp
from scipy.sparse import csgraph

from equilibria.competition import LowRank
from equilibria.errors import GameTypeError, InvalidGameError, UnknownMethodError, check_tol
from equilibria.game import ParticipationGame

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
    "check_game",
    "interaction_graph",
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
    check_game(game)
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


# ---------------------------------------------------------------------------------- helpers
def _edges(game: ParticipationGame, tol: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Upper-triangle edges (i < j) with weight ``max(|R_ij|, |R_ji|) > tol``."""
    check_game(game)
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


def check_game(game: Any) -> None:
    """Raise unless `game` is a ParticipationGame (its competition defines the graph)."""
    if not isinstance(game, ParticipationGame):
        raise GameTypeError(f"game must be a ParticipationGame (the interaction graph comes "
                            f"from its competition matrix); got {type(game).__name__}")


def _check_tol(tol: float) -> None:
    check_tol(tol)
