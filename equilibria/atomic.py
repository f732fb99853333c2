"""Atomic file writes: a temporary file in the destination folder, then ``os.replace``.

A reader of the destination sees either the previous file or the complete new one, never a
partial write, and an interrupted write leaves no temporary file behind. The new file gets
the permission bits a plain ``open(path, "w")`` would have given it (``0o666`` minus the
process umask), not the ``0o600`` of `tempfile`, so results stay readable by whoever could
read files written the ordinary way.

- `atomic_write`: a context manager yielding an open handle (text or binary), for writers
  that take a file object (``csv.writer``, ``np.savez``, ``torch.save``,
  ``Figure.savefig(..., format=...)``).
- `atomic_write_text`, `atomic_write_json`: one-call forms for a string and a JSON payload.

Standard library only (numpy is not needed), so every package of the project may use it.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from equilibria.errors import InvalidOptionError
from equilibria.plain import to_plain

__all__ = ["atomic_write", "atomic_write_json", "atomic_write_text", "current_umask"]

_STATUS = "/proc/self/status"


def current_umask() -> int:
    """The process umask, read without changing it where the platform allows.

    On Linux the ``Umask:`` line of ``/proc/self/status`` is parsed. Elsewhere (or when that
    line is missing, as on kernels older than 4.7) the umask is set to ``0o022`` and restored
    at once, since ``os.umask`` is the only portable way to read it; another thread creating
    a file in that instant would see ``0o022``.

    Returns
    -------
    int
        The umask, e.g. ``0o022``.
    """
    try:
        with open(_STATUS, encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split(":", 1)[1].strip(), 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "w",
                 **open_kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file next to `path`; on success move it onto `path` atomically.

    The folder of `path` is created if needed. The temporary file is named
    ``.<name>.<random>.tmp`` in that folder (so ``os.replace`` never crosses file systems).
    When the block ends normally the handle is flushed, its data fsynced, its permission
    bits set to ``0o666 & ~umask`` (what ``open`` gives a new file) and it replaces `path`.
    When the block raises, the temporary file is deleted, `path` is left as it was, and the
    exception propagates.

    Parameters
    ----------
    path : str or os.PathLike
        Destination file.
    mode : str
        A write mode of `open`: ``"w"`` (text, the default), ``"wb"`` (binary), or either
        with ``"+"``.
    **open_kwargs
        Passed to `open`, e.g. ``newline=""`` for `csv` writers or
        ``encoding="utf-8"``.

    Yields
    ------
    IO
        The open temporary file; write to it, do not close it.

    Raises
    ------
    ValueError
        When `mode` does not truncate-and-write (``"r"``, ``"a"``, ``"x"`` modes).

    Examples
    --------
    >>> with atomic_write("out/table.csv", newline="") as handle:  # doctest: +SKIP
    ...     csv.writer(handle).writerows(rows)
    >>> with atomic_write("out/arrays.npz", "wb") as handle:  # doctest: +SKIP
    ...     np.savez(handle, x=x)
    """
    if "w" not in mode or any(flag in mode for flag in "rax"):
        raise InvalidOptionError(f"mode must be a write mode such as 'w' or 'wb'; got {mode!r}")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)  # reopened by name: a failing open() then leaves no descriptor to clean up
    try:
        with open(tmp, mode, **open_kwargs) as handle:
            yield handle
            handle.flush()
            os.chmod(tmp, 0o666 & ~current_umask())
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str, *,
                      encoding: str = "utf-8") -> Path:
    """Write `text` to `path` atomically (see `atomic_write`).

    Parameters
    ----------
    path : str or os.PathLike
        Destination file; its folder is created if needed.
    text : str
        The whole content.
    encoding : str
        Text encoding (default UTF-8).

    Returns
    -------
    Path
        `path`.
    """
    with atomic_write(path, "w", encoding=encoding) as handle:
        handle.write(text)
    return Path(path)


def atomic_write_json(path: str | os.PathLike[str], payload: Any, **json_kwargs: Any) -> Path:
    """Write `payload` as JSON to `path` atomically (see `atomic_write`).

    Parameters
    ----------
    path : str or os.PathLike
        Destination file; its folder is created if needed.
    payload : Any
        Anything `equilibria.plain.to_plain` converts (numpy scalars and arrays, tuples, paths
        and results with a ``to_dict()`` become plain JSON values first, so an upstream change
        of a return type cannot break a write), or, when `json_kwargs` holds a ``default=``
        hook, anything `json.dump` accepts with it.
    **json_kwargs
        Passed to `json.dump`, e.g. ``indent=2``.

    Returns
    -------
    Path
        `path`.
    """
    plain = payload if "default" in json_kwargs else to_plain(payload)
    with atomic_write(path, "w", encoding="utf-8") as handle:
        json.dump(plain, handle, **json_kwargs)
    return Path(path)
