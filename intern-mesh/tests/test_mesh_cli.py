"""The plugin (light, registered as local surrogates), the resolver's choices, and ``intern mesh``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from _meshtest import assert_oriented_closed

import intern
from intern.cli import main as intern_main
from intern.plugin import Box, Mesh, VolumeIO, VolumeMetadata, as_volume, read_precomputed_mesh_dir


def make_segmentation(tmp_path: Path) -> tuple[str, np.ndarray]:
    seg = np.zeros((12, 40, 48), np.uint32)
    seg[2:10, 5:20, 5:40] = 3
    seg[3:9, 22:36, 10:30] = 8
    seg[4:6, 24:28, 42:46] = 15
    uri = f"mem://mesh-cli/{tmp_path.name}/seg"  # `intern mesh` runs in this process: memory is enough
    arr = intern.create(uri, shape=seg.shape, dtype="uint32", chunks=(6, 16, 16), kind="segmentation",
                        voxel_size=(40, 8, 8))
    arr[...] = seg
    return uri, seg


def test_plugin_module_imports_nothing_heavy() -> None:
    code = ("import sys, intern; intern.plugins(); import intern_mesh.plugin; "
            "heavy = [m for m in ('zmesh', 'kimimaro', 'tinybrain', 'skimage', 'scipy', 'fastremap', 'cloudvolume') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_registered_as_local_surrogates_above_the_core_fallback() -> None:
    seg = as_volume(np.zeros((4, 4, 4), np.uint32))
    image = as_volume(np.zeros((4, 4, 4), np.float32))
    caps = intern.capabilities(seg)
    assert caps["mesh"].implementation == "zmesh" and not caps["mesh"].server_side
    assert [c.name for c in caps["mesh"].candidates] == ["zmesh", "skimage"]
    assert caps["skeleton"].implementation == "kimimaro"
    assert caps["downsample"].implementation == "tinybrain"
    assert [c.name for c in caps["downsample"].candidates][-1] == "numpy"  # the core's own stays the last resort
    explained = intern.resolve("mesh", image, strict=False).explain()
    assert "needs a segmentation" in explained
    assert intern.resolve("mesh", seg, prefer="skimage").implementation == "skimage"


class StoredMeshRemote:
    """A datastore that keeps meshes itself (as DVID or a precomputed bucket does) and serves them."""

    scheme: ClassVar[str] = "stored"
    server_name: ClassVar[str] = "stored-server"

    def __init__(self, meshes: dict[int, Mesh]) -> None:
        self.meshes = meshes
        self.served: list[Any] = []

    def open(self, path: str, **options: Any) -> Any:
        raise NotImplementedError

    def ls(self, path: str = "") -> list[str]:
        return []

    def server_services(self, resource: Any) -> dict[str, Any]:
        def stored(resource: Any, *, ids: Any = None, **params: Any) -> dict[int, Mesh]:
            self.served.append(ids)
            return {k: m for k, m in self.meshes.items() if ids is None or k in ids}

        return {"mesh": stored}


class StoredVolume:
    """A segmentation on that datastore."""

    io: ClassVar[VolumeIO] = VolumeIO(whole_reads=True)

    def __init__(self, remote: StoredMeshRemote, data: np.ndarray) -> None:
        self._remote = remote
        self.data = data
        self.metadata = VolumeMetadata.single_scale(shape=data.shape, dtype=data.dtype, kind="segmentation")

    @property
    def uri(self) -> str:
        return "stored://volume"

    @property
    def remote(self) -> StoredMeshRemote:
        return self._remote

    def read(self, box: Box, *, scale: int = 0) -> np.ndarray:
        return self.data[box.to_slices()]


def test_a_datastore_that_serves_meshes_wins_and_local_is_still_reachable() -> None:
    seg = np.zeros((6, 8, 8), np.uint8)
    seg[1:5, 2:6, 2:6] = 2
    stored = Mesh([[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 1, 2]], id=2)
    remote = StoredMeshRemote({2: stored})
    vol = StoredVolume(remote, seg)
    how = intern.resolve("mesh", vol)
    assert how.server_side and "zmesh" in how.explain()
    assert intern.mesh(vol, ids=[2]) == {2: stored} and remote.served == [[2]]
    local = intern.mesh(vol, prefer="local")[2]
    assert_oriented_closed(local)


def test_cli_writes_every_format_with_provenance(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    uri, seg = make_segmentation(tmp_path)
    out = tmp_path / "pre"
    assert intern_main(["mesh", uri, "-o", str(out), "--format", "precomputed"]) == 0
    assert "wrote 3 meshes" in capsys.readouterr().out
    expected = intern.mesh(uri)
    for label, m in expected.items():
        assert read_precomputed_mesh_dir(out, label) == m
    record = json.loads((out / "provenance.json").read_text())
    assert record["source"] == uri and record["implementation"] == "zmesh" and record["scale"] == 0
    assert record["box"] == {"start": [0, 0, 0], "stop": [12, 40, 48]}
    assert record["format"] == "precomputed" and record["count"] == 3
    assert "zmesh" in record["packages"] and "intern-mesh" in record["packages"]

    ply = tmp_path / "ply"
    assert intern_main(["mesh", uri, "--ids", "8,15", "--box", "0:12,20:40,0:48", "--format", "ply",
                        "-o", str(ply), "--simplify", "16"]) == 0
    assert sorted(p.name for p in ply.iterdir()) == ["15.ply", "8.ply", "provenance.json"]
    record = json.loads((ply / "provenance.json").read_text())
    assert record["parameters"]["ids"] == [8, 15] and record["parameters"]["simplify"] == 16.0
    assert record["box"] == {"start": [0, 20, 0], "stop": [12, 40, 48]}
    assert_oriented_closed(Mesh.load(ply / "8.ply"))

    scaled = tmp_path / "obj"
    assert intern_main(["mesh", uri, "--format", "obj", "-o", str(scaled), "--prefer", "skimage"]) == 0
    assert json.loads((scaled / "provenance.json").read_text())["implementation"] == "skimage"
    assert len(list(scaled.glob("*.obj"))) == 3


def test_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    uri, _ = make_segmentation(tmp_path)
    with pytest.raises(SystemExit) as exc:
        intern_main(["mesh", uri, "-o", str(tmp_path / "x"), "--ids", "1,a"])
    assert exc.value.code == 2 and "comma-separated" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        intern_main(["mesh", uri, "-o", str(tmp_path / "x"), "--box", "0:4"  ",1"])
    assert intern_main(["mesh", uri, "-o", str(tmp_path / "x"), "--box", "0:99,0:40,0:48"]) == 2
    assert "outside the volume" in capsys.readouterr().err
    assert intern_main(["mesh", uri, "-o", str(tmp_path / "x"), "--prefer", "nonesuch"]) == 2
    assert "no mesh implementation is named 'nonesuch'" in capsys.readouterr().err


def test_intern_command_lists_mesh() -> None:
    out = subprocess.run([sys.executable, "-m", "intern.cli", "--help"], capture_output=True, text=True, check=True)
    assert "mesh" in out.stdout
    out = subprocess.run([sys.executable, "-m", "intern.cli", "plugins"], capture_output=True, text=True, check=True)
    assert "mesh:zmesh" in out.stdout and "skeleton:kimimaro" in out.stdout and "commands: mesh" in out.stdout
