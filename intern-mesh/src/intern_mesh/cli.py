"""``intern mesh URI -o DIR``: mesh a segmentation's labels into OBJ, PLY or a neuroglancer precomputed directory.

The service is resolved as for ``intern.mesh``: meshes the datastore stores are fetched from it, and other volumes are
meshed locally (zmesh). The directory gets a ``provenance.json`` naming the source, box, scale, implementation and
parameters.

    intern mesh zarr:///data/seg.ome.zarr --ids 12,13 --box 0:64,0:512,0:512 -o meshes/ --format precomputed
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="intern mesh", description="Mesh the labels of a segmentation; every output "
                                "directory gets a provenance.json.")
    p.add_argument("uri", help="the segmentation (any intern URI)")
    p.add_argument("--ids", help="comma-separated labels (default: every label in the box)")
    p.add_argument("--box", help="Z0:Z1,Y0:Y1,X0:X1 voxels at --scale (default: the whole volume)")
    p.add_argument("--scale", type=int, default=0, help="pyramid level (default 0)")
    p.add_argument("-o", "--output", required=True, help="output directory (created if missing)")
    p.add_argument("--format", choices=("precomputed", "obj", "ply"), default="precomputed",
                   help="a neuroglancer precomputed mesh directory (default), or one .obj/.ply file per label")
    p.add_argument("--simplify", type=float, metavar="NM",
                   help="simplify, moving no vertex more than NM nanometres from the marching-cubes surface")
    p.add_argument("--prefer", help="an implementation name (zmesh, skimage, ...), or 'server' / 'local'")
    p.add_argument("--scheduler", help="local meshing of large volumes on Dask: 'local' (a LocalCluster) or "
                   "tcp://HOST:PORT (default: threads here, or INTERN_SCHEDULER)")
    p.add_argument("--workers", type=int, help="threads, or Dask worker processes with --scheduler local")
    return p


def _ids(text: str | None, parser: argparse.ArgumentParser) -> list[int] | None:
    if text is None:
        return None
    try:
        ids = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        parser.error(f"--ids {text!r} is not a comma-separated list of integer labels")
    if not ids or any(i < 0 for i in ids):
        parser.error(f"--ids {text!r} must list at least one label, none negative")
    return ids


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``intern mesh``; returns the exit status (errors intern raises are reported by the ``intern`` command)."""
    import intern
    from intern.plugin import Box, Progress

    from ._output import write_meshes

    parser = _parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    ids = _ids(args.ids, parser)
    box = None
    if args.box is not None:
        try:
            box = Box.parse(args.box)
        except ValueError as exc:
            parser.error(str(exc))
    if args.simplify is not None and not args.simplify > 0:
        parser.error("--simplify takes a positive number of nanometres")
    resource = intern.array(args.uri).resource  # NotFoundError when the URI names no volume
    how = intern.resolve("mesh", resource, prefer=args.prefer)
    params: dict[str, object] = {"ids": ids, "box": box, "scale": args.scale}
    if args.simplify is not None:
        params["simplify"] = args.simplify
    if not how.server_side:  # local meshing reports each finished task; the count is known only as it plans
        params["progress"] = None
        if args.scheduler or args.workers:
            params.update(scheduler=args.scheduler, workers=args.workers)
    with Progress(total=None, label="mesh") as bar:
        if "progress" in params:
            params["progress"] = bar.update
        outcome = how.run(**params)  # says who answered, also when the server declined and a local mesher ran
    meshes = outcome.value
    level = resource.metadata.scale(args.scale)
    whole = Box.from_shape(level.shape[-3:])
    out = write_meshes(meshes, args.output, format=args.format, provenance_fields={
        "source": resource.uri, "box": box or whole, "scale": args.scale, "implementation": outcome.implementation,
        "parameters": {"ids": ids, "simplify": args.simplify, "format": args.format,
                       "server_side": outcome.server_side}})
    print(f"wrote {len(meshes)} mesh{'es' if len(meshes) != 1 else ''} to {out} ({args.format}, by "
          f"{outcome.implementation})")
    return 0
