"""The core CLI commands; each takes the parsed arguments and returns an exit status."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import warnings
from pathlib import Path

import numpy as np

from .._box import Box
from .._progress import Progress
from ..errors import InvalidArgumentError, InvalidURIError
from . import _print_json


def plugins(args: argparse.Namespace) -> int:
    from .._registry import plugins as installed

    infos = installed()
    if args.json:
        _print_json([dataclasses.asdict(i) for i in infos])
        return 0
    for info in infos:
        dist = f"{info.distribution} {info.version}" if info.distribution else "(no distribution)"
        print(f"{info.name}: {dist}")
        if info.error:
            print(f"  BROKEN, skipped: {info.error}")
        if info.schemes:
            print(f"  schemes:  {', '.join(s + '://' for s in info.schemes)}")
        if info.services:
            print(f"  services: {', '.join(info.services)}")
        if info.commands:
            print(f"  commands: {', '.join(info.commands)}")
    return 0


def info(args: argparse.Namespace) -> int:
    from .._api import array

    a = array(args.uri)
    if args.json:
        _print_json({"uri": a.uri, **a.metadata.model_dump()})
        return 0
    print(a)
    print(f"  axes      {', '.join(a.axes)}")
    print(f"  dtype     {a.dtype} ({a.kind})")
    for i, level in enumerate(a.scales):
        vs = " x ".join(f"{v:g}" for v in level.voxel_size)
        print(f"  scale {i:<3} shape {level.shape} chunks {level.chunks} voxel {vs} nm key {level.key!r}")
    return 0


def ls(args: argparse.Namespace) -> int:
    from .._api import ls as list_children

    for name in list_children(args.uri):
        print(name)
    return 0


def capabilities(args: argparse.Namespace) -> int:
    from .._resolver import capabilities as caps

    found = caps(args.uri)
    if args.json:
        _print_json({name: {"implementation": r.implementation, "server_side": r.server_side,
                            "candidates": [dataclasses.asdict(c) for c in r.candidates]} for name, r in found.items()})
        return 0
    if not found:
        print('no services are installed (pip install "intern-mesh[skeleton]" for meshing, skeletons and downsampling)')
    for r in found.values():
        print(r.explain())
    return 0


def _write_output(path: Path, data: np.ndarray) -> None:
    suffix = path.suffix.lower()
    if suffix == ".npy":
        np.save(path, data)
    elif suffix in (".tif", ".tiff"):
        try:
            import tifffile
        except ImportError:
            raise InvalidURIError("writing .tif needs tifffile: pip install tifffile") from None
        tifffile.imwrite(path, data)
    elif suffix in (".h5", ".hdf5"):
        try:
            import h5py
        except ImportError:
            raise InvalidURIError("writing .h5 needs h5py: pip install h5py") from None
        with h5py.File(path, "w") as f:
            f.create_dataset("data", data=data, chunks=True, compression="gzip", compression_opts=1)
    elif suffix == ".png":
        from .._png import encode_png

        image = data.squeeze()
        if image.ndim != 2:
            raise InvalidURIError(f"a .png holds one 2-D slice; the box gives shape {data.shape} (make one axis 1 wide)")
        path.write_bytes(encode_png(image))
    else:
        raise InvalidURIError(f"output {path} must end .npy, .tif, .h5 or .png")


def cutout(args: argparse.Namespace) -> int:
    from .. import _provenance as provenance
    from .._api import array
    from .._io import read_box

    a = array(args.uri, scale=args.scale)
    box = Box.parse(args.box)
    if box.ndim != a.ndim:
        raise InvalidURIError(f"--box has {box.ndim} axes, the volume has {a.ndim} ({', '.join(a.axes)})")
    out = Path(args.output)
    if out.suffix.lower() not in (".npy", ".tif", ".tiff", ".h5", ".hdf5", ".png"):
        raise InvalidURIError(f"output {out} must end .npy, .tif, .h5 or .png")
    pieces = sum(1 for _ in box.chunk_indices(a.chunks))
    chunk_bytes = int(np.prod(a.chunks)) * a.dtype.itemsize
    with Progress(total=pieces, label="cutout", unit_bytes=chunk_bytes) as bar:
        data = read_box(a.resource, box, scale=a.scale, progress=bar.update)
    _write_output(out, data)
    provenance.write(out, source=a.uri, box=box, scale=a.scale, implementation="intern cutout",
                     parameters={"output": str(out)})
    print(f"wrote {out} {data.dtype}{list(data.shape)}")
    return 0


def _whole_numbers(text: str, option: str, *, least: int) -> list[int]:
    """``"64,512,512"`` as numbers, each at least ``least``; an error naming ``option`` otherwise."""
    try:
        values = [int(x) for x in text.split(",")]
    except ValueError:
        raise InvalidArgumentError(f"{option} {text}: give whole numbers separated by commas") from None
    if any(v < least for v in values):
        raise InvalidArgumentError(f"{option} {text}: every number must be at least {least}")
    return values


def copy(args: argparse.Namespace) -> int:
    from .._transfer import TransferWarning
    from .._transfer import copy as run_copy

    scales = "all" if args.scales == "all" else _whole_numbers(args.scales, "--scales", least=0)
    chunk = _whole_numbers(args.chunk, "--chunk", least=1) if args.chunk else None
    if args.workers is not None and args.workers < 1:
        raise InvalidArgumentError(f"--workers {args.workers}: give at least 1")
    if args.scale < 0:
        raise InvalidArgumentError(f"--scale {args.scale}: a level number is 0 or more")
    with warnings.catch_warnings():
        # a discarded journal is news to whoever runs the command: one plain line on stderr, when it happens
        warnings.simplefilter("always", TransferWarning)
        shown = warnings.showwarning

        def show(message: Warning | str, category: type[Warning], *rest: object, **options: object) -> None:
            if issubclass(category, TransferWarning):
                print(f"intern: warning: {message}", file=sys.stderr)
            else:
                shown(message, category, *rest, **options)  # type: ignore[arg-type]

        warnings.showwarning = show
        report = run_copy(
            args.source, args.destination,
            box=Box.parse(args.box) if args.box else None, scale=args.scale, scales=scales, chunk=chunk,
            workers=args.workers, scheduler=args.scheduler, resume=not args.no_resume, verify=not args.no_verify,
        )
    print(report)
    return 0
