"""Run many `RunConfig` s on any executor, resumably, into one JSONL result store.

``sweep(configs, out_dir)`` runs every configuration not yet in ``out_dir/results.jsonl``,
appends one JSON line per finished run (`RunResult.to_dict`) and returns the `RunResult` s;
`load_results` reads the store's rows back as plain dicts. The runs execute on any
``concurrent.futures.Executor``: local processes by default, threads, or a Dask cluster through
``distributed.Client(...).get_executor()`` (optional extra ``pruning-game[dask]``) for users
who outgrow one machine. Only the parent process writes the store.

How the store stays correct (the invariant: a sweep killed at any moment loses no finished row
and duplicates none):

- **Append, one write per row.** A finished row is one line, appended with ``os.write`` on a
  file opened with ``O_APPEND`` and then ``os.fsync`` ed, before the next row is handled. A row
  counts as finished once its line, newline included, is in the file; a run killed before that
  is simply run again on resume.
- **A torn last line is dropped.** A kill in the middle of a write can leave a last line
  without its newline. Readers (`load_results`) ignore it; `sweep` cuts it off (``os.truncate``
  to the end of the last complete line, a single system call) before appending, so it never
  merges with the next row, and the run is repeated.
- **Each key once.** Rows carry ``RunConfig.key``; on resume the keys already in the file are
  skipped, duplicate configs in the input run once, and an exclusive lock on
  ``out_dir/.sweep.lock`` (``fcntl.flock``, released by the OS when the process dies) stops
  two sweeps from writing the same store at once (POSIX only; elsewhere there is no lock).

A run that fails never takes the others down: whatever it raises (a diverging run's
`nets.TrainingDivergedError`, or an exception that cannot be pickled, which reaches the parent
as a `RunError` naming it, so the process pool never breaks) is appended to ``errors.jsonl``
with the run's key, config, exception type and message; every other run still runs and is
stored, `SweepError` then says how many of how many failed, and a new sweep retries them. A
run that kills its worker process (out of memory, a crash in native code) breaks the default
pool; its runs are repeated one at a time so that only that run is recorded as failed. The
default pool's workers exit when the sweep's process dies, even by SIGKILL (on Linux
``prctl(PR_SET_PDEATHSIG)``, elsewhere a thread that watches the parent), so killing a sweep
leaves no worker and no multiprocessing resource tracker behind.

Appending is O(1) per row, unlike rewriting the file through a temporary file and
``os.replace`` (O(rows) per row), and the only partial state it can leave, the torn last line,
is recognisable. Non-finite floats in a row (an infinite compression ratio, a NaN loss) are
written as ``null`` so the file is strict JSON that pandas (``pandas.read_json(path,
lines=True)``) and other languages read.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import math
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import (
    CancelledError,
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    as_completed,
)
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from analysis.runner import RunConfig, RunResult, run
from nets.progress import progress_bar
from nets.training import upgrade_epoch_record

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["ERRORS_NAME", "LOCK_NAME", "RESULTS_NAME", "RunError", "SweepError",
           "SweepLockedError", "load_results", "local_executor", "sweep"]

RESULTS_NAME = "results.jsonl"
ERRORS_NAME = "errors.jsonl"
LOCK_NAME = ".sweep.lock"
ON_ERROR = ("raise", "skip", "stop")
#: Seconds between two checks of a worker that its parent (the sweep) is still alive.
PARENT_POLL_SECONDS = 1.0
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


class SweepError(RuntimeError):
    """Runs of the sweep failed; every other run's row is saved and a new sweep retries them.

    Attributes
    ----------
    failures : list of dict
        ``{"key", "config", "type", "message", "error", "traceback", "time"}`` per failed run
        (also in ``errors.jsonl``).
    total : int or None
        Runs the sweep was given (distinct configs).
    """

    def __init__(self, message: str = "runs of the sweep failed",
                 failures: list[dict[str, Any]] | None = None, total: int | None = None
                 ) -> None:
        super().__init__(message)
        self.failures = [] if failures is None else failures
        self.total = total


class SweepLockedError(RuntimeError):
    """Another sweep holds the lock of the output directory."""


class RunError(RuntimeError):
    """A run raised an exception that cannot be sent from its worker process to the sweep
    (it does not pickle); this stands for it, with its type and traceback as text.

    Attributes
    ----------
    error_type : str
        The qualified name of the original exception's class.
    traceback_text : str
        Its traceback, formatted in the worker.
    """

    def __init__(self, message: str = "a run failed", error_type: str = "",
                 traceback_text: str = "") -> None:
        super().__init__(message)
        self.error_type = error_type
        self.traceback_text = traceback_text


# ---------------------------------------------------------------------------- the store
def _json_safe(value: Any) -> Any:
    """`value` with non-finite floats replaced by None (strict JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _encode(row: Mapping[str, Any]) -> bytes:
    return (json.dumps(_json_safe(row), separators=(",", ":"), allow_nan=False) + "\n"
            ).encode("utf-8")


def _fsync_directory(directory: Path) -> None:
    """Make a file's creation or rename durable (POSIX; a no-op where unsupported)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _append_line(path: Path, row: Mapping[str, Any]) -> None:
    """Append `row` as one JSON line: O_APPEND write(s) of the whole line, then fsync."""
    data = _encode(row)
    created = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        _fsync_directory(path.parent)


def _read_rows(path: Path) -> tuple[list[dict[str, Any]], int, bool]:
    """Complete rows of a JSONL store, the byte length of its complete part, whether a torn
    last line follows it.

    Raises
    ------
    ValueError
        When a complete line is not a JSON object with a ``key`` (the file was edited or is
        not a result store); the message gives the line number.
    """
    if not path.exists():
        return [], 0, False
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1  # bytes up to and including the last newline
    rows = []
    for number, line in enumerate(data[:end].split(b"\n")[:-1], start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as error:
            raise ValueError(f"{path}, line {number}, is not valid JSON ({error}); a sweep "
                             "only ever leaves an incomplete *last* line, so the file was "
                             "edited: fix or delete that line") from error
        if not isinstance(row, dict) or not isinstance(row.get("key"), str):
            raise ValueError(f"{path}, line {number}, is not a result row (a JSON object with "
                             "a 'key'); fix or delete that line")
        rows.append(_upgrade(row))
    return rows, end, end < len(data)


def _upgrade(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row in today's names: epoch records written before the share below epsilon
    was renamed (``sparsity`` -> ``below_epsilon``) are renamed on reading."""
    history = row.get("history")
    if isinstance(history, list) and all(isinstance(r, Mapping) for r in history):
        row["history"] = [upgrade_epoch_record(r) for r in history]
    return row


def _unique(rows: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Rows by key, the first of each key kept, in file order."""
    by_key: dict[str, dict[str, Any]] = {}
    for row in rows:
        by_key.setdefault(row["key"], row)
    return by_key


def load_results(out_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The finished rows of a sweep's ``results.jsonl``, in the order they finished.

    Read-only: a torn last line (a sweep killed mid-write) is ignored, and a key that occurs
    twice (files concatenated by hand) is reported once, its first row.

    Parameters
    ----------
    out_dir : path
        The sweep's output directory (or the ``results.jsonl`` file itself).

    Returns
    -------
    list of dict
        `RunResult.to_dict` rows (non-finite floats are None); empty when there is no store.
    """
    path = Path(out_dir)
    if path.is_dir() or not path.suffix:
        path = path / RESULTS_NAME
    rows, _, _ = _read_rows(path)
    return list(_unique(rows).values())


def _repair(path: Path) -> dict[str, dict[str, Any]]:
    """Cut a torn last line off the store; return its rows by key."""
    rows, end, torn = _read_rows(path)
    if torn:
        warnings.warn(f"{path} ended with an incomplete line (a sweep was killed while "
                      "writing it); it is dropped and its run repeated", RuntimeWarning,
                      stacklevel=3)
        os.truncate(path, end)
    return _unique(rows)


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Hold an exclusive, non-blocking lock on ``directory/.sweep.lock``."""
    if fcntl is None:  # pragma: no cover - Windows
        yield
        return
    fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            raise SweepLockedError(f"another sweep is writing to {directory} (it holds "
                                   f"{directory / LOCK_NAME}); wait for it or use another "
                                   "out_dir") from error
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------- execution
def _type_name(error: BaseException) -> str:
    kind = type(error)
    return kind.__qualname__ if kind.__module__ == "builtins" else \
        f"{kind.__module__}.{kind.__qualname__}"


def _portable(error: Exception) -> Exception:
    """`error` if it survives a pickle round trip (what a process pool does to it), else a
    `RunError` with its type, message and traceback: an exception that does not unpickle in
    the parent breaks the whole pool (``BrokenProcessPool`` for every later run)."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:  # noqa: BLE001 - whatever pickling raises, the run's error must travel
        return RunError(f"{type(error).__name__}: {error}", _type_name(error),
                        "".join(traceback.format_exception(error)))
    return error


def _execute(run_fn: Callable[[RunConfig], Any], config: RunConfig) -> dict[str, Any]:
    """Run one config in a worker and return its row (a plain dict, cheap to ship back).

    Whatever the run raises reaches the sweep: an exception that does not pickle is replaced
    by a `RunError` naming it.
    """
    try:
        result = run_fn(config)
        if isinstance(result, RunResult):
            return result.to_dict()
        if isinstance(result, Mapping):
            return dict(result)
        raise TypeError(f"run_fn must return a RunResult or a dict; got "
                        f"{type(result).__name__}")
    except Exception as error:
        portable = _portable(error)
        if portable is error:
            raise
        raise portable from None


def _exit_with_parent(parent: int) -> None:
    """End this worker process as soon as `parent` (the sweep) dies, however it dies.

    On Linux the kernel sends SIGKILL when the parent exits (``prctl(PR_SET_PDEATHSIG)``);
    everywhere (POSIX) a daemon thread checks every `PARENT_POLL_SECONDS` that the parent is
    still `parent` and calls ``os._exit`` otherwise (an orphan is re-parented, so
    ``os.getppid()`` changes). Without this a SIGKILLed sweep leaves its workers running.
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - no prctl: the thread remains
            pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), name="exit-with-parent",
                     daemon=True).start()


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(PARENT_POLL_SECONDS)
        if os.getppid() != parent:
            os._exit(1)


def _init_worker(threads: int, parent: int | None = None) -> None:
    """Initializer of the local worker processes: `threads` torch threads and `threads` BLAS
    threads per worker, and exit with the parent process `parent` (`_exit_with_parent`).

    The BLAS limit matters as much as torch's: the game side (numpy, scipy) calls OpenBLAS,
    which otherwise starts one thread per core in every worker; with more workers than
    cores' worth of threads its spinning threads made the second-order solves 10-15x slower
    (a 768 x 768 matvec: 29 ms with 2 threads against 2 ms with 1, on the 2-core machine
    shared with other jobs). ``threadpoolctl`` (scikit-learn's dependency) sets the limit
    for whichever BLAS numpy loaded.
    """
    if parent is not None:
        _exit_with_parent(parent)
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    threadpool_limits(threads)


def _process_pool(workers: int, threads: int) -> ProcessPoolExecutor:
    """`workers` processes started with "spawn" (forking a process that has run torch can
    deadlock), `threads` torch threads each, ending when this process ends."""
    return ProcessPoolExecutor(max_workers=workers,
                               mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker, initargs=(threads, os.getpid()))


def _default_executor(n_pending: int, max_workers: int | None) -> Executor:
    """Local processes (`_process_pool`), each with ``cpu_count // workers`` torch and BLAS
    threads."""
    cpus = os.cpu_count() or 1
    workers = max_workers or max(1, min(n_pending, cpus))
    return _process_pool(workers, max(1, cpus // workers))


@contextlib.contextmanager
def local_executor(workers: int, threads: int = 1) -> Iterator[Executor]:
    """An executor on this machine with a fixed torch and BLAS thread count, shut down on exit.

    `sweep`'s default pool gives each worker ``cpu_count // workers`` threads; on a shared
    machine one thread per worker is the polite choice, and at toy size the start-up of a
    worker process (importing torch) costs more than the runs.

    Parameters
    ----------
    workers : int
        ``>= 1``: that many spawned processes with `threads` torch and BLAS threads each, which end
        when this process ends (even by SIGKILL: no orphans). ``0``: one
        thread of this process, with `threads` torch and BLAS threads while the block runs (the
        previous count is restored on exit).
    threads : int
        Torch threads per worker, ``>= 1``.

    Raises
    ------
    ValueError
        When `workers` < 0 or `threads` < 1 (or either is not an integer).
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ValueError(f"workers must be an integer >= 0; got {workers!r}")
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be an integer >= 1; got {threads!r}")
    if workers:
        with _process_pool(workers, threads) as pool:
            yield pool
        return
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(threads), ThreadPoolExecutor(max_workers=1) as pool:
            yield pool
    finally:
        torch.set_num_threads(before)


def _as_config(config: Any) -> RunConfig:
    if isinstance(config, RunConfig):
        return config
    if isinstance(config, Mapping):
        return RunConfig.from_dict(config)
    raise TypeError(f"configs must hold RunConfig objects (or their to_dict() dicts); got "
                    f"{type(config).__name__}")


def _row(config: RunConfig, result: Mapping[str, Any]) -> dict[str, Any]:
    """The stored row: the run's fields with the config's key and dict (authoritative)."""
    if result.get("key", config.key) != config.key:
        raise ValueError(f"run_fn returned a row with key {result['key']!r} for config "
                         f"{config.key!r}")
    return {"key": config.key, "config": config.to_dict(),
            **{k: v for k, v in result.items() if k not in ("key", "config")}}


def _failure(config: RunConfig, error: BaseException) -> dict[str, Any]:
    """The ``errors.jsonl`` row of a failed run: its key and config, the exception's type and
    message, its repr and traceback (the worker's, where the executor sends it along)."""
    if isinstance(error, RunError) and error.error_type:
        kind, text = error.error_type, error.traceback_text
        message = str(error).removeprefix(f"{error.error_type.rsplit('.', 1)[-1]}: ")
    else:
        kind, text = _type_name(error), "".join(traceback.format_exception(error))
        message = str(error)
    return {"key": config.key, "config": config.to_dict(), "type": kind, "message": message,
            "error": repr(error), "traceback": text,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def _check_configs(configs: Any) -> list[RunConfig]:
    if isinstance(configs, RunConfig | Mapping | str | bytes) or \
            not isinstance(configs, Iterable):
        raise TypeError(f"configs must be a list (or another iterable) of RunConfig objects "
                        f"or their to_dict() dicts; got {type(configs).__name__}: wrap a "
                        f"single config in a list")
    return [_as_config(config) for config in configs]


def _check_out_dir(out_dir: Any) -> Path:
    """`out_dir` as a Path to a writable directory (created if missing)."""
    if not isinstance(out_dir, str | os.PathLike) or not os.fspath(out_dir):
        raise TypeError(f"out_dir must be a path (str or os.PathLike) to a folder; got "
                        f"{out_dir!r}")
    directory = Path(out_dir)
    if directory.exists() and not directory.is_dir():
        raise ValueError(f"out_dir {directory} is a file, not a folder; choose a folder for "
                         "the result store")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(f"out_dir {directory} cannot be created ({error.strerror or error}); "
                         "choose a folder you can write to") from error
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ValueError(f"out_dir {directory} is not writable; choose a folder you can "
                         "write to")
    return directory


def sweep(configs: Iterable[RunConfig | Mapping[str, Any]], out_dir: str | os.PathLike,
          executor: Executor | None = None, resume: bool = True, progress: bool = True, *,
          run_fn: Callable[[RunConfig], Any] = run, max_workers: int | None = None,
          on_error: str = "raise") -> list[RunResult]:
    """Run every config not yet finished in ``out_dir/results.jsonl`` and store each result.

    Parameters
    ----------
    configs : iterable of RunConfig (or RunConfig.to_dict() dicts)
        Configurations with the same key (equal configs) run once.
    out_dir : path
        Directory of the store (created if missing): ``results.jsonl`` (one `RunResult` row
        per line), ``errors.jsonl`` (failed runs) and ``.sweep.lock``.
    executor : concurrent.futures.Executor, optional
        Where runs execute, e.g. a ``ThreadPoolExecutor``, or a Dask cluster through
        ``distributed.Client(...).get_executor()``. It is used, not shut down. Default: a
        ``ProcessPoolExecutor`` with the "spawn" start method, ``max_workers`` processes and
        ``cpu_count // max_workers`` torch threads each, shut down at the end; its workers
        exit when this process dies, even by SIGKILL, so a killed sweep leaves no orphans.
        Spawned workers re-import the calling script, so a script that calls `sweep` with
        the default executor must do so under ``if __name__ == "__main__":``.
    resume : bool, default True
        Skip configs whose key is already in the store. With False the store must be empty
        or absent (a `FileExistsError` otherwise): a sweep never deletes finished rows.
    progress : bool, default True
        Report each finished run, finished ones counted from the start
        (`nets.progress.progress_bar`: a tqdm bar on a terminal, one line per run and a
        heartbeat every 30 s on a non-terminal stderr).
    run_fn : callable, default `analysis.runner.run`
        ``run_fn(config) -> RunResult | dict`` (a dict: a `RunResult.to_dict` row; one that
        `RunResult.from_dict` cannot read fails its run); with process or cluster executors
        it must be importable (a module-level function) and is called in the worker.
    max_workers : int, optional
        Processes of the default executor (default: the CPU count, at most one per run).
    on_error : {"raise", "skip", "stop"}, default "raise"
        A failed run (it raised, e.g. `nets.TrainingDivergedError`, or its row could not be
        stored) is recorded in ``errors.jsonl`` with its key, config, exception type, message
        and traceback, and never in ``results.jsonl``, so a new sweep retries it. "raise":
        every other run still runs and is stored, then `SweepError` says how many of how
        many failed. "skip": the same, but a `RuntimeWarning` says so and the finished rows
        are returned. "stop": no further run starts after the first failure; the runs already
        started are awaited and stored, then `SweepError` is raised.

    Returns
    -------
    list of RunResult
        The results of the finished configs (stored before or in this call), in the order
        of `configs`: ``RunResult.from_dict`` of each stored row, so a non-finite float
        the store wrote as ``null`` is None. `analysis.tables.to_frame` makes them one
        pandas DataFrame.

    Raises
    ------
    SweepError
        When a run failed and `on_error` is "raise" or "stop".
    SweepLockedError
        When another sweep is writing to `out_dir`.
    TypeError, ValueError
        For a bad argument (the message names it): `configs` not an iterable of configs,
        `out_dir` a file or not writable, an unknown `on_error`, ...

    Notes
    -----
    See the module docstring for why a sweep killed at any moment loses no finished row and
    duplicates none. Rows are appended in the parent process as each run completes, in
    completion order. An exception a worker cannot send back (it does not pickle) arrives as
    a `RunError` naming it, so it cannot break the process pool.
    """
    if not isinstance(on_error, str) or on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}; got {on_error!r}")
    if executor is not None and not callable(getattr(executor, "submit", None)):
        raise TypeError(f"executor must be a concurrent.futures.Executor (with submit); got "
                        f"{type(executor).__name__}")
    if max_workers is not None and (isinstance(max_workers, bool) or
                                    not isinstance(max_workers, int) or max_workers < 1):
        raise ValueError(f"max_workers must be a positive integer or None; got {max_workers!r}")
    if not callable(run_fn):
        raise TypeError(f"run_fn must be callable (run_fn(config) -> RunResult | dict); got "
                        f"{type(run_fn).__name__}")
    unique: dict[str, RunConfig] = {}
    for config in _check_configs(configs):
        unique.setdefault(config.key, config)
    directory = _check_out_dir(out_dir)
    path = directory / RESULTS_NAME
    with _locked(directory):
        done = _repair(path)
        if not resume and done:
            raise FileExistsError(f"{path} already holds {len(done)} finished rows and "
                                  "resume=False; pass resume=True to skip them or choose an "
                                  "empty out_dir")
        pending = [c for key, c in unique.items() if key not in done]
        bar = progress_bar(len(unique), "sweep", unit="run",
                           initial=len(unique) - len(pending), enabled=progress)
        try:
            failures = _run_pending(pending, path, directory / ERRORS_NAME, executor, run_fn,
                                    max_workers, on_error, done, bar)
        finally:
            bar.close()
    if failures:
        first = failures[0]
        summary = (f"{len(failures)} of {len(unique)} runs failed (see "
                   f"{directory / ERRORS_NAME}), the first {first['key']} "
                   f"({first['config']['method']}): {first['type']}: "
                   f"{_first_line(first['message'])}; the other runs' rows are in {path} and "
                   "a new sweep retries the failed ones")
        if on_error == "skip":
            warnings.warn(summary, RuntimeWarning, stacklevel=2)
        else:
            raise SweepError(summary, failures, len(unique))
    return [RunResult.from_dict(done[key]) for key in unique if key in done]


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else ""


def _run_pending(pending: list[RunConfig], path: Path, errors_path: Path,
                 executor: Executor | None, run_fn: Callable[[RunConfig], Any],
                 max_workers: int | None, on_error: str, done: dict[str, dict[str, Any]],
                 bar: Any) -> list[dict[str, Any]]:
    """Submit `pending`, store each row as it completes; return the failures.

    When a worker of the default pool dies (killed, out of memory, a crash in native code),
    the pool breaks and every run in it fails with ``BrokenProcessPool``; those runs are then
    repeated one at a time, each in a fresh one-worker pool, so only the run that kills its
    worker is recorded as failed.
    """
    if not pending:
        return []
    own = executor is None
    pool = _default_executor(len(pending), max_workers) if own else executor
    futures: dict[Future, RunConfig] = {}
    failures: list[dict[str, Any]] = []
    broken: list[RunConfig] = []
    retrying = False
    clean = False

    def fail(config: RunConfig, error: BaseException) -> None:
        failures.append(_failure(config, error))
        _append_line(errors_path, failures[-1])
        bar.update(1)
        if on_error == "stop":  # start nothing new; store what is already running
            for other in futures:
                other.cancel()

    def finish(config: RunConfig, future: Future) -> None:
        try:
            result = future.result()
        except CancelledError:
            return
        except BrokenProcessPool as error:
            if own and not retrying:
                broken.append(config)
            else:
                fail(config, error)
            return
        except Exception as error:
            fail(config, error)
            return
        try:  # a row the store cannot hold, or not a RunResult, fails its run, not the sweep
            row = _json_safe(_row(config, result))  # exactly what a reader gets back
            _encode(row)
            RunResult.from_dict(row)
        except (TypeError, ValueError) as error:
            fail(config, error)
            return
        _append_line(path, row)
        done[config.key] = row
        accuracy = row.get("accuracy")
        bar.set_postfix_str(f"{config.method} acc={accuracy:.3f}"
                            if isinstance(accuracy, float) else config.method)
        bar.update(1)

    try:
        for config in pending:
            futures[pool.submit(_execute, run_fn, config)] = config
        for future in as_completed(futures):
            finish(futures[future], future)
        if broken:  # own pool only: find the run that kills its worker, spare the others
            pool.shutdown(wait=True)
            retrying = True
            for config in broken:
                if on_error == "stop" and failures:
                    break
                pool = _default_executor(1, None)
                futures = {pool.submit(_execute, run_fn, config): config}
                finish(config, next(iter(futures)))
                pool.shutdown(wait=True)
        clean = True
    finally:
        if not clean:  # interrupted (KeyboardInterrupt, a crash in the parent): stop fast
            for future in futures:
                future.cancel()
        if own:
            pool.shutdown(wait=clean, cancel_futures=True)
    return failures
