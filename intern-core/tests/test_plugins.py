"""Plugin discovery with a real, pip-installed third-party distribution, and the lightness of `import intern`."""

import json
import shutil
import subprocess
import sys
import textwrap

import pytest

import intern
from intern._hookspecs import SchemeSpec, ServiceSpec, hookimpl
from intern._registry import Registry
from intern.errors import DriverNotInstalledError, InvalidURIError, PluginError

PLUGIN_PYPROJECT = """
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "intern-labtest"
version = "0.3.1"
dependencies = []

[project.entry-points.intern]
labtest = "intern_labtest.plugin"

[tool.hatch.build.targets.wheel]
packages = ["src/intern_labtest"]
"""

PLUGIN_MODULE = '''
from intern._hookspecs import CommandSpec, SchemeSpec, ServiceSpec, hookimpl

@hookimpl
def intern_cli_commands():
    return [CommandSpec("labhello", "intern_labtest.remote:hello", help="greet")]

@hookimpl
def intern_schemes():
    return [SchemeSpec("labtest", "intern_labtest.remote:LabRemote.from_uri", suffixes=(".lab",))]

@hookimpl
def intern_services():
    return [ServiceSpec("count", "labcount", "intern_labtest.remote:count", priority=5)]
'''

REMOTE_MODULE = '''
import numpy as np
from intern._box import Box
from intern._metadata import VolumeMetadata
from intern._traits import VolumeIO

class LabVolume:
    io = VolumeIO(whole_reads=True)
    def __init__(self, remote, path):
        self.remote, self.path = remote, path
        self.metadata = VolumeMetadata.single_scale(shape=(4, 5, 6), dtype="uint8", voxel_size=(30, 4, 4))
    @property
    def uri(self):
        return "labtest://" + self.path
    def read(self, box, *, scale=0):
        z, y, x = np.meshgrid(*[np.arange(a, b) for a, b in zip(box.start, box.stop)], indexing="ij")
        return (z * 100 + y * 10 + x).astype("uint8")

class LabRemote:
    scheme = "labtest"
    @classmethod
    def from_uri(cls, uri):
        return cls(), uri.rest
    def open(self, path, **options):
        return LabVolume(self, path)
    def ls(self, path=""):
        return []

def count(resource, **params):
    return int(resource.metadata.shape[0])

def hello(argv):
    print("hello", *argv)
    return 3
'''


def _pip(*args: str) -> None:
    if subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True).returncode == 0:
        cmd = [sys.executable, "-m", "pip", *args]
    elif shutil.which("uv"):
        cmd = ["uv", "pip", *args, "--python", sys.executable]
    else:  # pragma: no cover - every supported environment has one of them
        pytest.fail("neither pip nor uv is available to install the test plugin")
    subprocess.run(cmd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def labtest_installed(tmp_path_factory):
    root = tmp_path_factory.mktemp("intern-labtest")
    (root / "pyproject.toml").write_text(PLUGIN_PYPROJECT)
    pkg = root / "src" / "intern_labtest"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "plugin.py").write_text(PLUGIN_MODULE)
    (pkg / "remote.py").write_text(REMOTE_MODULE)
    _pip("install", "--no-build-isolation", str(root))
    yield
    _pip("uninstall", "intern-labtest", *(["-y"] if "uv" not in sys.executable else []))


def _in_subprocess(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], check=True, capture_output=True, text=True)
    return out.stdout


def test_third_party_plugin_is_discovered_and_works(labtest_installed):
    out = _in_subprocess("""
        import json, sys, intern
        info = [p for p in intern.plugins() if p.name == "labtest"][0]
        a = intern.array("labtest://anything")
        heavy = "intern_labtest.remote" in sys.modules
        print(json.dumps({"dist": info.distribution, "version": info.version, "schemes": info.schemes,
                          "services": info.services, "value": int(a[1, 2, 3]), "suffix": intern.array("x.lab").uri,
                          "count": intern.resolve("count", a)(), "remote_loaded_by_plugins": heavy}))
    """)
    got = json.loads(out)
    assert got["dist"] == "intern-labtest" and got["version"] == "0.3.1"
    assert got["schemes"] == ["labtest"] and got["services"] == ["count:labcount"]
    assert got["value"] == 123 and got["suffix"] == "labtest://x.lab" and got["count"] == 4


def test_plugins_lists_without_importing_driver_code(labtest_installed):
    out = _in_subprocess("""
        import sys, intern
        names = [p.name for p in intern.plugins()]
        print("labtest" in names, "intern_labtest.remote" in sys.modules)
    """)
    assert out.split() == ["True", "False"]


def test_plugin_cli_command(labtest_installed):
    out = subprocess.run([sys.executable, "-m", "intern.cli", "labhello", "lab", "--flag"], capture_output=True, text=True)
    assert out.returncode == 3 and out.stdout.split() == ["hello", "lab", "--flag"]
    helptext = subprocess.run([sys.executable, "-m", "intern.cli", "--help"], capture_output=True, text=True).stdout
    assert "labhello" in helptext and "greet" in helptext


def test_import_intern_is_light():
    out = _in_subprocess("""
        import sys, intern
        intern.plugins()
        heavy = ["zarr", "h5py", "cloudvolume", "requests", "tensorstore", "dask", "fsspec", "boto3", "aiohttp",
                 "zmesh", "kimimaro"]
        print(" ".join(m for m in heavy if m in sys.modules) or "none")
    """)
    assert out.strip() == "none"


def test_unknown_scheme_names_the_distribution():
    bare = Registry(entry_points=False)  # as if only intern-core were installed
    with pytest.raises(DriverNotInstalledError) as err:
        bare.factory("knossos")
    assert "pip install intern-knossos" in str(err.value) and err.value.distribution == "intern-knossos"
    with pytest.raises(DriverNotInstalledError, match="pip install intern-zarr"):
        bare.scheme_for_path("/data/em.zarr/labels/cells")
    with pytest.raises(DriverNotInstalledError) as err:
        intern.open("nosuch://x")
    assert "unknown URI scheme 'nosuch://'" in str(err.value)


def test_broken_plugin_is_skipped_not_fatal(tmp_path, monkeypatch):
    # a distribution whose plugin module cannot be imported: the other schemes keep working
    dist = tmp_path / "intern_broken-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: intern-broken\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[intern]\nbroken = intern_broken_missing.plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.warns(UserWarning, match="intern-broken"):
        reg = Registry()
    info = {p.name: p for p in reg.plugins}
    assert "No module named 'intern_broken_missing'" in info["broken"].error
    assert info["broken"].distribution == "intern-broken" and "mem" in reg.schemes


def test_plain_path_resolution():
    reg = Registry(entry_points=False)
    reg.register(_Suffixes(), name="suffixes")
    assert reg.scheme_for_path("/data/em.zarr/labels/cells") == "zz"
    assert reg.scheme_for_path("rel/f.H5/raw") == "hh"


class _Suffixes:
    @hookimpl
    def intern_schemes(self):
        return [SchemeSpec("zz", "x:y", suffixes=(".zarr",)), SchemeSpec("hh", "x:y", suffixes=(".h5",))]


def test_plain_path_without_a_known_suffix():
    with pytest.raises(InvalidURIError):
        intern.open("/data/volume.unknown")


class _Clash:
    @hookimpl
    def intern_schemes(self):
        return [SchemeSpec("mem", "x:y")]


class _BadService:
    @hookimpl
    def intern_services(self):
        return [ServiceSpec("mesh", "broken", "x:y", requires=("telepathy",))]


class _Misspelt:
    @hookimpl
    def intern_schemas(self):  # not a hook: must be reported, not ignored
        return []


@pytest.mark.parametrize("plugin, message", [
    (_Clash(), "claimed by both"), (_BadService(), "unknown traits"), (_Misspelt(), "intern_schemas"),
])
def test_broken_plugins_are_reported(plugin, message):
    registry = Registry(entry_points=False)
    with pytest.raises(PluginError, match=message):
        registry.register(plugin, name="broken")
