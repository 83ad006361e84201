"""``knossos://PATH``: the Remote of KNOSSOS datasets on a local (or mounted) disk.

``PATH`` names a dataset folder, its configuration file, or a layer of either (``knossos:///data/ex145``,
``knossos:///data/ex145/ex145.k.toml``, ``knossos:///data/ex145/segmentation``). Opening a dataset without a layer
gives its first layer, as KNOSSOS shows it; ``intern.ls`` lists the layers.

>>> import intern                                                           # doctest: +SKIP
>>> em = intern.create("knossos:///tmp/ex145", shape=(256, 512, 512), dtype="uint8", chunks=(128, 128, 128),
...                    voxel_size=(25, 10, 10), scales=3)                   # doctest: +SKIP
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import Any, ClassVar

from intern.errors import AlreadyExistsError, InvalidURIError, MetadataError, NotFoundError
from intern.plugin import URI, Option, OptionSet, VolumeMetadata, shared_remote

from ._config import (
    SEGMENTATION_EXTENSIONS,
    Configuration,
    Layer,
    append_toml_layer,
    find_config,
    is_config_file,
    is_mag_folder,
    read_config,
    write_toml,
)
from ._cubes import WRITABLE_EXTENSIONS
from ._volume import KnossosVolume, backend_errors

__all__ = ["KnossosRemote"]

_MODES = ("r", "r+", "a")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")

#: what ``open`` and ``create`` take; intern's core parses them (query strings included) before the remote sees them
OPTIONS = OptionSet(
    "knossos",
    Option("mode", str, "a", choices=_MODES, help="'r' read-only; 'a' or 'r+' read and write"),
    Option("extension", str, None, help="the layer with these cubes ('.png'); what create writes"),
    Option("name", str, None, creation_only=True, help="the experiment name in cube file names"),
    Option("description", str, "", creation_only=True, help="the configuration's Description"),
)

# adding a layer rewrites a configuration file: one lock for the process, whichever remote object does it
_CONFIG_LOCK = threading.Lock()


def _check_name(name: str) -> str:
    # KNOSSOS cuts an experiment name at its first "_mag" to name cubes, and names must be safe in file names
    if not _NAME.fullmatch(name) or "_mag" in name:
        raise InvalidURIError(f"{name!r} cannot be a KNOSSOS experiment name: use letters, digits, '.', '-' and '_', "
                              "without '_mag' (KNOSSOS reads it as the start of a magnification); pass name=... to "
                              "intern.create to choose one")
    return name


def _locate(path: Path) -> tuple[Path | None, str | None]:
    """(configuration file, layer name) that ``path`` names; ``(None, None)`` when it names no dataset.

    A magnification folder, or an empty ``knossos.conf`` in one (knossos_utils leaves them as markers), names the
    dataset around it.
    """
    if path.is_file():
        if not is_config_file(path):
            return None, None
        if path.stat().st_size == 0 and is_mag_folder(path.parent):
            return find_config(path.parent.parent), None
        return path, None
    if path.is_dir():
        return find_config(path.parent if is_mag_folder(path) else path), None
    parent = path.parent
    if parent.is_file() and is_config_file(parent):
        return parent, path.name
    if parent.is_dir() and parent != path:
        conf = find_config(parent.parent if is_mag_folder(parent) else parent)
        if conf is not None:
            return conf, path.name
    return None, None


def _layer_from_metadata(metadata: VolumeMetadata, *, name: str, root: Path, extension: str | None,
                         description: str) -> tuple[Layer, str]:
    """The KNOSSOS layer that stores ``metadata`` (and its DataType), or a MetadataError saying what does not fit."""
    if metadata.axes != ("z", "y", "x"):
        raise MetadataError(f"KNOSSOS datasets are 3-D (z, y, x); axes {metadata.axes} do not fit: store each channel "
                            "or time point as a dataset of its own")
    if metadata.kind == "segmentation":
        if metadata.dtype != "uint64":
            raise MetadataError(f"KNOSSOS segmentation cubes hold uint64 labels, not {metadata.dtype}: create the "
                                "volume as uint64 (writing smaller unsigned labels into it is lossless)")
        extension = extension or ".seg.sz.zip"
        allowed = [e for e in WRITABLE_EXTENSIONS if e in SEGMENTATION_EXTENSIONS]
    else:
        if metadata.dtype != "uint8":
            raise MetadataError(f"KNOSSOS image cubes hold uint8 voxels, not {metadata.dtype}: convert the image "
                                "to uint8, or store uint64 labels with kind='segmentation'")
        extension = extension or ".raw"
        allowed = [e for e in WRITABLE_EXTENSIONS if e not in SEGMENTATION_EXTENSIONS]
    if extension not in allowed:
        raise InvalidURIError(f"extension {extension!r} is not one intern-knossos writes for a {metadata.kind} "
                              f"(choose from {', '.join(allowed)}; JPEG cubes are read, never written: a partial-cube "
                              "write would re-encode them with loss)")
    chunks = {level.chunks for level in metadata.scales}
    if len(chunks) > 1:
        raise MetadataError(f"KNOSSOS cubes have one shape at every magnification; the levels have chunks {chunks}")
    if any(level.offset != (0, 0, 0) for level in metadata.scales):
        raise MetadataError("KNOSSOS datasets start at voxel 0 at every magnification; these levels have offsets")
    layer = Layer(
        name=name, extension=extension, root=root, extent=metadata.scales[0].shape[::-1],  # type: ignore[arg-type]
        cube_shape=metadata.scales[0].chunks[::-1],  # type: ignore[arg-type]
        voxel_sizes=tuple(level.voxel_size[::-1] for level in metadata.scales),
        mags=tuple(range(1, len(metadata.scales) + 1)), description=description)
    for i, level in enumerate(metadata.scales):
        if layer.level_extent(i) != level.shape[::-1]:
            raise MetadataError(
                f"level {i} has shape {level.shape}, but KNOSSOS derives a level's extent from its voxel size: "
                f"{layer.level_extent(i)[::-1]} (the finest extent divided by the factor, rounded up)")
    return layer, metadata.dtype


class KnossosRemote:
    """KNOSSOS datasets on the local file system (one shared, stateless instance per process)."""

    scheme: ClassVar[str] = "knossos"
    declared_options: ClassVar[OptionSet] = OPTIONS

    @classmethod
    def from_uri(cls, uri: URI) -> tuple[KnossosRemote, str]:
        """``knossos:///abs/path`` -> (the remote, ``/abs/path``); a relative path is made absolute once."""
        # the remote holds no state: intern's registry keeps one per process, and a fresh one after reload()
        return shared_remote(cls.scheme, None, cls), os.path.abspath(os.path.expanduser(uri.rest)) if uri.rest else ""

    # -- opening ------------------------------------------------------------------------------------------------
    def _configuration(self, path: Path) -> tuple[Configuration, Path, str | None]:
        """(configuration, the path naming the dataset, layer) for ``path``, or NotFoundError."""
        conf, layer = _locate(path)
        if conf is None:
            if not path.exists():
                raise NotFoundError(f"knossos://{path} does not exist")
            raise NotFoundError(f"knossos://{path} is not a KNOSSOS dataset: it holds no *.k.toml, *.pyk.conf or "
                                "knossos.conf (nor mag1/knossos.conf)")
        with backend_errors(conf):
            return read_config(conf), (path.parent if layer is not None else path), layer

    def open(self, path: str, *, mode: str = "a", extension: str | None = None, **options: Any) -> KnossosVolume:
        """The layer ``path`` names (the dataset's first layer when it names a dataset).

        Args:
            mode: ``"r"`` read-only; ``"a"`` (or ``"r+"``, default) read and write.
            extension: take the (first) layer with these cubes (``".png"``); a layer named in the path must have them.
                So a URI with ``?extension=`` opens what ``intern.create`` made with it.

        Raises:
            NotFoundError: nothing there, not a KNOSSOS dataset, or no such layer (the message lists the layers).
            MetadataError: the configuration is incomplete or describes something intern-knossos does not read.
        """
        if options or mode not in _MODES:  # intern.open has checked both; this is for calls that bypass it
            OPTIONS.for_open({}, {"mode": mode, **options})
        if not path:
            raise InvalidURIError("knossos:// needs a path: knossos:///data/dataset (three slashes for an absolute path)")
        config, root, layer = self._configuration(Path(path))
        names = config.names()
        if layer is not None and layer not in names:
            raise NotFoundError(f"knossos://{root} has no layer {layer!r}; its layers are: {', '.join(names)}")
        candidates = [names.index(layer)] if layer is not None else list(range(len(names)))
        if extension is not None:
            candidates = [i for i in candidates if config.layers[i].extension == extension]
            if not candidates:
                have = ", ".join(f"{n} ({lay.extension})" for n, lay in zip(names, config.layers, strict=True))
                raise NotFoundError(f"knossos://{path} has no layer of {extension} cubes; its layers are: {have}")
        index = candidates[0]
        uri = f"knossos://{root}" + (f"/{names[index]}" if layer is not None or len(names) > 1 else "")
        return KnossosVolume(self, config, index, uri=uri + ("?mode=r" if mode == "r" else ""), writable=mode != "r")

    def ls(self, path: str = "") -> list[str]:
        """The layers of a dataset; the datasets in a plain folder; nothing for a layer.

        Raises:
            NotFoundError: ``path`` does not exist, or names a layer the dataset does not have.
        """
        where = Path(path or os.getcwd())
        conf, layer = _locate(where)
        if conf is not None:
            names = read_config(conf).names()
            if layer is None:
                return names
            if layer in names:
                return []
            raise NotFoundError(f"knossos://{where.parent} has no layer {layer!r}; its layers are: {', '.join(names)}")
        if not where.is_dir():
            raise NotFoundError(f"knossos://{where} does not exist" if not where.exists()
                                else f"knossos://{where} is a file, not a KNOSSOS dataset or a folder of them")
        with backend_errors(where):
            children = sorted(p for p in where.iterdir() if p.is_dir())
        return [p.name for p in children if _holds_dataset(p)]

    # -- creating -----------------------------------------------------------------------------------------------
    def default_chunks(self, *, shape: tuple[int, ...], dtype: Any, kind: str) -> tuple[int, ...]:
        """KNOSSOS's cube, 128^3, used by ``intern.create`` when no chunks are given."""
        return (1,) * (len(shape) - 3) + (128, 128, 128)

    def create(self, path: str, metadata: VolumeMetadata, *, exist_ok: bool = False, mode: str = "a",
               extension: str | None = None, name: str | None = None, description: str = "",
               **options: Any) -> KnossosVolume:
        """Make a new dataset (a folder with ``NAME.k.toml``), or add a layer to an existing ``.k.toml`` dataset.

        ``path`` is a new or empty folder (the experiment name is its name), a ``NAME.k.toml`` file to make, or
        ``DATASET/LAYER`` for a new layer of an existing dataset. Cubes are written as data arrive; levels are
        empty (missing cubes) until written, e.g. by ``intern.downsample(..., dest=...)``.

        Args:
            extension: the cube encoding: ``".raw"`` (default) or ``".png"`` for images, ``".seg.sz.zip"`` (default)
                or ``".seg"`` for segmentations.
            name: the experiment name in cube file names (default: the folder, file or layer name).
            description: the configuration's ``Description``.

        Raises:
            AlreadyExistsError: there is a dataset (or that layer) already, and ``exist_ok`` is false; or the folder
                holds other files.
            MetadataError: the volume does not fit KNOSSOS (dtype, axes, cube shapes, offsets, level shapes).
        """
        if options:
            OPTIONS.parse(options)  # names the option intern-knossos does not know, and those it does
        if not path:
            raise InvalidURIError("knossos:// needs a path: knossos:///data/dataset")
        target = Path(path)
        conf, layer = _locate(target)
        if conf is not None:
            config = read_config(conf)
            if layer is None or layer in config.names():
                if not exist_ok:
                    raise AlreadyExistsError(f"knossos://{path} exists already (pass exist_ok=True to open it)")
                try:
                    return self.open(path, mode=mode, extension=extension)
                except NotFoundError:
                    raise AlreadyExistsError(f"knossos://{path} exists already, with cubes other than "
                                             f"{extension}") from None
            return self._add_layer(config, target, metadata, mode=mode, extension=extension,
                                   name=name or layer, description=description)
        if is_config_file(target):
            if not target.name.endswith(".k.toml"):
                raise InvalidURIError(f"intern-knossos writes .k.toml configurations; name the file "
                                      f"{target.name.split('.')[0]}.k.toml, or give the dataset folder")
            folder, experiment = target.parent, name or target.name[: -len(".k.toml")]
        else:
            folder, experiment = target, name or target.name
        if target.exists() and not (target.is_dir() and not any(target.iterdir())):
            raise AlreadyExistsError(f"{target} exists and is not a KNOSSOS dataset; intern-knossos makes a dataset "
                                     "in a new or empty folder")
        new, dtype = _layer_from_metadata(metadata, name=_check_name(experiment), root=folder, extension=extension,
                                          description=description)
        conf_path = target if is_config_file(target) else folder / f"{experiment}.k.toml"
        with backend_errors(folder):
            folder.mkdir(parents=True, exist_ok=True)
            write_toml(conf_path, new, data_type=dtype)
        return self.open(path, mode=mode, extension=extension)

    def _add_layer(self, config: Configuration, target: Path, metadata: VolumeMetadata, *, mode: str,
                   extension: str | None, name: str, description: str) -> KnossosVolume:
        if config.format != "k.toml":
            raise MetadataError(f"{config.path} is a {config.format} configuration, which intern-knossos reads but "
                                "does not extend; add layers to .k.toml datasets")
        new, dtype = _layer_from_metadata(metadata, name=_check_name(name), root=config.path.parent,
                                          extension=extension, description=description)
        if any(old.name == new.name and old.extension == new.extension for old in config.layers):
            raise AlreadyExistsError(f"{config.path} has a layer with cubes {new.name}_magN_...{new.extension} "
                                     "already; choose another name=")
        with _CONFIG_LOCK, backend_errors(config.path):
            append_toml_layer(config.path, new, data_type=dtype)
        names = read_config(config.path).names()
        return self.open(str(target.parent / names[len(config.layers)]), mode=mode)

    def __repr__(self) -> str:
        return "<KnossosRemote knossos://>"


def _holds_dataset(folder: Path) -> bool:
    try:
        return find_config(folder) is not None
    except MetadataError:  # several configurations: a dataset all the same, which open() will ask to disambiguate
        return True
