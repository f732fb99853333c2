"""One spelling of every flag across every command line (docs/design.md, "Command line").

Every parser is built through `analysis.cli.parsers` (the ``pruning-game`` subcommands, ``train``,
``demo`` and every study's ``parser()``), so a new command is held to the same rules.
"""

from __future__ import annotations

import argparse

import pytest

from analysis.cli import STUDIES, parsers

PARSERS = parsers()


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {flag: action for action in parser._actions for flag in action.option_strings}


def test_every_command_is_listed() -> None:
    assert {"compare", "sweep", "solve", "demo", "train"} <= set(PARSERS)
    assert {f"reproduce {study}" for study in STUDIES} <= set(PARSERS)


@pytest.mark.parametrize("name", [n for n, p in PARSERS.items() if "--seeds" in _options(p)])
def test_every_seeds_flag_takes_a_comma_separated_list(name: str) -> None:
    args = PARSERS[name].parse_args(["--seeds", "0,1,2"])
    seeds = args.seeds
    if isinstance(seeds, str):  # compare checks its seeds itself (nets.compare names the fault)
        seeds = tuple(int(s) for s in seeds.split(","))
    assert tuple(seeds) == (0, 1, 2)


@pytest.mark.parametrize("name", ["reproduce filters", "reproduce overlap"])
def test_space_separated_seeds_are_refused(name: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        PARSERS[name].parse_args(["--seeds", "0", "1", "2"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: 1 2" in capsys.readouterr().err


def test_commands_with_seeds_include_every_study() -> None:
    with_seeds = {n for n, p in PARSERS.items() if "--seeds" in _options(p)}
    assert with_seeds >= {"compare"} | {f"reproduce {study}" for study in STUDIES}


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_one_spelling_per_meaning(name: str) -> None:
    """Lists are comma-separated, never ``nargs``; one flag keeps the first N examples."""
    options = _options(PARSERS[name])
    assert "--data-limit" not in options and "--out-dir" not in options
    spread = [flag for flag, action in options.items() if action.nargs in ("+", "*")]
    assert not spread, f"{name}: {spread} take space-separated values; use comma-separated"
    if "--data" in options:
        assert "--root" in options


def test_limit_keeps_the_first_examples_in_filters() -> None:
    args = PARSERS["reproduce filters"].parse_args(["--limit", "200", "--sparsities", "0.5,0.75",
                                                    "--methods", "random,taylor"])
    assert args.limit == 200
    assert args.sparsities == (0.5, 0.75) and args.methods == ("random", "taylor")


def test_bench_removal_spells_its_latency_flags_like_reproduce_filters(
        capsys: pytest.CaptureFixture[str]) -> None:
    from bench.removal import parse_args

    args = parse_args(["--latency-repeats", "3", "--latency-batch", "16",
                       "--latency-warmup", "1"])
    assert (args.latency_repeats, args.latency_batch, args.latency_warmup) == (3, 16, 1)
    assert {"--latency-batch", "--latency-repeats"} <= set(_options(PARSERS["reproduce filters"]))
    with pytest.raises(SystemExit):
        parse_args(["--repeats", "3"])
    assert "unrecognized arguments: --repeats" in capsys.readouterr().err
