"""Tests of nets.presets: the named configurations and their lookup."""

from __future__ import annotations

import dataclasses

import pytest

import analysis.demo
import nets
from analysis.train import CONFIG_NAMES, named_config
from equilibria.errors import UnknownMethodError
from nets.baselines.equilibrium import DEFAULT_CONFIG
from nets.presets import DEMO, DEMO_CONFIG, EQUILIBRIUM, PAPER_CONFIGS, PRESETS, game_fields, preset
from nets.training import PruningConfig


def test_the_demo_preset_is_the_demo_config() -> None:
    assert DEMO == PruningConfig(**DEMO_CONFIG)
    assert preset("demo") is DEMO
    assert analysis.demo.DEMO_CONFIG is DEMO_CONFIG  # still importable from the demo


def test_the_equilibrium_baseline_default_plays_the_demo_game() -> None:
    assert DEFAULT_CONFIG is EQUILIBRIUM and EQUILIBRIUM.name == "equilibrium"
    assert game_fields(DEFAULT_CONFIG) == game_fields(DEMO)
    # what it was before it was derived from the demo's
    assert EQUILIBRIUM == PruningConfig(name="equilibrium", payoff="loss_descent", beta=0.01,
                                        gamma=0.01, eta=0.1, overlap="activations",
                                        participation_lr=0.02)


def test_paper_presets_are_table_1() -> None:
    for name, config in PAPER_CONFIGS.items():
        assert preset(name) is config
    assert {(c.beta, c.gamma) for c in PAPER_CONFIGS.values()} == {
        (0.1, 0.0), (0.5, 0.0), (0.001, 0.1), (0.05, 0.05)}


def test_presets_are_what_train_config_accepts() -> None:
    assert tuple(PRESETS) == CONFIG_NAMES
    for name in CONFIG_NAMES:
        options, _ = named_config(name)
        assert game_fields(dataclasses.replace(PRESETS[name], **options)) == \
            game_fields(PRESETS[name])


def test_nets_exports_the_presets() -> None:
    assert nets.preset is preset and nets.PRESETS is PRESETS
    assert "preset" in nets.__all__ and "PRESETS" in nets.__all__


def test_presets_cannot_be_changed_in_place() -> None:
    with pytest.raises(TypeError):
        PRESETS["demo"] = PruningConfig()  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEMO.beta = 1.0  # type: ignore[misc]


@pytest.mark.parametrize("name", ["Demo", "extreme-beta", "", None, 3], ids=repr)
def test_unknown_preset_names_list_the_known_ones(name: object) -> None:
    with pytest.raises(UnknownMethodError, match="preset name must be one of demo, ") as info:
        preset(name)  # type: ignore[arg-type]
    assert "\n" not in str(info.value)
    assert all(known in str(info.value) for known in PRESETS)
