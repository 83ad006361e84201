"""Drivers and services use intern-core's published surface only: ``intern``, ``intern.plugin``, ``intern.errors``
(and, in their tests, ``intern.testing`` and the ``intern`` command's entry point, ``intern.cli``).

Every other module of the core may change in any release, so a distribution that imports one would break with a
core it declares it works with. The scan reads the sources (no import), so it also sees imports inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import intern
import intern.plugin

ROOT = Path(__file__).resolve().parents[1]
DISTRIBUTIONS = sorted(p for p in ROOT.glob("intern-*") if (p / "pyproject.toml").is_file() and p.name != "intern-core")
#: the modules of the core a driver's own code may import
PUBLISHED = {"intern", "intern.plugin", "intern.errors"}
#: and its tests, besides: the conformance kit and its servers, the command line's entry point
PUBLISHED_TO_TESTS = PUBLISHED | {"intern.testing", "intern.testing.servers", "intern.cli"}
#: what ``import intern`` offers as attributes: its names, and the published submodules
TOP_LEVEL = set(intern.__all__) | {"plugin", "testing", "cli", "__version__"}


def _violations(path: Path, allowed: set[str], root: Path = ROOT) -> list[str]:
    """Every import of, or attribute reached through, a core module outside ``allowed``, as ``file:line: what``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    where = path.relative_to(root)
    found = []
    module_names = set()  # local names bound to the ``intern`` package itself by ``import intern``
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "intern" or alias.name.startswith("intern."):
                    if alias.name not in allowed:
                        found.append(f"{where}:{node.lineno}: import {alias.name}")
                    elif alias.asname is None:
                        module_names.add("intern")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module is not None:
            if node.module == "intern":
                found += [f"{where}:{node.lineno}: from intern import {a.name}"
                          for a in node.names if a.name not in TOP_LEVEL]
            elif node.module.startswith("intern.") and node.module not in allowed:
                found.append(f"{where}:{node.lineno}: from {node.module} import ...")
    for node in ast.walk(tree):
        # intern._registry.reload() after a plain ``import intern`` reaches a private module as well
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in module_names
                and node.attr not in TOP_LEVEL):
            found.append(f"{where}:{node.lineno}: intern.{node.attr}")
    return found


@pytest.mark.parametrize("dist", DISTRIBUTIONS, ids=lambda p: p.name)
def test_drivers_import_only_the_published_surface(dist: Path) -> None:
    found = []
    for path in sorted((dist / "src").rglob("*.py")):
        found += _violations(path, PUBLISHED)
    for path in sorted((dist / "tests").rglob("*.py")):
        found += _violations(path, PUBLISHED_TO_TESTS)
    assert not found, "imports from intern-core outside its published surface:\n" + "\n".join(found)


def test_the_scan_sees_what_it_must_refuse(tmp_path: Path) -> None:
    # the test above passes on silence, so check it can speak: every way of reaching a private module is caught
    source = tmp_path / "bad.py"
    source.write_text(
        "import intern\nimport intern._registry\nfrom intern import config\nfrom intern._box import Box\n"
        "def f():\n    from intern._http import call\n    return intern._registry.reload(), intern.array\n"
    )
    found = [line.split(": ", 1)[1] for line in _violations(source, PUBLISHED, root=tmp_path)]
    assert found == ["import intern._registry", "from intern import config", "from intern._box import ...",
                     "from intern._http import ...", "intern._registry"]


def test_every_published_name_resolves_and_is_described_in_order() -> None:
    missing = [name for name in intern.plugin.__all__ if not hasattr(intern.plugin, name)]
    assert not missing, f"intern.plugin.__all__ names what it does not have: {missing}"
    assert len(set(intern.plugin.__all__)) == len(intern.plugin.__all__)
    described = [line.strip()[4:].split("``", 1)[0] for line in (intern.plugin.__doc__ or "").splitlines()
                 if line.strip().startswith("- ``")]
    assert described == intern.plugin.__all__, "the module docstring describes each name once, in __all__ order"


#: intern-core's public modules; every other module's name, or the name of a package holding it, starts with "_"
PUBLIC_MODULES = {"intern", "intern.__main__", "intern.errors", "intern.plugin", "intern.config", "intern.jobs",
                  "intern.cli", "intern.cli.__main__", "intern.testing", "intern.testing.servers"}


def test_the_core_has_no_other_public_module() -> None:
    src = ROOT / "intern-core" / "src"
    public = set()
    for path in src.joinpath("intern").rglob("*.py"):
        parts = path.relative_to(src).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if not any(part.startswith("_") and part != "__main__" for part in parts[1:]):
            public.add(".".join(parts))
    assert public == PUBLIC_MODULES, f"modules public by name but not published: {sorted(public - PUBLIC_MODULES)}"
