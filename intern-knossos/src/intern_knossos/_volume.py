"""One layer of a KNOSSOS dataset as an intern volume: metadata, and reads and writes of single cubes.

The volume declares ``VolumeIO()`` (single cubes), so intern's core cuts every request on the cube grid, runs the pieces on
its thread pool, assembles reads in place and merges partial cubes before a write. This module only ever reads a box
inside one cube and writes one whole cube (clipped to the volume), in intern's (z, y, x) order; KNOSSOS's (x, y, z)
is converted here, once, when the metadata is built. The core holds each cube's lock while it merges and writes
the cube, against writers in other processes too (:meth:`KnossosVolume.level_storage`).
"""

from __future__ import annotations

import itertools
import os
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from intern.errors import ErrorBoundary, MetadataError, PermissionDeniedError, RemoteError
from intern.plugin import Box, LevelStorage, ScaleLevel, VolumeIO, VolumeMetadata

from ._config import Configuration, Layer
from ._cubes import WRITABLE_EXTENSIONS, cube_dtype, cube_path, read_cube, write_cube

if TYPE_CHECKING:
    from ._remote import KnossosRemote

__all__ = ["KnossosVolume", "layer_metadata"]


def layer_metadata(config: Configuration, index: int) -> VolumeMetadata:
    """intern's description of layer ``index``: every magnification a scale level, (z, y, x), voxel sizes in nm."""
    layer = config.layers[index]
    base = layer.voxel_sizes[0]
    cube = layer.cube_shape[::-1]
    try:
        levels = tuple(
            ScaleLevel(shape=layer.level_extent(i)[::-1], chunks=cube, voxel_size=size[::-1],
                       downsample=tuple(s / b for s, b in zip(size, base, strict=True))[::-1], key=f"mag{mag}")
            for i, (mag, size) in enumerate(zip(layer.mags, layer.voxel_sizes, strict=True)))
        return VolumeMetadata(
            axes=("z", "y", "x"), dtype=cube_dtype(layer.extension).newbyteorder("=").name, kind=layer.kind,
            scales=levels, attributes={"knossos": _attributes(config, index)})
    except ValueError as exc:  # the models' validation errors are ValueErrors; say which file they came from
        raise MetadataError(f"{config.path} describes no valid volume: {exc}") from None


def _attributes(config: Configuration, index: int) -> dict[str, Any]:
    layer = config.layers[index]
    return {
        "configuration": str(config.path),
        "format": config.format,
        "layer": config.names()[index],
        "layers": config.names(),
        "experiment_name": layer.name,
        "extension": layer.extension,
        "mags": list(layer.mags),
        "cube_shape_xyz": list(layer.cube_shape),
        "extent_xyz": list(layer.extent),
        "description": layer.description,
    }


def translate(exc: BaseException, what: str) -> BaseException:
    """intern's error for a file system error ``exc`` met at ``what`` (a path); anything else passes unchanged.

    intern's own errors never reach this function: the core's :class:`~intern.errors.ErrorBoundary` lets them
    through as they are.
    """
    if isinstance(exc, PermissionError):
        return PermissionDeniedError(f"{what}: permission denied ({exc.strerror or exc}); check the dataset "
                                     "folder's permissions, or open it with ?mode=r")
    if isinstance(exc, OSError):
        return RemoteError(f"{what}: {exc.strerror or exc}")
    return exc


_boundary = ErrorBoundary(translate)


def backend_errors(path: Path) -> AbstractContextManager[None]:
    """A block whose file system errors leave as intern's, naming ``path``: the driver's one boundary."""
    return _boundary.translating(str(path))


class KnossosVolume:
    """A layer of a KNOSSOS dataset: one experiment name, one cube encoding, every magnification a scale level.

    Attributes:
        layer: the layer as the configuration describes it (x, y, z order).
        configuration: the parsed configuration file.
        writable: whether writes are allowed (open mode, and an encoding intern writes exactly).
    """

    io: ClassVar[VolumeIO] = VolumeIO()  # the core cuts requests on the cube grid and merges partial cubes

    def __init__(self, remote: KnossosRemote, configuration: Configuration, index: int, *, uri: str,
                 writable: bool) -> None:
        self._remote = remote
        self._uri = uri
        self.configuration = configuration
        self.layer: Layer = configuration.layers[index]
        self.metadata = layer_metadata(configuration, index)
        self.writable = writable and self.layer.extension in WRITABLE_EXTENSIONS

    @property
    def uri(self) -> str:
        return self._uri

    @property
    def remote(self) -> KnossosRemote:
        return self._remote

    def cube_file(self, index: tuple[int, int, int], *, scale: int = 0) -> Path:
        """The file of the cube at grid index ``index`` (z, y, x) of level ``scale``."""
        z, y, x = index
        return cube_path(self.layer.root, self.layer.name, self.layer.mags[scale], (x, y, z), self.layer.extension)

    def level_storage(self, scale: int) -> LevelStorage:
        """Where level ``scale`` lives, for the core's chunk locks: its ``magM`` folder, so that writers in other
        processes take turns on a cube too. The lock file there is hidden and empty, and cubes are found by their
        names. Layers of one dataset share the folder, and so a cube's lock: they merely take turns."""
        return LevelStorage(local_directory=str(self.layer.root / f"mag{self.layer.mags[scale]}"))

    def _locate(self, box: Box, scale: int) -> tuple[Path, ScaleLevel, tuple[int, ...], tuple[int, int, int]]:
        level = self.metadata.scales[scale]
        index = tuple(a // c for a, c in zip(box.start, level.chunks, strict=True))
        origin = tuple(i * c for i, c in zip(index, level.chunks, strict=True))
        clipped = tuple(min(c, s - o) for c, s, o in zip(level.chunks, level.shape, origin, strict=True))
        return self.cube_file(index, scale=scale), level, origin, clipped  # type: ignore[return-value, arg-type]

    def read(self, box: Box, *, scale: int = 0) -> np.ndarray:
        """The voxels of ``box``, which lies inside one cube; a missing cube reads as zeros."""
        path, level, origin, clipped = self._locate(box, scale)
        with backend_errors(path):
            data = read_cube(path, self.layer.extension, cube=level.chunks, clipped=clipped,  # type: ignore[arg-type]
                             region=box.relative_to(origin).to_slices())
        return np.zeros(box.shape, self.metadata.numpy_dtype) if data is None else data

    def write(self, box: Box, data: np.ndarray, *, scale: int = 0) -> None:
        """Store one whole cube (``box`` is the cube clipped to the level), padded with zeros to the cube's shape."""
        path, level, origin, _ = self._locate(box, scale)
        cube = np.zeros(level.chunks, self.metadata.numpy_dtype)
        cube[box.relative_to(origin).to_slices()] = data
        with backend_errors(path):
            write_cube(path, self.layer.extension, cube)

    def chunk_stamp(self, box: Box, *, scale: int = 0) -> str:
        """The state of every cube file holding voxels of ``box``: inode, size and ``mtime_ns``, one ``stat`` each.

        A cube is written by renaming a new file over it (so the inode changes) and removed when all zeros; a
        missing file is a state of its own.
        """
        level = self.metadata.scales[scale]
        grid = [range(a // c, -(-b // c)) for a, b, c in zip(box.start, box.stop, level.chunks, strict=True)]
        states = []
        for index in itertools.product(*grid):
            path = self.cube_file(index, scale=scale)  # type: ignore[arg-type]
            with backend_errors(path):
                try:
                    st = os.stat(path)
                except FileNotFoundError:
                    states.append("-")
                    continue
            states.append(f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}")
        return " ".join(states)

    def __repr__(self) -> str:
        return f"<KnossosVolume {self.uri} {self.layer.name}{self.layer.extension}>"
