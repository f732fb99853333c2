"""The certificate of ``pruning-game train`` (issue 13, item 2): one warm-started solve by
default, the distinct-equilibria search only on request, the game in the loop's last
measurement reused instead of measured again."""

from __future__ import annotations

import json

import numpy as np
import pytest

from analysis import cli
from analysis.train import _certificate, parser
from equilibria import nash_gap
from nets import EquilibriumPruning, PruningConfig, data, models

# A separable game (payoff "paper", no competition): every solve certifies at once.
TOY = ["--config", "l1_l2_combined", "--data", "digits", "--limit", "200", "--hidden", "16,8",
       "--epochs", "1", "--participation-lr", "0.2"]


@pytest.fixture(scope="module")
def digits() -> data.DataBundle:
    return data.load("digits", limit=400)


def test_the_distinct_equilibria_search_is_off_by_default(digits):
    assert parser().parse_args([]).distinct_equilibria is False
    assert "Off by default" in parser().format_help()
    trainer = EquilibriumPruning(PruningConfig(epochs=1, batch_size=64, beta=0.02, gamma=0.01,
                                               participation_lr=0.1))
    result = trainer.fit(models.mlp(64, (16, 8), 10, seed=0), digits, progress=False)
    loader, _ = digits.loaders(512, seed=0)
    plain = _certificate(trainer, result.gated, result.participation, loader)
    searched = _certificate(trainer, result.gated, result.participation, loader,
                            distinct=True)
    assert "search" not in plain
    search = searched["search"]
    assert search["starts"] >= 3 and search["distinct_equilibria"] == 1  # separable: unique
    assert search["nash_gap"] == pytest.approx(searched["relative_nash_gap"], rel=1e-9)
    for key in ("relative_nash_gap", "nearest_equilibrium_distance"):  # the search adds
        assert plain[key] == pytest.approx(searched[key], rel=1e-8)  # fields, changes none
    for key in ("stability", "nearest_equilibrium_method", "pruned"):
        assert plain[key] == searched[key]


def test_the_flag_turns_the_search_on_and_the_summary_times_both_parts(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", *TOY, "--distinct-equilibria", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["certificate"]["search"]["distinct_equilibria"] == 1
    assert "distinct equilibria from" in capsys.readouterr().out
    seconds = summary["seconds"]
    assert seconds["training"] > 0 and seconds["certificate"] == \
        summary["certificate"]["seconds"] > 0


def test_the_certificate_solves_once_from_s_and_certifies_what_it_reports(digits):
    trainer = EquilibriumPruning(PruningConfig(epochs=1, batch_size=64, beta=0.02, gamma=0.01,
                                               participation_lr=0.1))
    result = trainer.fit(models.mlp(64, (16, 8), 10, seed=0), digits, progress=False)
    loader, _ = digits.loaders(512, seed=0)
    certificate = _certificate(trainer, result.gated, result.participation, loader)
    assert certificate["game_measured"] and certificate["solves"] >= 1
    assert certificate["nearest_equilibrium_converged"]  # a separable game: Newton certifies
    game = trainer.final_game(result.gated, loader, n_batches=len(loader))
    assert certificate["relative_nash_gap"] == pytest.approx(
        float(nash_gap(game, result.participation)), rel=1e-9)


def test_with_the_game_in_the_loop_the_final_measurement_is_reused(digits):
    """The game the final solve measured last is the final game at the final s: the
    certificate on it equals the certificate on the game measured again."""
    trainer = EquilibriumPruning(PruningConfig(epochs=1, batch_size=64, beta=0.02, gamma=0.01,
                                               equilibrium_every=10, equilibrium_sample=128))
    result = trainer.fit(models.mlp(64, (16, 8), 10, seed=0), digits, progress=False)
    assert result.remeasured_game is not None
    loader, _ = digits.loaders(512, seed=0)
    reused = _certificate(trainer, result.gated, result.participation, loader,
                          game=result.remeasured_game)
    measured = _certificate(trainer, result.gated, result.participation, loader)
    assert not reused["game_measured"] and measured["game_measured"]
    np.testing.assert_allclose(result.remeasured_game.benefit,
                               trainer.final_game(result.gated, loader, len(loader)).benefit,
                               rtol=1e-6, atol=1e-9)
    for key in ("relative_nash_gap", "kkt_residual"):
        assert reused[key] == pytest.approx(measured[key], rel=1e-5, abs=1e-9)
    assert reused["stability"] == measured["stability"]
