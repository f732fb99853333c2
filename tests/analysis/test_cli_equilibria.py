"""``pruning-game equilibria``: every equilibrium of a small game from a file, and basins."""

from __future__ import annotations

import json

import numpy as np
import pytest

from analysis import cli
from equilibria import ParticipationGame, nash_gap


@pytest.fixture
def pair_file(tmp_path):
    """The duplicate pair: equilibria (0, 1), (1/4, 1/4), (1, 0)."""
    path = tmp_path / "pair.json"
    path.write_text(json.dumps({"benefit": [1.0, 1.0], "quadratic_cost": [0.5, 0.5],
                                "competition": [[0.0, 3.0], [3.0, 0.0]]}))
    return path


def test_lists_the_three_equilibria_of_the_duplicate_pair_and_their_basins(pair_file, tmp_path,
                                                                          capsys):
    out = tmp_path / "eq.json"
    argv = ["equilibria", str(pair_file), "--basins", "best_response,extragradient",
            "--starts", "30", "--seed", "1", "--out", str(out)]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "3 equilibria (2 stable), search complete" in printed
    result = json.loads(out.read_text())
    assert result["count"] == 3 and result["complete"] and result["players"] == 2
    np.testing.assert_allclose(result["equilibria"], [[0, 1], [0.25, 0.25], [1, 0]], atol=1e-12)
    game = ParticipationGame([1.0, 1.0], [0.5, 0.5], 0.0, [[0.0, 3.0], [3.0, 0.0]])
    assert all(nash_gap(game, np.array(s)) <= 1e-10 for s in result["equilibria"])
    for method in ("best_response", "extragradient"):
        run = result["basins"][method]
        assert run["n_starts"] == 30 and all(run["enumerated"])
        assert sum(run["shares"]) + run["unconverged_share"] == pytest.approx(1.0)
        assert run["counts"][1] == 0  # the unstable (1/4, 1/4) attracts no dynamics


def test_a_search_stopped_by_max_nodes_says_so_and_exits_1(pair_file, tmp_path, capsys):
    out = tmp_path / "eq.json"
    assert cli.main(["equilibria", str(pair_file), "--max-nodes", "1", "--out",
                     str(out)]) == 1
    assert "INCOMPLETE" in capsys.readouterr().out
    assert json.loads(out.read_text())["complete"] is False


def test_a_larger_limit_enumerates_a_larger_game(tmp_path, capsys):
    path = tmp_path / "game.json"
    n = 16  # independent players: one equilibrium, clip(b / 2q)
    path.write_text(json.dumps({"benefit": np.linspace(-0.5, 1.5, n).tolist(),
                                "quadratic_cost": 0.5}))
    assert cli.main(["equilibria", str(path)]) == 2
    assert "--max-players 15" in capsys.readouterr().err
    out = tmp_path / "eq.json"
    assert cli.main(["equilibria", str(path), "--max-players", "16", "--out", str(out)]) == 0
    np.testing.assert_allclose(json.loads(out.read_text())["equilibria"],
                               [np.clip(np.linspace(-0.5, 1.5, n), 0, 1)], atol=1e-12)
