"""``pruning-game train``: one equilibrium-pruning run (Algorithm 1), resumable, certified.

Start from a named configuration (``demo``, or one of the paper's Table 1 configurations in
`nets.PAPER_CONFIGS`) and override any choice with flags; train on any dataset
`nets.data.load` reads; then remove the units with s < epsilon, certify the final participation
on the final game (relative Nash gap, stability, uniqueness certificate, and the equilibrium
one solve reaches from s; ``--distinct-equilibria`` also searches for distinct equilibria from
several starts, off by default) and write to ``--out``:

- ``summary.json``: the configuration, per-epoch history, final participation, accuracy with
  soft gates and after removal, sizes, the certificate, and the seconds of training and of
  the certificate (``seconds``: wall clock; ``cpu_seconds``: this process's CPU time);
- ``pruned_model.pt``: the physically smaller network, written by `nets.save_model` (it loads
  with ``torch.load(path, weights_only=True)``): an ``nn.Sequential`` for ``mlp`` and
  ``lenet5``, read with ``nets.load_model(path)``; for a traced model (``resnet_cifar``,
  ``resnet18_like``, ``vit``, ``mlp_mixer``) its shapes and state, read into a fresh instance
  with ``nets.load_model(path, model=nets.models.NAME(...))``. The command prints the exact
  call, and ``summary.json`` holds it under ``pruned_model``;
- ``training_dynamics.png`` and ``participation_histogram.png``;
- ``checkpoint/``: written after every epoch, with ``run_config.json``, the whole run
  configuration (data, root, limit, model, widths, every option); rerunning the same command
  resumes from it, and a command that asks for a different run into the same ``--out`` is
  refused with one line naming the fields that differ (use another ``--out``).

``--out`` is checked (a folder, or absent, in a writable place) and the data files are found
and their headers checked before any training starts.

    pruning-game train --config extreme_beta --data fashion-mnist --epochs 20 --out runs/eb
    pruning-game train --config demo --beta 0.02 --eta 0.05 --seed 3
"""

from __future__ import annotations

import argparse
import time
import typing
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import DataLoader

from analysis.arguments import (
    OneLineParser,
    comma_ints,
    device_name,
    key_values,
    non_negative_int,
    one_line,
    out_dir,
    positive_float,
    positive_int,
)
from analysis.demo import write_json
from analysis.plots import participation_histogram, training_dynamics
from analysis.runner import (
    GAME_FIELDS,
    MODELS,
    SHARED_FIELDS,
    TRACED_MODELS,
    RunConfig,
    build_model,
)
from equilibria.certify import SolveBudget
from equilibria.plain import to_plain
from nets.presets import DEMO_WIDTHS, PAPER_WIDTHS, PRESETS
from nets.training import PruningConfig

__all__ = ["CERTIFICATE_BUDGET", "CONFIG_NAMES", "RUN_RECORD", "load_call", "main", "named_config",
           "parser", "run_differences"]

#: The file in ``--out/checkpoint`` that records the run the checkpoint belongs to.
RUN_RECORD = "run_config.json"

#: Names ``--config`` accepts: the demo's configuration and the paper's Table 1
#: (`nets.presets.PRESETS`).
CONFIG_NAMES = tuple(PRESETS)
#: Flags of the run's training fields (`analysis.runner.SHARED_FIELDS`), default: the
#: configuration's.
_TRAINING_FLAGS = SHARED_FIELDS
#: Flags of the game options (`analysis.runner.GAME_FIELDS` but the name, which ``--config``
#: sets), default: the configuration's.
_GAME_FLAGS = tuple(name for name in GAME_FIELDS if name != "name")


def named_config(name: str) -> tuple[dict[str, Any], tuple[int, ...]]:
    """The game options and default hidden widths of a named configuration.

    Raises
    ------
    ValueError
        For an unknown name (the message lists `CONFIG_NAMES`).
    """
    if name not in PRESETS:
        raise ValueError(f"--config must be one of {CONFIG_NAMES}; got {name!r}")
    options = {k: v for k, v in PRESETS[name].to_dict().items() if k not in SHARED_FIELDS}
    return options, DEMO_WIDTHS if name == "demo" else PAPER_WIDTHS


def _add_field_flags(group: Any, names: tuple[str, ...]) -> None:
    """One flag per `PruningConfig` field in `names`, typed from the field's annotation
    (`_ARGUMENT_TYPES`), with the field's choices; a flag not given leaves no attribute
    (``argparse.SUPPRESS``): the configuration's value stays."""
    hints = typing.get_type_hints(PruningConfig)
    for name in names:
        flag = "--" + name.replace("_", "-")
        kind = hints[name]
        if kind is bool:
            group.add_argument(flag, action="store_true", default=argparse.SUPPRESS,
                               help=f"PruningConfig.{name}")
            continue
        choices = PruningConfig.choices.get(name)
        group.add_argument(flag, type=_FIELD_TYPES.get(name, _ARGUMENT_TYPES[kind]),
                           default=argparse.SUPPRESS, choices=choices,
                           metavar="{" + ",".join("none" if c is None else c for c in choices)
                           + "}" if choices else None,
                           help=f"PruningConfig.{name} (default: the configuration's)")


def parser() -> argparse.ArgumentParser:
    """The ``pruning-game train`` command line (the training and game flags generated from
    the fields of `nets.PruningConfig`)."""
    p = OneLineParser(
        prog="pruning-game train",
        description="Train with equilibrium-driven pruning (Algorithm 1 of Shah & Khan 2025), "
                    "remove the pruned units, certify the final participation; resumable.")
    p.add_argument("--config", default="demo", choices=CONFIG_NAMES,
                   help="starting configuration (default demo); flags below override it")
    p.add_argument("--data", default="digits",
                   help="digits (default, bundled), fashion-mnist, mnist (needs --root), "
                        "synthetic")
    p.add_argument("--root", default=None, help="folder of the IDX files")
    p.add_argument("--limit", type=positive_int, default=None,
                   help="keep the first N examples")
    p.add_argument("--model", choices=MODELS, default="mlp")
    p.add_argument("--hidden", type=comma_ints, default=None,
                   help="hidden widths, e.g. 512,256 (default: the configuration's); mlp and "
                        "lenet5 only")
    p.add_argument("--model-options", type=key_values, default=None,
                   help="arguments of a traced model (resnet_cifar, resnet18_like, vit, "
                        "mlp_mixer), e.g. depth=20,width=16 (default: the model's own)")
    p.add_argument("--out", type=out_dir, default=None,
                   help="output folder (default results/train/<config>); checked before any "
                        "work, and a different run already in it is refused")
    p.add_argument("--no-certify", dest="certify", action="store_false",
                   help="skip the certificate of the final participation")
    p.add_argument("--distinct-equilibria", action="store_true",
                   help="also search the final game for distinct equilibria from several "
                        "starts (zeros, ones, s, random; several times the certificate's work). "
                        "Off by default: the certificate solves the game once, from s")
    _add_field_flags(p.add_argument_group("training (override the configuration)"),
                     _TRAINING_FLAGS)
    _add_field_flags(p.add_argument_group("game options (override the configuration)"),
                     _GAME_FLAGS)
    return p


def _optional_name(text: str) -> str | None:
    """A choice that may be None: ``none``, ``None`` or empty mean None."""
    return None if text in ("none", "None", "") else text


#: Argument types of the flags by field type; ``seed``, ``lr`` and ``equilibrium_every`` (0 is
#: off) have their own bounds.
_ARGUMENT_TYPES: dict[Any, Any] = {int: positive_int, float: float, str: str,
                                   str | None: _optional_name}
_FIELD_TYPES: dict[str, Any] = {"seed": non_negative_int, "lr": positive_float,
                               "equilibrium_every": non_negative_int, "device": device_name}


def run_differences(recorded: dict[str, Any], requested: dict[str, Any]) -> list[str]:
    """The fields in which two `RunConfig.to_dict` records differ, as ``"field: old -> new"``.

    Method options are compared one by one (``"pruning.beta: 0.01 -> 0.02"``).
    """
    differences = []
    for name in sorted(set(recorded) | set(requested)):
        old, new = recorded.get(name), requested.get(name)
        if name == "pruning" and isinstance(old, dict) and isinstance(new, dict):
            differences += [f"pruning.{key}: {old.get(key)!r} -> {new.get(key)!r}"
                            for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)]
        elif old != new:
            differences.append(f"{name}: {old!r} -> {new!r}")
    return differences


def _check_resumable(out: Path, config: RunConfig) -> None:
    """Refuse to resume or overwrite a different run held in ``out``.

    The run is the one recorded in ``out/checkpoint/run_config.json`` (or, for a folder from
    before that record, the ``run_config`` of ``out/summary.json``).
    """
    import json

    from analysis.guard import CommandError
    from nets.training import CHECKPOINT_NAME

    checkpoint = out / "checkpoint"
    sources = [checkpoint / RUN_RECORD, out / "summary.json"]
    for source in sources:
        if not source.is_file():
            continue
        try:
            record = json.loads(source.read_text(encoding="utf-8"))
            if source.name == "summary.json":
                record = record["run_config"]
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as error:
            raise CommandError(f"--out {out}: {source} is damaged ({type(error).__name__}), so "
                               "the run it holds is unknown; use another --out or delete "
                               f"{out}") from error
        differences = run_differences(record, json.loads(json.dumps(config.to_dict())))
        if differences:
            raise CommandError(f"--out {out} holds a different run ({'; '.join(differences)}); "
                               f"use another --out, or delete {out} to start over")
        return
    if (checkpoint / CHECKPOINT_NAME).exists():
        raise CommandError(f"--out {out} holds a checkpoint without a record of its run "
                           f"({checkpoint / RUN_RECORD} is missing), so it cannot be resumed "
                           f"safely; use another --out, or delete {out} to start over")


def _check_data(config: RunConfig) -> None:
    """Find the data files and check their headers, naming ``--data``, before any work."""
    from analysis.guard import CommandError
    from nets.data import DatasetFormatError, DatasetNotFoundError, check

    try:
        check(config.dataset, config.data_root)
    except (DatasetNotFoundError, DatasetFormatError, ValueError) as error:
        root = f" --root {config.data_root}" if config.data_root else ""
        raise CommandError(f"--data {config.dataset}{root}: {one_line(str(error))}") from error


def _run_config(args: argparse.Namespace) -> RunConfig:
    options, widths = named_config(args.config)
    given = vars(args)
    options.update({name: given[name] for name in _GAME_FLAGS if name in given})
    base = PRESETS[args.config]
    training = {name: given.get(name, getattr(base, name)) for name in _TRAINING_FLAGS}
    return RunConfig(dataset=args.data, data_root=args.root, data_limit=args.limit,
                     model=args.model, model_options=args.model_options,
                     hidden=args.hidden if args.model in TRACED_MODELS else args.hidden or widths,
                     method="equilibrium",
                     pruning=options, **training, tag=f"train/{args.config}")


#: Work limits of the certificate's one solve (`equilibria.certify.first_equilibrium` from the
#: trained participation): Newton, which from a nearby start converges within a few steps or
#: cycles, gets 25 steps; the first-order fallbacks 4,000 iterations (Gauss-Seidel sweeps
#: 1,000); each solve at most 20 s (a safety net).
CERTIFICATE_BUDGET = SolveBudget(max_iter=4_000, newton_max_iter=25, max_seconds=20.0)


def _certificate(trainer: Any, gated: Any, participation: np.ndarray, loader: Any, *,
                 game: Any = None, distinct: bool = False) -> dict[str, Any]:
    """Nash gap and stability of the final participation on the final game
    (`equilibria.certify.certify_profile`), and the equilibrium one warm-started solve finds
    from it (`equilibria.certify.first_equilibrium` under `CERTIFICATE_BUDGET`: Newton, then
    Gauss-Seidel best response, projected gradient, extragradient, the first that certifies).

    Parameters
    ----------
    trainer : EquilibriumPruning
    gated : GatedNetwork
        The trained network.
    participation : ndarray
        Its final s.
    loader : iterable of (inputs, labels)
        The final game's batches (all of them), measured unless `game` is given.
    game : ParticipationGame, optional
        The final game already measured on `loader` at the final weights and s (the game in
        the loop's last measurement, `PruningResult.remeasured_game`): not measured again.
    distinct : bool, default False
        Also search for distinct equilibria (`equilibria.certify.certify`: solves from zeros,
        ones, s and random starts; several times the work), under ``"search"``.

    Returns
    -------
    dict
        Plain values for ``summary.json``; the nearest-equilibrium fields are None when no
        solver certifies one within the budget; ``seconds`` and ``cpu_seconds`` are the
        certificate's wall and CPU (this process's) time.
    """
    from equilibria.certify import certify, certify_profile, first_equilibrium
    from nets.progress import progress_bar

    started, cpu_started = time.perf_counter(), time.process_time()
    epsilon = trainer.config.epsilon
    with progress_bar(3, "certificate", unit="step") as bar:
        measured = game is None
        if measured:
            game = trainer.final_game(gated, loader, n_batches=len(loader))
        bar.set_postfix_str(f"final game of {game.n_players} players from {len(loader)} "
                            f"batches{'' if measured else ' (measured by the final solve)'}")
        bar.update(1)
        check = certify_profile(game, participation)
        bar.set_postfix_str(f"stability: {check.stability.classification}")
        bar.update(1)
        nearest, tried = first_equilibrium(game, participation, CERTIFICATE_BUDGET)
        bar.set_postfix_str("nearest equilibrium " + (
            f"solved ({nearest.method})" if nearest is not None else "not certified"))
        bar.update(1)
    found = nearest is not None
    certificate: dict[str, Any] = {
        "relative_nash_gap": check.nash_gap, "kkt_residual": check.kkt_residual,
        "stability": check.stability.classification,
        "unique_certified": check.stability.unique,
        "nearest_equilibrium_converged": found,
        "nearest_equilibrium_method": nearest.method if found else None,
        "nearest_equilibrium_distance": float(np.abs(nearest.profile - participation).max())
        if found else None,
        "nearest_equilibrium_pruned": int((nearest.profile < epsilon).sum()) if found else None,
        "pruned": int((participation < epsilon).sum()),
        "solves": len(tried), "game_measured": measured}
    if distinct:
        search = certify(game, participation, epsilon=epsilon, seed=trainer.config.seed,
                         budget=CERTIFICATE_BUDGET)
        certificate["search"] = to_plain(search.to_row())
    certificate["seconds"] = time.perf_counter() - started
    certificate["cpu_seconds"] = time.process_time() - cpu_started
    return certificate


def _certificate_line(certificate: dict[str, Any]) -> str:
    """The certificate as the one line ``pruning-game train`` prints."""
    line = (f"certificate on the final game: relative Nash gap "
            f"{certificate['relative_nash_gap']:.3e}, stability {certificate['stability']}, "
            f"unique certified {certificate['unique_certified']}; ")
    if certificate["nearest_equilibrium_converged"]:
        line += (f"nearest equilibrium ({certificate['nearest_equilibrium_method']}) "
                 f"{certificate['nearest_equilibrium_distance']:.3g} away, prunes "
                 f"{certificate['nearest_equilibrium_pruned']} (s prunes "
                 f"{certificate['pruned']})")
    else:
        line += (f"no equilibrium certified from s within the budget (s prunes "
                 f"{certificate['pruned']})")
    if "search" in certificate:
        search = certificate["search"]
        line += (f"; {search['distinct_equilibria']} distinct equilibria from "
                 f"{search['starts']} starts, {search['stable_equilibria']} stable")
    return line + f"; {certificate['seconds']:.1f} s"


def load_call(config: RunConfig, input_shape: tuple[int, ...], n_classes: int,
              path: Path | str) -> str:
    """The Python call that loads the ``pruned_model.pt`` of a run of `config`.

    ``nets.load_model(path)`` for the flat models, whose file describes its layers; for a
    traced model, ``nets.load_model(path, model=nets.models.NAME(...))`` with the builder's
    arguments of `analysis.runner.build_model` (a fresh unpruned instance that the saved
    shapes and state are loaded into).
    """
    if config.model not in TRACED_MODELS:
        return f"nets.load_model({str(path)!r})"
    arguments = {"in_channels": input_shape[0], "num_classes": n_classes,
                 "input_size": input_shape[1], **dict(config.model_options)}
    shown = ", ".join(f"{name}={value!r}" for name, value in arguments.items())
    return f"nets.load_model({str(path)!r}, model=nets.models.{config.model}({shown}))"


def main(argv: list[str] | None = None) -> int:
    """Run ``pruning-game train``; returns the exit status."""
    from nets import EquilibriumPruning, apply_participation, evaluate, save_model
    from nets.data import load

    p = parser()
    args = p.parse_args(argv)
    try:
        config = _run_config(args)
        pruning = config.pruning_config()
    except ValueError as error:
        p.error(str(error))
    try:
        out = args.out or out_dir(Path("results/train") / args.config)
    except argparse.ArgumentTypeError as error:
        p.error(f"argument --out (default): {error}")
    _check_resumable(out, config)
    _check_data(config)
    bundle = load(config.dataset, config.data_root, limit=config.data_limit)
    model = build_model(config, bundle.input_shape, bundle.n_classes)
    write_json(config.to_dict(), out / "checkpoint" / RUN_RECORD)
    print(f"training {config.model} {list(config.hidden or ())} on {config.dataset} "
          f"({len(bundle.train)} train / {len(bundle.test)} test), {config.epochs} epochs; "
          + ", ".join(f"{k}={v}" for k, v in config.options.items()))
    trainer = EquilibriumPruning(pruning)
    started, cpu_started = time.perf_counter(), time.process_time()
    result = trainer.fit(model, bundle, checkpoint_dir=out / "checkpoint", progress=True)
    training_seconds = time.perf_counter() - started
    training_cpu_seconds = time.process_time() - cpu_started
    if result.resumed_from_epoch:
        print(f"resumed from the checkpoint of epoch {result.resumed_from_epoch}")
    test_loader = DataLoader(bundle.test, batch_size=512)
    removed = result.pruned("remove", on_empty="keep_strongest")
    soft = evaluate(apply_participation(result.gated, mode="fold"), test_loader,
                    reference=model, latency_repeats=0)
    hard = evaluate(removed, test_loader, reference=model, latency_repeats=0)
    s = result.participation
    summary: dict[str, Any] = {
        "run_config": config.to_dict(), "pruning_config": pruning.to_dict(),
        "history": [r.to_dict() for r in result.history], "participation": s.tolist(),
        "below_epsilon": result.below_epsilon, "accuracy_soft": soft.accuracy,
        "accuracy_removed": hard.accuracy, "removed": hard.to_dict(),
        "original": {"params": soft.params_total, "macs": soft.macs_dense},
        "seconds": {"training": training_seconds},
        "cpu_seconds": {"training": training_cpu_seconds}}
    print(f"accuracy soft gates {soft.accuracy:.4f}; after removing s < {pruning.epsilon:g}: "
          f"{hard.accuracy:.4f}; players below epsilon {result.below_epsilon:.2%}; params "
          f"{hard.params_nonzero} of the original {soft.params_total}; MACs "
          f"{hard.macs_remaining} of {soft.macs_dense}")
    if args.certify:
        train_loader, _ = bundle.loaders(512, seed=0)
        summary["certificate"] = certificate = _certificate(
            trainer, result.gated, s, train_loader, game=result.remeasured_game,
            distinct=args.distinct_equilibria)
        summary["seconds"]["certificate"] = certificate["seconds"]
        summary["cpu_seconds"]["certificate"] = certificate["cpu_seconds"]
        print(_certificate_line(certificate))
    save_model(removed, out / "pruned_model.pt")
    summary["pruned_model"] = {"file": "pruned_model.pt",
                               "load": load_call(config, bundle.input_shape, bundle.n_classes,
                                                 out / "pruned_model.pt")}
    training_dynamics({pruning.name: summary["history"]}, out / "training_dynamics.png")
    participation_histogram({pruning.name: s}, pruning.epsilon,
                            out / "participation_histogram.png")
    write_json(summary, out / "summary.json")
    print(f"wrote {out}/summary.json, pruned_model.pt, training_dynamics.png, "
          f"participation_histogram.png")
    print(f"load the pruned model with: {summary['pruned_model']['load']}")
    return 0


if __name__ == "__main__":
    from analysis.guard import run_guarded

    raise SystemExit(run_guarded("pruning-game train", main))
