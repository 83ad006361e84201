"""Errors a user meets: each is one of intern's, says what happened, and leaves the data as it was."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import intern
from intern.errors import (
    AlreadyExistsError,
    DTypeError,
    InvalidURIError,
    MetadataError,
    NotFoundError,
    OutOfBoundsError,
    ReadOnlyError,
)
from intern.plugin import resolve_uri


def _uri(driver: str, tmp_path: Path, name: str) -> str:
    return f"zarr://{tmp_path}/{name}.zarr" if driver == "zarr" else f"h5://{tmp_path}/{name}.h5/volume"


@pytest.mark.parametrize("driver", ["zarr", "h5"])
def test_missing_is_not_found_naming_the_path(tmp_path: Path, driver: str) -> None:
    with pytest.raises(NotFoundError, match=str(tmp_path)) as info:
        intern.array(_uri(driver, tmp_path, "missing"))
    assert not (tmp_path / "missing.zarr").exists()  # looking did not create anything
    again = pickle.loads(pickle.dumps(info.value))
    assert str(again) == str(info.value)


def test_missing_dataset_in_existing_h5_file(tmp_path: Path) -> None:
    intern.create(f"h5://{tmp_path}/f.h5/raw", shape=(4, 4, 4), dtype="uint8")
    with pytest.raises(NotFoundError, match="'seg'.*raw"):
        intern.array(f"h5://{tmp_path}/f.h5/seg")


def test_non_zarr_directory_and_non_hdf5_file(tmp_path: Path) -> None:
    (tmp_path / "plain.zarr").mkdir()
    (tmp_path / "plain.zarr" / "notes.txt").write_text("hello")
    with pytest.raises(NotFoundError, match="not a Zarr array or group"):
        intern.open(f"zarr://{tmp_path}/plain.zarr")
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(NotFoundError, match="not an HDF5 file"):
        intern.open(f"h5://{tmp_path}/text.h5/x")


@pytest.mark.parametrize("driver", ["zarr", "h5"])
def test_create_existing(tmp_path: Path, driver: str) -> None:
    uri = _uri(driver, tmp_path, "v")
    intern.create(uri, shape=(4, 8, 8), dtype="uint8")
    with pytest.raises(AlreadyExistsError, match="exist_ok"):
        intern.create(uri, shape=(4, 8, 8), dtype="uint8")
    assert intern.create(uri, shape=(4, 8, 8), dtype="uint8", exist_ok=True).shape == (4, 8, 8)
    with pytest.raises(AlreadyExistsError, match="uint16"):
        intern.create(uri, shape=(4, 8, 8), dtype="uint16", exist_ok=True)


def test_create_refuses_a_non_zarr_directory(tmp_path: Path) -> None:
    (tmp_path / "busy.zarr").mkdir()
    (tmp_path / "busy.zarr" / "keep.txt").write_text("precious")
    with pytest.raises(AlreadyExistsError, match="not a Zarr node"):
        intern.create(f"zarr://{tmp_path}/busy.zarr", shape=(4, 4, 4), dtype="uint8")


@pytest.mark.parametrize("driver", ["zarr", "h5"])
def test_wrong_dtype_and_out_of_bounds(tmp_path: Path, driver: str) -> None:
    a = intern.create(_uri(driver, tmp_path, "b"), shape=(4, 8, 8), dtype="uint8")
    a[...] = 3
    with pytest.raises(DTypeError):
        a[0:2, 0:2, 0:2] = np.full((2, 2, 2), 1.5)
    with pytest.raises(DTypeError):
        a[0, 0, 0] = 300
    with pytest.raises(OutOfBoundsError):
        a[0:5]
    with pytest.raises(OutOfBoundsError):
        a[0:2, 0:2, 6:9] = 1
    with pytest.raises(OutOfBoundsError):
        intern.array(a.uri, scale=1)
    assert (a[...] == 3).all()


@pytest.mark.parametrize("driver", ["zarr", "h5"])
def test_read_only_mode(tmp_path: Path, driver: str) -> None:
    uri = _uri(driver, tmp_path, "ro")
    intern.create(uri, shape=(4, 8, 8), dtype="uint8")[...] = 1
    for ro in (intern.array(uri, mode="r"), intern.array(uri + "?mode=r")):
        assert ro.resource.writable is False
        assert intern.array(ro.uri).resource.writable is False  # the URI carries the mode
        with pytest.raises(ReadOnlyError):
            ro[0:1] = 2
        with pytest.raises(ReadOnlyError):
            ro.resource.write(intern.Box((0, 0, 0), (1, 1, 1)), np.zeros((1, 1, 1), np.uint8))
        assert (ro[...] == 1).all()
    with pytest.raises(InvalidURIError):
        intern.array(uri, mode="w")


def test_h5_is_single_scale_and_needs_a_dataset(tmp_path: Path) -> None:
    with pytest.raises(MetadataError, match="single-scale"):
        intern.create(f"h5://{tmp_path}/p.h5/v", shape=(4, 16, 16), dtype="uint8", scales=2)
    with pytest.raises(InvalidURIError, match="name a dataset"):
        intern.create(f"h5://{tmp_path}/p.h5", shape=(4, 16, 16), dtype="uint8")


def test_backend_errors_are_translated(tmp_path: Path) -> None:
    a = intern.create(f"zarr://{tmp_path}/gone.zarr", shape=(4, 8, 8), dtype="uint8")
    a[...] = 1
    import shutil

    shutil.rmtree(tmp_path / "gone.zarr")
    # the open handle finds nothing: chunks are absent, so it reads the fill value, as zarr defines; no crash
    assert (a[...] == 0).all()
    with pytest.raises(NotFoundError):
        intern.array(f"zarr://{tmp_path}/gone.zarr")


def test_plugin_module_is_light() -> None:
    code = ("import sys, intern_zarr.plugin, intern; intern.plugins(); "
            "heavy = [m for m in ('zarr', 'h5py', 'tensorstore', 'fsspec', 's3fs') if m in sys.modules]; "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_schemes_and_suffixes_registered() -> None:
    (info,) = [p for p in intern.plugins() if p.name == "zarr"]
    assert {"zarr", "h5", "hdf5"} <= set(info.schemes)
    assert resolve_uri("/x/em.zarr").scheme == "zarr"
    assert resolve_uri("/x/em.ome.zarr").scheme == "zarr"
    assert resolve_uri("/x/f.hdf5").scheme == "h5"
