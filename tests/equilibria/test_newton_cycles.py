"""Newton's globalized active-set step on non-monotone games: no cycle between a fallback step
and a Newton step straight back (the basins study, `papers/beyond/basins.py`, found it on
sub-games of the demo's trained game).

The data are two 12-player sub-games of that game and the starts from which the step, when it
accepted any decrease of the residual from the current point, alternated forever between two
profiles (a projected-gradient fallback that raised the residual, then a Newton step back to the
point it left): 15 of the study's 104 starts on a game with one equilibrium, 61 on a game with
165 (`tests/equilibria/data/newton_cycles.json` says where they come from).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from equilibria import all_equilibria, nash_gap, solve
from equilibria.io import game_from_dict

DATA = json.loads((Path(__file__).parent / "data" / "newton_cycles.json").read_text())


def _case(name: str):
    case = DATA[name]
    return game_from_dict(case["game"], name), np.array(case["starts"])


def test_newton_reaches_the_unique_equilibrium_from_every_start_that_cycled():
    game, starts = _case("random")
    found = all_equilibria(game)
    assert found.complete and found.count == 1
    for s0 in starts:
        result = solve(game, "newton", s0=s0, tol=1e-10, max_iter=200)
        assert result.converged
        np.testing.assert_allclose(result.profile, found.equilibria[0], atol=1e-8)


def test_newton_converges_from_most_starts_that_cycled_on_a_game_of_many_equilibria():
    """165 equilibria: every end point is certified and enumerated; at most one start in ten
    may still run out of iterations (the fallback is a projected-gradient step)."""
    game, starts = _case("coupled_pairs")
    found = all_equilibria(game)
    converged = 0
    for s0 in starts:
        result = solve(game, "newton", s0=s0, tol=1e-10, max_iter=200)
        if not result.converged:
            continue
        converged += 1
        assert nash_gap(game, result.profile) <= 1e-8
        assert np.abs(found.equilibria - result.profile).max(axis=1).min() <= 1e-6
    assert converged >= 0.9 * len(starts)


@pytest.mark.parametrize("name", ["random", "coupled_pairs"])
def test_the_newton_steps_never_return_to_a_profile_they_left(name):
    """The accepted residuals never rise above the best one so far, so the iterates cannot
    close a cycle through a Newton step (the loop's own check stops at convergence)."""
    from equilibria.solvers.newton import active_set_step

    game, starts = _case(name)
    for s0 in starts[:5]:
        step, s = active_set_step(game), s0.copy()
        seen = [s.tobytes()]
        for k in range(40):
            s = step(s, k)
            if nash_gap(game, s) <= 1e-12:
                break
            assert s.tobytes() not in seen[:-1]
            seen.append(s.tobytes())
