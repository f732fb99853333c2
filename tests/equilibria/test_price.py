"""The L1 price that reaches a sparsity: exact thresholds without competition, certified
equilibria that reach the target with it (equilibria.price)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from equilibria import InvalidOptionError, ParticipationGame, nash_gap
from equilibria.certify import EQUILIBRIUM_TOL
from equilibria.price import (
    ZERO_TOL,
    dominance_prices,
    emergent_equilibrium,
    price_for_sparsity,
)
from tests.equilibria.games import monotone_game

SETTINGS = settings(max_examples=20, deadline=None, derandomize=True)
XTOL = 1e-9


def independent_game(seed: int, n: int) -> ParticipationGame:
    """No competition: player i is at zero exactly when gamma >= b_i (Eq. 15)."""
    rng = np.random.default_rng(seed)
    return ParticipationGame(rng.uniform(0.1, 2.0, n), rng.uniform(0.1, 1.0, n))


def assert_certified(game: ParticipationGame, result) -> None:
    priced = game.with_costs(linear_cost=result.gamma)
    assert result.nash_gap <= EQUILIBRIUM_TOL
    assert nash_gap(priced, result.equilibrium.profile) <= EQUILIBRIUM_TOL
    removed = result.removed & ~result.floored
    assert np.all(result.equilibrium.profile[result.removed] < ZERO_TOL)
    assert np.all(result.participation[removed] == 0.0)


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 12), share=st.floats(0.0, 0.99))
def test_without_competition_the_bisection_finds_the_exact_threshold(seed, n, share):
    game = independent_game(seed, n)
    k = round(share * n)
    result = price_for_sparsity(game, share, min_keep=0, xtol=XTOL)
    assert_certified(game, result)
    assert result.reached and int(result.removed.sum()) == k
    assert np.array_equal(np.flatnonzero(result.removed),
                          np.sort(np.argsort(game.benefit, kind="stable")[:k]))
    threshold = 0.0 if k == 0 else float(np.sort(game.benefit)[k - 1])
    # the smallest price with k players at zero is the k-th smallest benefit, up to the
    # bisection's width and the certificate's resolution: a player whose exact participation
    # is d > 0 gains q d^2 by moving there, below a relative gap of 1e-15 for d ~ 1e-7
    assert abs(result.gamma[0] - threshold) <= 1e-6


def test_a_competitive_game_where_the_share_is_not_monotone_still_reaches_the_target():
    """docs/explanation/game.md 6.1: one player at zero at gamma 0.90, none at 0.95."""
    R = np.array([[0.0, 0.68, 0.22], [0.68, 0.0, 0.17], [0.22, 0.17, 0.0]])
    game = ParticipationGame([1.43, 1.22, 1.12], [1.33, 0.2, 0.49], 0.0, R)
    for share in (0.34, 0.67):
        result = price_for_sparsity(game, share, min_keep=0)
        assert_certified(game, result)
        assert result.reached and result.removed.sum() >= round(share * 3)
        assert result.achieved == result.removed.mean()


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(3, 12), share=st.floats(0.0, 0.9))
def test_competitive_monotone_games_reach_the_target_at_a_certified_equilibrium(seed, n, share):
    game = monotone_game(seed, n, linear_cost=False)
    result = price_for_sparsity(game, share, min_keep=0)
    assert_certified(game, result)
    assert result.reached and result.removed.sum() >= round(share * n)


def test_at_the_dominance_price_every_player_is_at_zero():
    game = monotone_game(3, 8, linear_cost=False)
    top = float(dominance_prices(game).max())
    result = emergent_equilibrium(game.with_costs(linear_cost=top), min_keep=0,
                                  epsilon=ZERO_TOL)
    assert result.removed.all()


def test_the_global_price_keeps_a_floor_in_every_layer():
    game = independent_game(1, 10)
    layer = np.repeat([0, 1], 5)
    result = price_for_sparsity(game, 0.9, layer, min_keep=2)
    assert_certified(game, result)
    for k in (0, 1):
        assert (~result.removed[layer == k]).sum() >= 2
    assert np.all(result.participation[result.floored] == 1.0)
    assert result.removed.sum() == 6 and result.reached  # 9 asked, the floor allows 6


def test_one_price_per_layer_reaches_each_layers_own_share():
    game = independent_game(2, 12)
    layer = np.repeat([0, 1, 2], 4)
    result = price_for_sparsity(game, 0.5, layer, scope="layer", min_keep=1)
    assert_certified(game, result)
    assert result.reached
    for k in (0, 1, 2):
        members = layer == k
        assert result.removed[members].sum() == 2
        # without competition each layer's price is its second smallest benefit
        expected = float(np.sort(game.benefit[members])[1])
        assert abs(result.layer_gamma[k] - expected) <= 1e-6
        assert np.all(result.gamma[members] == result.layer_gamma[k])


def test_emergent_mode_removes_the_players_below_epsilon():
    game = independent_game(4, 10).with_costs(linear_cost=1.0)
    result = emergent_equilibrium(game, np.repeat([0, 1], 5), epsilon=0.05)
    profile = result.equilibrium.profile
    assert result.target is None and result.scope == "emergent"
    assert_certified(game, result)
    below = profile < 0.05
    assert np.array_equal(result.removed | result.floored, below)
    json.dumps(result.to_dict())


@pytest.mark.parametrize("kwargs, name", [
    ({"sparsity": 1.0}, "sparsity"), ({"sparsity": 0.5, "scope": "all"}, "scope"),
    ({"sparsity": 0.5, "min_keep": -1}, "min_keep"), ({"sparsity": 0.5, "xtol": 0.0}, "xtol"),
    ({"sparsity": 0.5, "layer": [0, 1]}, "layer"),
])
def test_bad_options_are_named(kwargs, name):
    with pytest.raises(InvalidOptionError, match=name):
        price_for_sparsity(independent_game(0, 4), **kwargs)


def test_a_box_away_from_zero_is_refused():
    game = ParticipationGame([1.0, 2.0], 1.0, bounds=(0.1, 1.0))
    with pytest.raises(InvalidOptionError, match="bounds"):
        price_for_sparsity(game, 0.5)


def test_the_price_module_never_imports_torch():
    code = ("import sys, equilibria.price; "
            "print(','.join(m for m in ('torch', 'nets', 'analysis') if m in sys.modules))")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                               check=True)
    assert completed.stdout.strip() == ""
