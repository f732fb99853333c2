"""MkDocs hook: the command-line reference, generated from the argparse parsers.

``reference/cli.md`` holds a marker line, ``<!-- cli-reference -->``; this hook replaces it by
the top-level ``pruning-game --help`` and, for every command of `analysis.cli.parsers` (which
builds each parser without running anything), its ``--help`` text and a table of its options.
The page therefore lists every command and flag the code accepts, and cannot fall behind it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MARKER = "<!-- cli-reference -->"
WIDTH = "96"  # argparse wraps --help to $COLUMNS


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _options_table(parser: argparse.ArgumentParser) -> str:
    rows = ["| option | default | choices | meaning |", "|---|---|---|---|"]
    for action in parser._actions:  # argparse has no public accessor for its actions
        if isinstance(action, argparse._HelpAction):
            continue
        flags = ", ".join(f"`{flag}`" for flag in action.option_strings) or f"`{action.dest}`"
        default = "" if action.default in (None, argparse.SUPPRESS) or \
            isinstance(action, argparse._StoreTrueAction) and action.default is False \
            else f"`{action.default}`"
        choices = ", ".join(f"`{c}`" for c in action.choices) if action.choices else ""
        help_text = "" if action.help in (None, argparse.SUPPRESS) else action.help
        if "%(" in help_text:
            help_text = help_text % {**vars(action), "prog": parser.prog}
        rows.append(f"| {flags} | {_cell(default)} | {_cell(choices)} | {_cell(help_text)} |")
    return "\n".join(rows)


def _help(parser: argparse.ArgumentParser) -> str:
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH
    try:
        return parser.format_help().rstrip()
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous


def cli_markdown() -> str:
    """Every command's ``--help`` and options, as Markdown."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from analysis import cli

    parts = ["## `pruning-game`", "", "```text", _help(cli.parser()), "```", ""]
    for name, parser in cli.parsers().items():
        parts += [f"## `pruning-game {name}`", "", "```text", _help(parser), "```", "",
                  _options_table(parser), ""]
    return "\n".join(parts)


def on_page_markdown(markdown, page, **_):
    if MARKER in markdown:
        return markdown.replace(MARKER, cli_markdown())
    return markdown
