"""`Box`: a half-open box of voxels.

One convention everywhere: ``start`` is inclusive, ``stop`` exclusive, coordinates are voxels at one scale, and axes
are in the volume's order, spatial axes last as (z, y, x). A plain 3-D box is (z, y, x); a volume with time or
channel axes uses boxes with those leading dimensions as well.

>>> b = Box((0, 0, 0), (64, 512, 512))
>>> b.shape
(64, 512, 512)
>>> Box.parse("10:20,0:5,0:5").intersection(b).shape
(10, 5, 5)
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from .errors import OutOfBoundsError

__all__ = ["Box"]


def _ints(values: Sequence[int], what: str) -> tuple[int, ...]:
    out = []
    for v in values:
        try:
            out.append(int(v))
        except (TypeError, ValueError):
            raise TypeError(f"Box {what} must be integers, got {values!r}") from None
        if out[-1] != v:
            raise TypeError(f"Box {what} must be integers, got {values!r}")
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Box:
    """A half-open box ``[start, stop)`` of voxels, immutable; operations return new boxes.

    Args:
        start: inclusive first voxel on each axis.
        stop: exclusive end on each axis; ``stop >= start``.
    """

    start: tuple[int, ...]
    stop: tuple[int, ...]

    def __post_init__(self) -> None:
        start = _ints(self.start, "start")
        stop = _ints(self.stop, "stop")
        if len(start) != len(stop):
            raise ValueError(f"Box start {start} and stop {stop} differ in length")
        if any(b < a for a, b in zip(start, stop, strict=True)):
            raise ValueError(f"Box stop {stop} is before start {start}")
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "stop", stop)

    # -- constructors -------------------------------------------------------------------------------------------
    @classmethod
    def _trusted(cls, start: tuple[int, ...], stop: tuple[int, ...]) -> Box:
        """A box from tuples of ints already known valid: the chunked I/O path makes thousands of these."""
        box = object.__new__(cls)
        object.__setattr__(box, "start", start)
        object.__setattr__(box, "stop", stop)
        return box

    @classmethod
    def from_shape(cls, shape: Sequence[int], offset: Sequence[int] | None = None) -> Box:
        """The box of ``shape`` voxels whose first voxel is ``offset`` (the origin by default)."""
        offset = tuple(offset) if offset is not None else (0,) * len(shape)
        if len(offset) != len(shape):
            raise ValueError(f"Box offset {offset} and shape {tuple(shape)} differ in length")
        return cls(tuple(offset), tuple(o + s for o, s in zip(offset, shape, strict=True)))

    @classmethod
    def from_slices(cls, slices: Sequence[slice]) -> Box:
        """The box of a tuple of step-less slices with explicit bounds."""
        for s in slices:
            if s.start is None or s.stop is None or s.step not in (None, 1):
                raise ValueError(f"Box.from_slices needs explicit bounds and no step, got {s}")
        return cls(tuple(s.start for s in slices), tuple(s.stop for s in slices))

    @classmethod
    def parse(cls, text: str) -> Box:
        """Parse ``"Z0:Z1,Y0:Y1,X0:X1"`` (any number of axes), as the CLI's ``--box`` takes it."""
        start, stop = [], []
        for part in text.split(","):
            lo, sep, hi = part.strip().partition(":")
            if not sep:
                raise ValueError(f"box {text!r}: each axis is START:STOP, got {part!r}")
            try:
                start.append(int(lo))
                stop.append(int(hi))
            except ValueError:
                raise ValueError(f"box {text!r}: {part!r} is not START:STOP in integers") from None
        return cls(tuple(start), tuple(stop))

    # -- properties ---------------------------------------------------------------------------------------------
    @property
    def ndim(self) -> int:
        return len(self.start)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(b - a for a, b in zip(self.start, self.stop, strict=True))

    @property
    def size(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n

    def is_empty(self) -> bool:
        return any(a == b for a, b in zip(self.start, self.stop, strict=True))

    def to_slices(self) -> tuple[slice, ...]:
        return tuple(slice(a, b) for a, b in zip(self.start, self.stop, strict=True))

    def __str__(self) -> str:
        return ",".join(f"{a}:{b}" for a, b in zip(self.start, self.stop, strict=True))

    # -- set operations -----------------------------------------------------------------------------------------
    def _check(self, other: Box) -> None:
        if other.ndim != self.ndim:
            raise ValueError(f"boxes of {self.ndim} and {other.ndim} axes do not combine")

    def _per_axis(self, values: Sequence[int], what: str) -> tuple[int, ...]:
        """``values`` as a tuple, one per axis of this box; a shorter or longer sequence would silently drop axes."""
        values = tuple(values)
        if len(values) != self.ndim:
            raise ValueError(f"{what} {values} has {len(values)} axes, the box [{self}] has {self.ndim}")
        return values

    def contains(self, other: Box) -> bool:
        """Whether ``other`` lies wholly inside this box."""
        self._check(other)
        return all(a <= c and d <= b for a, b, c, d in zip(self.start, self.stop, other.start, other.stop, strict=True))

    def intersection(self, other: Box) -> Box:
        """The common part; when they do not overlap, an empty box that still lies within both boxes' bounds."""
        self._check(other)
        stop = tuple(min(b, d) for b, d in zip(self.stop, other.stop, strict=True))
        start = tuple(min(max(a, c), s) for a, c, s in zip(self.start, other.start, stop, strict=True))
        return Box(start, stop)

    def clip(self, bounds: Box) -> Box:
        """This box clipped to ``bounds`` (same as ``intersection``; reads as intent at call sites)."""
        return self.intersection(bounds)

    def translate(self, offset: Sequence[int]) -> Box:
        offset = self._per_axis(offset, "offset")
        return Box(tuple(a + o for a, o in zip(self.start, offset, strict=True)),
                   tuple(b + o for b, o in zip(self.stop, offset, strict=True)))

    def relative_to(self, origin: Box | Sequence[int]) -> Box:
        """This box in the frame whose origin is ``origin`` (a box's start, or coordinates)."""
        o = origin.start if isinstance(origin, Box) else tuple(origin)
        return self.translate(tuple(-v for v in o))

    def check_within(self, bounds: Box) -> None:
        """Raise :class:`OutOfBoundsError` unless this box lies inside ``bounds``."""
        if not bounds.contains(self):
            raise OutOfBoundsError(f"box [{self}] reaches outside the volume [{bounds}]")

    # -- chunk grids --------------------------------------------------------------------------------------------
    def align(self, chunks: Sequence[int], *, bounds: Box | None = None) -> Box:
        """The smallest box on the chunk grid (from the origin) that covers this one, clipped to ``bounds``."""
        chunks = self._per_axis(chunks, "chunk shape")
        start = tuple((a // c) * c for a, c in zip(self.start, chunks, strict=True))
        stop = tuple(-(-b // c) * c for b, c in zip(self.stop, chunks, strict=True))
        box = Box(start, stop)
        return box.intersection(bounds) if bounds is not None else box

    def is_aligned(self, chunks: Sequence[int], *, bounds: Box | None = None) -> bool:
        """Whether both faces on every axis lie on the grid (or on the faces of ``bounds``)."""
        return self.align(chunks, bounds=bounds) == self

    def chunk_indices(self, chunks: Sequence[int]) -> Iterator[tuple[int, ...]]:
        """Grid indices of the chunks this box touches, in C order."""
        chunks = self._per_axis(chunks, "chunk shape")
        ranges = [range(a // c, -(-b // c)) for a, b, c in zip(self.start, self.stop, chunks, strict=True)]
        if self.is_empty():
            return iter(())
        return itertools.product(*ranges)

    def chunk_boxes(self, chunks: Sequence[int], *, bounds: Box | None = None) -> Iterator[Box]:
        """The whole grid chunks (clipped to ``bounds``) that cover this box, in C order."""
        chunks = self._per_axis(chunks, "chunk shape")
        for idx in self.chunk_indices(chunks):
            box = Box(tuple(i * c for i, c in zip(idx, chunks, strict=True)),
                      tuple((i + 1) * c for i, c in zip(idx, chunks, strict=True)))
            yield box.intersection(bounds) if bounds is not None else box

    def split(self, chunks: Sequence[int]) -> Iterator[Box]:
        """This box cut along the chunk grid: the parts of it that fall in each chunk, in C order."""
        for chunk in self.chunk_boxes(chunks):
            yield chunk.intersection(self)
