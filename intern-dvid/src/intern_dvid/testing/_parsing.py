"""Numbers and geometry from DVID URLs, parsed as the real server parses them, with its messages.

DVID is written in Go: coordinates and sizes are 32-bit signed integers (``strconv.ParseInt(s, 10, 32)``), labels and
counts 64-bit unsigned (``strconv.ParseUint(s, 10, 64)``). Anything else is a 400 whose message is Go's error text,
``strconv.ParseInt: parsing "x": invalid syntax`` or ``... value out of range``; Python's ``int()`` is more lenient
(``"1_0"``, ``" 5"``, ``"²"``), so it is never used on a URL directly.
"""

from __future__ import annotations

import json
import re

from ._errors import DvidError

__all__ = ["INT32", "Subvolume", "go_quote", "parse_int", "parse_uint", "point3d", "subvolume"]

INT32 = (-(2**31), 2**31 - 1)
_SIGNED = re.compile(r"[+-]?[0-9]+")
_UNSIGNED = re.compile(r"[0-9]+")


def go_quote(text: str) -> str:
    """``text`` in double quotes, as Go's ``%q`` prints it in a message."""
    return json.dumps(text, ensure_ascii=False)


def parse_int(text: str, bits: int = 32, *, func: str = "ParseInt") -> int:
    """A signed integer of ``bits`` bits, as Go's ``strconv.ParseInt(text, 10, bits)`` (``func="Atoi"``: as
    ``strconv.Atoi``, 64 bits on DVID's servers, which names itself in the message)."""
    if not _SIGNED.fullmatch(text):
        raise DvidError(400, f"strconv.{func}: parsing {go_quote(text)}: invalid syntax")
    value = int(text)
    if not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
        raise DvidError(400, f"strconv.{func}: parsing {go_quote(text)}: value out of range")
    return value


def parse_uint(text: str, bits: int = 64) -> int:
    """An unsigned integer of ``bits`` bits, as Go's ``strconv.ParseUint(text, 10, bits)`` (no sign allowed)."""
    if not _UNSIGNED.fullmatch(text):
        raise DvidError(400, f"strconv.ParseUint: parsing {go_quote(text)}: invalid syntax")
    value = int(text)
    if value >= 2**bits:
        raise DvidError(400, f"strconv.ParseUint: parsing {go_quote(text)}: value out of range")
    return value


def _elements(text: str) -> list[int]:
    return [parse_int(part.strip()) for part in text.split("_")]


def point3d(text: str) -> tuple[int, int, int]:
    """``x_y_z`` of a point (``label/x_y_z``): exactly three 32-bit integers."""
    parts = text.split("_")
    if len(parts) != 3:
        raise DvidError(400, f"String {go_quote(text)} cannot be converted to a 3d point")
    x, y, z = _elements(text)
    return x, y, z


class Subvolume:
    """The box of a ``raw`` request: ``offset`` and ``size`` (x, y, z), validated.

    Attributes:
        offset: first voxel, x, y, z.
        size: voxels along x, y, z, each at least 1.
        voxels: the exact number of voxels (a Python int: no overflow, however large the request).
    """

    def __init__(self, offset: tuple[int, int, int], size: tuple[int, int, int]) -> None:
        self.offset = offset
        self.size = size
        self.voxels = size[0] * size[1] * size[2]

    def __str__(self) -> str:
        return f"3d subvolume of size {_pt(self.size)} at offset {_pt(self.offset)}"


def _pt(values: tuple[int, ...]) -> str:
    return "(" + ",".join(str(v) for v in values) + ")"


def subvolume(offset_text: str, size_text: str, *, labels: bool) -> Subvolume:
    """The box of ``raw/0_1_2/<size>/<offset>``, checked in DVID's order (offset, then size, then the geometry).

    Args:
        labels: the request is for a labelmap, whose messages DVID writes in lower case (``illegal geometry``).

    Raises:
        DvidError: 400 for a malformed number, the wrong number of dimensions, a size below 1 on any axis, or a box
            reaching past the 32-bit coordinates DVID stores (which the real server would wrap around silently).
    """
    parts = offset_text.split("_")
    if len(parts) < 2:
        raise DvidError(400, f"cannot convert '{offset_text}' into a Point.")
    offset = _elements(offset_text)
    if len(offset) != 3:
        raise DvidError(400, f"Offset must be 3d coordinate, not {len(offset)}-d coordinate")
    parts = size_text.split("_")
    if len(parts) < 2:
        raise DvidError(400, f"cannot convert '{size_text}' into a Point.")
    size = _elements(size_text)
    if len(size) != 3:
        raise DvidError(400, f"Size must be 3 (not {len(size)}) dimensions")
    box = Subvolume((offset[0], offset[1], offset[2]), (size[0], size[1], size[2]))
    if any(s <= 0 for s in box.size):
        # DVID checks the product only (two negative sizes would pass it); every axis is checked here
        raise DvidError(400, f"{'illegal' if labels else 'Illegal'} geometry requested: {box}")
    if any(o + s - 1 > INT32[1] for o, s in zip(box.offset, box.size, strict=True)):
        raise DvidError(400, f"{box} reaches past DVID's 32-bit coordinates (largest {INT32[1]})")
    return box
