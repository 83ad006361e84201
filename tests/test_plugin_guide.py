"""The plugin author guide's driver, ``intern-npydir``, is built from the guide's own code blocks and does what the
guide shows: its session prints what the page says, the other examples import and run, and the conformance kit
passes.

The driver is registered in this process (``intern.plugin.register``) rather than installed; the conformance run,
in a process of its own, registers it the same way from a conftest.
"""

from __future__ import annotations

import doctest
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import intern
import intern.plugin

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "plugin-guide.md"
DEMO = "/tmp/npydir-demo"  # where the guide's session keeps its volume; the test puts it in a fresh folder


def _files(text: str) -> dict[str, str]:
    """``{path: code}`` for each code block the guide titles with its file's path."""
    return dict(re.findall(r"^\*\*`([\w/.]+\.py)`\*\*\n\n```python\n(.*?)^```", text, flags=re.S | re.M))


def _blocks_after(text: str, heading: str, language: str) -> list[str]:
    """The ``language`` code blocks of the section that starts at ``heading``."""
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"^```{language}\n(.*?)^```", section, flags=re.S | re.M)


@pytest.fixture(scope="module")
def npydir(tmp_path_factory: pytest.TempPathFactory):
    """The guide's driver written to a folder and registered; the registry forgets it afterwards."""
    root = tmp_path_factory.mktemp("intern-npydir")
    files = _files(GUIDE.read_text())
    assert {"src/intern_npydir/__init__.py", "src/intern_npydir/plugin.py", "src/intern_npydir/_store.py",
            "src/intern_npydir/services.py", "src/intern_npydir/cli.py", "tests/test_conformance.py"} <= set(files)
    for name, code in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(code)
    sys.path.insert(0, str(root / "src"))
    try:
        import intern_npydir.plugin

        intern.plugin.register(intern_npydir.plugin, name="npydir")
        yield root
    finally:
        sys.path.remove(str(root / "src"))
        for module in [m for m in sys.modules if m.split(".")[0] == "intern_npydir"]:
            del sys.modules[module]
        intern.plugin.reload()


def test_the_guides_session_prints_what_the_page_says(npydir: Path, tmp_path: Path) -> None:
    text = GUIDE.read_text()
    (session,) = _blocks_after(text, "## 6. Install and try it", "pycon")
    session = session.replace(DEMO, str(tmp_path / "demo"))
    test = doctest.DocTestParser().get_doctest(session, {}, "plugin-guide", str(GUIDE), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.summarize(verbose=False).failed == 0, "the guide's session does not print what the page says"


def test_the_guides_other_examples_run(npydir: Path, tmp_path: Path) -> None:
    text = GUIDE.read_text()
    seg = intern.create(f"npydir://{tmp_path}/seg", shape=(20, 70, 90), dtype="uint32", chunks=(8, 16, 16),
                        kind="segmentation")
    seg[3:11, 5:60, 7:80] = 9
    from intern_npydir.services import voxel_counts

    # the service run block-wise on the thread pool counts what the one-box service counts
    (parallel,) = _blocks_after(text, "### Parallel work in a service", "python")
    space: dict = {}
    exec(compile(parallel, "plugin-guide: parallel work", "exec"), space)
    assert space["voxel_counts_blockwise"](seg.resource) == voxel_counts(seg.resource) == {
        0: 20 * 70 * 90 - 8 * 55 * 73, 9: 8 * 55 * 73}

    # the HTTP example builds its policy and names only what intern.plugin offers
    (http,) = [b for b in _blocks_after(text, "### HTTP: one retry policy", "python") if "RetryPolicy" in b]
    space = {}
    exec(compile(http, "plugin-guide: HTTP", "exec"), space)
    assert space["policy"].attempts == 6
    answer = intern.plugin.Answer(400, "Bad Request", {}, b"dataset locked")
    assert isinstance(space["describe"](answer, "GET /x", 1), intern.errors.ReadOnlyError)
    assert isinstance(space["describe"](intern.plugin.Answer(404, "Not Found", {}, b""), "GET /x", 1),
                      intern.errors.NotFoundError)


def test_the_guides_conformance_tests_pass(npydir: Path) -> None:
    (npydir / "tests" / "conftest.py").write_text(
        "import intern.plugin\nimport intern_npydir.plugin\n\n"
        "intern.plugin.register(intern_npydir.plugin, name='npydir')\n"
    )
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(npydir / "tests")],
                         capture_output=True, text=True, cwd=npydir,
                         env={**os.environ, "PYTHONPATH": str(npydir / "src")})
    # the page's counts change with the kit, so only its claim that everything passes is checked
    assert run.returncode == 0 and " passed" in run.stdout, run.stdout[-3000:] + run.stderr[-2000:]

