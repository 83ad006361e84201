"""`intern.array`: numpy-style access to one scale level of any volume.

>>> import intern, numpy as np
>>> a = intern.create("mem://doc-example", shape=(16, 64, 64), dtype="uint8", chunks=(8, 32, 32))
>>> a[2:4, 10:20, 5] = 7
>>> a[3, 10:12, 4:6]
array([[0, 7],
       [0, 7]], dtype=uint8)
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ._box import Box
from ._executor import run_parallel
from ._indexing import normalize_key
from ._io import check_volume, check_writable, read_box, update_box, write_box
from ._metadata import ScaleLevel, VolumeMetadata
from ._traits import VolumeResource
from .errors import DTypeError, ShapeError

if TYPE_CHECKING:
    from ._resolver import Resolution

__all__ = ["Array", "cast_for_write"]


class Array:
    """One scale level of a volume, indexed like a numpy array in (t, c,) z, y, x order.

    Reading ``a[...]`` returns a new numpy array; assigning writes through to the datastore. Integers drop their axis,
    negative indices count from the end, slices may step (and reverse); a bound outside the volume raises
    :class:`~intern.errors.OutOfBoundsError` rather than clipping. Assigned values broadcast as in numpy and are cast
    only when numpy's ``same_kind`` rule allows.

    Make one with :func:`intern.array`, :func:`intern.create`, or ``Array(resource, scale=n)``.

    Writes are chunk-safe: each chunk is written once, holding its lock, so writers of other voxels of the same chunk
    (threads of this process; other processes where the store is in local files) lose nothing. Assignments with a
    step or a reversal read the covering box, merge and write it back, holding the locks of all its chunks.
    """

    __slots__ = ("_level", "_resource", "_scale")

    def __init__(self, resource: VolumeResource, *, scale: int = 0) -> None:
        check_volume(resource)
        if not isinstance(resource, VolumeResource):
            raise TypeError(f"{resource!r} is not a volume (it has no metadata/read)")
        n = len(resource.metadata.scales)
        self._level = resource.metadata.scale(scale)
        self._resource = resource
        self._scale = scale % n

    # -- what it is ---------------------------------------------------------------------------------------------
    @property
    def resource(self) -> VolumeResource:
        return self._resource

    @property
    def metadata(self) -> VolumeMetadata:
        return self._resource.metadata

    @property
    def uri(self) -> str:
        return self._resource.uri

    @property
    def scale(self) -> int:
        return self._scale

    @property
    def level(self) -> ScaleLevel:
        return self._level

    @property
    def scales(self) -> tuple[ScaleLevel, ...]:
        return self.metadata.scales

    @property
    def shape(self) -> tuple[int, ...]:
        return self._level.shape

    @property
    def dtype(self) -> np.dtype:
        return self.metadata.numpy_dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    @property
    def axes(self) -> tuple[str, ...]:
        return self.metadata.axes

    @property
    def chunks(self) -> tuple[int, ...]:
        return self._level.chunks

    @property
    def voxel_size(self) -> tuple[float, float, float]:
        """(z, y, x) size of a voxel at this scale, in ``voxel_unit``."""
        return self._level.voxel_size

    @property
    def voxel_unit(self) -> str:
        return self.metadata.voxel_unit

    @property
    def kind(self) -> str:
        return self.metadata.kind

    @property
    def capabilities(self) -> dict[str, Resolution]:
        """For each service, how it would run on this volume (see :func:`intern.capabilities`)."""
        from ._resolver import capabilities

        return capabilities(self._resource)

    def at_scale(self, scale: int) -> Array:
        """The same volume at another scale level."""
        return Array(self._resource, scale=scale)

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        axes = ", ".join(f"{a}={s}" for a, s in zip(self.axes, self.shape, strict=True))
        vs = " x ".join(f"{v:g}" for v in self.voxel_size)
        return (f"<intern.Array {self.uri!r} scale={self._scale}/{len(self.scales) - 1} ({axes}) {self.dtype} "
                f"{self.kind}, voxel {vs} {self.voxel_unit}, chunks {self.chunks}>")

    # -- reading ------------------------------------------------------------------------------------------------
    def __getitem__(self, key: Any) -> np.ndarray:
        sel = normalize_key(key, self.shape, self.axes)
        if not sel.is_box:
            parts = sel.parts(self.chunks)
            if parts is not None:
                return self._read_parts(parts, sel.shape)
        block = read_box(self._resource, sel.box, scale=self._scale)
        if not sel.shape:  # every axis indexed by an integer: a numpy scalar, as numpy gives
            return block.reshape(())[()]
        if sel.is_box:
            return block.reshape(sel.shape)
        return np.ascontiguousarray(block[sel.within])

    def _read_parts(self, parts: list[tuple[Box, tuple[np.ndarray, ...], tuple[np.ndarray, ...]]],
                    shape: tuple[int, ...]) -> np.ndarray:
        """A strided selection read box by box, fetching only the chunks that hold a selected voxel."""
        out = np.empty(shape, self.dtype)

        def fetch(part: tuple[Box, tuple[np.ndarray, ...], tuple[np.ndarray, ...]]) -> None:
            box, dest, src = part
            block = read_box(self._resource, box, scale=self._scale)
            # each part fills its own positions of `out`, so parts run in parallel without a lock
            out[np.ix_(*dest)] = block[np.ix_(*src)].reshape([len(d) for d in dest])

        run_parallel(fetch, parts)
        return out

    def read(self, box: Box | None = None, *, out: np.ndarray | None = None) -> np.ndarray:
        """Read a :class:`Box` (the whole level by default), optionally into ``out``."""
        box = box if box is not None else Box.from_shape(self.shape)
        return read_box(self._resource, box, scale=self._scale, out=out)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        if copy is False:
            raise ValueError("an intern.Array lives in its datastore: np.asarray must read (copy) it")
        data = self.read()
        return data if dtype is None else data.astype(dtype, copy=False)

    # -- writing ------------------------------------------------------------------------------------------------
    def __setitem__(self, key: Any, value: Any) -> None:
        check_writable(self._resource)
        sel = normalize_key(key, self.shape, self.axes)
        values = cast_for_write(value, self.dtype)
        try:
            values = np.broadcast_to(values, sel.shape)
        except ValueError:
            raise ShapeError(f"could not broadcast a value of shape {np.shape(value)} into the selection of shape "
                             f"{sel.shape}") from None
        if sel.is_box:
            write_box(self._resource, sel.box, values.reshape(sel.box.shape), scale=self._scale)
            return
        # steps or reversal: merge into the covering box and write that back, its chunks locked throughout
        update_box(self._resource, sel.box, lambda block: block.__setitem__(sel.within, values), scale=self._scale)

    def write(self, box: Box, data: np.ndarray) -> None:
        """Write ``data`` (the box's shape) at a :class:`Box`."""
        write_box(self._resource, box, cast_for_write(data, self.dtype), scale=self._scale)

    # -- dask ---------------------------------------------------------------------------------------------------
    def to_dask(self, chunks: Sequence[int] | None = None) -> Any:
        """A lazy ``dask.array.Array`` over this level, one task per storage chunk (or per ``chunks``).

        Tasks carry the resource's URI rather than the resource where it reopens by URI, so graphs can go to a
        distributed cluster.
        """
        try:
            import dask.array as da
        except ImportError:
            raise ImportError("to_dask needs dask: pip install 'intern-core[dask]'") from None
        return da.from_array(_DaskSource(self), chunks=tuple(chunks or self.chunks), asarray=False, fancy=False,
                             name=f"intern-{self.uri}-{self._scale}")


class _DaskSource:
    """What dask slices: rebuilds the Array from its URI after pickling, when the URI opens it again."""

    def __init__(self, array: Array) -> None:
        self.array = array
        self.shape = array.shape
        self.dtype = array.dtype
        self.ndim = array.ndim

    def __getitem__(self, key: Any) -> np.ndarray:
        return self.array[key]

    def __getstate__(self) -> dict[str, Any]:
        return {"uri": self.array.uri, "scale": self.array.scale}

    def __setstate__(self, state: dict[str, Any]) -> None:
        from ._api import array

        self.__init__(array(state["uri"], scale=state["scale"]))  # type: ignore[misc]


def cast_for_write(value: Any, dtype: np.dtype) -> np.ndarray:
    """``value`` as an array of ``dtype``, cast only as numpy's ``same_kind`` rule allows.

    Python scalars and lists follow numpy 2's rule for Python numbers: integers must fit the dtype, floats need a
    float dtype. Integer arrays narrowed within their kind (uint64 into uint8) must fit too: numpy would wrap them
    around silently, and a wrapped label is a different cell.

    Raises:
        DTypeError: the cast is not ``same_kind``, or integers do not fit.
    """
    if isinstance(value, (bool, np.bool_)):
        return np.asarray(value, dtype=dtype)
    if isinstance(value, numbers.Integral) and not isinstance(value, np.generic):
        if dtype.kind in "iu":
            info = np.iinfo(dtype)
            if not info.min <= int(value) <= info.max:
                raise DTypeError(f"{value} does not fit in {dtype} ({info.min}..{info.max})")
        elif dtype.kind == "b":
            raise DTypeError(f"an integer cannot be written to a {dtype} volume without an unsafe cast")
        return np.asarray(value, dtype=dtype)
    if isinstance(value, float):
        if dtype.kind != "f":
            raise DTypeError(f"a float cannot be written to a {dtype} volume (numpy's same_kind rule); round it "
                             "and cast it first")
        return np.asarray(value, dtype=dtype)
    python_numbers = isinstance(value, (list, tuple))
    arr = np.asarray(value)
    ints = arr.dtype.kind in "iu" and dtype.kind in "iu"
    if arr.dtype == object or not (np.can_cast(arr.dtype, dtype, casting="same_kind") or (python_numbers and ints)):
        raise DTypeError(f"cannot write {arr.dtype} values to a {dtype} volume (numpy's same_kind rule); cast them "
                         "first with .astype()")
    if ints and arr.size and not np.can_cast(arr.dtype, dtype, casting="safe"):
        info = np.iinfo(dtype)
        lo, hi = int(arr.min()), int(arr.max())
        if lo < info.min or hi > info.max:
            raise DTypeError(f"values {lo}..{hi} do not fit in {dtype} ({info.min}..{info.max}); nothing was written")
    return arr.astype(dtype, copy=False)
