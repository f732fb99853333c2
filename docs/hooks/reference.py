"""MkDocs hook: the API reference, one generated page per package and per module.

Every public module of `equilibria`, `nets` and `analysis` (a file or package whose name does
not start with ``_``) gets a page ``reference/<dotted.name>.md`` holding one mkdocstrings
directive, ``::: dotted.name``; a package's page also lists every name of its ``__all__`` with
a link to where it is defined. The pages are built from the source tree at every build, so a
new module or a new export appears without anyone editing the docs, and nothing is copied.

Static analysis only (griffe, which mkdocstrings uses anyway): building the reference imports
neither torch nor the packages themselves.
"""

from __future__ import annotations

from pathlib import Path

import griffe
from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("equilibria", "nets", "analysis")
SECTION = "Reference"


def modules(package: str) -> list[str]:
    """The dotted names of ``package`` and its public submodules, packages first, sorted."""
    names = []
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if any(part.startswith("_") for part in parts):
            continue
        names.append(".".join(parts))
    return sorted(names, key=lambda name: (name.count(".") > 0, name))


def page_path(module: str) -> str:
    return f"reference/{module}.md"


def _load(module: str):
    return griffe.load(module, search_paths=[str(ROOT)], resolve_aliases=True)


def export_target(package, name: str) -> tuple[str, str] | None:
    """Where ``package.<name>`` (a name of its ``__all__``) is documented: the object's path
    and the module that defines it. A name served lazily by the package's ``__getattr__``
    (``analysis.to_frame``) is looked up in its submodules."""
    member = package.members.get(name)
    if member is not None and member.is_alias:
        return member.final_target.path, member.final_target.parent.path
    if member is not None:
        return member.path, member.path if member.is_module else package.path
    for module in package.modules.values():
        found = module.members.get(name)
        if found is not None and not found.is_alias:
            return found.path, module.path
    return None


def _exports_table(package) -> str:
    """A Markdown table of ``package.__all__``: each name linked to the object it re-exports."""
    if not package.exports:
        return ""
    rows = ["| name | defined in |", "|---|---|"]
    for name in package.exports:
        target = export_target(package, name)
        if target is None:
            raise ValueError(f"{package.path}.__all__ names {name!r}, which is defined nowhere "
                             f"in {package.path}")
        rows.append(f"| [`{name}`][{target[0]}] | `{target[1]}` |")
    return "\n".join(rows)


def page_markdown(module: str) -> str:
    """The Markdown of one reference page."""
    is_package = (ROOT / module.replace(".", "/") / "__init__.py").exists()
    if not is_package:
        return f"# `{module}`\n\n::: {module}\n"
    package = _load(module)
    # A package's page documents what its __init__ defines; its modules have their own pages.
    own = [name for name, member in package.members.items()
           if not (member.is_alias or member.is_module or name.startswith("_"))]
    members = "[" + ", ".join(own) + "]" if own else "false"
    text = (f"# `{module}`\n\n::: {module}\n    options:\n      members: {members}\n"
            f"      show_root_heading: false\n")
    table = _exports_table(package)
    if table:
        text += (f"\n## Public names\n\n`from {module} import ...`: every name of "
                 f"`{module}.__all__`, linked to its documentation.\n\n{table}\n")
    return text


def on_config(config, **_):
    """Append the generated pages to the nav's Reference section, one group per package."""
    for entry in config["nav"]:
        if isinstance(entry, dict) and SECTION in entry:
            section = entry[SECTION]
            for package in PACKAGES:
                section.append({f"{package}": [{name: page_path(name)}
                                               for name in modules(package)]})
            break
    else:  # pragma: no cover - mkdocs.yml must keep its Reference section
        raise ValueError(f"mkdocs.yml: the nav has no {SECTION!r} section for the reference")
    return config


def on_files(files, config, **_):
    """Add the generated reference pages to the site's files."""
    for package in PACKAGES:
        for name in modules(package):
            files.append(File.generated(config, page_path(name), content=page_markdown(name)))
    return files
