"""OME-Zarr (NGFF 0.4 and 0.5) and plain Zarr metadata, to and from intern's :class:`VolumeMetadata`.

Reading maps a file's axes onto intern's order (``t, c, z, y, x``, spatial axes last): files with the axes in another
order are read through a transposition, files without the three spatial axes are refused with a clear message.
Scale transforms become voxel sizes in nm and downsampling factors relative to dataset 0; a translation becomes the
level's ``offset`` where it is a whole number of voxels (NGFF pyramids often shift coarse levels by half a voxel,
which has no voxel offset; the raw translations stay in ``attributes``).

Writing produces NGFF 0.5: ``attributes.ome`` of a zarr v3 group, axes in nanometres, one scale (and translation,
when an offset is not zero) per dataset.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from intern.errors import MetadataError
from intern.plugin import ScaleLevel, VolumeMetadata, to_nanometres

__all__ = ["Layout", "array_layout", "find_multiscales", "multiscales_layout", "native", "ome_attributes"]

NGFF_VERSION = "0.5"
_ORDER = ("t", "c", "z", "y", "x")
_TYPE_NAME = {"time": "t", "channel": "c"}
_NGFF_TYPE = {"t": "time", "c": "channel", "z": "space", "y": "space", "x": "space"}
_DEFAULT_AXES = {3: ("z", "y", "x"), 4: ("c", "z", "y", "x"), 5: ("t", "c", "z", "y", "x")}


@dataclass(frozen=True)
class Layout:
    """How a Zarr node maps onto an intern volume.

    Attributes:
        metadata: the volume's metadata, in intern's axis order.
        paths: for each scale level, the array's path relative to the node ("" for a plain array).
        order: for each intern axis, the index of the stored axis it is; ``None`` when they are the same.
    """

    metadata: VolumeMetadata
    paths: tuple[str, ...]
    order: tuple[int, ...] | None = None


def _canonical_axes(stored: Sequence[str], where: str) -> tuple[tuple[str, ...], tuple[int, ...] | None]:
    """intern's axes for stored axis names, and the stored index of each (None when nothing moves)."""
    stored = tuple(stored)
    unknown = [a for a in stored if a not in _ORDER]
    if unknown or len(set(stored)) != len(stored):
        raise MetadataError(f"{where}: axes {list(stored)} are not distinct names among t, c, z, y, x; intern "
                            "reads volumes with spatial axes z, y, x and optional t and c")
    if not {"z", "y", "x"} <= set(stored):
        raise MetadataError(f"{where}: axes {list(stored)} lack one of z, y, x; intern volumes are three-dimensional "
                            "(store a 2-D image with a z axis of length 1)")
    axes = tuple(a for a in _ORDER if a in stored)
    order = tuple(stored.index(a) for a in axes)
    return axes, (None if order == tuple(range(len(stored))) else order)


def _ngff_axes(entry: Mapping[str, Any], ndim: int, where: str) -> tuple[list[str], list[str | None]]:
    axes = entry.get("axes")
    if axes is None:  # NGFF 0.1/0.2 had no axes: they were always t, c, z, y, x
        return list(("t", "c", "z", "y", "x")[-ndim:]), [None] * ndim
    names: list[str] = []
    units: list[str | None] = []
    for axis in axes:
        if isinstance(axis, str):  # NGFF 0.3: a list of names
            names.append(axis)
            units.append(None)
            continue
        name = str(axis.get("name", ""))
        if name not in _ORDER:
            name = _TYPE_NAME.get(str(axis.get("type", "")), name)
        names.append(name)
        units.append(axis.get("unit"))
    if len(names) != ndim:
        raise MetadataError(f"{where}: multiscales lists {len(names)} axes for arrays of {ndim} dimensions")
    return names, units


def find_multiscales(attrs: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(the OME dict, its first multiscales entry) of a group's attributes, for NGFF 0.5 or earlier; else None."""
    ome = attrs.get("ome")
    if isinstance(ome, Mapping) and ome.get("multiscales"):
        return dict(ome), dict(ome["multiscales"][0])
    if attrs.get("multiscales"):  # NGFF <= 0.4 keeps its keys at the top of .zattrs
        return dict(attrs), dict(attrs["multiscales"][0])
    return None


def _transforms(items: Sequence[Mapping[str, Any]] | None, ndim: int) -> tuple[np.ndarray, np.ndarray]:
    scale, translation = np.ones(ndim), np.zeros(ndim)
    for t in items or ():
        if t.get("type") == "scale" and "scale" in t:
            scale = scale * np.asarray(t["scale"], dtype=float)
        elif t.get("type") == "translation" and "translation" in t:
            translation = translation + np.asarray(t["translation"], dtype=float)
    return scale, translation


def _kind(ome: Mapping[str, Any], own: Mapping[str, Any], under_labels: bool, dtype: np.dtype) -> str:
    if dtype.kind not in "iub":
        return "image"
    if "image-label" in ome or own.get("kind") == "segmentation" or under_labels:
        return "segmentation"
    return "image"


def multiscales_layout(attrs: Mapping[str, Any], arrays: Sequence[Any], *, where: str,
                       under_labels: bool) -> Layout:
    """The layout of an OME-Zarr multiscales group.

    Args:
        attrs: the group's attributes.
        arrays: the zarr-python arrays of its datasets, in the order the metadata lists them.
        where: the group's URI, for messages.
        under_labels: whether the group sits in a ``labels`` group (NGFF label images).
    """
    found = find_multiscales(attrs)
    if found is None:
        raise MetadataError(f"{where}: no OME-Zarr multiscales metadata")
    ome, entry = found
    datasets = entry.get("datasets") or []
    if not datasets or len(datasets) != len(arrays):
        raise MetadataError(f"{where}: multiscales lists {len(datasets)} datasets, {len(arrays)} found")
    ndim = len(arrays[0].shape)
    names, units = _ngff_axes(entry, ndim, where)
    axes, order = _canonical_axes(names, where)
    spatial = [names.index(a) for a in ("z", "y", "x")]
    g_scale, g_translation = _transforms(entry.get("coordinateTransformations"), ndim)
    dtype = native(arrays[0].dtype)
    levels, translations = [], []
    base: np.ndarray | None = None
    for i, (ds, arr) in enumerate(zip(datasets, arrays, strict=True)):
        if native(arr.dtype) != dtype or len(arr.shape) != ndim:
            raise MetadataError(f"{where}: dataset {ds.get('path')!r} is {arr.dtype}{list(arr.shape)}, dataset 0 is "
                                f"{dtype}{list(arrays[0].shape)}")
        s, t = _transforms(ds.get("coordinateTransformations"), ndim)
        scale, translation = s * g_scale, t * g_scale + g_translation
        voxel = np.array([to_nanometres(scale[k], units[k]) for k in spatial])
        shift = np.array([to_nanometres(translation[k], units[k]) for k in spatial])
        base = voxel if base is None else base
        in_voxels = shift / voxel
        offset = tuple(int(round(v)) for v in in_voxels) if np.allclose(in_voxels, np.round(in_voxels), atol=1e-6) \
            else (0, 0, 0)
        levels.append(ScaleLevel(
            shape=_permute(arr.shape, order),
            chunks=_permute(_storage_chunks(arr), order),
            voxel_size=tuple(float(v) for v in voxel),
            downsample=tuple(float(v) for v in voxel / base),
            offset=offset,
            key=str(ds.get("path", i)),
        ))
        translations.append([float(v) for v in shift])
    own = dict(attrs.get("intern") or {})
    metadata = VolumeMetadata(
        axes=axes, dtype=dtype.name, kind=_kind(ome, own, under_labels, dtype), scales=tuple(levels),
        attributes={"ome": ome, "translation_nm": translations, "zarr_format": _format(arrays[0]),
                    **dict(own.get("attributes") or {})},
    )
    return Layout(metadata, tuple(str(ds["path"]) for ds in datasets), order)


def array_layout(arr: Any, *, where: str, under_labels: bool) -> Layout:
    """The layout of a plain Zarr array: one scale level, axes from ``dimension_names`` or xarray's attribute."""
    attrs = dict(arr.attrs)
    ndim = len(arr.shape)
    names = getattr(arr.metadata, "dimension_names", None) or attrs.get("_ARRAY_DIMENSIONS")
    if not names or any(n is None for n in names):
        if ndim not in _DEFAULT_AXES:
            raise MetadataError(f"{where}: a {ndim}-D array without axis names; intern reads 3-D (z, y, x) to 5-D "
                                "(t, c, z, y, x) arrays")
        names = _DEFAULT_AXES[ndim]
    axes, order = _canonical_axes([str(n) for n in names], where)
    own = dict(attrs.get("intern") or {})
    voxel = own.get("voxel_size") or attrs.get("resolution") or (1.0, 1.0, 1.0)
    dtype = native(arr.dtype)
    level = ScaleLevel(shape=_permute(arr.shape, order), chunks=_permute(_storage_chunks(arr), order),
                       voxel_size=tuple(float(v) for v in voxel), key="")
    metadata = VolumeMetadata(axes=axes, dtype=dtype.name, kind=_kind({}, own, under_labels, dtype), scales=(level,),
                              attributes={"zarr_format": _format(arr), **dict(own.get("attributes") or {})})
    return Layout(metadata, ("",), order)


def ome_attributes(metadata: VolumeMetadata, *, name: str) -> dict[str, Any]:
    """The ``ome`` attribute (NGFF 0.5) of a new multiscales group for ``metadata``."""
    lead = len(metadata.axes) - 3
    axes = []
    for a in metadata.axes:
        axis: dict[str, Any] = {"name": a, "type": _NGFF_TYPE[a]}
        if a in ("z", "y", "x"):
            axis["unit"] = "nanometer"
        axes.append(axis)
    datasets = []
    for level in metadata.scales:
        scale = [1.0] * lead + [float(v) for v in level.voxel_size]
        transforms: list[dict[str, Any]] = [{"type": "scale", "scale": scale}]
        if any(level.offset):
            shift = [0.0] * lead + [float(o * v) for o, v in zip(level.offset, level.voxel_size, strict=True)]
            transforms.append({"type": "translation", "translation": shift})
        datasets.append({"path": level.key, "coordinateTransformations": transforms})
    ome: dict[str, Any] = {"version": NGFF_VERSION,
                           "multiscales": [{"name": name, "axes": axes, "datasets": datasets}]}
    if metadata.kind == "segmentation":
        ome["image-label"] = {}
    return ome


def native(dtype: Any) -> np.dtype:
    """``dtype`` in this machine's byte order: intern volumes are native; engines convert big-endian files."""
    dtype = np.dtype(dtype)
    return dtype.newbyteorder("=") if dtype.byteorder not in ("=", "|") else dtype


def _storage_chunks(arr: Any) -> tuple[int, ...]:
    # with sharding, a shard is the unit a write replaces; without, the chunk is
    shards = getattr(arr, "shards", None)
    return tuple(int(c) for c in (shards or arr.chunks))


def _format(arr: Any) -> int:
    return int(getattr(arr.metadata, "zarr_format", 3))


def _permute(values: Sequence[int], order: tuple[int, ...] | None) -> tuple[int, ...]:
    values = tuple(int(v) for v in values)
    return values if order is None else tuple(values[i] for i in order)
