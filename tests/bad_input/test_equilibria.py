"""Bad input to the equilibria API: a typed error, one line, naming the argument (issue 9)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from equilibria import (
    CallableGame,
    LowRank,
    NetworkStatistics,
    ParticipationGame,
    analyze_stability,
    build_game,
    is_equilibrium,
    iterated_dominance,
    nash_gap,
    perturbation_test,
    solve,
)
from equilibria.errors import (
    InvalidGameError,
    InvalidOptionError,
    InvalidProfileError,
    UnknownMethodError,
    UnknownOptionError,
)
from equilibria.finite import bimatrix_equilibria, bimatrix_gap, pair_game, solve_pair
from equilibria.graphs import components, interaction_graph
from equilibria.solvers.components import solve_by_components
from tests.bad_input.conftest import assert_one_line

R2 = [[0.0, 0.3], [0.3, 0.0]]


def game() -> ParticipationGame:
    return ParticipationGame([1.0, 0.5, 0.2], 0.5, 0.0, 0.2 * (np.ones((3, 3)) - np.eye(3)))


def stats(**changes: Any) -> NetworkStatistics:
    fields = dict(layer=np.array([0, 0, 1]), grad_inner=np.ones(3), dloss_ds=np.ones(3),
                  taylor=np.ones(3), sq_norms=np.ones(3),
                  parameter_gram=(np.eye(2), np.eye(1)))
    fields.update(changes)
    return NetworkStatistics(**fields)


def pair():
    return pair_game(game(), 0, 1, [0.5, 0.5, 0.5])


A = np.array([[1.0, 0.0], [0.0, 1.0]])

#: (id, call, typed error, words the one-line message must contain)
CASES: list[tuple[str, Callable[[], Any], type[Exception], tuple[str, ...]]] = [
    # ---- building a game
    ("benefit-nan", lambda: ParticipationGame([1.0, np.nan], 0.5), InvalidGameError,
     ("benefit", "NaN")),
    ("benefit-2d", lambda: ParticipationGame([[1.0, 2.0]], 0.5), InvalidGameError,
     ("benefit", "1-D")),
    ("benefit-empty", lambda: ParticipationGame([], 0.5), InvalidGameError, ("benefit",)),
    ("benefit-text", lambda: ParticipationGame(["a", "b"], 0.5), InvalidGameError,
     ("benefit", "numeric")),
    ("quadratic-cost-negative", lambda: ParticipationGame([1.0, 1.0], [0.5, -0.1]),
     InvalidGameError, ("quadratic_cost", ">= 0")),
    ("linear-cost-length", lambda: ParticipationGame([1.0, 1.0], 0.5, [0.1, 0.1, 0.1]),
     InvalidGameError, ("linear_cost", "players")),
    ("competition-shape", lambda: ParticipationGame([1.0, 1.0], 0.5, 0.0, np.zeros((3, 3))),
     InvalidGameError, ("competition", "shape")),
    ("competition-inf", lambda: ParticipationGame([1.0, 1.0], 0.5, 0.0,
                                                  [[0.0, np.inf], [0.0, 0.0]]),
     InvalidGameError, ("competition", "inf")),
    ("competition-scalar", lambda: ParticipationGame([1.0, 1.0], 0.5, 0.0, 0.3),
     InvalidGameError, ("competition", "scalar")),
    ("bounds-reversed", lambda: ParticipationGame([1.0, 1.0], 0.5, 0.0, R2, (1.0, 0.0)),
     InvalidGameError, ("bounds", "lo < hi")),
    ("bounds-negative", lambda: ParticipationGame([1.0, 1.0], 0.5, 0.0, R2, (-1.0, 1.0)),
     InvalidGameError, ("bounds", "lo")),
    ("bounds-text", lambda: ParticipationGame([1.0, 1.0], 0.5, 0.0, R2, "ab"),
     InvalidGameError, ("bounds",)),
    ("lowrank-factors-1d", lambda: LowRank(np.ones(3)), InvalidGameError, ("factors",)),
    ("lowrank-scale-nan", lambda: LowRank(np.ones((3, 1)), np.nan), InvalidGameError,
     ("scale",)),
    ("lowrank-players", lambda: ParticipationGame([1.0, 1.0], 0.5, 0.0,
                                                  LowRank(np.ones((3, 1)))),
     InvalidGameError, ("competition", "factors")),
    ("callable-n-players", lambda: CallableGame(lambda s: s, 0), InvalidGameError,
     ("n_players",)),
    ("callable-not-callable", lambda: CallableGame(3, 2), InvalidGameError, ("utility_fn",)),
    ("from-paper-beta-negative", lambda: ParticipationGame.from_paper([1.0], [1.0], beta=-1),
     InvalidGameError, ("beta",)),
    # ---- solve: profiles
    ("s0-outside-box", lambda: solve(game(), s0=[0.5, 2.0, 0.5]), InvalidProfileError,
     ("s0", "box")),
    ("s0-shape", lambda: solve(game(), s0=[0.5, 0.5]), InvalidProfileError, ("s0", "shape")),
    ("s0-nan", lambda: solve(game(), s0=[0.5, np.nan, 0.5]), InvalidProfileError,
     ("s0", "NaN")),
    ("s0-unknown-word", lambda: solve(game(), s0="rand"), InvalidProfileError,
     ("s0", "random")),
    # ---- solve: names and options
    ("method-unknown", lambda: solve(game(), "gradient"), UnknownMethodError,
     ("method", "gradient")),
    ("scheme-unknown", lambda: solve(game(), scheme="gauss"), UnknownMethodError,
     ("scheme",)),
    ("order-unknown", lambda: solve(game(), order="reverse"), UnknownMethodError, ("order",)),
    ("option-not-of-method", lambda: solve(game(), "best_response", step=0.1),
     UnknownOptionError, ("step", "best_response")),
    ("tol-negative", lambda: solve(game(), tol=-1e-3), InvalidOptionError, ("tol",)),
    ("tol-nan", lambda: solve(game(), tol=np.nan), InvalidOptionError, ("tol",)),
    ("max-iter-negative", lambda: solve(game(), max_iter=-1), InvalidOptionError,
     ("max_iter",)),
    ("max-iter-fraction", lambda: solve(game(), max_iter=2.5), InvalidOptionError,
     ("max_iter",)),
    ("max-iter-text", lambda: solve(game(), max_iter="10"), InvalidOptionError,
     ("max_iter",)),
    ("max-seconds-zero", lambda: solve(game(), max_seconds=0), InvalidOptionError,
     ("max_seconds",)),
    ("max-seconds-negative", lambda: solve(game(), max_seconds=-5.0), InvalidOptionError,
     ("max_seconds",)),
    ("max-seconds-text", lambda: solve(game(), max_seconds="10s"), InvalidOptionError,
     ("max_seconds",)),
    ("rng-text", lambda: solve(game(), s0="random", rng="seed"), InvalidOptionError,
     ("rng",)),
    ("rng-negative", lambda: perturbation_test(game(), [0.5] * 3, rng=-1), InvalidOptionError,
     ("rng",)),
    ("damping-zero", lambda: solve(game(), damping=0.0), InvalidOptionError, ("damping",)),
    ("damping-above-one", lambda: solve(game(), damping=1.5), InvalidOptionError,
     ("damping",)),
    ("step-negative", lambda: solve(game(), "projected_gradient", step=-0.1),
     InvalidOptionError, ("step",)),
    ("step-inf", lambda: solve(game(), "extragradient", step=np.inf), InvalidOptionError,
     ("step",)),
    ("decompose-max-iter", lambda: solve(game(), decompose=True, max_iter=-2),
     InvalidOptionError, ("max_iter",)),
    ("components-max-seconds", lambda: solve_by_components(game(), max_seconds=0.0),
     InvalidOptionError, ("max_seconds",)),
    ("components-backend", lambda: components(game(), backend="igraph"), UnknownMethodError,
     ("backend",)),
    ("graph-tol", lambda: interaction_graph(game(), tol=-1.0), InvalidOptionError, ("tol",)),
    # ---- certificates and stability
    ("nash-gap-outside-box", lambda: nash_gap(game(), [0.0, 0.0, -1.0]), InvalidProfileError,
     ("s", "box")),
    ("is-equilibrium-tol", lambda: is_equilibrium(game(), [0.5] * 3, tol=-1.0),
     InvalidOptionError, ("tol",)),
    ("stability-tol", lambda: analyze_stability(game(), [0.5] * 3, tol=-1.0),
     InvalidOptionError, ("tol",)),
    ("stability-profile", lambda: analyze_stability(game(), [0.5] * 4), InvalidProfileError,
     ("s", "shape")),
    ("perturbation-radius", lambda: perturbation_test(game(), [0.5] * 3, radius=0.0),
     InvalidOptionError, ("radius",)),
    ("perturbation-trials", lambda: perturbation_test(game(), [0.5] * 3, trials=0),
     InvalidOptionError, ("trials",)),
    ("dominance-max-rounds", lambda: iterated_dominance(game(), max_rounds=0),
     InvalidOptionError, ("max_rounds",)),
    ("dominance-tol", lambda: iterated_dominance(game(), tol=np.nan), InvalidOptionError,
     ("tol",)),
    # ---- finite games
    ("bimatrix-nan", lambda: bimatrix_equilibria([[1.0, np.nan], [0.0, 1.0]], A),
     InvalidGameError, ("A", "NaN")),
    ("bimatrix-shapes", lambda: bimatrix_equilibria(A, np.ones((2, 3))), InvalidGameError,
     ("A and B", "shape")),
    ("bimatrix-1d", lambda: bimatrix_equilibria([1.0, 2.0], [1.0, 2.0]), InvalidGameError,
     ("A", "2-D")),
    ("bimatrix-empty", lambda: bimatrix_equilibria(np.zeros((0, 2)), np.zeros((0, 2))),
     InvalidGameError, ("A", "non-empty")),
    ("bimatrix-text", lambda: bimatrix_equilibria([["x"]], [[1.0]]), InvalidGameError,
     ("A", "numeric")),
    ("bimatrix-method", lambda: bimatrix_equilibria(A, A, "lemke"), UnknownMethodError,
     ("method", "lemke")),
    ("bimatrix-max-seconds", lambda: bimatrix_equilibria(A, A, max_seconds=0.0),
     InvalidOptionError, ("max_seconds",)),
    ("bimatrix-max-pivots", lambda: bimatrix_equilibria(A, A, "lemke_howson", max_pivots=0),
     InvalidOptionError, ("max_pivots",)),
    ("bimatrix-tol", lambda: bimatrix_equilibria(A, A, tol=-1.0), InvalidOptionError,
     ("tol",)),
    ("gap-strategy-sum", lambda: bimatrix_gap(A, A, [0.5, 0.6], [0.5, 0.5]),
     InvalidProfileError, ("row_strategy", "sum")),
    ("gap-strategy-negative", lambda: bimatrix_gap(A, A, [1.5, -0.5], [0.5, 0.5]),
     InvalidProfileError, ("row_strategy", "nonnegative")),
    ("gap-strategy-length", lambda: bimatrix_gap(A, A, [1.0], [0.5, 0.5]),
     InvalidProfileError, ("row_strategy", "shape")),
    ("pair-same-player", lambda: pair_game(game(), 1, 1, [0.5] * 3), InvalidGameError,
     ("i and j",)),
    ("pair-index-range", lambda: pair_game(game(), 0, 5, [0.5] * 3), InvalidGameError,
     ("j", "[0, 3)")),
    ("pair-index-float", lambda: pair_game(game(), 0.0, 1, [0.5] * 3), InvalidGameError,
     ("i", "int")),
    ("pair-grid-one", lambda: pair_game(game(), 0, 1, [0.5] * 3, grid=1), InvalidGameError,
     ("grid", ">= 2")),
    ("pair-grid-word", lambda: pair_game(game(), 0, 1, [0.5] * 3, grid="fine"),
     InvalidGameError, ("grid", "keep_drop")),
    ("pair-grid-decreasing", lambda: pair_game(game(), 0, 1, [0.5] * 3, grid=[1.0, 0.0]),
     InvalidGameError, ("grid", "increasing")),
    ("pair-grid-outside", lambda: pair_game(game(), 0, 1, [0.5] * 3, grid=[0.0, 2.0]),
     InvalidGameError, ("grid", "box")),
    ("pair-profile", lambda: pair_game(game(), 0, 1, [0.5, 0.5]), InvalidProfileError,
     ("s", "shape")),
    ("pair-level-index", lambda: pair().profile(0, 2), InvalidProfileError, ("b", "level")),
    ("solve-pair-max-seconds", lambda: solve_pair(pair(), max_seconds=-1.0),
     InvalidOptionError, ("max_seconds",)),
    # ---- spec.build_game
    ("build-payoff", lambda: build_game(stats(), payoff="papper"), UnknownMethodError,
     ("payoff", "papper")),
    ("build-overlap", lambda: build_game(stats(), overlap="weights", eta=0.1),
     UnknownMethodError, ("overlap", "weights")),
    ("build-overlap-missing", lambda: build_game(stats(), overlap="activations", eta=0.1),
     InvalidGameError, ("activation_overlap",)),
    ("build-beta", lambda: build_game(stats(), beta=-1.0), InvalidGameError, ("beta",)),
    ("build-alpha-nan", lambda: build_game(stats(), alpha=np.nan), InvalidGameError,
     ("alpha",)),
    ("stats-layer-order", lambda: stats(layer=np.array([1, 0, 0])), InvalidGameError,
     ("layer",)),
    ("stats-sq-norms", lambda: stats(sq_norms=np.array([1.0, -1.0, 1.0])), InvalidGameError,
     ("sq_norms",)),
    ("stats-gram-shape", lambda: stats(parameter_gram=(np.eye(3), np.eye(1))),
     InvalidGameError, ("parameter_gram[0]", "shape")),
]


@pytest.mark.parametrize(("call", "error", "names"), [case[1:] for case in CASES],
                         ids=[case[0] for case in CASES])
def test_bad_input_raises_a_typed_one_line_error_naming_the_argument(call, error, names):
    with pytest.raises(error) as caught:
        call()
    assert_one_line(str(caught.value), *names)


def test_there_are_enough_cases_and_their_ids_are_unique():
    ids = [case[0] for case in CASES]
    assert len(ids) == len(set(ids)) and len(ids) >= 20


def test_assert_one_line_rejects_what_it_should():
    assert_one_line("solve: error: tol must be > 0\n", "tol")
    for message, names in (("", ()), ("two\nlines", ()), ("tol is bad", ("max_iter",))):
        with pytest.raises(AssertionError):
            assert_one_line(message, *names)
