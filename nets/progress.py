"""One progress reporter for every long job: a tqdm bar on a terminal, plain lines in a log.

`progress_bar` is what training (`EquilibriumPruning.fit`, `train_plain`), `compare`,
`analysis.sweep`, ``pruning-game train`` (and its certificate step) and the studies in
``papers/`` report through.

- stderr is a terminal: a ``tqdm`` bar (``file=stderr``, ``dynamic_ncols``), as before; in a
  Jupyter notebook (stderr an ipykernel stream) ``tqdm.auto``'s widget.
- stderr is not a terminal (a log file, ``nohup``, CI, a pipe): tqdm is not used there. With
  ``disable=None`` it switches itself off (a 20-epoch Fashion-MNIST ``train`` printed nothing
  for 10 minutes), and enabled it redraws one line with carriage returns, one ever-growing line
  in a file; its ``mininterval``/``maxinterval`` only space out those redraws. So a `LineProgress`
  writes one complete line per step (every epoch, every run: each ``update``), e.g.

      extreme_beta: epoch 3/20, elapsed 01:12, eta 06:48 (acc=0.912, below_epsilon=0.031)

  and a heartbeat line ``(... still working)`` whenever `HEARTBEAT_SECONDS` pass without one,
  so a log shows life at least every 30 s even inside a long epoch or run. Each line goes to
  stderr (flushed) and to the ``logging`` logger ``"pruning_game"`` at INFO (the package
  installs no handler; configure logging to route the lines elsewhere). Times are formatted by
  ``tqdm.format_interval``.
- ``enabled=False``: a disabled tqdm bar; nothing is written.

Both kinds have the same small interface: ``update(n=1)``, ``set_postfix(**values)``,
``set_postfix_str(text)``, ``close()`` and use as a context manager (which closes it, also on
an error). Call ``set_postfix`` before ``update`` so that a line carries the step's values.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from types import TracebackType
from typing import IO, Any

from tqdm.auto import tqdm

__all__ = ["HEARTBEAT_SECONDS", "LOGGER", "LineProgress", "progress_bar"]

#: The logger every progress line also goes to (at INFO).
LOGGER = logging.getLogger("pruning_game")
#: Longest silence of a `LineProgress` before it writes a heartbeat line.
HEARTBEAT_SECONDS = 30.0


def progress_bar(total: int | None, desc: str, *, unit: str = "step", initial: int = 0,
                 enabled: bool = True, stream: IO[str] | None = None,
                 heartbeat: float | None = HEARTBEAT_SECONDS) -> tqdm | LineProgress:
    """A progress reporter over `total` steps: a tqdm bar on a terminal, lines otherwise.

    Parameters
    ----------
    total : int or None
        Number of steps (epochs, runs); None when unknown.
    desc : str
        What is progressing, the start of every line (``"compare"``, a config name).
    unit : str, default "step"
        The name of one step (``"epoch"``, ``"run"``).
    initial : int, default 0
        Steps already done (a resumed run or sweep); the eta counts only new steps.
    enabled : bool, default True
        False gives a disabled bar that writes nothing.
    stream : text stream, optional
        Where to write; default ``sys.stderr`` as it is at the call. Its ``isatty()`` picks
        the bar or the lines (an ipykernel stream gets the notebook widget).
    heartbeat : float or None, default `HEARTBEAT_SECONDS`
        Seconds of silence after which a line reporter writes a heartbeat line; None never.

    Returns
    -------
    tqdm or LineProgress
    """
    if not enabled:
        return tqdm(total=total, initial=initial, disable=True)
    stream = sys.stderr if stream is None else stream
    if type(stream).__module__.startswith("ipykernel"):  # a notebook: tqdm.auto's widget
        return tqdm(total=total, initial=initial, desc=desc, unit=unit)
    isatty = getattr(stream, "isatty", None)
    if callable(isatty) and isatty():
        return tqdm(total=total, initial=initial, desc=desc, unit=unit, file=stream,
                    dynamic_ncols=True)
    return LineProgress(total, desc, unit=unit, initial=initial, stream=stream,
                        heartbeat=heartbeat)


class LineProgress:
    """Progress as complete lines: one per `update`, and a heartbeat in long silences.

    Parameters are those of `progress_bar`. A daemon thread writes the heartbeat; `close`
    (or leaving the ``with`` block) stops it. Writing is serialized by a lock.
    """

    def __init__(self, total: int | None, desc: str, *, unit: str = "step", initial: int = 0,
                 stream: IO[str] | None = None,
                 heartbeat: float | None = HEARTBEAT_SECONDS) -> None:
        self.total, self.desc, self.unit = total, desc, unit
        self.n = self._initial = initial
        self._stream = sys.stderr if stream is None else stream
        self._postfix = ""
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._start = self._last = time.monotonic()
        self._emit("resumed" if initial else "")
        self._thread = None
        if heartbeat is not None and heartbeat > 0:
            self._thread = threading.Thread(target=self._beat, args=(float(heartbeat),),
                                            name=f"progress: {desc}", daemon=True)
            self._thread.start()

    # ------------------------------------------------------------ the tqdm subset in use
    def update(self, n: int = 1) -> None:
        """Count `n` finished steps and write a line."""
        self.n += n
        self._emit()

    def set_postfix(self, ordered_dict: dict[str, Any] | None = None, refresh: bool = True,
                    **values: Any) -> None:
        """Values shown at the end of the next lines, e.g. ``acc="0.912"``."""
        items = {**(ordered_dict or {}), **values}
        self._postfix = ", ".join(f"{key}={value}" for key, value in items.items())

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        """Text shown at the end of the next lines."""
        self._postfix = str(s)

    def close(self) -> None:
        """Stop the heartbeat; nothing is written after this."""
        self._closed.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    # ------------------------------------------------------------ lines
    def line(self, note: str = "") -> str:
        """The line describing the progress now (without a newline)."""
        elapsed = time.monotonic() - self._start
        count = f"{self.n}/{self.total}" if self.total is not None else f"{self.n}"
        parts = [f"{self.desc}: {self.unit} {count}",
                 f"elapsed {tqdm.format_interval(elapsed)}"]
        done = self.n - self._initial
        if self.total is not None and done > 0 and self.n < self.total:
            parts.append(f"eta {tqdm.format_interval(elapsed / done * (self.total - self.n))}")
        text = ", ".join(parts)
        extras = [item for item in (self._postfix, note) if item]
        return f"{text} ({'; '.join(extras)})" if extras else text

    def _emit(self, note: str = "") -> None:
        with self._lock:
            if self._closed.is_set():
                return
            text = self.line(note)
            self._last = time.monotonic()
            try:
                print(text, file=self._stream, flush=True)
            except (OSError, ValueError):  # a closed or broken stream must not stop the work
                pass
            LOGGER.info(text)

    def _beat(self, interval: float) -> None:
        while not self._closed.wait(max(0.0, self._last + interval - time.monotonic())):
            if time.monotonic() - self._last >= interval:
                self._emit("still working")
