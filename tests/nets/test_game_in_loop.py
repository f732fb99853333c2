"""Game in the loop (issue 11, item 4): s jumps to certified equilibria of the current game every
K steps, and the final s is an equilibrium of the final game by construction."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from equilibria.certify import EQUILIBRIUM_TOL, SOLVE_TOL, certify_profile
from nets import attach_gates, data, models
from nets.checks import PruningError
from nets.presets import DEMO
from nets.training import EquilibriumPruning, PruningConfig
from tests.test_plain_json import assert_plain_json


@pytest.fixture(scope="module")
def bundle():
    return data.load("digits", limit=300)


def _config(**changes):
    return dataclasses.replace(DEMO, **{"epochs": 2, "batch_size": 64, **changes})


def _final_game(trainer, gated, bundle):
    """The final game as ``pruning-game train``'s certificate builds it
    (analysis/train.py ``_certificate``)."""
    loader, _ = bundle.loaders(512, seed=0)
    return trainer.final_game(gated, loader, n_batches=len(loader))


@pytest.mark.parametrize("seed", [0, 1])
def test_the_final_participation_is_an_equilibrium_of_the_final_game(bundle, seed):
    trainer = EquilibriumPruning(_config(equilibrium_every=3, seed=seed))
    result = trainer.fit(models.mlp(64, (16, 8), 10, seed=seed), bundle, progress=False)
    s = result.participation
    assert np.array_equal(s, result.gated.get_participation().double().numpy())
    # by construction: the final s certifies on the game its last solve solved ...
    assert certify_profile(result.final_game, s).nash_gap <= EQUILIBRIUM_TOL
    assert result.final_certificate.is_equilibrium
    # ... whose statistics are those of pruning-game train's certificate, on the final
    # weights; measured again at s itself it is the game that certificate builds
    remeasured = certify_profile(_final_game(trainer, result.gated, bundle), s)
    assert result.remeasured_certificate.nash_gap == pytest.approx(remeasured.nash_gap,
                                                                   abs=1e-12)
    assert remeasured.is_equilibrium == result.remeasured_certificate.is_equilibrium
    record = result.to_dict()
    assert_plain_json(record)
    assert record["final_certificate"]["is_equilibrium"] is True


def test_the_final_game_uses_the_batches_of_pruning_game_trains_certificate(bundle):
    ours = EquilibriumPruning.final_game_loader(bundle.train)
    theirs, _ = bundle.loaders(512, seed=0)
    assert len(ours) == len(theirs)
    for (x, y), (u, v) in zip(ours, theirs, strict=True):
        assert torch.equal(x, u) and torch.equal(y, v)


def test_with_the_option_off_there_is_no_final_solve(bundle):
    """Off (the default) is Algorithm 1 itself: the same numbers (tests/nets/test_loop.py
    holds them against references) and no certificate."""
    config = _config()
    assert config.equilibrium_every == 0 and config.scale == "none"
    a = EquilibriumPruning(config).fit(models.mlp(64, (16, 8), 10, seed=0), bundle,
                                       progress=False)
    b = EquilibriumPruning(dataclasses.replace(config, equilibrium_sample=7)).fit(
        models.mlp(64, (16, 8), 10, seed=0), bundle, progress=False)
    assert a.final_certificate is None and a.to_dict()["final_certificate"] is None
    assert a.final_game is None and a.remeasured_certificate is None
    assert np.array_equal(a.participation, b.participation)
    assert [r.train_loss for r in a.history] == [r.train_loss for r in b.history]


def test_s_moves_only_at_the_jumps_when_the_s_step_is_off(bundle):
    """With lr_s = 0 only the slow timescale moves s: every K-th step, and nowhere else."""
    every = 3
    seen = []
    trainer = EquilibriumPruning(_config(equilibrium_every=every, participation_lr=0.0))
    trainer.fit(models.mlp(64, (16, 8), 10, seed=0), bundle, progress=False,
                on_step=lambda step: seen.append(step.model.get_participation().clone()))
    assert len(seen) >= 2 * every
    start = torch.ones_like(seen[0])
    for t, s in enumerate(seen, start=1):
        previous = start if t == 1 else seen[t - 2]
        if t % every:
            assert torch.equal(s, previous), f"s moved at step {t}, not a multiple of {every}"
    assert not torch.equal(seen[every - 1], start)  # the first jump moved it


def test_a_jump_lands_on_a_certified_equilibrium_of_the_game_it_solved(bundle):
    trainer = EquilibriumPruning(_config(equilibrium_every=1, equilibrium_sample=128))
    gated = attach_gates(models.mlp(64, (16, 8), 10, seed=3))
    loader = trainer.sample_loader(bundle.train)
    assert sum(len(x) for x, _ in loader) == 128
    game = trainer.jump_to_equilibrium(gated, loader)
    assert certify_profile(game, gated.get_participation().double().numpy()).nash_gap \
        <= max(SOLVE_TOL, 1e-9)


@pytest.mark.parametrize("field, bad", [("equilibrium_every", -1), ("equilibrium_every", 1.5),
                                        ("equilibrium_every", True),
                                        ("equilibrium_sample", 0)])
def test_bad_options_are_refused_naming_the_field(field, bad):
    with pytest.raises(PruningError, match=field):
        PruningConfig(**{field: bad})


def test_a_checkpoint_written_before_the_new_options_still_resumes(bundle, tmp_path):
    """Checkpoints record the config; one without the fields of issue 11 took their
    defaults."""
    config = _config(epochs=1)
    EquilibriumPruning(config).fit(models.mlp(64, (16, 8), 10, seed=0), bundle,
                                   checkpoint_dir=tmp_path, progress=False)
    path = tmp_path / "checkpoint.pt"
    payload = torch.load(path, weights_only=True)
    for name in ("equilibrium_every", "equilibrium_sample", "scale"):
        del payload["config"][name]
    torch.save(payload, path)
    resumed = EquilibriumPruning(config).fit(models.mlp(64, (16, 8), 10, seed=0), bundle,
                                             checkpoint_dir=tmp_path, progress=False)
    assert resumed.resumed_from_epoch == 1
    with pytest.raises(ValueError, match="different config"):
        EquilibriumPruning(dataclasses.replace(config, equilibrium_every=2)).fit(
            models.mlp(64, (16, 8), 10, seed=0), bundle, checkpoint_dir=tmp_path,
            progress=False)
