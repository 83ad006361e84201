"""The distributions as a user installs them: each into a fresh virtual environment of its own, with no other.

``pip install intern-core intern-dvid`` must give a working DVID client, and a driver installed without one of its
extras must say which ``pip install`` brings what is missing, never fail with a bare ImportError. These tests make
real virtual environments with uv (third-party packages come from uv's cache or the package index), install the
repository's distributions into them and run intern there in separate processes.

The DVID environment is installed from wheels: built here with ``uv build``, or taken from the folder named by
``INTERN_DIST_DIR`` (``nox -s build`` points it at the ``dist/`` it has just written and checked).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _uv() -> str:
    # beside this interpreter first (the test session installs uv), then wherever nox[uv] put it
    here = Path(sys.executable).parent / "uv"
    found = str(here) if here.is_file() else shutil.which("uv")
    if found is None:
        pytest.fail("these tests make virtual environments with uv: pip install uv")
    return found


def _env(tmp: Path) -> dict[str, str]:
    """A clean environment: no user configuration, no virtualenv of the caller's leaking into uv's choices."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERN_") and k not in ("VIRTUAL_ENV",
                                                                                           "PYTHONPATH")}
    env["INTERN_CONFIG"] = str(tmp / "no-intern.cfg")
    return env


def _venv(tmp: Path, *install: str, name: str) -> Path:
    """A fresh virtual environment at ``tmp/name`` with ``install`` (uv pip install arguments); its python."""
    root = tmp / name
    uv, env = _uv(), _env(tmp)
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(root)], check=True, env=env)
    python = root / "bin" / "python"
    subprocess.run([uv, "pip", "install", "--quiet", "--python", str(python), *install], check=True, env=env,
                   cwd=REPO)
    return python


def _run(python: Path, script: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([str(python), "-c", textwrap.dedent(script)], capture_output=True, text=True,
                         env=_env(tmp), cwd=tmp, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    return out


def _intern(python: Path, *args: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(python.parent / "intern"), *args], capture_output=True, text=True, env=_env(tmp),
                          cwd=tmp, timeout=300)


@pytest.fixture(scope="module")
def minimal(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """intern-core, intern-zarr and intern-mesh without any of their extras."""
    tmp = tmp_path_factory.mktemp("minimal")
    return _venv(tmp, "-e", "intern-core", "-e", "intern-zarr", "-e", "intern-mesh", name="venv"), tmp


def test_extras_stay_out_of_a_plain_install(minimal: tuple[Path, Path]) -> None:
    python, tmp = minimal
    out = _run(python, """
        from importlib.util import find_spec
        print(sorted(m for m in ("tensorstore", "h5py", "tifffile", "PIL", "kimimaro", "pathos", "networkx",
                                 "pytest", "intern_dvid", "intern_boss") if find_spec(m) is not None))
    """, tmp)
    assert out.stdout.strip() == "[]"


def test_missing_format_extras_name_the_pip_install(minimal: tuple[Path, Path]) -> None:
    python, tmp = minimal
    (tmp / "em.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(512))
    (tmp / "em.tif").write_bytes(b"II*\x00" + bytes(512))
    out = _run(python, """
        import intern
        from intern.errors import DriverNotInstalledError

        for uri, extra in (("h5://em.h5/raw", "hdf5"), ("em.h5/raw", "hdf5"), ("hdf5://em.h5/raw", "hdf5"),
                           ("tiff://em.tif", "tiff"), ("em.tif", "tiff")):
            for call in (intern.array, intern.open):
                try:
                    call(uri)
                except DriverNotInstalledError as exc:
                    assert f'pip install "intern-zarr[{extra}]"' in str(exc), (uri, str(exc))
                    assert exc.distribution == f"intern-zarr[{extra}]", exc.distribution
                else:
                    raise AssertionError(f"{uri} opened without its extra")
        try:
            intern.create("h5://new.h5/raw", shape=(4, 8, 8), dtype="uint8")
        except DriverNotInstalledError as exc:
            assert 'pip install "intern-zarr[hdf5]"' in str(exc)
        else:
            raise AssertionError("an HDF5 file was created without h5py")
        print("ok")
    """, tmp)
    assert out.stdout.strip() == "ok"
    assert not (tmp / "new.h5").exists()
    cli = _intern(python, "info", "h5://em.h5/raw", tmp=tmp)
    assert cli.returncode == 2 and 'pip install "intern-zarr[hdf5]"' in cli.stderr and "Traceback" not in cli.stderr


def test_zarr_runs_on_zarr_python_without_tensorstore(minimal: tuple[Path, Path]) -> None:
    python, tmp = minimal
    out = _run(python, """
        import numpy as np
        import intern
        from intern.errors import DriverNotInstalledError

        a = intern.create("zarr://plain.zarr", shape=(8, 32, 32), dtype="uint16", chunks=(4, 16, 16))
        a[1:7, 3:30, 5:20] = 7
        back = intern.array("plain.zarr")
        assert back.resource.engine().name == "zarr-python", back.resource.engine().name
        assert int(back[...].sum()) == 7 * 6 * 27 * 15
        try:
            intern.array("zarr://plain.zarr?engine=tensorstore")[0, 0, 0]
        except DriverNotInstalledError as exc:
            assert 'pip install "intern-zarr[tensorstore]"' in str(exc), str(exc)
        else:
            raise AssertionError("engine=tensorstore ran without TensorStore")
        print("ok")
    """, tmp)
    assert out.stdout.strip() == "ok"


def test_skeletons_without_their_extra_name_the_pip_install(minimal: tuple[Path, Path]) -> None:
    python, tmp = minimal
    out = _run(python, """
        import numpy as np
        import intern
        from intern.errors import CapabilityUnavailableError

        seg = np.zeros((8, 32, 32), np.uint32)
        seg[2:6, 4:28, 10:14] = 5
        assert set(intern.mesh(seg, voxel_size=(40, 8, 8))) == {5}   # meshing needs no extra
        try:
            intern.skeleton(seg, voxel_size=(40, 8, 8))
        except CapabilityUnavailableError as exc:
            assert 'pip install "intern-mesh[skeleton]"' in str(exc), str(exc)
        else:
            raise AssertionError("skeletons ran without kimimaro")
        print("ok")
    """, tmp)
    assert out.stdout.strip() == "ok"


def _wheels(tmp: Path) -> Path:
    """The folder of intern-core's and intern-dvid's wheels: ``INTERN_DIST_DIR``, or built here."""
    given = os.environ.get("INTERN_DIST_DIR")
    if given:
        return Path(given)
    out = tmp / "dist"
    for dist in ("intern-core", "intern-dvid"):
        subprocess.run([_uv(), "build", "--quiet", "--wheel", "--out-dir", str(out), str(REPO / dist)], check=True,
                       env=_env(tmp))
    return out


def test_core_and_dvid_from_wheels_alone_read_the_dvid_test_server(tmp_path: Path) -> None:
    dist = _wheels(tmp_path)
    # first from the wheel folder alone, so no intern distribution can come from anywhere else; then their
    # third-party dependencies, which the folder does not hold
    python = _venv(tmp_path, "--no-index", "--no-deps", "--find-links", str(dist), "intern-core", "intern-dvid",
                   name="venv")
    subprocess.run([_uv(), "pip", "install", "--quiet", "--python", str(python), "--find-links", str(dist),
                    "intern-core", "intern-dvid"], check=True, env=_env(tmp_path))
    out = _run(python, """
        import sys
        from importlib.metadata import distributions
        from importlib.util import find_spec

        import numpy as np
        import intern
        from intern_dvid.testing import DvidTestServer

        installed = sorted(d.metadata["Name"] for d in distributions() if d.metadata["Name"].startswith("intern"))
        assert installed == ["intern-core", "intern-dvid"], installed
        assert "site-packages" in intern.__file__, intern.__file__   # the wheel, not the repository's source
        with DvidTestServer() as server:
            root = f"dvid://{server.address}/{server.new_repo('wheels')}"
            em = intern.create(f"{root}/em", shape=(8, 64, 64), dtype="uint8", voxel_size=(40, 8, 8))
            data = np.random.default_rng(1).integers(0, 255, em.shape, dtype=np.uint8)
            em[...] = data
            assert (intern.array(f"{root}/em")[...] == data).all()
            assert intern.ls(root) == ["em"]
        print("ok")
    """, tmp_path)
    assert out.stdout.strip() == "ok"
    for command, requirement in (("mesh", "intern-mesh"), ("relay", "intern-boss[relay]")):
        cli = _intern(python, command, "dvid://127.0.0.1:1/a/b", tmp=tmp_path)
        assert cli.returncode == 2 and f'pip install "{requirement}"' in cli.stderr, cli.stderr


def test_wheels_mark_every_package_as_typed(tmp_path: Path) -> None:
    """Each distribution's wheel holds ``py.typed`` beside its package (PEP 561), so a type checker reads intern's
    annotations, and a driver's author sees the Protocols' errors, from an installed wheel: the built ones of ``nox -s
    build`` (``INTERN_DIST_DIR``), else ones built here with hatchling, the distributions' own build backend."""
    import zipfile

    given = os.environ.get("INTERN_DIST_DIR")
    for dist in sorted(p.parent.name for p in REPO.glob("intern-*/pyproject.toml")):
        package = next(p.name for p in (REPO / dist / "src").iterdir() if (p / "__init__.py").is_file())
        stem = dist.replace("-", "_")
        if given:
            wheel = next(Path(given).glob(f"{stem}-*.whl"))
        else:
            from hatchling.builders.wheel import WheelBuilder

            wheel = Path(next(iter(WheelBuilder(str(REPO / dist)).build(directory=str(tmp_path),
                                                                        versions=["standard"]))))
        assert f"{package}/py.typed" in zipfile.ZipFile(wheel).namelist(), f"{wheel.name} has no {package}/py.typed"
