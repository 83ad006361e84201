"""KNOSSOS dataset configurations: read the classic ``knossos.conf``, ``.pyk.conf`` and ``.k.toml``; write ``.k.toml``.

A configuration describes one or more *layers*: cubes of one experiment name and one file extension under a folder of
``magN`` folders. Everything in this module is in KNOSSOS's own axis order, (x, y, z); the volume module converts to
intern's (z, y, x) once, when it builds the metadata. The format facts are recorded in ``docs/knossos.md``.

>>> layer = Layer(name="ex145", extension=".raw", root=Path("/data/ex145"), extent=(1000, 800, 300),
...               cube_shape=(128, 128, 128), voxel_sizes=((10.0, 10.0, 25.0), (20.0, 20.0, 50.0)), mags=(1, 2))
>>> layer.level_extent(1)
(500, 400, 150)
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from intern.errors import MetadataError
from intern.plugin import write_atomic

__all__ = [
    "IMAGE_EXTENSIONS",
    "SEGMENTATION_EXTENSIONS",
    "Configuration",
    "Layer",
    "append_toml_layer",
    "find_config",
    "is_config_file",
    "is_mag_folder",
    "read_config",
    "write_toml",
]

XYZ = tuple[int, int, int]
Vec3 = tuple[float, float, float]
Format = Literal["k.toml", "pyk.conf", "knossos.conf"]

#: cube encodings of images, as KNOSSOS names them; ``.6.jp2`` is listed before ``.jp2`` so suffix tests find it first
IMAGE_EXTENSIONS = (".raw", ".png", ".jpg", ".jpeg", ".6.jp2", ".jp2", ".j2k")
#: cube encodings of segmentations (KNOSSOS's "overlay" cubes): snappy in a zip, and plain little-endian uint64
SEGMENTATION_EXTENSIONS = (".seg.sz.zip", ".seg")

_TOML_SUFFIXES = (".k.toml",)
_PYK_SUFFIXES = (".pyk.conf", ".pyknossos.conf", "ariadne.conf")
_LEGACY_SUFFIXES = (".k.conf", "knossos.conf")
_DEFAULT_CUBE: XYZ = (128, 128, 128)
_MAG_FOLDER = re.compile(r"mag(\d+)")


@dataclass(frozen=True)
class Layer:
    """One volume of a KNOSSOS dataset: cubes of one experiment name and one file extension.

    Attributes:
        name: the experiment name as it appears in cube file names (``ex145`` in ``ex145_mag1_x0000_y0000_z0000.raw``).
        extension: the cube encoding, with its dot (``.raw``, ``.png``, ``.seg.sz.zip``...).
        root: the folder holding the ``magN`` folders.
        extent: voxels (x, y, z) at the resolution ``extent_voxel_size`` (the dataset's magnification 1).
        cube_shape: voxels (x, y, z) of one cube, the same at every level.
        voxel_sizes: (x, y, z) nanometres of each level, finest first.
        mags: the number of each level's ``magN`` folder (1, 2, 3, ... in the newer formats; 1, 2, 4, ... classic).
        extent_voxel_size: the voxel size ``extent`` is counted in; the first level's when not given.
        description: free text from the configuration.
    """

    name: str
    extension: str
    root: Path
    extent: XYZ
    cube_shape: XYZ
    voxel_sizes: tuple[Vec3, ...]
    mags: tuple[int, ...]
    extent_voxel_size: Vec3 | None = None
    description: str = ""

    @property
    def kind(self) -> Literal["image", "segmentation"]:
        return "segmentation" if self.extension in SEGMENTATION_EXTENSIONS else "image"

    def level_extent(self, level: int) -> XYZ:
        """Voxels (x, y, z) of a level: the extent divided by the level's factor, rounded up (partial cubes count)."""
        base = self.extent_voxel_size or self.voxel_sizes[0]
        out = []
        for n, b, v in zip(self.extent, base, self.voxel_sizes[level], strict=True):
            ratio = v / b
            if abs(ratio - round(ratio)) < 1e-6 and round(ratio) >= 1:
                out.append(-(-n // round(ratio)))
            else:  # a factor that is not whole: round up, forgiving the last bits of float error
                out.append(max(1, math.ceil(n / ratio - 1e-9)))
        return (out[0], out[1], out[2])


@dataclass(frozen=True)
class Configuration:
    """A configuration file and the layers it describes, in the file's order."""

    path: Path
    format: Format
    layers: tuple[Layer, ...]

    def names(self) -> list[str]:
        """The name intern gives each layer (see :func:`layer_names`)."""
        return layer_names(self.layers)


def layer_names(layers: Sequence[Layer]) -> list[str]:
    """Unique, stable names for the layers of one dataset.

    A layer is named by its experiment name when no other layer shares it. Layers sharing one experiment name (the
    KNOSSOS convention: image cubes and segmentation cubes side by side) are named by kind, ``image`` and
    ``segmentation``, and by kind and extension (``image.png``, ``image.jpg``) when one kind comes in two encodings.
    """
    names = []
    for layer in layers:
        same_name = [other for other in layers if other.name == layer.name]
        if len(same_name) == 1:
            names.append(layer.name)
        elif sum(other.kind == layer.kind for other in same_name) == 1:
            names.append(layer.kind)
        else:
            names.append(f"{layer.kind}{layer.extension}")
    for i, name in enumerate(names):  # a layer whose experiment name happens to be "image" and the like
        if names.count(name) > 1:
            names[i] = f"{layers[i].name}{layers[i].extension}"
    for i, name in enumerate(names):
        if names.count(name) > 1:
            names[i] = f"{name}-{i}"
    return names


# -- finding and reading ------------------------------------------------------------------------------------------
def is_config_file(path: Path) -> bool:
    """Whether ``path`` is named like a KNOSSOS configuration file."""
    name = path.name.lower()
    return name.endswith(_TOML_SUFFIXES + _PYK_SUFFIXES + _LEGACY_SUFFIXES)


def find_config(folder: Path) -> Path | None:
    """The configuration file of a dataset folder, newest format first; ``None`` when the folder holds none.

    Looks for ``*.k.toml``, then ``*.pyk.conf`` / ``*.pyknossos.conf`` / ``ariadne.conf``, then ``*.k.conf`` /
    ``knossos.conf``, then the classic place, ``mag1/knossos.conf`` (or the lowest non-empty ``magN/knossos.conf``).

    Raises:
        MetadataError: the folder holds two configurations of the same kind; the message lists them.
    """
    try:
        names = sorted(os.listdir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return None
    for suffixes in (_TOML_SUFFIXES, _PYK_SUFFIXES, _LEGACY_SUFFIXES):
        found = [n for n in names if n.lower().endswith(suffixes) and (folder / n).is_file()]
        if len(found) > 1:
            raise MetadataError(f"{folder} holds several KNOSSOS configurations ({', '.join(found)}); name the one "
                                f"to open: knossos://{folder / found[0]}")
        if found:
            return folder / found[0]
    mags = sorted((int(m.group(1)), n) for n in names if (m := _MAG_FOLDER.fullmatch(n)))
    for _, mag_folder in mags:
        conf = folder / mag_folder / "knossos.conf"
        if conf.is_file() and conf.stat().st_size > 0:  # knossos_utils leaves empty ones as markers
            return conf
    return None


def is_mag_folder(path: Path) -> bool:
    """Whether ``path`` is named like a magnification folder (``mag1``, ``mag16``)."""
    return _MAG_FOLDER.fullmatch(path.name) is not None


def read_config(path: Path) -> Configuration:
    """Parse the configuration file ``path`` (any of the three formats, told apart by the file name).

    Raises:
        MetadataError: the file is unreadable, or lacks what a dataset needs; the message names the file and the key.
    """
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise MetadataError(f"cannot read the KNOSSOS configuration {path}: {exc.strerror or exc}") from exc
    name = path.name.lower()
    if name.endswith(_TOML_SUFFIXES):
        return Configuration(path, "k.toml", _parse_toml(path, text))
    if name.endswith(_PYK_SUFFIXES):
        return Configuration(path, "pyk.conf", _parse_pyk(path, text))
    return Configuration(path, "knossos.conf", _parse_legacy(path, text))


def _base_name(experiment: str) -> str:
    # KNOSSOS names cubes by the part of the experiment name before "_mag" ("ex145_mag1" -> "ex145")
    return experiment.split("_mag")[0]


def _mag_folders(root: Path) -> list[int]:
    try:
        names = os.listdir(root)
    except OSError:
        return []
    return sorted(int(m.group(1)) for n in names if (m := _MAG_FOLDER.fullmatch(n)) and (root / n).is_dir())


def _check_extension(path: Path, ext: str) -> str:
    ext = ext if ext.startswith(".") else f".{ext}"
    if ext.lower() not in IMAGE_EXTENSIONS + SEGMENTATION_EXTENSIONS:
        known = ", ".join(IMAGE_EXTENSIONS + SEGMENTATION_EXTENSIONS)
        raise MetadataError(f"{path}: cube extension {ext!r} is not one intern-knossos reads ({known})")
    return ext.lower()


def _positive(where: object, what: str, values: Sequence[Any], n: int = 3) -> list[float]:
    try:
        out = [float(v) for v in values]
    except (TypeError, ValueError):
        raise MetadataError(f"{where}: {what} must be {n} numbers, got {list(values)!r}") from None
    if len(out) != n or not all(math.isfinite(v) and v > 0 for v in out):
        raise MetadataError(f"{where}: {what} must be {n} positive numbers, got {list(values)!r}")
    return out


def _local_root(path: Path, url: str | None, key: str) -> Path:
    """The folder of the cubes: the configuration's own folder, or a local URL / path it names."""
    if not url:
        return path.parent
    if url.startswith(("http://", "https://", "ftp://")):
        raise MetadataError(f"{path}: {key} {url!r} streams the cubes from a server; intern-knossos reads datasets "
                            "on a local or mounted disk (copy the cubes, or point the configuration at them)")
    if url.startswith("file://"):
        from urllib.parse import unquote, urlsplit

        url = unquote(urlsplit(url).path)
    return (path.parent / url).resolve() if not os.path.isabs(url) else Path(url)


def _parse_legacy(path: Path, text: str) -> tuple[Layer, ...]:
    values: dict[str, str] = {}
    flags: set[str] = set()
    for raw in text.splitlines():
        line = raw.strip().rstrip(";").strip()
        if line.startswith("experiment name"):
            values["experiment name"] = line[len("experiment name"):].strip().strip('"')
            continue
        tokens = line.split()
        if not tokens:
            continue
        key = tokens[0]
        if key in ("boundary", "scale") and len(tokens) >= 3 and tokens[1] in ("x", "y", "z"):
            values[f"{key} {tokens[1]}"] = tokens[2]
        elif key in ("magnification", "cube_edge_length", "compression_ratio") and len(tokens) >= 2:
            values[key] = tokens[1]
        elif key in ("ftp_mode", "png"):
            flags.add(key)
    if "ftp_mode" in flags:
        raise MetadataError(f"{path}: ftp_mode streams the cubes from a server; intern-knossos reads datasets on a "
                            "local or mounted disk")
    missing = [k for k in ("experiment name", "boundary x", "boundary y", "boundary z", "scale x", "scale y",
                           "scale z") if k not in values]
    if missing:
        raise MetadataError(f"{path} is not a complete knossos.conf: it has no {', '.join(repr(m) for m in missing)}")
    try:
        mag = int(values.get("magnification", "1"))
        edge = int(values.get("cube_edge_length", "128"))
        ratio = int(values.get("compression_ratio", "0"))
    except ValueError as exc:
        raise MetadataError(f"{path}: {exc}") from None
    if mag < 1 or edge < 1:
        raise MetadataError(f"{path}: magnification {mag} and cube_edge_length {edge} must be >= 1")
    boundary = _positive(path, "boundary x, y, z", [values[f"boundary {a}"] for a in "xyz"])
    scale = _positive(path, "scale x, y, z", [values[f"scale {a}"] for a in "xyz"])
    # the numbers describe the configuration's own magnification; KNOSSOS scales them back to magnification 1
    extent = (round(boundary[0] * mag), round(boundary[1] * mag), round(boundary[2] * mag))
    voxel1 = (scale[0] / mag, scale[1] / mag, scale[2] / mag)
    root = path.parent.parent if _MAG_FOLDER.fullmatch(path.parent.name) else path.parent
    mags = [m for m in _mag_folders(root) if m & (m - 1) == 0] or [mag]
    image_ext = {0: ".png" if "png" in flags else ".raw", 1000: ".jpg", 6: ".6.jp2"}.get(ratio, ".j2k")
    common: dict[str, Any] = dict(
        name=_base_name(values["experiment name"]), root=root, extent=extent, cube_shape=(edge, edge, edge),
        voxel_sizes=tuple((voxel1[0] * m, voxel1[1] * m, voxel1[2] * m) for m in mags), mags=tuple(mags),
        extent_voxel_size=voxel1)
    # a classic dataset always has an overlay (segmentation) layer beside its images, as KNOSSOS shows it
    return (Layer(extension=image_ext, **common), Layer(extension=".seg.sz.zip", **common))


def _parse_pyk(path: Path, text: str) -> tuple[Layer, ...]:
    sections: list[dict[str, str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if re.fullmatch(r"\[Dataset[ \d]*\]", line):
            sections.append({})
            continue
        key, sep, value = line.partition("=")
        if sections and sep:
            sections[-1][key.strip()] = value.strip().replace('"', "")
    if not sections:
        raise MetadataError(f"{path} has no [Dataset] section; it is not a PyKNOSSOS configuration")
    layers = []
    for i, sec in enumerate(sections):
        where = f"{path} [Dataset] #{i + 1}"
        for key in ("_BaseName", "_DataScale", "_Extent"):
            if not sec.get(key):
                raise MetadataError(f"{where} has no {key}")
        scales = [v for v in sec["_DataScale"].split(",") if v.strip()]
        if len(scales) % 3:
            raise MetadataError(f"{where}: _DataScale must be x,y,z triples, one per magnification; got "
                                f"{sec['_DataScale']!r}")
        voxel_sizes = [tuple(_positive(where, "_DataScale", scales[j:j + 3])) for j in range(0, len(scales), 3)]
        extent = _positive(where, "_Extent", sec["_Extent"].split(","))
        cube = _positive(where, "_CubeSize", sec.get("_CubeSize", "128,128,128").split(","))
        if "_BaseExt" in sec:
            ext = _check_extension(path, sec["_BaseExt"])
        else:  # _FileType 1 is a rotated PNG that KNOSSOS itself reads as a plain one
            ext = {"0": ".raw", "1": ".png", "2": ".png", "3": ".jpg"}.get(sec.get("_FileType", "0"), ".raw")
        n = len(voxel_sizes)
        mags = tuple(2**k for k in range(n)) if sec.get("_ServerFormat") == "knossos" else tuple(range(1, n + 1))
        layers.append(Layer(
            name=_base_name(sec["_BaseName"]), extension=ext, root=_local_root(path, sec.get("_BaseURL"), "_BaseURL"),
            extent=(round(extent[0]), round(extent[1]), round(extent[2])),
            cube_shape=(round(cube[0]), round(cube[1]), round(cube[2])),
            voxel_sizes=tuple((v[0], v[1], v[2]) for v in voxel_sizes), mags=mags,
            description=sec.get("_Description", "")))
    return tuple(layers)


def _parse_toml(path: Path, text: str) -> tuple[Layer, ...]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MetadataError(f"{path} is not valid TOML: {exc}") from None
    entries = data.get("Layer")
    if not isinstance(entries, list) or not entries:
        raise MetadataError(f"{path} has no [[Layer]] tables; it is not a KNOSSOS .k.toml configuration")
    layers = []
    for i, entry in enumerate(entries):
        where = f"{path} [[Layer]] #{i + 1}"
        for key in ("Name", "FileExtension", "Extent_px", "VoxelSize_nm"):
            if key not in entry:
                raise MetadataError(f"{where} has no {key}")
        fmt = entry.get("ServerFormat")
        if fmt == "precomputed" or str(entry.get("URL", "")).rstrip("/").endswith("/info"):
            raise MetadataError(f"{where} is a neuroglancer precomputed layer, not KNOSSOS cubes; open it with "
                                "precomputed:// (intern-cloudvolume)")
        if entry.get("NumChannels", 1) not in (1, None):
            raise MetadataError(f"{where}: NumChannels = {entry['NumChannels']}; intern-knossos reads single-channel "
                                "cubes only")
        sizes = entry["VoxelSize_nm"]
        if sizes and not isinstance(sizes[0], list):  # one level written as a bare triple
            sizes = [sizes]
        voxel_sizes = tuple(tuple(_positive(where, "VoxelSize_nm", s)) for s in sizes)
        if not voxel_sizes:
            raise MetadataError(f"{where}: VoxelSize_nm lists no level")
        extent = _positive(where, "Extent_px", entry["Extent_px"])
        cube = _positive(where, "CubeShape_px", entry.get("CubeShape_px", list(_DEFAULT_CUBE)))
        extensions = entry["FileExtension"]
        extensions = [extensions] if isinstance(extensions, str) else list(extensions)
        n = len(voxel_sizes)
        mags = tuple(2**k for k in range(n)) if fmt == "knossos" else tuple(range(1, n + 1))
        for ext in extensions:
            layers.append(Layer(
                name=_base_name(str(entry["Name"])), extension=_check_extension(path, str(ext)),
                root=_local_root(path, entry.get("URL"), "URL"),
                extent=(round(extent[0]), round(extent[1]), round(extent[2])),
                cube_shape=(round(cube[0]), round(cube[1]), round(cube[2])),
                voxel_sizes=tuple((v[0], v[1], v[2]) for v in voxel_sizes), mags=mags,
                description=str(entry.get("Description", ""))))
    return tuple(layers)


# -- writing ------------------------------------------------------------------------------------------------------
def _toml_string(text: str) -> str:
    # a TOML basic string: quotes and backslashes escaped, and every control character (DEL included, which JSON
    # would leave as it is) written as \uXXXX
    return '"' + "".join(
        "\\" + ch if ch in '"\\' else f"\\u{ord(ch):04x}" if ord(ch) < 0x20 or ord(ch) == 0x7F else ch
        for ch in text) + '"'


def _toml_value(value: Any) -> str:
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return "[" + ", ".join(_toml_value(v) for v in value) + "]"


def toml_layer(layer: Layer, *, data_type: str) -> str:
    """One ``[[Layer]]`` table, with the keys KNOSSOS requires and the ones knossos_utils reads."""
    fields: list[tuple[str, Any]] = [
        ("Name", layer.name),
        ("FileExtension", [layer.extension]),
        ("Extent_px", list(layer.extent)),
        ("VoxelSize_nm", [[float(v) for v in size] for size in layer.voxel_sizes]),
        ("CubeShape_px", list(layer.cube_shape)),
        ("DataType", data_type),
        ("NumChannels", 1),
        ("Description", layer.description),
    ]
    return "[[Layer]]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in fields)


def write_toml(path: Path, layer: Layer, *, data_type: str) -> None:
    """Write a new ``.k.toml`` holding one layer (replacing the file atomically)."""
    write_atomic(path, toml_layer(layer, data_type=data_type).encode("utf-8"))


def append_toml_layer(path: Path, layer: Layer, *, data_type: str) -> None:
    """Add a layer to an existing ``.k.toml``, keeping everything already in the file."""
    text = path.read_text(encoding="utf-8")
    write_atomic(path, (text.rstrip("\n") + "\n\n" + toml_layer(layer, data_type=data_type)).encode("utf-8"))
