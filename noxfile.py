"""Every developer task as a nox session: ``nox -s tests``, ``standalone``, ``build``, ``demo``, ``lint``,
``typecheck``, ``bench``, ``docs``.

Sessions install the distributions of this repository editable, so a change is tested as it is on disk (``build``
makes the wheels and sdists users install). uv makes the virtual environments when it is installed
(``pip install "nox[uv]"``), virtualenv otherwise.

``tests`` runs on Python 3.11; ``standalone`` on 3.11 and 3.13, so each distribution's own tests also run on the
newest Python we declare (``nox -s standalone-3.13``, where a ``python3.13`` is on ``PATH``; ``.ci/run`` finds one
that pyenv installed). A missing interpreter is skipped (nox would fail on CI by default) and never downloaded.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = False
nox.options.download_python = "never"

ROOT = Path(__file__).parent
#: the interpreter of single-version sessions (lint, docs, build, demo, bench)
PYTHON = "3.11"
#: every Python the distributions declare in their classifiers; keep them in step
PYTHONS = ["3.11", "3.13"]
#: the distributions of this repository: every top-level intern-* folder with a pyproject.toml, the core first
DISTRIBUTIONS = ["intern-core"] + sorted(
    p.name for p in ROOT.glob("intern-*") if (p / "pyproject.toml").is_file() and p.name != "intern-core"
)
#: what the cross-package tests need beyond each distribution's own ``test`` extra
TEST_REQUIREMENTS = [
    "pytest>=8",
    "pytest-timeout",
    "hypothesis>=6.100",
    "moto[server]>=5",
    "boto3",
    "s3fs>=2024.3",
    "ome-zarr>=0.10",
    "tensorstore>=0.1.70",
    "dask[array,distributed]>=2024.1",
    "tifffile",
    "trimesh",
    "hatchling>=1.25",
    "uv",                      # tests/test_packaging.py makes fresh virtual environments with it
]
BENCH_REQUIREMENTS = ["tensorstore>=0.1.70", "zarr>=3.0.8", "scipy"]


def _install_repo(session: nox.Session, *extra: str, extras: str = "") -> None:
    args = []
    for dist in DISTRIBUTIONS:
        args += ["-e", f"{dist}[{extras}]" if extras else dist]
    session.install(*args, *extra)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run every test: the cross-package tests here, with every distribution installed, then each distribution's
    own tests in an environment with intern-core and that distribution alone (the ``standalone`` sessions).

    Arguments after ``--`` go to pytest. When they name test files or folders, just those run, here, with every
    distribution installed (``nox -s tests -- intern-dvid/tests/test_dvid_uri.py -x``).
    """
    _install_repo(session, *TEST_REQUIREMENTS, extras="test")
    # with arguments, a folder where -k or -m selects nothing (pytest's exit code 5) is no failure
    codes = [0, 5] if session.posargs else [0]
    if any(Path(arg.split("::")[0]).exists() for arg in session.posargs):
        session.run("pytest", *session.posargs)
        return
    session.run("pytest", "tests", *session.posargs, success_codes=codes)
    for dist in DISTRIBUTIONS:
        if Path(dist, "tests").is_dir():
            session.notify(f"standalone-{session.python}(dist={dist!r})", posargs=session.posargs)


@nox.session(python=PYTHONS)
@nox.parametrize("dist", DISTRIBUTIONS)
def standalone(session: nox.Session, dist: str) -> None:
    """One distribution with intern-core alone (and its own ``test`` extra): its own tests must pass.

    ``nox -s tests`` runs these after the cross-package tests; ``nox -s standalone`` runs them alone, ``nox -k
    "standalone and dvid"`` one of them.
    """
    if dist == "intern-core":
        session.install("-e", "intern-core[test]")
    else:
        session.install("-e", "intern-core", "-e", f"{dist}[test]")
    # a test extra that pulled another of our distributions would hide a dependency this one does not declare
    expected = sorted({"intern-core", dist})
    session.run("python", "-c", _ONLY_THESE.format(expected=expected), silent=True)
    session.run("pytest", f"{dist}/tests", *session.posargs, success_codes=[0, 5] if session.posargs else [0])


_ONLY_THESE = """
from importlib.metadata import distributions
found = sorted({{d.metadata["Name"] for d in distributions() if d.metadata["Name"].startswith("intern-")}})
if found != {expected!r}:
    raise SystemExit(f"expected only {expected!r} of this repository's distributions, found {{found}}")
"""


@nox.session(python=PYTHON)
def build(session: nox.Session) -> None:
    """Write every distribution's wheel and sdist to ``dist/``, check them with twine, and install intern-core and
    intern-dvid from there alone into a fresh environment that reads from the DVID test server."""
    session.install("uv", "twine", "pytest>=8", "pytest-timeout")
    out = ROOT / "dist"
    shutil.rmtree(out, ignore_errors=True)
    for dist in DISTRIBUTIONS:
        # sdist first, then the wheel built from it: a file the sdist forgets fails here
        session.run("uv", "build", "--quiet", "--out-dir", str(out), dist)
    built = sorted(p.name for p in out.iterdir() if p.name.endswith((".whl", ".tar.gz")))  # uv adds a .gitignore
    for dist in DISTRIBUTIONS:
        stem = dist.replace("-", "_")
        if not any(n.startswith(stem) and n.endswith(".whl") for n in built) or not any(
                n.startswith(stem) and n.endswith(".tar.gz") for n in built):
            session.error(f"{dist}: no wheel and sdist in dist/ ({built})")
    session.run("twine", "check", "--strict", *(str(out / n) for n in built))
    session.run("pytest", "tests/test_packaging.py", "-k", "wheels", *session.posargs,
                env={"INTERN_DIST_DIR": str(out)})


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """Build an EM-like OME-Zarr volume with a segmentation and walk through intern on it (no server needed)."""
    session.install("-e", "intern-core", "-e", "intern-zarr[tensorstore]", "-e", "intern-mesh")
    session.run("python", "demo/demo.py", *(session.posargs or ["--out", "demo-output"]))


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", *DISTRIBUTIONS, "tests", "bench", "demo", "noxfile.py")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy over every distribution's ``src/`` and over ``tests/typecheck_drivers.py`` (each driver's classes are the
    ``intern._traits`` Protocols they claim), with the settings of ``mypy.ini``; any error fails the session."""
    # the environment of the tests, so the libraries that carry types (numpy, pydantic, zarr, uvicorn, ...) are the
    # same versions mypy sees here and a developer sees there; uv links them from its cache
    _install_repo(session, "mypy>=1.15", *TEST_REQUIREMENTS, extras="test")
    packages = [str(next(p for p in (ROOT / dist / "src").iterdir() if (p / "__init__.py").is_file()).relative_to(ROOT))
                for dist in DISTRIBUTIONS]
    session.run("mypy", "--config-file", "mypy.ini", *packages, "tests/typecheck_drivers.py", *session.posargs)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Run the benchmarks against TensorStore and zarr-python on the same data; results go to bench/results/."""
    _install_repo(session, *BENCH_REQUIREMENTS, extras="bench")
    session.run("python", "bench/run.py", *session.posargs)


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Build the documentation site with --strict (warnings fail), its API reference generated from the docstrings
    of intern-core's public modules (mkdocstrings reads the sources; nothing is imported, so nothing is installed)."""
    # ruff formats the signatures of the API reference
    session.install("mkdocs>=1.6,<2", "mkdocstrings[python]>=0.27", "ruff")
    session.run("mkdocs", "build", "--strict", "-d", "site")
