"""papers.beyond.basins: the quick study end to end, and how sub-game players are chosen."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from equilibria import ParticipationGame
from papers.beyond import basins as study


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("basins")
    assert study.main(["--quick", "--out", str(out)]) == 0
    return out


def test_full_game_equilibria_are_certified_and_distinct(quick: Path) -> None:
    rows = _rows(quick / "full_game_equilibria.csv")
    assert rows and all(float(r["nash_gap"]) <= 1e-8 for r in rows)
    solvers = _rows(quick / "full_game_solvers.csv")
    assert [r["solver"] for r in solvers] == [study._label(m, o) for m, o in study.SOLVERS]
    for solver in solvers:
        reached = sum(int(r[f"starts[{solver['solver']}]"]) for r in rows)
        assert reached == int(solver["converged"]) <= int(solver["starts"])
    assert "## Full game" in (quick / "basins.md").read_text()


def test_subgame_starts_end_at_enumerated_equilibria(quick: Path) -> None:
    games = _rows(quick / "subgames.csv")
    assert [g["selection"] for g in games] == list(study.SELECTIONS)
    for game in games:
        assert game["complete"] == "True" and int(game["equilibria"]) >= 1
        assert int(game["extend_to_full_game"]) >= 1  # s*_I is one (s* is an equilibrium)
        assert len(game["players"].split(";")) == study.QUICK_PLAYERS
    for row in _rows(quick / "subgame_basins.csv"):
        assert row["enumerated"] == "True" and int(row["starts"]) >= 1
        assert float(row["share"]) + float(row["unconverged_share"]) <= 1.0 + 1e-12


def test_coupled_pairs_pick_the_players_whose_best_responses_multiply_above_one() -> None:
    R = np.full((6, 6), 0.05)
    R[2, 4] = R[4, 2] = 3.0  # slope product 3^2 / (4 * 0.5 * 0.5) = 9: a bistable pair
    R[0, 5] = R[5, 0] = 1.5  # 2.25
    game = ParticipationGame(np.linspace(0.1, 0.6, 6), 0.5, 0.0, R)
    rng = np.random.default_rng(0)
    assert study.select_players(game, "coupled pairs", 2, rng).tolist() == [2, 4]
    assert study.select_players(game, "coupled pairs", 4, rng).tolist() == [0, 2, 4, 5]
    assert study.select_players(game, "largest benefit", 2, rng).tolist() == [4, 5]
    drawn = study.select_players(game, "random", 3, np.random.default_rng(1))
    assert drawn.tolist() == sorted(set(drawn.tolist())) and len(drawn) == 3
    with pytest.raises(ValueError, match="selection"):
        study.select_players(game, "nosuch", 2, rng)
