"""What a TIFF stack is in intern's terms: its axes, voxel size and kind.

tifffile names the axes of a series of pages with one letter each, in the file's own order: ``TZCYXS`` for an
ImageJ hyperstack, ``TCZYXS`` for OME-TIFF, ``QYX`` for pages with no metadata, ``S`` for the samples of a pixel
(RGB). intern's order is fixed, ``(t, c, z, y, x)``. An :class:`AxisPlan` maps one onto the other once, when a stack
is opened; reads then loop over the pages a box touches and place each page's pixels with it.

Voxel sizes are looked for, in this order, in intern's own record (files intern wrote), OME-XML ``PhysicalSize*``,
ImageJ's ``spacing``/``unit`` with the resolution tags, and the TIFF resolution tags with an inch or centimetre
unit. An axis none of them gives is 1 nm, and ``metadata.attributes["voxel_size_source"]`` says so for that axis.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from intern.errors import MetadataError
from intern.plugin import to_nanometres

__all__ = ["AxisPlan", "FileFacts", "file_facts", "kept_axes", "natural_key", "plan_axes", "resolution_nm"]

#: tifffile's axis letters and the intern axis each becomes; I (a plain sequence of images) and Q (unknown) are the
#: pages of a stack without metadata, which are z sections in this field
_ROLE = {"T": "t", "C": "c", "S": "c", "Z": "z", "I": "z", "Q": "z"}
_NAMES = {"A": "angle", "P": "phase", "R": "tile", "H": "lifetime", "E": "lambda", "L": "exposure", "V": "event",
          "M": "mosaic", "B": "block"}
#: nanometres per TIFF ResolutionUnit (2 inch, 3 centimetre; tifffile adds 4 millimetre and 5 micrometre)
_RESUNIT_NM = {2: 25.4e6, 3: 1e7, 4: 1e6, 5: 1e3}


def natural_key(name: str) -> tuple[Any, ...]:
    """Sort key that orders digits by value: ``slice2`` before ``slice10``; ties by the name itself."""
    parts = re.split(r"(\d+)", name)
    # even positions are text, odd ones digits, so tuples always compare like with like
    return tuple(int(p) if i % 2 else p.lower() for i, p in enumerate(parts)), name


@dataclass(frozen=True)
class AxisPlan:
    """How the pages of one stack (at one pyramid level) lay out intern's axes.

    Attributes:
        axes: intern's axes, ``(t, c,) z, y, x``.
        shape: intern's shape.
        lead: ``(intern axis position, length)`` of each page-level axis, in the file's page order (the last varies
            fastest); a page's index is the row-major index of its coordinates on these axes.
        sample_pos: intern axis position of the samples inside a page (RGB, or planar channels), or None.
        file_axes: the file's own axis letters, for messages and attributes.
    """

    axes: tuple[str, ...]
    shape: tuple[int, ...]
    lead: tuple[tuple[int, int], ...]
    sample_pos: int | None
    file_axes: str

    @property
    def pages(self) -> int:
        return math.prod(n for _, n in self.lead)

    def page_index(self, coords: Sequence[int]) -> int:
        """Index of the page at ``coords`` (one per :attr:`lead` axis)."""
        index = 0
        for (_, n), i in zip(self.lead, coords, strict=True):
            index = index * n + i
        return index


def plan_axes(file_axes: str, file_shape: Sequence[int], *, keep: frozenset[str] = frozenset(), where: str) -> AxisPlan:
    """The plan of a series with (unsqueezed) axes ``file_axes`` and shape ``file_shape``.

    Axes of length 1 are dropped unless their intern axis is in ``keep`` (the axes intern recorded when it wrote the
    file), a stack without a z axis gets one of length 1, and two file axes that would both become one intern axis
    (channels as pages *and* as samples) are refused.

    Raises:
        MetadataError: an axis has no place in ``(t, c, z, y, x)``, or two compete for one.
    """
    if "Y" not in file_axes or "X" not in file_axes:
        raise MetadataError(f"{where}: axes {file_axes!r} have no Y and X; intern reads images")
    roles: dict[str, tuple[str, int]] = {}  # intern axis -> (file letter, length)
    lead_letters: list[tuple[str, int]] = []
    for letter, n in zip(file_axes, file_shape, strict=True):
        if letter in "YX":
            continue
        role = _ROLE.get(letter)
        if n == 1 and (role is None or role not in keep or (letter == "S" and role in roles)):
            continue
        if role is None:
            raise MetadataError(f"{where}: the file's {_NAMES.get(letter, letter)} axis ({letter}, length {n}) has no "
                                f"place in intern's (t, c, z, y, x); axes are {file_axes!r}")
        if role in roles:
            other = roles[role][0]
            raise MetadataError(f"{where}: both the file's {other} and {letter} axes would be intern's {role} axis "
                                f"(axes {file_axes!r}, shape {tuple(file_shape)}); intern reads one of each")
        roles[role] = (letter, n)
        if letter != "S":
            lead_letters.append((role, n))
    if "z" not in roles:
        roles["z"] = ("", 1)
        lead_letters.append(("z", 1))  # a 2-D image is one z section; length 1 adds nothing to page indices
    axes = tuple(a for a in ("t", "c") if a in roles) + ("z", "y", "x")
    height = file_shape[file_axes.index("Y")]
    width = file_shape[file_axes.index("X")]
    shape = tuple(roles[a][1] for a in axes[:-2]) + (height, width)
    sample_letter = "S" if roles.get("c", ("",))[0] == "S" else None
    return AxisPlan(
        axes=axes,
        shape=shape,
        lead=tuple((axes.index(role), n) for role, n in lead_letters),
        sample_pos=axes.index("c") if sample_letter else None,
        file_axes=file_axes,
    )


# -- voxel sizes and kind -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FileFacts:
    """What a file says about itself: the voxel sizes it states (axis -> (nm, source)) and intern's own record."""

    voxel: dict[str, tuple[float, str]]
    intern: Mapping[str, Any]


def _nm(value: Any, unit: str | None) -> float | None:
    """``value`` in ``unit`` as nanometres, or None when either is missing or not a length."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    if not unit or not math.isfinite(v) or v <= 0:
        return None
    # ImageJ writes micro as an escape in its description, some writers use the Greek letter mu
    unit = str(unit).replace("\\u00B5", "µ").replace("\\u00b5", "µ").replace("\u03bc", "µ")
    try:
        return to_nanometres(v, unit)
    except MetadataError:
        return None  # "pixel", "inch"-less ImageJ files, a unit that is not a length


def resolution_nm(tags: Any, unit: str | None = None) -> dict[str, float]:
    """y and x voxel sizes from the XResolution/YResolution tags (pixels per unit): ``unit`` when given (ImageJ),
    else the ResolutionUnit tag's inch/centimetre; empty when the file states no length."""
    out: dict[str, float] = {}
    per_unit: float | None
    if unit is None:
        tag = tags.get("ResolutionUnit")
        per_unit = _RESUNIT_NM.get(int(tag.value)) if tag is not None else None
    else:
        per_unit = _nm(1.0, unit)
    if per_unit is None:
        return out
    for axis, name in (("x", "XResolution"), ("y", "YResolution")):
        tag = tags.get(name)
        if tag is None:
            continue
        value = tag.value
        num, den = (value if isinstance(value, tuple) else (value, 1))[:2]
        if num and den and num > 0 and den > 0:
            out[axis] = per_unit * den / num
    return out


def _ome(tif: Any, index: int) -> tuple[dict[str, float], dict[str, str]]:
    """Physical sizes (nm) of OME Image ``index`` and the values of intern's MapAnnotation on it."""
    try:
        root = ET.fromstring(tif.ome_metadata)
    except (ET.ParseError, TypeError):
        return {}, {}
    ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    images = root.findall(f"{ns}Image")
    if index >= len(images):
        return {}, {}
    image = images[index]
    pixels = image.find(f"{ns}Pixels")
    sizes: dict[str, float] = {}
    if pixels is not None:
        for axis in "zyx":
            key = f"PhysicalSize{axis.upper()}"
            # the schema's default unit is the micrometre
            value = _nm(pixels.get(key), pixels.get(f"{key}Unit", "µm")) if pixels.get(key) is not None else None
            if value is not None:
                sizes[axis] = value
    refs = {ref.get("ID") for ref in image.iter(f"{ns}AnnotationRef")}
    record: dict[str, str] = {}
    for ann in root.iter(f"{ns}MapAnnotation"):
        if ann.get("Namespace") == "intern" and ann.get("ID") in refs:
            record.update({m.get("K", ""): m.text or "" for m in ann.iter(f"{ns}M")})
    return sizes, record


def file_facts(tif: Any, series: Any, index: int) -> FileFacts:
    """Voxel sizes and intern's record for series ``index`` of an open ``tifffile.TiffFile``."""
    voxel: dict[str, tuple[float, str]] = {}
    record: dict[str, Any] = {}
    page = series.keyframe
    if tif.is_ome:
        sizes, record = _ome(tif, index)
        voxel.update({a: (v, "ome") for a, v in sizes.items()})
    elif tif.is_shaped and tif.shaped_metadata and index < len(tif.shaped_metadata):
        record = dict(tif.shaped_metadata[index].get("intern") or {})
        size = record.get("voxel_size")
        if isinstance(size, (list, tuple)) and len(size) == 3:
            voxel.update({a: (float(v), "intern") for a, v in zip("zyx", size, strict=True) if float(v) > 0})
    if tif.is_imagej:
        meta = tif.imagej_metadata or {}
        unit = meta.get("unit")
        for axis, v in resolution_nm(page.tags, unit or "").items():
            voxel.setdefault(axis, (v, "imagej"))
        z = _nm(meta.get("spacing"), unit)
        if z is not None:
            voxel.setdefault("z", (z, "imagej"))
    for axis, v in resolution_nm(page.tags).items():
        voxel.setdefault(axis, (v, "tiff-resolution"))
    return FileFacts(voxel=voxel, intern=record)


def kept_axes(record: Mapping[str, Any]) -> frozenset[str]:
    """The intern axes a file intern wrote had (so axes of length 1 come back)."""
    axes = record.get("axes", "")
    if isinstance(axes, str):
        axes = axes.split(",")
    return frozenset(a.strip() for a in axes if a)
