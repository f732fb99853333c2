"""Shared helpers of the bad-input tests (issue 9): one line, naming the argument."""

from __future__ import annotations

__all__ = ["assert_one_line", "error_line"]


def assert_one_line(message: str, *names: str) -> None:
    """Assert that `message` is one non-empty line and names every one of `names`.

    Parameters
    ----------
    message : str
        An error message (``str(error)``) or a CLI's stderr; one trailing newline is allowed.
    *names : str
        Argument names (or other words) the message must contain, case-sensitively.
    """
    text = message[:-1] if message.endswith("\n") else message
    assert text.strip(), "the message is empty"
    assert "\n" not in text, f"the message has {text.count(chr(10)) + 1} lines: {message!r}"
    for name in names:
        assert name in text, f"the message does not name {name!r}: {message!r}"


def error_line(stderr: str, prog: str) -> str:
    """The one error line `prog` wrote to `stderr` after a run that started working.

    A command that started work writes progress lines to stderr first (`nets.progress`: stderr
    is not a terminal under pytest). Asserts that no traceback was printed and that exactly
    one line is the error, ``"<prog>: error: ..."``, and that it is the last line.
    """
    lines = stderr.strip().splitlines()
    assert "Traceback" not in stderr, stderr
    errors = [line for line in lines if line.startswith(f"{prog}: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], lines
    assert errors[0].startswith(f"{prog}: error: "), errors[0]
    return errors[0]
