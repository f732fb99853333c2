"""The `pruning-game` command line.

Commands:

- ``demo``: the main job (`analysis.demo`).
- ``train``: one equilibrium-pruning run from a named configuration and flags (`analysis.train`).
- ``reproduce``: the paper (``reproduce paper``, `papers.pruning_as_a_game.reproduce`) and the
  studies beyond it (``reproduce pareto|phase|certificates|overlap|filters|winning|resnet``,
  `papers.beyond`).
- ``compare``: equilibrium pruning against baselines on one dataset (`nets.compare`).
- ``sweep``: many `analysis.RunConfig` s from a JSON file (a list, or a base and a grid), run
  resumably into one result store (`analysis.sweep`), locally or on a Dask cluster.
- ``solve``: a participation game from a JSON or NPZ file: solve, certify, classify.
- ``equilibria``: every equilibrium of a small game from such a file
  (`equilibria.all_equilibria`), and optionally the basins of solvers over random starts
  (`equilibria.basins`).

Every command takes ``--help``. No input ends in a traceback. Exit status:

- 0: done (``solve``: the solver converged; 1: it did not; ``equilibria``: 1 when the search
  stopped at ``--max-nodes`` before it was complete);
- 2: bad input, refused before any work where it can be checked: one line on stderr,
  ``pruning-game CMD: error: ...``, naming the argument (``--out`` is checked for being the
  right kind of path and writable, data files are found and their headers checked, before any
  run starts);
- 3: an unexpected error, one line ``pruning-game CMD: internal error: TYPE: MESSAGE (please
  report)``; ``--debug`` (anywhere on the line) or ``PRUNING_GAME_DEBUG=1`` shows the
  traceback instead;
- 130: interrupted (Ctrl-C), one line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from analysis.arguments import (
    OneLineParser,
    add_device_argument,
    comma_names,
    non_negative_int,
    one_line,
    out_dir,
    out_file,
    positive_float,
    positive_int,
)
from analysis.guard import (  # noqa: F401  (re-exported: the CLI's error contract)
    EXIT_BAD_INPUT,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    CommandError,
    run_guarded,
)
from equilibria.atomic import atomic_write_json

#: Seconds ``sweep --dask ADDRESS`` waits for a scheduler to answer (``--dask-timeout``).
DASK_CONNECT_SECONDS = 5.0
#: ``pruning-game reproduce <study>``: the module whose ``main(argv)`` regenerates it.
STUDIES: dict[str, str] = {
    "paper": "papers.pruning_as_a_game.reproduce",
    "pareto": "papers.beyond.pareto",
    "phase": "papers.beyond.phase",
    "certificates": "papers.beyond.certificates",
    "overlap": "papers.beyond.overlap",
    "filters": "papers.beyond.filters",
    "winning": "papers.beyond.winning",
    "resnet": "papers.beyond.resnet",
}


def parser() -> OneLineParser:
    """The ``pruning-game`` command line: ``demo``, ``train`` and ``reproduce`` hand the rest
    of the line to their own parsers (`parsers` lists every one)."""
    parser = OneLineParser(prog="pruning-game", description="Neural-network pruning as a game.",
                           epilog="--debug (anywhere) or PRUNING_GAME_DEBUG=1: show the "
                                  "traceback of an unexpected error")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("demo", help="solver table and equilibrium pruning on digits",
                        add_help=False)
    commands.add_parser("train", help="one equilibrium-pruning run (named config + flags)",
                        add_help=False)
    commands.add_parser("reproduce", add_help=False,
                        help=f"regenerate a study: {', '.join(STUDIES)}")
    _compare_parser(commands)
    _sweep_parser(commands)
    _solve_parser(commands)
    _equilibria_parser(commands)
    return parser


def parsers() -> dict[str, argparse.ArgumentParser]:
    """Every command line of the project by its name (``"compare"``, ``"reproduce pareto"``).

    Built without running anything; the tests use it to hold every command to one spelling of
    each flag (``--seeds 0,1,2``, ``--limit N``; docs/design.md, "Command line"). Importing the
    study modules imports torch.
    """
    import importlib

    from analysis import demo, train

    top = parser()
    found: dict[str, argparse.ArgumentParser] = {}
    for action in top._actions:  # argparse has no public accessor for its subparsers
        if isinstance(action, argparse._SubParsersAction):
            found.update((name, sub) for name, sub in action.choices.items()
                         if name not in ("demo", "train", "reproduce"))
    found["demo"], found["train"] = demo.parser(), train.parser()
    for study, module_name in STUDIES.items():
        module = importlib.import_module(module_name)
        found[f"reproduce {study}"] = module.parser()
    return found


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``pruning-game`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get("PRUNING_GAME_DEBUG", "") not in ("", "0")
    argv = [arg for arg in argv if arg != "--debug"]
    parser_ = parser()
    args, rest = parser_.parse_known_args(argv)
    if args.command is None:
        parser_.print_help(sys.stderr)
        return EXIT_BAD_INPUT
    if args.command in ("demo", "train", "reproduce"):  # their own parsers take the rest
        def handler(_: argparse.Namespace) -> int:
            if args.command == "reproduce":
                return _reproduce(rest)
            import importlib

            return int(importlib.import_module(f"analysis.{args.command}").main(rest) or 0)
    else:
        if rest:
            parser_.error(f"unrecognized arguments: {' '.join(rest)}")
        handler = args.handler
    prog = f"pruning-game {args.command}"
    if args.command == "reproduce" and rest and rest[0] in STUDIES:
        prog += f" {rest[0]}"
    return run_guarded(prog, handler, args, debug=debug)


# ---------------------------------------------------------------------------- reproduce
def _reproduce(argv: list[str]) -> int:
    """``pruning-game reproduce STUDY [options]``: hand the options to the study's ``main``."""
    usage = (f"usage: pruning-game reproduce {{{','.join(STUDIES)}}} [--quick] [--out DIR] "
             f"[options]\n\nRegenerate a study's tables and figures (resumable). "
             f"'pruning-game reproduce STUDY --help' lists a study's options.\n\nstudies:\n"
             + "".join(f"  {name:<14}python -m {module}\n" for name, module in STUDIES.items()))
    if not argv or argv[0] in ("-h", "--help"):
        print(usage, file=sys.stdout if argv else sys.stderr)
        return 0 if argv else EXIT_BAD_INPUT
    study, rest = argv[0], argv[1:]
    if study not in STUDIES:
        print(f"pruning-game reproduce: error: unknown study {study!r}; choose from "
              f"{', '.join(STUDIES)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    import importlib

    return int(importlib.import_module(STUDIES[study]).main(rest) or 0)


# ---------------------------------------------------------------------------- compare
def _compare_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "compare", help="equilibrium pruning against baselines (nets.compare)",
        description="Run equilibrium pruning and baselines at several sparsities and seeds on "
                    "one dataset, the same budget and the same metrics; print a Markdown table "
                    "and optionally write CSV.")
    parser.add_argument("--data", default="digits",
                        help="dataset name for nets.data.load (default digits)")
    parser.add_argument("--root", default=None, help="folder holding mnist / fashion-mnist")
    parser.add_argument("--limit", type=positive_int, default=None,
                        help="keep the first N examples")
    parser.add_argument("--methods", default="all",
                        help="comma-separated method names, or 'all' (default)")
    parser.add_argument("--sparsities", default="0.5,0.7,0.8,0.9,0.95",
                        help="comma-separated target sparsities in [0, 1)")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds, e.g. 0,1,2 "
                                                      "(default 0)")
    parser.add_argument("--granularity", choices=("structured", "unstructured"),
                        default="structured")
    parser.add_argument("--schedule", default="one_shot",
                        help="one_shot, iterative, progressive or at_init")
    parser.add_argument("--epochs", type=positive_int, default=10,
                        help="training budget in epochs (default 10)")
    parser.add_argument("--lr", type=positive_float, default=3e-3,
                        help="weight learning rate (default 0.003)")
    parser.add_argument("--batch-size", type=positive_int, default=128)
    parser.add_argument("--out", type=out_file, default=None,
                        help="write the table as CSV here (a file; checked before any run)")
    add_device_argument(parser)
    parser.set_defaults(handler=_compare)


def _floats(text: str, name: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError as error:
        raise CommandError(f"--{name} must be comma-separated numbers; got {text!r}") from error


def _check_data(name: str, root: str | None, option: str = "--data") -> None:
    """Refuse a dataset whose files are missing or damaged, naming ``option``, before any run."""
    from nets import data as datasets

    try:
        datasets.check(name, root)
    except (datasets.DatasetNotFoundError, datasets.DatasetFormatError, ValueError) as error:
        raise CommandError(f"{option} {name}" + (f" --root {root}" if root else "") + ": "
                           + one_line(str(error))) from error


def _check_device(device: str, option: str) -> None:
    """Refuse a device this machine does not have, naming ``option``, before any run."""
    from nets.device import resolve_device

    try:
        resolve_device(device)
    except ValueError as error:
        raise CommandError(f"{option} {device}: {one_line(str(error))}") from error


def _load_data(name: str, root: str | None, limit: int | None) -> Any:
    """`nets.data.load` after `_check_data`: a bad ``--data`` fails naming the option."""
    from nets import data as datasets

    _check_data(name, root)
    return datasets.load(name, root, limit=limit)


def _compare(args: argparse.Namespace) -> int:
    from nets.baselines import Budget
    from nets.compare import compare, to_csv, to_markdown

    methods = "all" if args.methods.strip() == "all" else \
        [m.strip() for m in args.methods.split(",") if m.strip()]
    sparsities = _floats(args.sparsities, "sparsities")
    seeds = tuple(int(s) if s.is_integer() else s for s in _floats(args.seeds, "seeds"))
    bundle = _load_data(args.data, args.root, args.limit)
    budget = Budget(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                    device=args.device)
    rows = compare(methods, sparsities=sparsities, seeds=seeds, data=bundle, budget=budget,
                   granularity=args.granularity, schedule=args.schedule,
                   progress=True)
    print(to_markdown(rows))
    if args.out is not None:
        print(f"\nwrote {to_csv(rows, args.out)}")
    return 0


# ---------------------------------------------------------------------------- sweep
def _sweep_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "sweep", help="run many RunConfigs from a JSON file, resumably",
        description="Run the RunConfigs a JSON file describes into one result store "
                    "(DIR/results.jsonl; finished configs are skipped on rerun), then print "
                    "a Markdown summary and write DIR/results.csv. The file holds either a "
                    "list of RunConfig dicts, or {\"base\": {...}, \"grid\": {field: [values]}} "
                    "expanded as a Cartesian product; grid fields named pruning.NAME set a "
                    "method option, e.g. {\"pruning.beta\": [0.01, 0.1]}.")
    parser.add_argument("configs", type=Path, help="a .json file (see above)")
    parser.add_argument("--out", type=out_dir, required=True,
                        help="result folder (checked before any run)")
    parser.add_argument("--workers", type=positive_int, default=None,
                        help="local worker processes (default: one per core)")
    parser.add_argument("--dask", default=None, metavar="ADDRESS",
                        help="run on the Dask scheduler at ADDRESS (needs the dask extra)")
    parser.add_argument("--dask-timeout", type=positive_float, default=DASK_CONNECT_SECONDS,
                        metavar="SECONDS",
                        help="give up when no scheduler answers at ADDRESS within SECONDS "
                             f"(default {DASK_CONNECT_SECONDS:g})")
    parser.add_argument("--on-error", choices=("raise", "skip", "stop"), default="raise",
                        help="a failed run is recorded in OUT/errors.jsonl while the others "
                             "finish; then 'raise' (default) exits with status 2 naming the "
                             "failures, 'skip' warns and exits 0, 'stop' starts no new run "
                             "after the first failure")
    add_device_argument(parser, default=None, shown="each config's own (cpu unless it says)")
    parser.set_defaults(handler=_sweep)


def expand_grid(spec: Any) -> list[dict[str, Any]]:
    """RunConfig dicts from a list of them or a ``{"base", "grid"}`` mapping (see ``sweep``).

    Raises
    ------
    CommandError
        For any other shape, naming what is expected.
    """
    import itertools

    if isinstance(spec, list):
        if not all(isinstance(item, dict) for item in spec):
            raise CommandError("a list of configs must hold JSON objects (RunConfig fields)")
        return spec
    if not isinstance(spec, dict) or not set(spec) <= {"base", "grid"}:
        raise CommandError('the configs file must hold a list of RunConfig objects or '
                           '{"base": {...}, "grid": {field: [values, ...]}}')
    base, grid = spec.get("base", {}), spec.get("grid", {})
    if not isinstance(base, dict) or not isinstance(grid, dict):
        raise CommandError('"base" and "grid" must be JSON objects')
    for name, values in grid.items():
        if not isinstance(values, list) or not values:
            raise CommandError(f"grid[{name!r}] must be a non-empty list of values")
    configs = []
    for combination in itertools.product(*grid.values()):
        config = {**base, "pruning": dict(base.get("pruning", {}))}
        for name, value in zip(grid, combination, strict=True):
            if name.startswith("pruning."):
                config["pruning"][name.removeprefix("pruning.")] = value
            else:
                config[name] = value
        configs.append(config)
    return configs


def _sweep(args: argparse.Namespace) -> int:
    from analysis import RunConfig
    from analysis.sweeps import SweepError, load_results
    from analysis.tables import sweep_summary, to_csv, to_markdown

    spec = _read_json(args.configs, "configs file")
    configs = []
    for index, record in enumerate(expand_grid(spec)):
        try:
            config = RunConfig.from_dict(record)
            configs.append(config if args.device is None else config.replace(device=args.device))
        except (TypeError, ValueError) as error:
            raise CommandError(f"{args.configs}: config {index}: {one_line(str(error))}"
                               ) from error
    for name, root in sorted({(c.dataset, c.data_root) for c in configs}, key=str):
        _check_data(name, root, option=f"{args.configs}: dataset")
    for device in sorted({c.device for c in configs}):  # before any run, as the data
        _check_device(device, f"{args.configs}: device")
    try:
        rows = _run_sweep(args, configs)
    except SweepError as error:  # the finished runs are stored: show them, then the failures
        wanted = {config.key for config in configs}
        finished = [r for r in load_results(args.out) if r["key"] in wanted]
        if finished:
            print(to_markdown(sweep_summary(finished)))
        raise CommandError(one_line(str(error))) from error
    wanted = {config.key for config in configs}
    summary = sweep_summary(r for r in rows if r.key in wanted)
    print(to_markdown(summary))
    print(f"\n{len(summary)} runs; wrote {to_csv(rows, args.out / 'results.csv')}")
    return 0


def _run_sweep(args: argparse.Namespace, configs: list[Any]) -> list[Any]:
    """`analysis.sweep` of `configs` into ``--out``, on Dask when ``--dask`` names a scheduler."""
    from analysis import sweep

    if args.dask is not None:
        try:
            from distributed import Client
        except ImportError as error:
            raise CommandError("--dask needs the dask extra: pip install "
                               "'pruning-game[dask]'") from error
        try:
            client = Client(args.dask, timeout=args.dask_timeout)
        except (OSError, TimeoutError, ValueError, TypeError) as error:
            raise CommandError(
                f"--dask {args.dask}: no Dask scheduler answered within {args.dask_timeout:g} s "
                f"({type(error).__name__}); start one with `dask scheduler` and pass the "
                "address it prints, e.g. tcp://127.0.0.1:8786") from error
        with client:
            return sweep(configs, args.out, client.get_executor(), on_error=args.on_error,
                         progress=True)
    return sweep(configs, args.out, max_workers=args.workers, on_error=args.on_error,
                 progress=True)


# ---------------------------------------------------------------------------- solve
def _solve_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "solve", help="solve, certify and classify a game from a JSON or NPZ file",
        description="Read a participation game (equilibria.io's layout; keys: benefit, "
                    "quadratic_cost, linear_cost, competition as an N x N matrix, factors + "
                    "scale for LowRank or competition_data/indices/indptr/shape for CSR, "
                    "bounds), solve it, certify it by its Nash gap and classify its "
                    "stability.")
    parser.add_argument("game", type=Path, help="a .json or .npz file")
    parser.add_argument("--method", default="newton",
                        help="solver (equilibria.METHODS; default newton)")
    parser.add_argument("--tol", type=positive_float, default=1e-8, help="relative Nash gap")
    parser.add_argument("--max-iter", type=positive_int, default=10_000)
    parser.add_argument("--out", type=out_file, default=None,
                        help="write the profile and the certificate as JSON here (a file; "
                             "checked before solving)")
    parser.set_defaults(handler=_solve)


def _read_json(path: Path, what: str) -> Any:
    """The JSON value in ``path``; `CommandError` naming ``what`` and the path otherwise."""
    if not path.exists():
        raise CommandError(f"no {what} at {path}")
    if not path.is_file():
        raise CommandError(f"{what} {path} is a folder; give a .json file")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CommandError(f"{what} {path} is not valid JSON: {error}") from error


def read_game(path: Path) -> Any:
    """A ParticipationGame from a JSON or NPZ file (`equilibria.io`; see ``solve``'s help).

    Raises
    ------
    CommandError
        For an unreadable, truncated or corrupt file, or one whose contents are not a valid
        game (`equilibria.io.GameFileError`'s one line: the file and what is wrong).
    FileNotFoundError
        When there is no file at `path`.
    """
    from equilibria.errors import GameFileError
    from equilibria.io import load_game

    try:
        return load_game(path)
    except GameFileError as error:
        raise CommandError(one_line(str(error))) from error


def _solve(args: argparse.Namespace) -> int:
    from equilibria import solve
    from equilibria.certify import certify_profile

    game = read_game(args.game)
    result = solve(game, args.method, tol=args.tol, max_iter=args.max_iter)
    check = certify_profile(game, result.profile)
    report = check.stability
    lo = game.bounds[0]
    summary = {
        "players": game.n_players, "method": result.method, "converged": result.converged,
        "relative_nash_gap": result.nash_gap, "kkt_residual": check.kkt_residual,
        "iterations": result.iterations, "seconds": result.seconds,
        "at_lower_bound": int((result.profile <= lo).sum()),
        "stability": report.classification, "unique": report.unique,
        "potential_game": report.is_potential,
        "best_response_radius": report.br_spectral_radius,
    }
    width = max(len(k) for k in summary)
    for key, value in summary.items():
        shown = f"{value:.3e}" if isinstance(value, float) else value
        print(f"{key:<{width}}  {shown}")
    if args.out is not None:
        payload = {**summary, "profile": result.profile.tolist(), "message": result.message,
                   "stability_report": report.to_dict()}
        atomic_write_json(args.out, payload, indent=2)
        print(f"wrote {args.out}")
    return 0 if result.converged else 1


# ---------------------------------------------------------------------------- equilibria
def _equilibria_parser(commands: Any) -> None:
    from equilibria.certify import SOLVE_TOL
    from equilibria.enumerate import MAX_NODES, MAX_PLAYERS

    parser = commands.add_parser(
        "equilibria", help="every equilibrium of a small game from a file, and solver basins",
        description="Read a participation game (the layout of 'solve'), enumerate every "
                    "equilibrium (equilibria.all_equilibria: each player at 0, at 1 or "
                    "interior, pruned by dominance; certified by the relative Nash gap) and "
                    "classify each one's stability; with --basins, run each solver from "
                    "--starts random profiles and report the share of starts ending at each "
                    "equilibrium (equilibria.basins).")
    parser.add_argument("game", type=Path, help="a .json or .npz file")
    parser.add_argument("--max-players", type=positive_int, default=MAX_PLAYERS,
                        help="refuse games with more players (3^N status patterns; default "
                             "%(default)s)")
    parser.add_argument("--max-nodes", type=positive_int, default=MAX_NODES,
                        help="search nodes before the enumeration stops and says it is "
                             "incomplete (exit status 1; default %(default)s)")
    parser.add_argument("--tol", type=positive_float, default=SOLVE_TOL,
                        help="relative Nash gap of a certified equilibrium (default "
                             "%(default)s)")
    parser.add_argument("--basins", type=comma_names, default=(), metavar="METHODS",
                        help="comma-separated solvers (equilibria.METHODS) whose basins to "
                             "report, e.g. best_response,extragradient (default none)")
    parser.add_argument("--starts", type=positive_int, default=100,
                        help="uniform random starts per solver for --basins (default "
                             "%(default)s)")
    parser.add_argument("--seed", type=non_negative_int, default=0,
                        help="seed of the random starts (default %(default)s)")
    parser.add_argument("--out", type=out_file, default=None,
                        help="write the equilibria (and basins) as JSON here (a file; "
                             "checked before any work)")
    parser.set_defaults(handler=_equilibria)


def _equilibria(args: argparse.Namespace) -> int:
    import numpy as np

    from equilibria import METHODS, all_equilibria, basins

    unknown = [m for m in args.basins if m not in METHODS]
    if unknown:
        raise CommandError(f"--basins {','.join(unknown)}: unknown solver; choose from "
                           f"{', '.join(METHODS)}")
    game = read_game(args.game)
    if game.n_players > args.max_players:
        raise CommandError(f"{args.game} has {game.n_players} players; enumeration is limited "
                           f"to --max-players {args.max_players} (3^N status patterns): "
                           "restrict the game to fewer players or raise --max-players")
    found = all_equilibria(game, max_players=args.max_players, tol=args.tol,
                           max_nodes=args.max_nodes)
    lo, hi = game.bounds
    print(f"{game.n_players} players: {found.count} equilibria "
          f"({found.classifications.count('stable')} stable), search "
          f"{'complete' if found.complete else 'INCOMPLETE (--max-nodes reached)'} after "
          f"{found.nodes} nodes in {found.seconds:.3f} s; dominated players (fixed at {lo:g}): "
          f"{found.dominated.tolist()}")
    runs = {method: basins(game, method, n_starts=args.starts, rng=args.seed,
                           equilibria=found.equilibria, tol=args.tol) for method in args.basins}
    rows = [*found.equilibria]
    for run in runs.values():  # an end point the enumeration did not list (incomplete search)
        rows += [e for e, known in zip(run.equilibria, run.enumerated, strict=True)
                 if not known and all(np.abs(e - r).max() > 1e-4 for r in rows)]
    header = f"{'#':>3}  {'stability':<12}{'rel. gap':>10}{'at lo':>7}{'free':>6}{'at hi':>7}"
    header += "".join(f"{m[:14]:>15}" for m in runs)
    print(header + "  profile")
    for k, profile in enumerate(rows):
        enumerated = k < found.count
        label = found.classifications[k] if enumerated else "solver only"
        gap = found.nash_gaps[k] if enumerated else float("nan")
        shares = ""
        for run in runs.values():
            match = np.abs(run.equilibria - profile).max(axis=1)
            share = run.shares[int(np.argmin(match))] if match.min() <= 1e-4 else 0.0
            shares += f"{share:>15.1%}"
        print(f"{k:>3}  {label:<12}{gap:>10.1e}{int((profile <= lo).sum()):>7}"
              f"{int(((profile > lo) & (profile < hi)).sum()):>6}"
              f"{int((profile >= hi).sum()):>7}{shares}  "
              f"{np.array2string(profile, precision=4, separator=', ', max_line_width=10**6)}")
    if runs:
        print(f"{'':>3}  {'not converged':<42}"
              + "".join(f"{run.unconverged_share:>15.1%}" for run in runs.values()))
    if args.out is not None:
        payload = {"players": game.n_players, **found.to_dict(),
                   "basins": {method: run.to_dict() for method, run in runs.items()}}
        atomic_write_json(args.out, payload, indent=2)
        print(f"wrote {args.out}")
    return 0 if found.complete else 1


if __name__ == "__main__":
    raise SystemExit(main())
