"""Argument types and checks shared by the command lines.

The ``type=`` callables raise `argparse.ArgumentTypeError` (shown by argparse as a one-line
usage error naming the option) on text they cannot use:

- `comma_floats`, `comma_ints`, `comma_names`: comma-separated lists;
- `comma_seeds`: the ``--seeds`` of every command that takes several, ``0,1,2``;
- `out_dir`, `out_file`: an ``--out`` folder or file, checked before any work starts;
- `positive_int`, `positive_float`: counts and rates;
- `device_name`: a ``--device`` this machine has (`add_device_argument` adds the option).

One spelling per meaning across every command: lists are comma-separated (``--seeds 0,1,2``,
``--sparsities 0.5,0.8``), never space-separated; ``--limit N`` keeps the first N train and test
examples (`nets.data.load`'s ``limit``; `analysis.RunConfig` stores it as ``data_limit``);
``--out`` is the output folder or file; ``--epochs``, ``--threads`` and ``--workers`` mean
the same in every command (docs/design.md, "Command line").

`require_data` checks, before any run, that the data files a command will read are there and
well formed. `OneLineParser` prints every usage error as one line (`one_line` joins a
multi-line message instead of cutting it).
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, NoReturn, TypeVar

__all__ = ["OneLineParser", "add_device_argument", "comma_floats", "comma_ints", "comma_names",
           "comma_seeds", "device_name", "non_negative_int", "one_line", "out_dir", "out_file",
           "positive_float", "positive_int", "quick_defaults", "require_data"]

_T = TypeVar("_T")


def _comma_list(text: str, cast: Callable[[str], _T], kind: str) -> tuple[_T, ...]:
    try:
        values = tuple(cast(v.strip()) for v in text.split(",") if v.strip())
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected comma-separated {kind}; got {text!r}"
                                         ) from error
    if not values:
        raise argparse.ArgumentTypeError(f"expected comma-separated {kind}; got nothing")
    return values


def comma_floats(text: str) -> tuple[float, ...]:
    """``"0.5,0.9"`` -> ``(0.5, 0.9)``."""
    return _comma_list(text, float, "numbers")


def comma_ints(text: str) -> tuple[int, ...]:
    """``"0,1,2"`` -> ``(0, 1, 2)``."""
    return _comma_list(text, int, "integers")


def comma_names(text: str) -> tuple[str, ...]:
    """``"random, taylor"`` -> ``("random", "taylor")``."""
    return _comma_list(text, str, "names")


def comma_seeds(text: str) -> tuple[int, ...]:
    """``"0,1,2"`` -> ``(0, 1, 2)``: distinct integers >= 0, the ``--seeds`` of every command."""
    seeds = comma_ints(text)
    if any(seed < 0 for seed in seeds) or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(
            f"expected distinct comma-separated integers >= 0, e.g. 0,1,2; got {text!r}")
    return seeds


def _scalar(text: str) -> int | float | str:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def key_values(text: str) -> dict[str, int | float | str]:
    """``"depth=20,width=16"`` -> ``{"depth": 20, "width": 16}`` (values parsed as int, then
    float, else kept as text): keyword arguments such as a model's ``--model-options``."""
    pairs: dict[str, int | float | str] = {}
    for item in (part.strip() for part in text.split(",")):
        name, sep, value = item.partition("=")
        if not item or not sep or not name.strip() or not value.strip():
            raise argparse.ArgumentTypeError(
                f"expected comma-separated name=value pairs, e.g. depth=20,width=16; got {text!r}")
        pairs[name.strip()] = _scalar(value.strip())
    return pairs


# ---------------------------------------------------------------------------- one-line errors
def one_line(message: str) -> str:
    """``message`` whole on one line: its lines joined with ``"; "`` (``" "`` after a colon).

    Command lines print errors as one line; cutting a message at its first line loses what
    follows (the folders looked in, the fix), so it is joined instead.
    """
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    joined = lines[0] if lines else ""
    for line in lines[1:]:
        joined += (" " if joined.endswith((":", ",", ";")) else "; ") + line
    return joined


class OneLineParser(argparse.ArgumentParser):
    """An `argparse.ArgumentParser` whose usage errors are one line on stderr, exit status 2.

    argparse prints the whole usage before the error; a command whose every error is one line
    (``PROG: error: MESSAGE (see PROG --help)``) is easier to read in logs and to test.
    Subparsers made with ``add_subparsers`` inherit the class.
    """

    def error(self, message: str) -> NoReturn:  # noqa: D102 - argparse's documented hook
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")


# ---------------------------------------------------------------------------- --out paths
def _nearest_existing(path: Path) -> Path:
    """``path`` itself or its nearest ancestor that exists."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(".")


def _check_can_create_in(path: Path, ancestor: Path) -> None:
    """Raise `argparse.ArgumentTypeError` unless ``path`` can be written under ``ancestor``.

    ``ancestor`` (the nearest existing folder) must be a folder in which this process can
    create a file: checked with `os.access`, then by creating and at once deleting a
    temporary file there (root passes `os.access` on read-only places such as ``/sys``).
    Nothing is left behind.
    """
    if not ancestor.is_dir():
        raise argparse.ArgumentTypeError(
            f"{str(path)!r} cannot be created: {str(ancestor)!r} is a file, not a folder; "
            "choose another path")
    problem = None
    if not os.access(ancestor, os.W_OK | os.X_OK):
        problem = "permission denied"
    else:
        try:
            handle, probe = tempfile.mkstemp(dir=ancestor, prefix=".pruning-game-probe-")
        except OSError as error:
            problem = error.strerror or type(error).__name__
        else:
            os.close(handle)
            os.unlink(probe)
    if problem is not None:
        raise argparse.ArgumentTypeError(
            f"{str(path)!r} is not writable: cannot create files in {str(ancestor)!r} "
            f"({problem}); choose a folder you can write to")


def out_dir(text: str | os.PathLike[str]) -> Path:
    """An ``--out`` output folder: absent (created later) or an existing writable folder.

    Checked when the command line is parsed, before any work, and without creating
    anything. Raises `argparse.ArgumentTypeError` (argparse names the option) when the path
    is an existing file, lies under a file, or is in a place this process cannot write to.
    """
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(
            f"{str(path)!r} is an existing file, but a folder is expected; give a folder "
            "(created if missing)")
    _check_can_create_in(path, _nearest_existing(path))
    return path


def out_file(text: str | os.PathLike[str]) -> Path:
    """An ``--out`` output file: absent or an existing file (replaced), in a writable place.

    Checked when the command line is parsed, before any work, and without creating
    anything; missing folders above it are created when it is written. Raises
    `argparse.ArgumentTypeError` when the path is an existing folder, lies under a file, or
    is in a place this process cannot write to.
    """
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(
            f"{str(path)!r} is a folder, but a file is expected; give a file name such as "
            f"{str(path / 'result.json')!r}")
    _check_can_create_in(path, _nearest_existing(path.parent))
    return path


# ---------------------------------------------------------------------------- numbers
def _int_at_least(text: str, minimum: int, expected: str) -> int:
    try:
        value = int(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected {expected}; got {text!r}") from error
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected {expected}; got {value}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1, e.g. for ``--epochs`` or ``--limit``."""
    return _int_at_least(text, 1, "a positive integer")


def non_negative_int(text: str) -> int:
    """An integer >= 0, e.g. for ``--workers`` (0: run in this process) or ``--seed``."""
    return _int_at_least(text, 0, "an integer >= 0")


def positive_float(text: str) -> float:
    """A finite number > 0, e.g. for ``--lr`` or ``--tol``."""
    try:
        value = float(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected a positive number; got {text!r}") from error
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0; got {text!r}")
    return value


# ---------------------------------------------------------------------------- device
def device_name(text: str) -> str:
    """A ``--device``: one of `nets.device.DEVICES` that this machine has.

    Checked when the command line is parsed (`nets.device.resolve_device`), so ``--device
    cuda`` on a machine without CUDA is a one-line usage error before any work; returns the
    name as given (``"auto"`` stays ``"auto"``: each run resolves it).
    """
    from nets.device import resolve_device

    try:
        resolve_device(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(one_line(str(error))) from error
    return text


def add_device_argument(parser: Any, default: str | None = "cpu",
                        shown: str = "cpu") -> None:
    """Add ``--device`` (`device_name`) to `parser` or an argument group: the one spelling of
    the option in every command that trains or evaluates. The default is "cpu", so results
    are those of the CPU; `shown` is how the help names a different `default` (``sweep``'s
    None: each config's own)."""
    parser.add_argument("--device", type=device_name, default=default,
                        metavar="{cpu,cuda,mps,auto}",
                        help=f"where to train and evaluate: cpu, cuda, mps, or auto (cuda, else "
                             f"mps, else cpu); default {shown}; checked before any work")


def add_pool_arguments(parser: Any, workers: int | None = None, shown: str = "1") -> None:
    """Add ``--workers`` and ``--threads``, the local process pool of a study's sweep
    (`analysis.sweeps.local_executor`): the one spelling of both in every study. `workers`
    is the default (None: `shown` processes, and 0, in this process, with ``--quick``, which
    the study resolves through `quick_defaults`)."""
    quick = " (the default with --quick)" if workers is None else ""
    parser.add_argument("--workers", type=non_negative_int, default=workers,
                        help=f"worker processes (default {shown}); 0 runs in this "
                             f"process{quick}")
    parser.add_argument("--threads", type=positive_int, default=1,
                        help="torch and BLAS threads per worker (default %(default)s)")


# ---------------------------------------------------------------------------- data
def require_data(parser: argparse.ArgumentParser, name: str, root: str | None) -> str:
    """`nets.data.check` the data a command will read, before any run; a usage error if bad.

    Returns the data's source. A missing or damaged dataset ends the command through
    ``parser.error`` (one line naming ``--data``, every folder looked in and the fix).
    """
    from nets.data import DatasetFormatError, DatasetNotFoundError, check

    try:
        return check(name, root)
    except (DatasetNotFoundError, DatasetFormatError, ValueError) as error:
        where = f" --root {root}" if root else ""
        parser.error(f"argument --data {name}{where}: {one_line(str(error))}")


def quick_defaults(parser: argparse.ArgumentParser, args: argparse.Namespace,
                   quick: Mapping[str, Any], names: Iterable[str] | None = None
                   ) -> argparse.Namespace:
    """``--quick``'s toy sizes for the options left at their defaults; given ones are kept.

    Sets ``args.<name> = quick[name]`` for each of `names` (default every key of `quick`)
    whose value equals what `parser` gives with no arguments, so ``--quick --data X`` runs
    the toy size on X. Returns `args` (changed in place).
    """
    defaults = parser.parse_args([])
    for name in quick if names is None else names:
        if getattr(args, name) == getattr(defaults, name):
            setattr(args, name, quick[name])
    return args
