"""The worked example keeps its promises: a light plugin module, and only intern's public modules imported."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import intern
from intern.plugin import resolve_uri

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "intern_knossos"


def test_registered_with_its_suffixes():
    (info,) = [p for p in intern.plugins() if p.name == "knossos"]
    assert info.distribution == "intern-knossos" and info.schemes == ("knossos",)
    assert resolve_uri("/data/ex145/mag1/knossos.conf").scheme == "knossos"


def test_listing_plugins_imports_no_driver_code():
    # only the plugin module loads; the driver modules, which import Pillow and cramjam, wait for a knossos:// URI
    code = "import sys, intern; intern.plugins(); print(sorted(m for m in sys.modules if m.startswith('intern_knossos')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['intern_knossos', 'intern_knossos.plugin']"


def test_only_the_plugin_surface_is_imported():
    # intern, intern.plugin and intern.errors are intern-core's published surface; the rest may change unannounced
    private = []
    for source in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(source.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else names[:1]
            private += [f"{source.name}: {n}" for n in modules
                        if n.split(".")[0] == "intern" and n not in {"intern", "intern.plugin", "intern.errors"}]
    assert private == []
    assert {n.split(".")[0] for n in _third_party()} <= {"numpy", "PIL", "cramjam", "tomli", "tomllib"}


def _third_party() -> set[str]:
    stdlib = set(sys.stdlib_module_names)
    found = set()
    for source in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module)
    return {n for n in found if n.split(".")[0] not in stdlib | {"intern", "__future__"}}
