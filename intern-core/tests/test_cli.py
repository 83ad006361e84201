"""The CLI, run as a real process where it needs no in-memory state, in-process otherwise."""

import json
import subprocess
import sys

import numpy as np
import pytest

import intern
from intern.cli import main


def run(*args):
    return subprocess.run([sys.executable, "-m", "intern.cli", *args], capture_output=True, text=True)


def test_plugins_json_in_a_subprocess():
    out = run("plugins", "--json")
    assert out.returncode == 0
    names = {p["name"]: p for p in json.loads(out.stdout)}
    assert names["core"]["schemes"] == ["mem"] and names["core"]["distribution"] == "intern-core"


def test_errors_exit_2_with_the_message():
    out = run("info", "nosuch://x")
    assert out.returncode == 2 and "unknown URI scheme 'nosuch://'" in out.stderr


@pytest.fixture
def volume():
    a = intern.create("mem://cli/vol", shape=(4, 32, 48), dtype="uint16", chunks=(2, 16, 16), voxel_size=(40, 4, 4),
                      exist_ok=True)
    a[...] = np.arange(a.size, dtype=np.uint64).reshape(a.shape).astype(np.uint16)
    return a


def test_info_ls_capabilities(volume, capsys):
    assert main(["info", "mem://cli/vol"]) == 0
    out = capsys.readouterr().out
    assert "uint16" in out and "scale 0" in out and "40 x 4 x 4" in out
    assert main(["ls", "mem://cli"]) == 0 and capsys.readouterr().out.split() == ["vol"]
    assert main(["ls", "mem://"]) == 0 and "cli" in capsys.readouterr().out.split()
    assert main(["capabilities", "mem://cli/vol", "--json"]) == 0
    caps = json.loads(capsys.readouterr().out)
    expected = intern.resolve("downsample", intern.array("mem://cli/vol")).implementation
    assert caps["downsample"]["implementation"] == expected and caps["downsample"]["server_side"] is False
    assert caps["downsample"]["candidates"][-1]["name"] == "numpy"  # the core's own fallback comes last


@pytest.mark.parametrize("suffix", [".npy", ".png", ".tif", ".h5"])
def test_cutout_formats(volume, tmp_path, suffix, capsys):
    out = tmp_path / f"cut{suffix}"
    box = "1:2,3:19,5:40"
    assert main(["cutout", "mem://cli/vol", "--box", box, "-o", str(out)]) == 0
    expected = volume[1:2, 3:19, 5:40]
    if suffix == ".npy":
        np.testing.assert_array_equal(np.load(out), expected)
    elif suffix == ".png":
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        try:
            from PIL import Image
        except ImportError:
            import zlib

            raw = out.read_bytes()
            idat = raw[raw.index(b"IDAT") + 4: raw.index(b"IEND") - 8]
            rows = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(16, 1 + 35 * 2)[:, 1:]
            np.testing.assert_array_equal(rows.copy().view(">u2").astype(np.uint16), expected[0])
        else:
            np.testing.assert_array_equal(np.asarray(Image.open(out)), expected[0])
    elif suffix == ".tif":
        import tifffile
        np.testing.assert_array_equal(tifffile.imread(out).reshape(expected.shape), expected)
    else:
        import h5py
        with h5py.File(out) as f:
            np.testing.assert_array_equal(f["data"][...], expected)
    prov = json.loads((tmp_path / f"cut{suffix}.provenance.json").read_text())
    assert prov["source"] == "mem://cli/vol" and prov["box"] == {"start": [1, 3, 5], "stop": [2, 19, 40]}
    assert "intern-core" in prov["packages"]


def test_cutout_bad_input(volume, tmp_path, capsys):
    assert main(["cutout", "mem://cli/vol", "--box", "0:5,0:1,0:1", "-o", str(tmp_path / "x.npy")]) == 2
    assert "outside" in capsys.readouterr().err
    assert main(["cutout", "mem://cli/vol", "--box", "0:1,0:1", "-o", str(tmp_path / "x.npy")]) == 2
    assert main(["cutout", "mem://cli/vol", "--box", "0:2,0:1,0:1", "-o", str(tmp_path / "x.png")]) == 2
    assert main(["cutout", "mem://cli/vol", "--box", "0:1,0:1,0:1", "-o", str(tmp_path / "x.xyz")]) == 2
    assert not list(tmp_path.iterdir())


@pytest.fixture
def core_only(monkeypatch):
    """The registry of an installation with no driver distribution: the core's own plugin alone."""
    from intern import _registry as registry

    monkeypatch.setattr(registry, "_registry", registry.Registry(entry_points=False))


@pytest.mark.parametrize(("command", "requirement"), [("mesh", "intern-mesh"), ("relay", "intern-boss[relay]")])
def test_command_of_an_uninstalled_distribution_names_what_to_install(core_only, capsys, command, requirement):
    assert main([command, "zarr:///data/seg.zarr", "-o", "out"]) == 2
    err = capsys.readouterr().err
    assert f"'intern {command}'" in err and f'pip install "{requirement}"' in err
    assert "invalid choice" not in err


def test_unknown_command_is_still_argparse_s_error(core_only, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["nonesuch"])
    assert exc.value.code == 2 and "invalid choice" in capsys.readouterr().err
