"""The front door: open, list and create resources by URI, and wrap volumes as arrays."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import ValidationError

from ._array import Array
from ._io import check_volume
from ._metadata import VolumeKind, VolumeMetadata, check_spatial
from ._options import split_options
from ._registry import get_registry
from ._traits import Resource, SupportsCreate, SupportsDefaultChunks, VolumeResource
from ._uri import URI, parse_uri
from .errors import AlreadyExistsError, InvalidURIError, MetadataError, NotFoundError, PluginError

__all__ = ["array", "create", "create_like", "ls", "open", "remote_for", "resolve_uri"]


def resolve_uri(uri: str | URI) -> URI:
    """Parse ``uri``; a plain path goes to the driver claiming its suffix (``/data/em.zarr`` → ``zarr``)."""
    if isinstance(uri, URI):
        return uri
    if isinstance(uri, str) and "://" not in uri and uri.strip() == uri and uri:
        return parse_uri(uri, default_scheme=get_registry().scheme_for_path(uri))
    return parse_uri(uri)


def remote_for(uri: str | URI) -> tuple[Any, str, URI]:
    """(remote, path inside it, parsed URI) for ``uri``, loading the scheme's driver on first use."""
    parsed = resolve_uri(uri)
    factory = get_registry().factory(parsed.scheme)
    remote, path = factory(parsed)
    return remote, path, parsed


def open(uri: str | URI, **options: Any) -> Resource:  # noqa: A001 - mirrors builtins.open on purpose
    """The resource a URI names (a volume, a group, a collection...).

    Options from the URI's query string and ``options`` go to the driver (``mode="r"``, ``version=...``), parsed
    by the options it declares (:mod:`intern._options`); ``options`` win over the query. Creation options in the
    query (a chunk shape, a compression) are checked and left out, so the URI that created a volume opens it.

    Raises:
        InvalidURIError: the URI does not parse, or an option is unknown or has a value the driver does not take.
        DriverNotInstalledError, NotFoundError: as their names say; messages say what to do.
    """
    remote, path, parsed = remote_for(uri)
    resource = remote.open(path, **split_options(remote, parsed.options, options, create=False))
    check_volume(resource)
    return resource


def ls(uri: str | URI) -> list[str]:
    """Names of what lies below ``uri`` (groups and arrays, collections, repos, instances)."""
    remote, path, _ = remote_for(uri)
    return list(remote.ls(path))


def array(uri: str | URI | Resource | Array, *, scale: int = 0, **options: Any) -> Array:
    """Numpy-style access to a volume in (t, c,) z, y, x order.

    Args:
        uri: a URI (``"zarr:///data/em.zarr"``, ``"dvid://host:8000/uuid/grayscale"``), a plain path a driver
            claims, an open VolumeResource, or an Array (to change ``scale``).
        scale: the pyramid level, 0 the finest; negative counts from the coarsest.
        options: passed to the driver's ``open``.

    >>> import intern
    >>> a = intern.create("mem://array-doc", shape=(4, 8, 8), dtype="uint16")
    >>> intern.array("mem://array-doc").shape
    (4, 8, 8)
    """
    if isinstance(uri, Array):
        return uri.at_scale(scale)
    resource = uri if not isinstance(uri, (str, URI)) else open(uri, **options)
    check_volume(resource)  # an open resource passed in has not been through open()
    if not isinstance(resource, VolumeResource):
        raise NotFoundError(f"{getattr(resource, 'uri', uri)} is not a volume; intern.ls() lists what is inside it")
    return Array(resource, scale=scale)


def _default_factors(voxel_size: Sequence[float], levels: int) -> list[tuple[float, float, float]]:
    # anisotropic EM (z much coarser than x, y) halves only x and y until z and xy are comparable
    factors = []
    z, y, x = (float(v) for v in voxel_size)
    for _ in range(levels - 1):
        f = (2.0 if z <= 1.5 * min(y, x) else 1.0, 2.0, 2.0)
        factors.append(f)
        z, y, x = z * f[0], y * f[1], x * f[2]
    return factors


def create(
    uri: str | URI,
    *,
    shape: Sequence[int],
    dtype: Any,
    chunks: Sequence[int] | None = None,
    voxel_size: Sequence[float] = (1.0, 1.0, 1.0),
    kind: VolumeKind = "image",
    axes: Sequence[str] | None = None,
    scales: int | Sequence[Sequence[float]] = 1,
    exist_ok: bool = False,
    attributes: dict[str, Any] | None = None,
    **options: Any,
) -> Array:
    """Make a new, empty volume and return it as an :class:`Array` at scale 0.

    Args:
        shape: voxels on every axis, (z, y, x) or with leading t and/or c.
        dtype: numpy dtype.
        chunks: storage chunk shape (default: the driver's ``default_chunks(shape=, dtype=, kind=)`` when it has one,
            else 64 on spatial axes, capped at the shape).
        voxel_size: (z, y, x) in nm.
        kind: ``"image"`` or ``"segmentation"``.
        axes: axis names when there are leading axes and they are not the default (``t, c``).
        scales: the number of pyramid levels (factors 2 in y and x, and in z once z is no longer coarser), or the
            list of (z, y, x) factors of each level relative to the one before it.
        exist_ok: open what is there instead of failing.
        options: the driver's own creation options (compressor, ...).

    Raises:
        MetadataError: the shape, chunks, dtype or voxel size make no volume.
        AlreadyExistsError: there is something at ``uri`` and ``exist_ok`` is false.
    """
    remote, _, parsed = remote_for(uri)
    if chunks is None and isinstance(remote, SupportsDefaultChunks):
        # the store knows its own best chunking (DVID blocks, Boss cuboids); the generic default is 64 voxels
        chunks = remote.default_chunks(shape=tuple(shape), dtype=np.dtype(dtype), kind=kind)
    factors: Sequence[Sequence[float]]
    check_spatial(voxel_size, "voxel_size")
    if isinstance(scales, int):
        if scales < 1:
            raise MetadataError(f"scales is a level count >= 1 or a list of factors, got {scales}")
        factors = _default_factors(voxel_size, scales)
    else:
        factors = [tuple(f) for f in scales]
        for i, f in enumerate(factors):
            check_spatial(f, f"scales[{i}]")
    try:
        metadata = VolumeMetadata.pyramid(shape=shape, dtype=dtype, chunks=chunks, voxel_size=voxel_size, kind=kind,
                                          axes=axes, factors=factors, attributes=attributes)
    except ValidationError as exc:
        raise MetadataError(f"cannot create {parsed}: {_pydantic_message(exc)}") from None
    except (TypeError, ValueError) as exc:
        if isinstance(exc, MetadataError):
            raise
        raise MetadataError(f"cannot create {parsed}: {exc}") from None
    return create_like(parsed, metadata, exist_ok=exist_ok, **options)


def create_like(uri: str | URI, metadata: VolumeMetadata, *, exist_ok: bool = False, **options: Any) -> Array:
    """Make a new volume with exactly ``metadata`` (every level's shape and chunks), as copies of a volume need.

    The driver receives every option of the URI's query and of ``options`` (creation options included), parsed by
    the options it declares. With ``exist_ok``, what is there must be a volume of the same shape and dtype: that
    check is made here, once, for every driver (a driver's ``create`` returns what it found).

    Raises:
        AlreadyExistsError: there is something at ``uri`` (with ``exist_ok``: something that is not a volume, or a
            volume of another shape or dtype).
    """
    remote, path, parsed = remote_for(uri)
    if not isinstance(remote, SupportsCreate):
        raise InvalidURIError(f"the {parsed.scheme}:// driver cannot create volumes")
    resource = remote.create(path, metadata, exist_ok=exist_ok,
                             **split_options(remote, parsed.options, options, create=True))
    check_volume(resource)
    if not isinstance(resource, VolumeResource):
        if exist_ok:
            raise AlreadyExistsError(f"{parsed} exists and is not a volume (intern.ls lists what is in it)")
        raise PluginError(f"the {parsed.scheme}:// driver's create returned {type(resource).__name__}, not a volume")
    if exist_ok:
        _check_same(resource, metadata, parsed)
    return Array(resource)


def _check_same(resource: VolumeResource, metadata: VolumeMetadata, where: URI) -> None:
    """The one ``exist_ok`` check: the volume ``create`` found has the requested shape and dtype."""
    have = resource.metadata
    if have.shape != metadata.shape or have.dtype != metadata.dtype:
        raise AlreadyExistsError(f"{where} exists as {have.dtype}{list(have.shape)}, not the "
                                 f"{metadata.dtype}{list(metadata.shape)} asked for")


def _pydantic_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err.get("loc", ()))
        msg = str(err.get("msg", "")).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)
