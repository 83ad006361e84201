"""Numpy basic indexing turned into a box to fetch and a selection to apply to it.

``a[key]`` becomes: read the smallest :class:`Box` that holds every selected voxel, then apply ``selection`` (steps,
reversals, dropped axes) to that block. Unlike numpy, a slice that reaches outside the volume is an error, never
clipped: a silently shorter cutout is how analyses go wrong.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._box import Box
from .errors import IndexingError, OutOfBoundsError

__all__ = ["Selection", "normalize_key"]


@dataclass(frozen=True)
class Selection:
    """Where an index expression lands.

    Attributes:
        box: the voxels to read (or write), as a half-open box over every axis.
        within: slices (or ints, which drop their axis) to apply to the box's block to get the result.
        shape: the result's shape.
    """

    box: Box
    within: tuple[slice | int, ...]
    shape: tuple[int, ...]

    @property
    def is_box(self) -> bool:
        """Whether the result is the box itself up to dropped axes (no steps, no reversal)."""
        return all(isinstance(w, int) or (w.step in (None, 1) and w.start in (None, 0)) for w in self.within)

    def parts(self, chunks: Sequence[int]) -> list[tuple[Box, tuple[np.ndarray, ...], tuple[np.ndarray, ...]]] | None:
        """The selection cut into boxes that hold only chunks with a selected voxel, or ``None`` when that saves nothing.

        A step larger than a chunk (``a[:, ::128]`` on 64-voxel chunks) selects voxels in every other chunk only; reading
        the covering box would fetch the chunks in between for nothing. Per axis, the chunks that hold a selected voxel
        are grouped into runs of neighbours; each combination of runs is one box to read. Returned per box: the box,
        where its voxels go in the result, and which of its voxels are picked (index arrays per kept axis, for
        ``np.ix_``; an integer-indexed axis contributes its one position to the box only).
        """
        axes = []  # per axis: list of (lo, hi, positions in the result, positions in the part)
        for a, (lo_box, w, c) in enumerate(zip(self.box.start, self.within, chunks, strict=True)):
            picked = np.arange(self.box.shape[a])[w] + lo_box if not isinstance(w, int) else np.array([lo_box + w])
            if picked.size == 0:
                return None  # an empty result reads nothing anyway
            cids = picked // c
            order = np.unique(cids)
            # runs of neighbouring chunks
            breaks = np.flatnonzero(np.diff(order) != 1) + 1
            runs = []
            for run in np.split(order, breaks):
                lo = max(int(run[0]) * c, lo_box)
                hi = min((int(run[-1]) + 1) * c, self.box.stop[a])
                inside = np.flatnonzero((picked >= lo) & (picked < hi))
                runs.append((lo, hi, inside, picked[inside] - lo))
            axes.append(runs)
        if all(len(runs) == 1 for runs in axes):
            return None
        out = []
        for combo in itertools.product(*axes):
            box = Box(tuple(r[0] for r in combo), tuple(r[1] for r in combo))
            dest = tuple(r[2] for r, w in zip(combo, self.within, strict=True) if not isinstance(w, int))
            src = tuple(r[3] for r in combo)
            out.append((box, dest, src))
        return out


def _as_index(value: object) -> int | None:
    if isinstance(value, (bool, np.bool_)):
        return None
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        return None


def normalize_key(key: object, shape: Sequence[int], axes: Sequence[str]) -> Selection:
    """Turn ``key`` (ints, slices, one ``...``) into a :class:`Selection` on a volume of ``shape``.

    Raises:
        IndexingError: arrays, booleans, ``None``, more than one ``...``, too many indices, a zero step.
        OutOfBoundsError: an index or slice bound outside the volume.
    """
    items = key if isinstance(key, tuple) else (key,)
    if sum(1 for k in items if k is Ellipsis) > 1:
        raise IndexingError("an index can only have a single ellipsis ('...')")
    for k in items:
        if k is None:
            raise IndexingError("np.newaxis (None) is not supported in an intern index; add the axis to the result")
        if k is not Ellipsis and not isinstance(k, slice) and _as_index(k) is None:
            raise IndexingError(
                f"index {k!r} is not supported: intern arrays take integers, slices and '...' (read a box, then use "
                "numpy's fancy or boolean indexing on the result)")
    n_given = sum(1 for k in items if k is not Ellipsis)
    if n_given > len(shape):
        raise IndexingError(f"too many indices: {n_given} for a volume of {len(shape)} axes {tuple(axes)}")
    if Ellipsis in items:
        e = items.index(Ellipsis)
        items = items[:e] + (slice(None),) * (len(shape) - n_given) + items[e + 1:]
    else:
        items = items + (slice(None),) * (len(shape) - n_given)

    start: list[int] = []
    stop: list[int] = []
    within: list[slice | int] = []
    out_shape: list[int] = []
    for k, n, axis in zip(items, shape, axes, strict=True):
        if isinstance(k, slice):
            lo, hi, sel, count = _slice(k, n, axis)
            start.append(lo)
            stop.append(hi)
            within.append(sel)
            out_shape.append(count)
        else:
            i = _as_index(k)
            assert i is not None
            j = i + n if i < 0 else i
            if not 0 <= j < n:
                raise OutOfBoundsError(f"index {i} is out of bounds for axis {axis} with size {n}")
            start.append(j)
            stop.append(j + 1)
            within.append(0)
    return Selection(Box(tuple(start), tuple(stop)), tuple(within), tuple(out_shape))


def _bound(value: object, n: int, axis: str, what: str) -> int:
    i = _as_index(value)
    if i is None:
        raise IndexingError(f"slice {what} {value!r} on axis {axis} is not an integer")
    j = i + n if i < 0 else i
    if not 0 <= j <= n:
        raise OutOfBoundsError(f"slice {what} {i} is outside axis {axis} of size {n} (intern does not clip)")
    return j


def _slice(s: slice, n: int, axis: str) -> tuple[int, int, slice, int]:
    """(box start, box stop, selection within the box, result length) of slice ``s`` on an axis of length ``n``.

    Bounds are checked, never clipped: a start or stop from ``-n`` to ``n`` (and, with a negative step, a stop of
    ``-n - 1``, numpy's way to say "down to and including voxel 0"). Within those bounds the selection is exactly
    numpy's, empty ones included, because it is computed by ``slice.indices`` as numpy computes it.
    """
    step = 1 if s.step is None else _as_index(s.step)
    if step is None:
        raise IndexingError(f"slice step {s.step!r} on axis {axis} is not an integer")
    if step == 0:
        raise IndexingError(f"slice step cannot be zero (axis {axis})")
    lo = None if s.start is None else _bound(s.start, n, axis, "start")
    if s.stop is None:
        hi = None
    elif step < 0 and _as_index(s.stop) == -n - 1:
        hi = -n - 1  # below voxel 0: slice.indices makes it -1, "through voxel 0", as numpy does
    else:
        hi = _bound(s.stop, n, axis, "stop")
    first, end, _ = slice(lo, hi, step).indices(n)
    picked = range(first, end, step)
    if not picked:
        return 0, 0, slice(0, 0), 0
    low, high = min(picked[0], picked[-1]), max(picked[0], picked[-1])
    # the box spans the selected voxels; within it the selection starts at the first one picked, in step order
    return low, high + 1, slice(picked[0] - low, None, step), len(picked)
