"""The core's driver conformance kit (:mod:`intern.testing`), run on the cube encodings intern-knossos writes.

The kit's reference implementation is the cube layout itself, read and written with numpy, Pillow and cramjam by the
``kfiles`` helpers (``conftest.py``), which follow KNOSSOS's documentation and not the driver's code: a ``.k.toml``
parsed with ``tomllib`` (and written as text), one file per cube under ``magM/xXXXX/yYYYY/zZZZZ/``, every cube whole.
The ``.seg`` encoding (uint64 only) cannot run the kit's pyramid test, which creates an image of the first dtype; it
is covered by the format and property tests instead.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import intern
from intern.testing import Reference, StoredVolume, VolumeDriverTests


def _folder(uri: str) -> Path:
    return Path(uri.split("://", 1)[1].split("?", 1)[0])


def knossos_reference(kfiles: Any) -> Reference:
    """Cubes read and written by the layout KNOSSOS documents, independently of the driver."""

    def read(volume: intern.Array, scale: int) -> np.ndarray:
        root = _folder(volume.uri)
        (layer,) = tomllib.loads(next(root.glob("*.k.toml")).read_text())["Layer"]
        name, ext = layer["Name"], layer["FileExtension"][0]
        cx, cy, cz = layer["CubeShape_px"]
        vx = [v[0] for v in layer["VoxelSize_nm"]]
        mag = round(vx[scale] / vx[0])
        shape = volume.at_scale(scale).shape
        out = np.zeros(shape, np.dtype(layer["DataType"]))
        for z in range(-(-shape[0] // cz)):
            for y in range(-(-shape[1] // cy)):
                for x in range(-(-shape[2] // cx)):
                    path = kfiles.cube_file(root, name, mag, (x, y, z), ext)
                    if path.exists():  # a cube never written is zeros
                        cube = kfiles.decode(path, ext, (cz, cy, cx))
                        part = out[z * cz:(z + 1) * cz, y * cy:(y + 1) * cy, x * cx:(x + 1) * cx]
                        part[...] = cube[:part.shape[0], :part.shape[1], :part.shape[2]]
        return out

    def write(uri: str, stored: StoredVolume, ext: str) -> None:
        root = _folder(uri)
        name = root.name
        meta = stored.metadata
        cz, cy, cx = meta.scales[0].chunks
        sizes = ", ".join("[" + ", ".join(f"{v:.1f}" for v in level.voxel_size[::-1]) + "]" for level in meta.scales)
        nz, ny, nx = meta.shape
        root.mkdir(parents=True)
        (root / f"{name}.k.toml").write_text(
            f'[[Layer]]\nName = "{name}"\nFileExtension = ["{ext}"]\nExtent_px = [{nx}, {ny}, {nz}]\n'
            f"VoxelSize_nm = [{sizes}]\nCubeShape_px = [{cx}, {cy}, {cz}]\nDataType = \"{meta.dtype}\"\n"
            'NumChannels = 1\nDescription = ""\n')
        for level, data in zip(meta.scales, stored.levels, strict=True):
            kfiles.write_cubes(root, name, round(level.downsample[2]), data, (cx, cy, cz), ext)

    def write_any(uri: str, stored: StoredVolume) -> None:
        ext = _Kit.extension_for(uri, stored.metadata.dtype)
        write(uri, stored, ext)

    return Reference("numpy cube layout", read=read, write=write_any)


class _Kit(VolumeDriverTests):
    extension = ""
    kinds = {"uint64": "segmentation"}  # KNOSSOS keeps uint64 only as segmentation ("overlay") cubes

    @pytest.fixture
    def new_uri(self, tmp_path: Path) -> Callable[[str], str]:
        query = f"?extension={self.extension}" if self.extension else ""
        return lambda name: f"knossos://{tmp_path}/{name}{query}"

    @pytest.fixture
    def references(self, kfiles: Any) -> Sequence[Reference]:
        return [knossos_reference(kfiles)]

    @staticmethod
    def extension_for(uri: str, dtype: str) -> str:
        """The encoding a URI of these classes asks for (its ``extension=``), else the driver's default."""
        if "extension=" in uri:
            return uri.split("extension=", 1)[1].split("&", 1)[0]
        return ".seg.sz.zip" if dtype == "uint64" else ".raw"


class TestRawAndSnappyCubes(_Kit):
    """The defaults: ``.raw`` image cubes and ``.seg.sz.zip`` segmentation cubes."""

    dtypes = ("uint8", "uint64")


class TestPngCubes(_Kit):
    dtypes = ("uint8",)
    extension = ".png"
    random_boxes = 6
