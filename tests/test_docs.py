"""The documentation stays true: every ```python block of docs/ runs, the site builds with
--strict, and the generated reference covers every public name and every command.

The blocks of one page run in order in one namespace (as a reader pastes them into one
session), in a temporary working directory, with matplotlib's Agg backend. The README's blocks
run in tests/test_readme.py, which also checks what they print. The pages use small sizes
themselves (and say how to scale up), so this test runs them exactly as written.

One exception: a block preceded by the line ``<!-- docs-test: imports-only -->`` (and a
blank line) is a measurement script an explanation page records (minutes of training that
produced its tables). Such a block is compiled and its imports are executed, so a renamed or
removed name still fails here, but it is not run.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
BLOCK = re.compile(r"^((?:<!-- docs-test: imports-only -->\n\n?)?)```python\n(.*?)^```\s*$",
                   flags=re.S | re.M)


def python_blocks(page: Path) -> list[tuple[int, str, bool]]:
    """The ```python blocks of a page: the line its code starts on, the code, and whether it
    is run in full (False: imports only)."""
    text = page.read_text()
    return [(text.count("\n", 0, match.start(2)) + 1, match.group(2), not match.group(1))
            for match in BLOCK.finditer(text)]


def imports_only(code: str) -> ast.Module:
    """The import statements of ``code``, at module level, as a module to execute."""
    tree = ast.parse(code)
    return ast.Module([node for node in tree.body if isinstance(node, ast.Import |
                                                                ast.ImportFrom)], [])


PAGES = sorted(page for page in DOCS.rglob("*.md") if python_blocks(page))


def test_the_docs_have_examples_to_run():
    names = {page.relative_to(DOCS).as_posix() for page in PAGES}
    assert {"tutorial.md", "how-to/own-model.md", "how-to/test-claims.md"} <= names


@pytest.fixture
def registry_restored():
    """A page may register a pruning method (how-to/add-method.md); the suite's registry is
    the one it started with afterwards."""
    from nets.baselines import REGISTRY

    saved = dict(REGISTRY)
    yield
    REGISTRY.clear()
    REGISTRY.update(saved)


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(DOCS).as_posix())
def test_page_examples_run(page, tmp_path, monkeypatch, registry_restored):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for line, code, run in python_blocks(page):
        # Line numbers in a traceback are the page's own.
        source = "\n" * (line - 1) + code
        compiled = compile(source if run else imports_only(source),
                           str(page.relative_to(ROOT)), "exec")
        exec(compiled, namespace)  # noqa: S102 - the docs are ours


def _hook(name: str):
    spec = importlib.util.spec_from_file_location(f"docs_hook_{name}", DOCS / "hooks" /
                                                  f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_reference_has_a_page_for_every_public_name():
    pytest.importorskip("griffe", reason="the reference hook reads the code with griffe "
                                         "(the docs extra)")
    import griffe

    reference = _hook("reference")
    for package in reference.PACKAGES:
        pages = set(reference.modules(package))
        loaded = griffe.load(package, search_paths=[str(ROOT)], resolve_aliases=True)
        assert loaded.exports, f"{package} has no __all__"
        for name in loaded.exports:
            target = reference.export_target(loaded, name)
            assert target is not None, f"{package}.{name} is defined nowhere"
            assert target[1] in pages, f"{package}.{name} ({target[1]}) has no reference page"
        markdown = reference.page_markdown(package)
        for name in loaded.exports:
            assert f"[`{name}`]" in markdown, f"{package}'s page does not list {name}"


def test_the_cli_reference_lists_every_command_and_flag():
    from analysis.cli import parsers

    markdown = _hook("cli").cli_markdown()
    for name, parser in parsers().items():
        assert f"## `pruning-game {name}`" in markdown
        for action in parser._actions:  # argparse has no public accessor for its actions
            if isinstance(action, argparse._HelpAction):
                continue  # -h is in every --help text, not in the tables
            for flag in action.option_strings:
                assert f"`{flag}`" in markdown, f"pruning-game {name} {flag}"


def test_the_site_builds_strict(tmp_path):
    for module in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python"):
        pytest.importorskip(module, reason="the docs extra (pip install -e '.[docs]') is not "
                                           "installed")
    completed = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir",
         str(tmp_path / "site")], cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert (tmp_path / "site" / "tutorial" / "index.html").exists()
    assert (tmp_path / "site" / "reference" / "equilibria.testing" / "index.html").exists()
