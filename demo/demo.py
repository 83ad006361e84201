"""The intern demo: an EM-like volume and its segmentation as OME-Zarr, walked through with intern.

Needs no server: it makes the data (a few hundred cells with membranes, organelles and noise), writes it through
``intern.create`` as OME-Zarr pyramids, then reads it back as any analysis would: ``intern.array``, metadata,
capabilities, a misaligned cutout, meshes of three cells (a neuroglancer mesh directory), a PNG slice and provenance. Run it with ``nox -s demo`` or
``python demo/demo.py --out DIR``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import numpy as np

import intern
from intern.cli import main as intern_cli

SHAPE = (64, 384, 384)  # z, y, x voxels
VOXEL = (40.0, 8.0, 8.0)  # nm, anisotropic like serial-section EM
CELLS = 300


def make_cells(rng: np.random.Generator) -> np.ndarray:
    """Labels of a Voronoi tessellation in physical space, with wavy boundaries, at full resolution."""
    half = tuple(s // 2 for s in SHAPE)
    seeds = rng.uniform(0, 1, (CELLS, 3)) * np.array(SHAPE) * np.array(VOXEL)
    grid = np.stack(np.meshgrid(*[np.arange(n) * 2.0 for n in half], indexing="ij"), axis=-1).reshape(-1, 3)
    grid = grid * np.array(VOXEL)
    # smooth noise bends the planar Voronoi faces into membrane-like curves
    wobble = np.sin(grid[:, 1:2] / 180.0 + grid[:, 2:3] / 230.0) * 60 + np.cos(grid[:, 0:1] / 300.0) * 60
    labels = np.empty(len(grid), np.uint32)
    seed_norms = (seeds**2).sum(axis=1)
    for start in range(0, len(grid), 65536):
        part = grid[start:start + 65536] + wobble[start:start + 65536]
        # |p - s|^2 = |p|^2 - 2 p.s + |s|^2; |p|^2 is the same for every seed, so argmin needs only the rest
        labels[start:start + 65536] = (seed_norms[None, :] - 2 * part @ seeds.T).argmin(axis=1) + 1
    labels = labels.reshape(half)
    return labels.repeat(2, 0).repeat(2, 1).repeat(2, 2)[: SHAPE[0], : SHAPE[1], : SHAPE[2]]


def boundaries(labels: np.ndarray) -> np.ndarray:
    edge = np.zeros(labels.shape, bool)
    for axis in (1, 2):  # membranes are seen in-plane; z is 5x coarser
        diff = np.diff(labels, axis=axis) != 0
        lo = [slice(None)] * 3
        lo[axis] = slice(0, -1)
        hi = [slice(None)] * 3
        hi[axis] = slice(1, None)
        edge[tuple(lo)] |= diff
        edge[tuple(hi)] |= diff
    return edge


def blur(image: np.ndarray, passes: int = 2) -> np.ndarray:
    out = image.astype(np.float32)
    for _ in range(passes):
        for axis in (1, 2):
            out = (np.roll(out, 1, axis) + out + np.roll(out, -1, axis)) / 3
    return out


def make_em(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Greyscale like osmium-stained EM: light cytoplasm varying by cell, dark membranes and organelles, noise."""
    shade = rng.normal(165, 12, labels.max() + 1)
    image = shade[labels]
    image[boundaries(labels)] = 55
    for _ in range(400):  # mitochondria-like dark blobs, drawn in a window around each
        cz, cy, cx = (int(rng.integers(0, n)) for n in SHAPE)
        r, stretch = rng.uniform(3, 8), rng.uniform(0.5, 1.5)
        lo = (max(cz - 2, 0), max(cy - 9, 0), max(cx - 17, 0))
        window = tuple(slice(a, min(c + w, n)) for a, c, w, n in zip(lo, (cz, cy, cx), (3, 10, 18), SHAPE, strict=True))
        z, y, x = np.ogrid[window]
        blob = ((z - cz) * 5) ** 2 + (y - cy) ** 2 + ((x - cx) * stretch) ** 2 < r * r
        image[window][blob] = 90
    image = blur(image) + rng.normal(0, 14, SHAPE)
    return np.clip(image, 0, 255).astype(np.uint8)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="demo-output", help="folder for the volumes and outputs (replaced)")
    args = parser.parse_args()
    out = Path(args.out).resolve()
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    rng = np.random.default_rng(2026)

    t0 = time.perf_counter()
    labels = make_cells(rng)
    labels[boundaries(labels)] = 0
    em = make_em(labels, rng)
    print(f"made an EM-like volume {em.shape} and {len(np.unique(labels)) - 1} cells in {time.perf_counter() - t0:.1f}s")

    # write both as OME-Zarr pyramids: the same calls would write to any datastore intern can create on
    em_uri, seg_uri = f"zarr://{out}/em.ome.zarr", f"zarr://{out}/cells.ome.zarr"
    image = intern.create(em_uri, shape=SHAPE, dtype="uint8", chunks=(16, 128, 128), voxel_size=VOXEL, scales=3)
    image[...] = em
    intern.downsample(image, levels=2, dest=image)
    seg = intern.create(seg_uri, shape=SHAPE, dtype="uint32", chunks=(16, 128, 128), voxel_size=VOXEL, scales=3,
                        kind="segmentation")
    seg[...] = labels
    intern.downsample(seg, levels=2, dest=seg)

    print("\n== intern plugins")
    intern_cli(["plugins"])

    print("\n== what is in the folder")
    a = intern.array(em_uri)
    print(a)
    for i, level in enumerate(a.scales):
        print(f"  scale {i}: shape {level.shape}, voxel {level.voxel_size} nm, chunks {level.chunks}")

    print("\n== capabilities of the segmentation")
    for resolution in intern.capabilities(seg_uri).values():
        print(resolution.explain())

    print("\n== a misaligned cutout")
    t0 = time.perf_counter()
    cut = a[13:45, 7:300, 100:228]
    took = time.perf_counter() - t0
    assert np.array_equal(cut, em[13:45, 7:300, 100:228]), "the cutout differs from what was written"
    cells = np.unique(intern.array(seg_uri)[13:45, 7:300, 100:228])
    print(f"  em[13:45, 7:300, 100:228] -> {cut.dtype}{list(cut.shape)} in {took * 1000:.0f} ms, equal to the source; "
          f"it crosses {len(cells[cells > 0])} cells")
    coarse = intern.array(em_uri, scale=2)[:, ::2, ::2]
    print(f"  scale 2, every other voxel in y and x -> {list(coarse.shape)}")

    print("\n== meshes of three cells, resolved and run locally (intern-mesh)")
    box = intern.Box((0, 0, 0), (32, 192, 192))
    region = intern.array(seg_uri)[box.to_slices()]
    ids, counts = np.unique(region[region > 0], return_counts=True)
    biggest = [int(i) for i in ids[np.argsort(counts)[-3:]]]
    resolution = intern.resolve("mesh", intern.open(seg_uri))
    outcome = resolution.run(ids=biggest, box=box, scale=0)  # the result, and the implementation that answered
    meshes = outcome.value
    mesh_dir = out / "meshes"
    from intern.plugin import write_precomputed_mesh_dir, write_provenance

    write_precomputed_mesh_dir(mesh_dir, meshes)
    write_provenance(mesh_dir, source=seg_uri, box=box, scale=0, implementation=outcome.implementation,
                     parameters={"ids": biggest})
    for label, m in sorted(meshes.items()):
        print(f"  cell {label}: {len(m.vertices)} vertices, {m.area / 1e6:.1f} um^2, closed={m.is_closed}")
    print(f"  by {outcome.implementation}; a neuroglancer mesh directory with provenance.json in {mesh_dir.name}/")

    print("\n== a PNG slice and its provenance (intern cutout)")
    png = out / "em-z32.png"
    intern_cli(["cutout", em_uri, "--box", f"32:33,0:{SHAPE[1]},0:{SHAPE[2]}", "-o", str(png)])
    print(f"  {png.name} and {png.name}.provenance.json are in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
