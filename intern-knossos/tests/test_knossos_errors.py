"""What goes wrong says so: intern's error classes, with messages that name the file and what to do."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

import intern
from intern.errors import (
    AlreadyExistsError,
    InvalidURIError,
    MetadataError,
    NotFoundError,
    ParameterError,
    RemoteError,
)

TOML = ("[[Layer]]\nName = 'ex'\nFileExtension = ['.raw']\nExtent_px = [40, 40, 40]\nVoxelSize_nm = [[1, 1, 1]]\n"
        "CubeShape_px = [32, 32, 32]\nDescription = ''\n")


def _dataset(root: Path, toml: str = TOML) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "ex.k.toml").write_text(toml)
    return root


def test_damaged_cube_names_its_file(tmp_path: Path, kfiles):
    root = _dataset(tmp_path / "ex")
    bad = kfiles.cube_file(root, "ex", 1, (1, 0, 0), ".raw")
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"\0" * 1000)
    a = intern.array(f"knossos://{root}")
    assert not a[:, :, :32].any()  # other cubes still read
    with pytest.raises(RemoteError, match=r"ex_mag1_x0001_y0000_z0000\.raw is damaged: it holds 1000 voxels") as err:
        a[0, 0, 35]
    assert pickle.loads(pickle.dumps(err.value)).args == err.value.args


@pytest.mark.parametrize(("payload", "why"), [(b"not a zip", "not a zip file"), (None, "not snappy data")])
def test_damaged_segmentation_cube(tmp_path: Path, kfiles, payload: bytes | None, why: str):
    import io
    import zipfile

    root = _dataset(tmp_path / "ex", TOML.replace("'.raw'", "'.seg.sz.zip'"))
    bad = kfiles.cube_file(root, "ex", 1, (0, 0, 0), ".seg.sz.zip")
    bad.parent.mkdir(parents=True)
    if payload is None:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("x.seg.sz", b"\xff\xff\xff\xff\xff\xff")
        payload = buf.getvalue()
    bad.write_bytes(payload)
    with pytest.raises(RemoteError, match=why):
        intern.array(f"knossos://{root}")[0, 0, 0]


@pytest.mark.parametrize(("conf", "match"), [
    ('experiment name "x";\nboundary x 10;\nboundary y 10;\nscale x 1;\nscale y 1;\nscale z 1;\n', "'boundary z'"),
    ('experiment name "x";\nboundary x 10;\nboundary y 10;\nboundary z 10;\nscale x 1;\nscale y 1;\nscale z 0;\n',
     "positive"),
    ('experiment name "x";\nftp_mode knossos.example 80 /data user pass 30;\nboundary x 1;\n', "local or mounted"),
])
def test_broken_classic_conf(tmp_path: Path, conf: str, match: str):
    root = tmp_path / "ex"
    (root / "mag1").mkdir(parents=True)
    (root / "mag1" / "knossos.conf").write_text(conf)
    with pytest.raises(MetadataError, match=match):
        intern.array(f"knossos://{root}")


@pytest.mark.parametrize(("toml", "match"), [
    (TOML.replace("Extent_px = [40, 40, 40]\n", ""), "has no Extent_px"),
    (TOML.replace("'.raw'", "'.tif'"), "'.tif' is not one intern-knossos reads"),
    (TOML + "URL = 'https://example.org/ex'\n", "streams the cubes from a server"),
    (TOML + "ServerFormat = 'precomputed'\n", "precomputed://"),
    (TOML + "NumChannels = 3\n", "single-channel"),
    ("[[Layer]\n", "not valid TOML"),
])
def test_broken_k_toml(tmp_path: Path, toml: str, match: str):
    root = _dataset(tmp_path / "ex", toml)
    with pytest.raises(MetadataError, match=match):
        intern.array(f"knossos://{root}")


def test_two_configurations_must_be_named(tmp_path: Path):
    root = _dataset(tmp_path / "ex")
    (root / "other.k.toml").write_text(TOML)
    with pytest.raises(MetadataError, match="several KNOSSOS configurations"):
        intern.array(f"knossos://{root}")
    assert intern.array(f"knossos://{root}/other.k.toml").shape == (40, 40, 40)
    assert "ex" in intern.ls(f"knossos://{tmp_path}")


def test_not_a_dataset_and_missing_layers(tmp_path: Path):
    (tmp_path / "plain").mkdir()
    with pytest.raises(NotFoundError, match="is not a KNOSSOS dataset"):
        intern.array(f"knossos://{tmp_path}/plain")
    with pytest.raises(NotFoundError, match="does not exist"):
        intern.ls(f"knossos://{tmp_path}/nothing/here")
    root = _dataset(tmp_path / "ex")
    with pytest.raises(NotFoundError, match="has no layer 'seg'; its layers are: ex"):
        intern.array(f"knossos://{root}/seg")
    with pytest.raises(NotFoundError, match="no layer of .png cubes"):
        intern.array(f"knossos://{root}?extension=.png")
    assert intern.ls(f"knossos://{tmp_path}") == ["ex"]  # the plain folder is no dataset
    assert intern.ls(f"knossos://{root}/ex") == []


def test_creation_refuses_what_knossos_cannot_hold(tmp_path: Path):
    base = f"knossos://{tmp_path}"
    with pytest.raises(MetadataError, match="uint8 voxels, not uint16"):
        intern.create(f"{base}/a", shape=(8, 8, 8), dtype="uint16")
    with pytest.raises(MetadataError, match="uint64 labels, not uint32"):
        intern.create(f"{base}/b", shape=(8, 8, 8), dtype="uint32", kind="segmentation")
    with pytest.raises(MetadataError, match="3-D"):
        intern.create(f"{base}/c", shape=(2, 8, 8, 8), dtype="uint8")
    with pytest.raises(InvalidURIError, match="JPEG cubes are read, never written"):
        intern.create(f"{base}/d", shape=(8, 8, 8), dtype="uint8", extension=".jpg")
    with pytest.raises(InvalidURIError, match="cannot be a KNOSSOS experiment name"):
        intern.create(f"{base}/e_mag1", shape=(8, 8, 8), dtype="uint8")
    with pytest.raises(ParameterError, match="does not know the option"):
        intern.create(f"{base}/f", shape=(8, 8, 8), dtype="uint8", compressor="zstd")
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "notes.txt").write_text("not a dataset")
    with pytest.raises(AlreadyExistsError, match="new or empty folder"):
        intern.create(f"{base}/g", shape=(8, 8, 8), dtype="uint8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g"]  # nothing half-made
    intern.create(f"{base}/h", shape=(8, 8, 8), dtype="uint8")
    with pytest.raises(AlreadyExistsError, match="with cubes other than .png"):
        intern.create(f"{base}/h", shape=(8, 8, 8), dtype="uint8", extension=".png", exist_ok=True)


def test_layers_are_added_to_k_toml_datasets_only(tmp_path: Path, kfiles):
    root = tmp_path / "classic"
    kfiles.write_cubes(root, "ex", 1, np.ones((8, 8, 8), np.uint8), (8, 8, 8), ".raw")
    (root / "mag1" / "knossos.conf").write_text(
        'experiment name "ex_mag1";\nboundary x 8;\nboundary y 8;\nboundary z 8;\nscale x 1;\nscale y 1;\n'
        "scale z 1;\nmagnification 1;\ncube_edge_length 8;\n")
    with pytest.raises(MetadataError, match="reads but does not extend"):
        intern.create(f"knossos://{root}/cells", shape=(8, 8, 8), dtype="uint64", kind="segmentation")
    toml = _dataset(tmp_path / "ex")
    with pytest.raises(AlreadyExistsError, match="choose another name"):
        intern.create(f"knossos://{toml}/again", shape=(40, 40, 40), dtype="uint8", chunks=(32, 32, 32), name="ex")


def test_file_system_errors_leave_through_the_cores_boundary(tmp_path: Path) -> None:
    from intern.errors import ErrorBoundary
    from intern_knossos import _volume

    assert isinstance(_volume._boundary, ErrorBoundary)  # the core's boundary, not one of the driver's own
    a = intern.create(f"knossos://{tmp_path}/fs", shape=(8, 8, 8), dtype="uint8", chunks=(8, 8, 8))
    cube = a.resource.cube_file((0, 0, 0))
    cube.parent.mkdir(parents=True, exist_ok=True)
    cube.mkdir()  # where a cube file should be, a folder: the file system refuses to read it
    with pytest.raises(RemoteError, match=f"{cube.name}: Is a directory") as err:
        a[0, 0, 0]
    assert isinstance(err.value.__cause__, IsADirectoryError)
    with pytest.raises(MetadataError) as err, _volume.backend_errors(tmp_path):  # intern's own pass unchanged
        raise MetadataError("made on purpose")
    assert err.value.__cause__ is None and str(err.value) == "made on purpose"
