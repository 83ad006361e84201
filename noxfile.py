"""Every developer task as a nox session: ``nox -s tests``, ``demo``, ``lint``, ``bench``, ``docs``.

Sessions install the distributions of this repository editable, so a change is tested as it is on disk.
uv makes the virtual environments when it is installed (``pip install "nox[uv]"``), virtualenv otherwise.
"""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = "3.11"
#: the distributions of this repository: every top-level intern-* folder with a pyproject.toml, the core first
DISTRIBUTIONS = ["intern-core"] + sorted(
    p.name for p in Path(__file__).parent.glob("intern-*") if (p / "pyproject.toml").is_file() and p.name != "intern-core"
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
]
BENCH_REQUIREMENTS = ["tensorstore>=0.1.70", "zarr>=3.0.8", "scipy"]


def _install_repo(session: nox.Session, *extra: str, extras: str = "") -> None:
    args = []
    for dist in DISTRIBUTIONS:
        args += ["-e", f"{dist}[{extras}]" if extras else dist]
    session.install(*args, *extra)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Install every distribution and run every test (package tests and cross-package tests)."""
    _install_repo(session, *TEST_REQUIREMENTS, extras="test")
    paths = [f"{d}/tests" for d in DISTRIBUTIONS if Path(d, "tests").is_dir()] + ["tests"]
    session.run("pytest", *paths, *session.posargs)


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """Build an EM-like OME-Zarr volume with a segmentation and walk through intern on it (no server needed)."""
    session.install("-e", "intern-core", "-e", "intern-zarr", "-e", "intern-mesh")
    session.run("python", "demo/demo.py", *(session.posargs or ["--out", "demo-output"]))


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", *DISTRIBUTIONS, "tests", "bench", "demo", "noxfile.py")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Run the benchmarks against TensorStore and zarr-python on the same data; results go to bench/results/."""
    _install_repo(session, *BENCH_REQUIREMENTS, extras="bench")
    session.run("python", "bench/run.py", *session.posargs)


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Build the documentation site with --strict (warnings fail)."""
    session.install("mkdocs>=1.6,<2")
    session.run("mkdocs", "build", "--strict", "-d", "site")
