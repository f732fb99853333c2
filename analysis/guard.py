"""The promise of every ``pruning-game`` command: one line on stderr, never a traceback.

`run_guarded` is what `analysis.cli.main`, ``python -m analysis.demo``, ``python -m
analysis.train`` and every study's ``python -m papers...`` entry point call. It lives apart
from `analysis.cli` so that those modules can use it without importing the command table that
imports them (`tests/test_architecture.py` holds the import graph free of cycles).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from analysis.arguments import one_line

__all__ = ["EXIT_BAD_INPUT", "EXIT_INTERNAL", "EXIT_INTERRUPTED", "CommandError", "run_guarded"]

EXIT_BAD_INPUT = 2
#: An unexpected error (a bug to report), as opposed to bad input.
EXIT_INTERNAL = 3
#: Interrupted by the user (128 + SIGINT, the shell's convention).
EXIT_INTERRUPTED = 130


class CommandError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


def _user_errors() -> tuple[type[BaseException], ...]:
    """Exception types that mean bad input or a refused request (exit status 2).

    ValueError (the project's typed errors `InvalidGameError`, `PruningError`,
    `DatasetFormatError`, ... derive from it), OSError (`DatasetNotFoundError`, permissions, a
    full disk; `nets.TrainingDivergedError` is a ValueError too) and the sweep's own
    RuntimeErrors. A TypeError or KeyError reaching the top is a bug (input read by the
    commands is checked before it gets that far), so it is an internal error. The sweep's types
    are looked up among the modules already imported, so that reporting an error never
    imports torch.
    """
    types: list[type[BaseException]] = [CommandError, ValueError, OSError]
    sweeps = sys.modules.get("analysis.sweeps")
    if sweeps is not None:
        types.extend((sweeps.SweepError, sweeps.SweepLockedError))
    return tuple(types)


def run_guarded(prog: str, function: Any, *args: Any, debug: bool | None = None) -> int:
    """Call ``function(*args)`` and turn any exception into one line on stderr and a status.

    Parameters
    ----------
    prog : str
        The command, e.g. ``"pruning-game solve"``; every message starts with it.
    function : callable
        Returns the exit status.
    *args
        Passed to ``function``.
    debug : bool or None
        Re-raise every error but `CommandError` (show its traceback) instead of printing
        one line; None reads ``PRUNING_GAME_DEBUG`` (set and not ``0``: debug).

    Returns
    -------
    int
        ``function``'s status; `EXIT_BAD_INPUT` for bad input (`CommandError`, ValueError,
        OSError and the project's typed errors); `EXIT_INTERNAL` for any other exception;
        `EXIT_INTERRUPTED` on Ctrl-C. ``SystemExit`` (argparse) passes through.
    """
    if debug is None:
        debug = os.environ.get("PRUNING_GAME_DEBUG", "") not in ("", "0")
    try:
        return int(function(*args) or 0)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except CommandError as error:
        print(f"{prog}: error: {one_line(str(error))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as error:  # the promise: no traceback reaches the user
        if debug:
            raise
        if isinstance(error, _user_errors()):
            print(f"{prog}: error: {one_line(str(error)) or type(error).__name__}",
                  file=sys.stderr)
            return EXIT_BAD_INPUT
        print(f"{prog}: internal error: {type(error).__name__}: "
              f"{one_line(str(error)) or '(no message)'} (please report)", file=sys.stderr)
        return EXIT_INTERNAL
