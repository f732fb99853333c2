"""The `pruning-game` command line.

Commands:

- ``demo``: the main job (`analysis.demo`).
- ``compare``: equilibrium pruning against baselines on one dataset (`nets.compare`).
- ``solve``: a participation game from a JSON or NPZ file: solve, certify, classify.

The experiment commands ``train``, ``sweep`` and ``reproduce paper`` are not registered until
they exist. Bad input ends with a one-line error on stderr and exit status 2, never a
traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

EXIT_BAD_INPUT = 2


class CommandError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``pruning-game`` console script."""
    parser = argparse.ArgumentParser(prog="pruning-game",
                                     description="Neural-network pruning as a game.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("demo", help="solver table and equilibrium pruning on digits",
                        add_help=False)
    _compare_parser(commands)
    _solve_parser(commands)
    args, rest = parser.parse_known_args(argv)
    if args.command == "demo":
        from analysis import demo

        return demo.main(rest)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        return args.handler(args)
    except (CommandError, ValueError, TypeError, FileNotFoundError, KeyError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(f"pruning-game {args.command}: error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT


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
    parser.add_argument("--limit", type=int, default=None, help="keep the first N examples")
    parser.add_argument("--methods", default="all",
                        help="comma-separated method names, or 'all' (default)")
    parser.add_argument("--sparsities", default="0.5,0.7,0.8,0.9,0.95",
                        help="comma-separated target sparsities in [0, 1)")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds")
    parser.add_argument("--granularity", choices=("structured", "unstructured"),
                        default="structured")
    parser.add_argument("--schedule", default="one_shot",
                        help="one_shot, iterative, progressive or at_init")
    parser.add_argument("--epochs", type=int, default=10, help="training budget in epochs")
    parser.add_argument("--lr", type=float, default=3e-3, help="weight learning rate")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--out", type=Path, default=None, help="write the table as CSV here")
    parser.set_defaults(handler=_compare)


def _floats(text: str, name: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError as error:
        raise CommandError(f"--{name} must be comma-separated numbers; got {text!r}") from error


def _compare(args: argparse.Namespace) -> int:
    from nets import data as datasets
    from nets.baselines import REGISTRY, Budget
    from nets.compare import compare, to_csv, to_markdown

    methods = sorted(REGISTRY) if args.methods == "all" else \
        [m.strip() for m in args.methods.split(",") if m.strip()]
    sparsities = _floats(args.sparsities, "sparsities")
    seeds = tuple(int(s) for s in _floats(args.seeds, "seeds"))
    bundle = datasets.load(args.data, args.root, limit=args.limit)
    budget = Budget(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size)
    rows = compare(methods, sparsities=sparsities, seeds=seeds, data=bundle, budget=budget,
                   granularity=args.granularity, schedule=args.schedule,
                   progress=sys.stderr.isatty())
    print(to_markdown(rows))
    if args.out is not None:
        print(f"\nwrote {to_csv(rows, args.out)}")
    return 0


# ---------------------------------------------------------------------------- solve
def _solve_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "solve", help="solve, certify and classify a game from a JSON or NPZ file",
        description="Read a participation game (keys: benefit, quadratic_cost, linear_cost, "
                    "competition as an N x N matrix or factors + scale for LowRank, bounds), "
                    "solve it, certify it by its Nash gap and classify its stability.")
    parser.add_argument("game", type=Path, help="a .json or .npz file")
    parser.add_argument("--method", default="newton",
                        help="solver (equilibria.METHODS; default newton)")
    parser.add_argument("--tol", type=float, default=1e-8, help="relative Nash gap")
    parser.add_argument("--max-iter", type=int, default=10_000)
    parser.add_argument("--out", type=Path, default=None,
                        help="write the profile and the certificate as JSON here")
    parser.set_defaults(handler=_solve)


def read_game(path: Path) -> Any:
    """A ParticipationGame from a JSON or NPZ file (see the ``solve`` command's help)."""
    from equilibria import LowRank, ParticipationGame

    if not path.exists():
        raise FileNotFoundError(f"no game file at {path}")
    if path.suffix == ".json":
        try:
            spec = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise CommandError(f"{path} is not valid JSON: {error}") from error
    elif path.suffix == ".npz":
        with np.load(path) as archive:
            spec = {key: archive[key] for key in archive.files}
    else:
        raise CommandError(f"{path} must end in .json or .npz")
    if not isinstance(spec, dict) or "benefit" not in spec:
        raise CommandError(f"{path} must hold at least a 'benefit' array")
    competition = spec.get("competition")
    if isinstance(competition, dict):
        competition = LowRank(np.asarray(competition["factors"], dtype=float),
                              float(competition.get("scale", 1.0)))
    elif "factors" in spec:
        competition = LowRank(np.asarray(spec["factors"], dtype=float),
                              float(np.asarray(spec.get("scale", 1.0))))
    bounds = tuple(np.asarray(spec.get("bounds", (0.0, 1.0)), dtype=float).tolist())
    return ParticipationGame(spec["benefit"], spec.get("quadratic_cost", 0.0),
                             spec.get("linear_cost", 0.0), competition, bounds)


def _solve(args: argparse.Namespace) -> int:
    from equilibria import analyze_stability, kkt_residual, solve

    game = read_game(args.game)
    result = solve(game, args.method, tol=args.tol, max_iter=args.max_iter)
    report = analyze_stability(game, result.profile)
    lo = game.bounds[0]
    summary = {
        "players": game.n_players, "method": result.method, "converged": result.converged,
        "relative_nash_gap": result.nash_gap, "kkt_residual": kkt_residual(game, result.profile),
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
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=args.out.parent, suffix=".json",
                                         delete=False) as handle:
            json.dump(payload, handle, indent=2)
        os.replace(handle.name, args.out)
        print(f"wrote {args.out}")
    return 0 if result.converged else 1


if __name__ == "__main__":
    raise SystemExit(main())
