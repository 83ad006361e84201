"""``tiff://``: TIFF stacks, read lazily, and multipage BigTIFF files intern writes in place.

``tiff:///data/em.tif`` is a multipage file (plain, BigTIFF, OME-TIFF, ImageJ hyperstacks, tiled or stripped,
uncompressed or compressed); ``tiff:///data/slices/`` a folder of 2-D TIFF or PNG slices, one z section each, in
natural order of their names. Plain paths ending ``.tif``/``.tiff`` are this scheme too.

Reads touch only the pages, strips and tiles of the box (:mod:`._tiffread`); the volume reports chunks of whole
segments so the core cuts a request on them and reads the pieces on its thread pool. ``intern.create`` writes an
uncompressed, contiguous BigTIFF (OME-TIFF where OME has the dtype), so every voxel has a fixed byte offset and any
box is written in place through a memory map; existing files laid out that way are writable too.
"""

from __future__ import annotations

import os
import threading
import uuid
import weakref
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from pydantic import ValidationError

from intern.errors import AlreadyExistsError, InvalidURIError, MetadataError, NotFoundError, ReadOnlyError
from intern.plugin import FLOATS, URI, Box, Option, OptionSet, ScaleLevel, VolumeIO, VolumeMetadata, shared_remote

from ._errors import translated, translating
from ._extras import require
from ._tiffmeta import natural_key
from ._tiffstack import TIFF_SUFFIXES, FileStack, SliceStack, read_box

__all__ = ["TiffRemote", "TiffVolume"]

#: the sample types OME-XML can name; others (64-bit integers, float16) are written as plain BigTIFF
_OME_DTYPES = frozenset({"int8", "int16", "int32", "uint8", "uint16", "uint32", "float32", "float64"})
_LETTERS = {"t": "T", "c": "C", "z": "Z", "y": "Y", "x": "X"}


#: what ``open`` and ``create`` take; the core parses them (query strings included) before the remote sees them
OPTIONS = OptionSet(
    "tiff",
    Option("mode", str, "a", choices=("r", "r+", "a"), help="'r' read-only; 'a' or 'r+' read and write"),
    Option("series", int, None, help="which series of a file with several (0 the first)"),
    Option("kind", str, None, choices=("image", "segmentation"), help="'segmentation' for label images"),
    Option("voxel_size", FLOATS, None, help="z,y,x in nm, over what the file says"),
)


@dataclass(frozen=True)
class _Options:
    """What ``open`` takes, parsed by the core from keywords or the URI's query string (see :data:`OPTIONS`)."""

    mode: str = "a"
    series: int | None = None
    kind: str | None = None
    voxel_size: tuple[float, float, float] | None = None

    @classmethod
    def parse(cls, options: dict[str, Any]) -> _Options:
        # the core's parser gives each value its type (and names the known options); what is left to check here
        # is what a type cannot say
        values = OPTIONS.parse(options)
        voxel = values.get("voxel_size")
        if voxel is not None and (len(voxel) != 3 or not all(v > 0 for v in voxel)):
            raise InvalidURIError(f"voxel_size={options['voxel_size']!r}: three positive sizes in nm, z,y,x "
                                  "(voxel_size=40,4,4)")
        return cls(mode=values.get("mode", "a"), series=values.get("series"), kind=values.get("kind"),
                   voxel_size=voxel)

    def query(self) -> str:
        """The options that change what a URI opens, as a query string (empty when all are defaults)."""
        parts = []
        if self.mode == "r":
            parts.append("mode=r")
        if self.series is not None:
            parts.append(f"series={self.series}")
        if self.kind is not None:
            parts.append(f"kind={self.kind}")
        if self.voxel_size is not None:
            parts.append("voxel_size=" + ",".join(f"{v:g}" for v in self.voxel_size))
        return ("?" + "&".join(parts)) if parts else ""


def _metadata(stack: FileStack | SliceStack, opts: _Options, where: str) -> VolumeMetadata:
    voxel, source = [], {}
    for i, axis in enumerate("zyx"):
        if opts.voxel_size is not None:
            value, src = opts.voxel_size[i], "option"
        else:
            value, src = stack.facts.voxel.get(axis, (1.0, "default"))
        voxel.append(value)
        source[axis] = src
    base = stack.plans[0]
    levels = []
    for i, (plan, layout) in enumerate(zip(stack.plans, stack.layouts, strict=True)):
        if plan.shape[:-3] != base.shape[:-3]:
            break  # a pyramid whose coarser levels drop channels or time points is read at its full level only
        cy, cx = layout.chunk()
        chunks = [1] * len(plan.axes)
        if plan.sample_pos is not None and not layout.separate:
            chunks[plan.sample_pos] = layout.samples  # interleaved samples come in one piece
        chunks[-2:] = [cy, cx]
        factor = tuple(float(max(1, round(a / b))) if b else 1.0 for a, b in zip(base.shape[-3:], plan.shape[-3:], strict=True))
        levels.append(ScaleLevel(shape=plan.shape, chunks=tuple(chunks),
                                 voxel_size=tuple(v * f for v, f in zip(voxel, factor, strict=True)), downsample=factor,
                                 key=str(i)))
    layout = stack.layouts[0]
    kind = opts.kind or str(stack.facts.intern.get("kind") or "image")
    facts: dict[str, Any] = {"path": stack.path, "format": stack.kind, "file_axes": base.file_axes,
                             "segment": [layout.rows, layout.cols], "tiled": layout.tiled, "plain": layout.plain}
    if isinstance(stack, FileStack):
        compression = stack.tif.series[stack.series_index].keyframe.compression
        facts.update(series=stack.series_index, bigtiff=bool(stack.tif.is_bigtiff),
                     compression=str(getattr(compression, "name", compression)).lower())
    else:
        facts["slices"] = len(stack.files)
    try:
        return VolumeMetadata(axes=base.axes, dtype=stack.dtype.name,
                              kind=kind if kind in ("image", "segmentation") else "image", scales=tuple(levels),
                              attributes={"tiff": facts, "voxel_size_source": source})
    except ValidationError as exc:
        raise MetadataError(f"{where}: {exc.errors()[0].get('msg', exc)}".replace("Value error, ", "")) from None


class TiffVolume:
    """A TIFF stack as an intern volume: read by pages and segments, written in place where the file allows."""


    def __init__(self, remote: TiffRemote, path: str, stack: FileStack | SliceStack, opts: _Options) -> None:
        self._remote = remote
        self._path = path
        self._stack = stack
        self._opts = opts
        self._folder = os.path.isdir(path)
        self.metadata = _metadata(stack, opts, self.uri)
        self._lock = threading.Lock()
        self._view: np.ndarray | None = None
        # open files and descriptors go with the volume, also when nobody calls close()
        self._release = weakref.finalize(self, stack.close)

    @property
    def uri(self) -> str:
        return f"tiff://{self._path}{'/' if self._folder else ''}{self._opts.query()}"

    @property
    def remote(self) -> TiffRemote:
        return self._remote

    @property
    def io(self) -> VolumeIO:
        """The core cuts reads on segments and runs them on its threads; a memory map takes any box at once, and
        reads return new arrays. Whether this file can be written depends on the file, hence a property."""
        return VolumeIO(whole_reads=False, whole_writes=True, fresh_reads=True,
                        read_only_reason=self._read_only_reason())

    def _read_only_reason(self) -> str | None:
        """Why the volume cannot be written, or None when it can."""
        if self._opts.mode == "r":
            return "it is open read-only (mode='r')"
        if isinstance(self._stack, SliceStack):
            return "a folder of slices is read-only here; copy it to a new tiff:// file or zarr:// volume to edit it"
        if not self._stack.contiguous:
            return ("its pages are compressed, tiled or not stored in one run, so they cannot be changed in place; "
                    "intern.copy it to a new tiff:// file or zarr:// volume to edit it")
        if len(self.metadata.scales) > 1:
            return "it is a pyramid, whose levels would no longer agree"
        if not os.access(self._path, os.W_OK):
            return "the file is not writable for this user"
        return None

    @property
    def writable(self) -> bool:
        return self._read_only_reason() is None

    @translated
    def read(self, box: Box, *, scale: int = 0) -> np.ndarray:
        return read_box(self._stack, scale, box)

    @translated
    def write(self, box: Box, data: np.ndarray, *, scale: int = 0) -> None:
        reason = self._read_only_reason()
        if reason is not None:
            raise ReadOnlyError(f"{self.uri} cannot be written: {reason}")
        self._memmap()[box.to_slices()] = data

    def _memmap(self) -> np.ndarray:
        """The file's pixels as a writable array in intern's axis order (a memory map, made on first write)."""
        with self._lock:
            if self._view is None:
                stack = self._stack
                assert isinstance(stack, FileStack)
                plan, layout = stack.plans[0], stack.layouts[0]
                sep, contig = (layout.samples, 1) if layout.separate else (1, layout.samples)
                nd = len(plan.axes)
                # the bytes are the pages in order, each (separate samples, rows, columns, interleaved samples)
                shape = [n for _, n in plan.lead] + [sep, layout.height, layout.width, contig]
                labels: list[int | None] = [pos for pos, _ in plan.lead]
                labels += [plan.sample_pos if layout.separate else None, nd - 2, nd - 1,
                           None if layout.separate else plan.sample_pos]
                raw = np.memmap(self._path, dtype=layout.dtype, mode="r+", offset=stack.dataoffset, shape=tuple(shape))
                view = raw[tuple(0 if label is None else slice(None) for label in labels)]
                kept = [label for label in labels if label is not None]
                self._view = view.transpose([kept.index(p) for p in range(nd)])
            return self._view

    def close(self) -> None:
        """Flush writes to disk and release the file."""
        with self._lock:
            view, self._view = self._view, None
        while view is not None and not isinstance(view, np.memmap):
            view = view.base
        if view is not None:
            view.flush()
        self._release()

    def __repr__(self) -> str:
        return f"<TiffVolume {self.uri}>"


class TiffRemote:
    """Local TIFF files and folders of slices (one remote per process)."""

    scheme: ClassVar[str] = "tiff"
    declared_options: ClassVar[OptionSet] = OPTIONS

    @classmethod
    def from_uri(cls, uri: URI) -> tuple[TiffRemote, str]:
        require("tifffile", "tiff", "tiff:// (TIFF stacks)")
        if "://" in uri.rest:
            raise InvalidURIError(f"{uri}: tiff:// reads local files and folders only; copy remote files first")
        return shared_remote(cls.scheme, None, cls), os.path.abspath(os.path.expanduser(uri.rest or "."))

    def open(self, path: str, **options: Any) -> TiffVolume:
        """The stack at ``path``: a TIFF file, a folder of slices, or one PNG image.

        Options: ``mode`` (``"r"`` read-only), ``series`` (which series of a file with several), ``kind``
        (``"segmentation"`` for label images), ``voxel_size`` (z, y, x in nm, over what the file says).

        Raises:
            NotFoundError: nothing at ``path``, not a TIFF file, or a folder without slices.
            MetadataError: a folder whose slices differ in shape or type, or axes intern cannot place.
        """
        opts = _Options.parse(options)
        with translating(f"tiff://{path}"):
            if os.path.isdir(path):
                if opts.series is not None:
                    raise InvalidURIError(f"tiff://{path}/ is a folder of slices; series= names a series of a file")
                stack: FileStack | SliceStack = SliceStack(path)
            elif not os.path.exists(path):
                raise NotFoundError(f"tiff://{path} does not exist")
            elif path.lower().endswith(".png"):
                stack = SliceStack(os.path.dirname(path), [os.path.basename(path)])
            else:
                stack = FileStack(path, series=opts.series)
            try:
                return TiffVolume(self, path, stack, opts)
            except BaseException:
                stack.close()
                raise

    def ls(self, path: str = "") -> list[str]:
        """TIFF and PNG files and subfolders of a folder, in natural order; nothing for a file."""
        with translating(f"tiff://{path}"):
            if os.path.isdir(path):
                names = [n for n in os.listdir(path) if not n.startswith(".") and
                         (n.lower().endswith((*TIFF_SUFFIXES, ".png")) or os.path.isdir(os.path.join(path, n)))]
                return sorted(names, key=natural_key)
            if os.path.exists(path):
                return []
            raise NotFoundError(f"tiff://{path} does not exist")

    def create(self, path: str, metadata: VolumeMetadata, *, exist_ok: bool = False, **options: Any) -> TiffVolume:
        """Write an empty, uncompressed, contiguous BigTIFF for ``metadata`` and open it for writing.

        OME-TIFF (voxel size as OME ``PhysicalSize`` in nm, ``kind`` and axes in an ``intern`` MapAnnotation) where
        OME names the dtype; otherwise a plain BigTIFF with the same facts in tifffile's JSON description. Both also
        carry the y/x voxel size in the resolution tags (pixels per centimetre) for tools that read only those.

        Raises:
            InvalidURIError: the path does not end ``.tif``/``.tiff``/``.btf``.
            MetadataError: more than one scale level, an empty shape, or a boolean dtype.
            AlreadyExistsError: something is there and ``exist_ok`` is false.
        """
        _Options.parse(options)  # a bad option fails before anything is written
        uri = f"tiff://{path}"
        if not path.lower().endswith(TIFF_SUFFIXES):
            raise InvalidURIError(f"{uri}: intern.create writes one multipage file; name it ending .tif or .tiff")
        if len(metadata.scales) > 1:
            raise MetadataError(f"{uri}: TIFF volumes are single-scale here; create scales=1, or copy with "
                                "scales=[0] (pyramids: use zarr://)")
        if 0 in metadata.shape:
            raise MetadataError(f"{uri}: a TIFF file holds at least one page of at least one pixel, not "
                                f"{metadata.shape}")
        if metadata.numpy_dtype.kind == "b":
            raise MetadataError(f"{uri}: TIFF has no byte-sized boolean samples; create uint8")
        with translating(uri):
            if not os.path.exists(path):
                os.makedirs(os.path.dirname(path), exist_ok=True)
                _write_empty(path, metadata, exist_ok=exist_ok)
            elif not exist_ok:
                raise AlreadyExistsError(f"{uri} exists already (pass exist_ok=True to open it)")
            try:
                return self.open(path, **options)
            except NotFoundError as exc:
                raise AlreadyExistsError(f"{uri} exists and is not a TIFF stack intern reads ({exc})") from exc


def _write_empty(path: str, metadata: VolumeMetadata, *, exist_ok: bool) -> None:
    """Write the file under a temporary name, then link it into place, so no reader sees half a file and two
    creators cannot both win."""
    import tifffile

    level = metadata.scales[0]
    vz, vy, vx = level.voxel_size
    letters = "".join(_LETTERS[a] for a in metadata.axes)
    record = {"kind": metadata.kind, "axes": ",".join(metadata.axes)}
    ome = metadata.dtype in _OME_DTYPES
    if ome:
        described: dict[str, Any] = {
            "axes": letters, "PhysicalSizeZ": vz, "PhysicalSizeZUnit": "nm", "PhysicalSizeY": vy,
            "PhysicalSizeYUnit": "nm", "PhysicalSizeX": vx, "PhysicalSizeXUnit": "nm",
            "MapAnnotation": {"Namespace": "intern", "Value": record}}
    else:
        described = {"axes": letters, "intern": {**record, "voxel_size": [vz, vy, vx]}}
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f".{name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        offset = tifffile.imwrite(tmp, data=None, shape=level.shape, dtype=metadata.numpy_dtype, bigtiff=True,
                                  ome=ome, photometric="minisblack", metadata=described,
                                  resolution=(1e7 / vx, 1e7 / vy), resolutionunit="CENTIMETER", returnoffset=True,
                                  align=tifffile.TIFF.ALLOCATIONGRANULARITY)
        if offset is None:  # tifffile could not lay the pixels out in one run; nothing to write in place
            raise MetadataError(f"tiff://{path}: tifffile cannot write {metadata.dtype}{list(level.shape)} "
                                "contiguously")
        try:
            os.link(tmp, path)
        except FileExistsError:
            if not exist_ok:
                raise AlreadyExistsError(f"tiff://{path} was created by someone else meanwhile") from None
        except OSError:
            # a file system without hard links: a rename, which another creator could race
            if os.path.exists(path):
                raise AlreadyExistsError(f"tiff://{path} exists already") from None
            os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)

