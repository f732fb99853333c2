"""The `pruning-game` command line.

Commands available now: ``demo`` (the main job, `analysis.demo`). The experiment runner,
sweeps, paper reproduction and comparison commands arrive with the analysis issue; they are
not registered until they exist.
"""

from __future__ import annotations

import argparse
import sys

from analysis import demo


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``pruning-game`` console script."""
    parser = argparse.ArgumentParser(prog="pruning-game",
                                     description="Neural-network pruning as a game.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("demo", help="solver table and equilibrium pruning on digits",
                        add_help=False)
    args, rest = parser.parse_known_args(argv)
    if args.command == "demo":
        return demo.main(rest)
    parser.print_help(sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
