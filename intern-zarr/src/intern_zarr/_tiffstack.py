"""The two kinds of TIFF stack: the pages of one (multipage, OME, Big)TIFF file, and a folder of 2-D slices.

Both present the same small surface to the volume: per pyramid level an :class:`~._tiffmeta.AxisPlan` and a
:class:`~._tiffread.PageLayout`, and ``read_plane(level, index, y, x, s)``, the part of one page (one z section of
one channel and time point) a box touches. :func:`read_box` loops over the pages of a box with it.
"""

from __future__ import annotations

import itertools
import os
import struct
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from intern.errors import DriverNotInstalledError, InternError, MetadataError, NotFoundError
from intern.plugin import Box

from ._tiffmeta import AxisPlan, FileFacts, file_facts, kept_axes, natural_key, plan_axes
from ._tiffread import Files, PageLayout, PageRef, no_decode, open_fd, read_region

__all__ = ["TIFF_SUFFIXES", "FileStack", "SliceStack", "open_tiff", "read_box", "slice_files"]

TIFF_SUFFIXES = (".tif", ".tiff", ".btf", ".tf8", ".tf2")
_SLICE_SUFFIXES = (*TIFF_SUFFIXES, ".png")


@contextmanager
def parsing(path: str) -> Iterator[None]:
    """Run a block that parses TIFF structure; a damaged file raises an intern error naming it.

    tifffile meets a truncated or damaged header chain with whatever its parsing hits (``struct.error``,
    ``IndexError``, its own ``TiffFileError``), at open or when a page header is first read.
    """
    import tifffile

    try:
        yield
    except InternError:
        raise
    except tifffile.TiffFileError as exc:
        if str(exc).startswith("not a TIFF file"):
            raise NotFoundError(f"{path} is not a TIFF file ({exc})") from exc
        raise MetadataError(f"{path}: the TIFF structure is damaged or truncated ({exc})") from exc
    except (struct.error, IndexError, KeyError, ValueError, EOFError) as exc:
        raise MetadataError(f"{path}: the TIFF structure is damaged or truncated ({type(exc).__name__}: {exc})") \
            from exc


def open_tiff(path: str, **kwargs: Any) -> Any:
    """An open ``tifffile.TiffFile``.

    Raises:
        NotFoundError: there is no such file, or it is not a TIFF file.
        MetadataError: its structure is damaged.
    """
    import tifffile

    if not os.path.isfile(path):
        raise NotFoundError(f"{path} does not exist")
    with parsing(path):
        return tifffile.TiffFile(path, **kwargs)


def read_box(stack: FileStack | SliceStack, level: int, box: Box) -> np.ndarray:
    """The voxels of ``box`` (over every intern axis) at ``level``, in native byte order."""
    plan = stack.plans[level]
    out = np.empty(box.shape, stack.dtype)
    y, x = (box.start[-2], box.stop[-2]), (box.start[-1], box.stop[-1])
    sp = plan.sample_pos
    s = (box.start[sp], box.stop[sp]) if sp is not None else (0, 1)
    for coords in itertools.product(*(range(box.start[pos], box.stop[pos]) for pos, _ in plan.lead)):
        where: list[Any] = [slice(None)] * len(box.shape)
        for (pos, _), c in zip(plan.lead, coords, strict=True):
            where[pos] = c - box.start[pos]
        target = out[tuple(where)]  # what is left: (c,) y, x
        region = stack.read_plane(level, plan.page_index(coords), y, x, s)
        if region is None:
            target[...] = 0  # a page the file does not have (sparse OME series)
        else:
            target[...] = np.moveaxis(region, -1, 0) if sp is not None else region[..., 0]
    return out


class FileStack:
    """One series of a TIFF file (and its pyramid levels, for OME pyramids).

    Args:
        path: the file.
        series: the series to read (tifffile's numbering); None picks series 0, or every page when the file holds
            one single-page series per page (as ``imageio.mimwrite`` writes them).
    """

    def __init__(self, path: str, *, series: int | None = None) -> None:
        self.path = path
        tif = open_tiff(path)
        try:
            with parsing(path):
                index = self._pick(tif, series)
                if index is None:  # one series per page: read the pages as one generic series instead
                    tif.close()
                    tif, index = open_tiff(path, is_shaped=False), 0
                self._levels(tif, index)
        except BaseException:
            tif.close()
            raise
        self.tif = tif
        self.series_index = index
        self.dtype = self.layouts[0].dtype.newbyteorder("=")
        self.kind = tif.series[index].kind
        tif.filehandle.set_lock(True)  # tifffile reads page headers through one shared seek position
        self._refs: dict[tuple[int, int], PageRef | None] = {}
        self._files = Files()

    def _levels(self, tif: Any, index: int) -> None:
        self._series = tif.series[index].levels
        self.facts: FileFacts = file_facts(tif, tif.series[index], index)
        keep = kept_axes(self.facts.intern)
        self.plans: list[AxisPlan] = []
        self.layouts: list[PageLayout] = []
        for i, level in enumerate(self._series):
            where = f"{self.path} (series {index}" + (f", level {i})" if i else ")")
            axes, shape = level.get_axes(False), level.get_shape(False)
            plan = plan_axes(axes, shape, keep=keep, where=where)
            if level.dataoffset is not None and axes.rstrip("S").endswith("YX") and axes.count("S") <= 1:
                # one run of plain bytes in the series' C order: pages are what its axes say
                samples = shape[axes.index("S")] if "S" in axes else 1
                layout = PageLayout.in_one_run(
                    height=shape[axes.index("Y")], width=shape[axes.index("X")], samples=samples,
                    separate="S" in axes and axes.index("S") < axes.index("Y"),
                    dtype=np.dtype(level.dtype).newbyteorder(tif.byteorder))
            else:
                layout = PageLayout.of(level.keyframe, where)
                if plan.pages != len(level):
                    raise MetadataError(f"{where}: {len(level)} pages for axes {axes} of shape {shape}; intern "
                                        "cannot tell which page holds which plane")
            self.plans.append(plan)
            self.layouts.append(layout)
        if any(p.axes != self.plans[0].axes for p in self.plans):
            self._series, self.plans, self.layouts = self._series[:1], self.plans[:1], self.layouts[:1]

    @staticmethod
    def _pick(tif: Any, series: int | None) -> int | None:
        found = tif.series
        if series is not None:
            if not 0 <= series < len(found):
                raise NotFoundError(f"{tif.filehandle.path} has no series {series} (it has {len(found)}: "
                                    f"0..{len(found) - 1})")
            return series
        if not found:
            raise NotFoundError(f"{tif.filehandle.path} holds no image")
        shapes = {(s.shape, s.dtype) for s in found}
        if len(found) > 1 and len(shapes) == 1 and all(len(s) == 1 and s.kind == "shaped" for s in found):
            return None
        return 0

    def page_ref(self, level: int, index: int) -> PageRef | None:
        key = (level, index)
        if key not in self._refs:
            series, layout = self._series[level], self.layouts[level]
            if series.dataoffset is not None:
                # contiguous pages: computed, so truncated files (one header for many pages) read too
                self._refs[key] = PageRef(self.path, (series.dataoffset + index * layout.nbytes,), (layout.nbytes,))
            else:
                with self.tif.filehandle.lock, parsing(self.path):
                    page = series[index]
                self._refs[key] = None if page is None else PageRef.of(page, page.parent.filehandle.path)
        return self._refs[key]

    def read_plane(self, level: int, index: int, y: tuple[int, int], x: tuple[int, int],
                   s: tuple[int, int]) -> np.ndarray | None:
        ref = self.page_ref(level, index)
        if ref is None:
            return None
        return read_region(self.layouts[level], ref, self._files.fd(ref.path), y, x, s)

    @property
    def contiguous(self) -> bool:
        """Whether every page lies in one run of plain bytes (so the file can be written in place)."""
        return self._series[0].dataoffset is not None and self.layouts[0].plain

    @property
    def dataoffset(self) -> int:
        return int(self._series[0].dataoffset)

    def close(self) -> None:
        self._files.close()
        self.tif.close()


def _pil() -> Any:
    try:
        from PIL import Image
    except ImportError:
        raise DriverNotInstalledError("reading PNG slices needs Pillow, which intern-zarr installs with its 'tiff' "
                                      'extra: pip install "intern-zarr[tiff]"', None, "intern-zarr[tiff]") from None
    return Image


class SliceStack:
    """A folder of 2-D images, one z section per file, in natural order of their names (``s2`` before ``s10``).

    Every file is checked when the folder is opened: all TIFF or all PNG, one image each, of one shape and type.
    TIFF slices are read segment by segment like the pages of a file; PNG slices are decoded whole.
    """

    def __init__(self, folder: str, names: Sequence[str] | None = None) -> None:
        self.path = folder
        names = list(names) if names is not None else slice_files(folder)
        if not names:
            raise NotFoundError(f"{folder} holds no TIFF or PNG slices (files ending {', '.join(_SLICE_SUFFIXES)})")
        kinds = {n.lower().endswith(".png") for n in names}
        if len(kinds) > 1:
            raise MetadataError(f"{folder} holds both PNG and TIFF slices; a stack is one or the other")
        self.files = [os.path.join(folder, n) for n in names]
        self.png = kinds == {True}
        self.facts = FileFacts(voxel={}, intern={})
        self._layouts: list[PageLayout] = []
        self._refs: list[PageRef] = []
        layout = self._check_png() if self.png else self._check_tiff()
        axes, shape = ("ZSYX", (len(names), layout.samples, layout.height, layout.width)) if layout.separate else \
            ("ZYXS", (len(names), layout.height, layout.width, layout.samples))
        self.plans = [plan_axes(axes, shape, where=folder)]
        self.layouts = [layout]
        self.dtype = layout.dtype.newbyteorder("=")
        self.kind = "png-slices" if self.png else "tiff-slices"

    def _check_tiff(self) -> PageLayout:
        first = None
        for path in self.files:
            with open_tiff(path) as tif:
                page = tif.pages.first
                layout = PageLayout.of(page, path)
                with parsing(path):
                    pages = len(tif.series[0]) if tif.series else 1
                if pages > 1:
                    raise MetadataError(f"{path} holds {pages} pages; a folder stack takes one image per file (open "
                                        f"a multipage file as tiff://{path})")
                if first is None:
                    first = layout
                    self.facts = file_facts(tif, tif.series[0], 0) if tif.series else self.facts
                elif not layout.same_image(first):
                    raise MetadataError(_mismatch(path, layout, self.files[0], first))
                self._layouts.append(layout)
                self._refs.append(PageRef.of(page, path))
        assert first is not None
        return first

    def _check_png(self) -> PageLayout:
        image = _pil()
        with image.open(self.files[0]) as im:
            sample = np.asarray(im)
            mode, size, dpi = im.mode, im.size, im.info.get("dpi")
        for path in self.files[1:]:
            with image.open(path) as im:
                if (im.mode, im.size) != (mode, size):
                    raise MetadataError(f"{path} is a {im.size[0]}x{im.size[1]} {im.mode} image, but "
                                        f"{self.files[0]} is {size[0]}x{size[1]} {mode}; a stack's slices agree")
        if dpi and all(d and d > 0 for d in dpi):
            self.facts = FileFacts(voxel={"x": (25.4e6 / dpi[0], "png-phys"), "y": (25.4e6 / dpi[1], "png-phys")},
                                   intern={})
        height, width = sample.shape[:2]
        return PageLayout(height=height, width=width, samples=sample.shape[2] if sample.ndim == 3 else 1,
                          separate=False, dtype=sample.dtype, rows=height, cols=width, tiled=False, plain=False,
                          decode=no_decode, jpegheader=None)

    def read_plane(self, level: int, index: int, y: tuple[int, int], x: tuple[int, int],
                   s: tuple[int, int]) -> np.ndarray:
        path = self.files[index]
        if self.png:
            with _pil().open(path) as im:
                data = np.asarray(im)
            if data.shape[:2] != (self.layouts[0].height, self.layouts[0].width) or data.dtype != self.dtype:
                raise MetadataError(f"{path} changed since the folder was opened ({data.dtype}{list(data.shape)})")
            data = data.reshape(*data.shape[:2], -1)
            return data[y[0]:y[1], x[0]:x[1], s[0]:s[1]]
        fd = open_fd(path)
        try:
            return read_region(self._layouts[index], self._refs[index], fd, y, x, s)
        finally:
            os.close(fd)

    def close(self) -> None:
        pass


def _mismatch(path: str, layout: PageLayout, first_path: str, first: PageLayout) -> str:
    def text(lay: PageLayout) -> str:
        return f"{lay.height}x{lay.width}" + (f"x{lay.samples}" if lay.samples > 1 else "") + f" {lay.dtype.name}"

    return f"{path} is {text(layout)}, but {first_path} is {text(first)}; a stack's slices agree in shape and type"


def slice_files(folder: str) -> list[str]:
    """Names of the TIFF and PNG files of ``folder`` in natural order; hidden files are left out."""
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        raise NotFoundError(f"{folder} does not exist") from None
    names = [n for n in names if not n.startswith(".") and n.lower().endswith(_SLICE_SUFFIXES)
             and os.path.isfile(os.path.join(folder, n))]
    return sorted(names, key=natural_key)

