"""Meshing benchmark: intern.mesh against zmesh called directly and per-label scikit-image, and chunked meshing.

Data: a dense segmentation of N^3 uint64 voxels cut into ~1000 irregular, touching cells (each voxel takes the label
of its nearest of 1000 random seeds), voxel size 40 x 4 x 4 nm. Every case runs in a fresh process (so peak memory is
its own), repeated and interleaved; the best time counts. CPU time (user + system of the process, all threads) is
less disturbed than wall time on a shared machine, so ratios are given for both.

Cases on the N^3 volume (N = 256; 128 with --quick), every label, closed meshes:

- ``zmesh``: ``zmesh.Mesher(res).mesh(labels, close=True)`` then ``get(label, voxel_centered=True)`` for every label,
  on the (z, y, x) array and on its (x, y, z) view; the faster of the two is the baseline;
- ``intern.mesh``: ``intern.mesh(labels, voxel_size=...)``, vertices placed in nm, as intern.Mesh objects;
- ``skimage per label``: scikit-image's ``marching_cubes`` on each label's mask, cropped to its bounding box;
- ``skimage naive``: scikit-image's ``marching_cubes`` on the whole volume's mask of each label, as a script without
  bounding boxes does it. Too slow to run for every label: it runs for the first 10 (5 with --quick), and the table
  gives that measured time and the time per label times the number of labels.

Chunked meshing: the volume tiled 2 x 2 x 2 (labels kept distinct: 2N^3, ~8000 labels), meshed by ``intern.mesh``
in 128^3 tasks on the core's thread pool with ``INTERN_MAX_WORKERS=2`` and with 1, and as one piece, for throughput
and peak memory.

    python bench/bench_mesh.py [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VOXEL = (40.0, 4.0, 4.0)

CHILD = r"""
import json, os, sys, time
import numpy as np
case, path = sys.argv[1], sys.argv[2]
labels = np.load(path)
voxel = (40.0, 4.0, 4.0)

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

if case.startswith("zmesh"):
    import zmesh
    def run():
        if case == "zmesh-zyx":
            m = zmesh.Mesher(voxel); m.mesh(labels, close=True)
        else:
            m = zmesh.Mesher(voxel[::-1]); m.mesh(labels.T, close=True)
        return {l: m.get(l, normals=False, voxel_centered=True) for l in m.ids()}
    zmesh.Mesher(voxel).mesh(labels[:4, :4, :4].copy())
elif case.startswith("intern"):
    import intern
    def run():
        chunks = {"intern-chunked": (128, 128, 128), "intern-whole": labels.shape}.get(case)
        return intern.mesh(labels, voxel_size=voxel, chunk_shape=chunks)
    intern.mesh(labels[:4, :4, :4].copy(), voxel_size=voxel)
elif case == "skimage-naive":
    from skimage.measure import marching_cubes
    sample = int(os.environ["NAIVE_LABELS"])
    def run():
        out = {}
        for label in range(1, sample + 1):  # the whole volume's mask for each label
            v, f, _, _ = marching_cubes(np.pad(labels == label, 1).astype(np.uint8), level=0.5, spacing=voxel)
            out[label] = (v, f)
        return out
    marching_cubes(np.pad(np.ones((2, 2, 2), np.uint8), 1), level=0.5)
elif case == "skimage":
    from scipy.ndimage import find_objects
    from skimage.measure import marching_cubes
    def run():
        out = {}
        for label, found in enumerate(find_objects(labels), start=1):
            if found is None:
                continue
            crop = np.pad(labels[found] == label, 1)
            v, f, _, _ = marching_cubes(crop.astype(np.uint8), level=0.5, spacing=voxel)
            out[label] = (v, f)
        return out
    marching_cubes(np.pad(np.ones((2, 2, 2), np.uint8), 1), level=0.5)
before = rss()
c0, t0 = time.process_time(), time.perf_counter()
result = run()
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork and exec
with open("/proc/self/status") as f:
    hwm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
peak = hwm - before
faces = sum(len(m.faces) if hasattr(m, "faces") else len(m[1]) for m in result.values())
print(json.dumps({"wall": wall, "cpu": cpu, "peak_bytes": peak, "meshes": len(result), "faces": faces}))
"""


def make_labels(n: int, cells: int, seed: int = 0):
    """(n, n, n) uint64 labels 1..cells: the nearest of ``cells`` random seeds (a dense, EM-like segmentation)."""
    import numpy as np
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(seed)
    tree = cKDTree(rng.uniform(0, n, (cells, 3)))
    out = np.empty((n, n, n), np.uint64)
    axis = np.arange(n, dtype=np.float32) + 0.5
    y, x = np.meshgrid(axis, axis, indexing="ij")
    for z in range(n):  # slab by slab: the query's memory stays small
        pts = np.stack([np.full(y.size, axis[z], np.float32), y.ravel(), x.ravel()], axis=1)
        _, nearest = tree.query(pts, workers=2)
        out[z] = (nearest.reshape(n, n) + 1).astype(np.uint64)
    return out


def tile(labels, cells: int):
    """The volume repeated 2 x 2 x 2, each copy's labels shifted so that all stay distinct."""
    import numpy as np

    n = labels.shape[0]
    out = np.empty((2 * n,) * 3, labels.dtype)
    for k, (a, b, c) in enumerate(np.ndindex(2, 2, 2)):
        out[a * n:(a + 1) * n, b * n:(b + 1) * n, c * n:(c + 1) * n] = labels + np.uint64(k * cells)
    return out


def child(case: str, path: Path, env: dict[str, str] | None = None) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, case, str(path)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{case} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def best(runs: list[dict]) -> dict:
    return {"wall": min(r["wall"] for r in runs), "cpu": min(r["cpu"] for r in runs),
            "peak_bytes": min(r["peak_bytes"] for r in runs), "meshes": runs[0]["meshes"], "faces": runs[0]["faces"],
            "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="128^3 (~150 cells), fewer repeats")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--repeat", type=int, default=None)
    args = parser.parse_args()
    n, cells = (128, 150) if args.quick else (256, 1000)
    repeat = args.repeat or (2 if args.quick else 3)

    with tempfile.TemporaryDirectory() as tmp:
        import numpy as np

        t0 = time.perf_counter()
        labels = make_labels(n, cells)
        path = Path(tmp) / "labels.npy"
        np.save(path, labels)
        big = Path(tmp) / "tiled.npy"
        np.save(big, tile(labels, cells))
        input_bytes = labels.nbytes
        del labels
        print(f"data: {n}^3 uint64, {cells} cells ({time.perf_counter() - t0:.1f} s to make)", flush=True)

        runs: dict[str, list[dict]] = {"zmesh-zyx": [], "zmesh-xyz": [], "intern": []}
        for _ in range(repeat):
            for case in runs:
                runs[case].append(child(case, path))
                print(f"  {case:10s} wall {runs[case][-1]['wall']:.2f} s  cpu {runs[case][-1]['cpu']:.2f} s", flush=True)
        results = {name: best(r) for name, r in runs.items()}
        results["skimage"] = best([child("skimage", path)])
        print(f"  skimage    wall {results['skimage']['wall']:.2f} s", flush=True)
        sample = 5 if args.quick else 10
        naive = best([child("skimage-naive", path, {"NAIVE_LABELS": str(sample)})])
        naive["sample"] = sample
        print(f"  skimage naive, {sample} labels: wall {naive['wall']:.2f} s", flush=True)

        chunked = {}
        for workers in (2, 1):
            chunked[f"intern-chunked-{workers}"] = best([child("intern-chunked", big, {"INTERN_MAX_WORKERS": str(workers)})])
            print(f"  chunked, {workers} workers: wall {chunked[f'intern-chunked-{workers}']['wall']:.2f} s", flush=True)
        chunked["intern-whole"] = best([child("intern-whole", big)])
        big_bytes = (2 * n) ** 3 * 8

    zmesh_case = min(("zmesh-zyx", "zmesh-xyz"), key=lambda c: results[c]["cpu"])
    base = results[zmesh_case]
    ours = results["intern"]
    summary = {
        "zmesh_baseline": zmesh_case,
        "ratio_cpu_vs_zmesh": ours["cpu"] / base["cpu"],
        "ratio_wall_vs_zmesh": ours["wall"] / base["wall"],
        "speedup_vs_skimage_crops": results["skimage"]["wall"] / ours["wall"],
        "speedup_vs_skimage_naive": naive["wall"] / naive["sample"] * cells / ours["wall"],
        "peak_over_input": ours["peak_bytes"] / input_bytes,
    }
    machine = f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.machine()}"
    lines = [
        f"{n}^3 uint64 segmentation of {cells} touching cells (nearest-seed), voxel 40 x 4 x 4 nm; {machine}, a "
        f"shared machine; each case in a fresh process, best of {repeat} interleaved runs (skimage: one run). "
        "Peak = the process's peak resident memory above what it held before the call.",
        "",
        "| case | wall (s) | CPU (s) | peak memory (MB) | peak / input | meshes | triangles |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, label in (("zmesh-zyx", "zmesh directly, (z, y, x) array"),
                        ("zmesh-xyz", "zmesh directly, (x, y, z) view"),
                        ("intern", "**intern.mesh**"),
                        ("skimage", "scikit-image, per label (bounding-box crops)")):
        r = results[name]
        lines.append(f"| {label} | {r['wall']:.2f} | {r['cpu']:.2f} | {r['peak_bytes'] / 1e6:.0f} | "
                     f"{r['peak_bytes'] / input_bytes:.2f} | {r['meshes']} | {r['faces']:,} |")
    per_label = naive["wall"] / naive["sample"]
    lines.append(f"| scikit-image, per label, whole-volume masks: {naive['sample']} labels measured | "
                 f"{naive['wall']:.2f} | {naive['cpu']:.2f} | {naive['peak_bytes'] / 1e6:.0f} | "
                 f"{naive['peak_bytes'] / input_bytes:.2f} | {naive['meshes']} | {naive['faces']:,} |")
    lines.append(f"| the same, {per_label:.2f} s per label x {cells} labels | {per_label * cells:.0f} | | | | | |")
    lines += [
        "",
        f"intern.mesh / zmesh ({zmesh_case}): **{summary['ratio_cpu_vs_zmesh']:.2f}** in CPU time, "
        f"{summary['ratio_wall_vs_zmesh']:.2f} in wall time (target <= 1.1); "
        f"**{summary['speedup_vs_skimage_naive']:.0f}x** faster than naive per-label scikit-image (target >= 2), "
        f"{summary['speedup_vs_skimage_crops']:.1f}x than per-label scikit-image on bounding-box crops; "
        f"peak memory **{summary['peak_over_input']:.2f}x** the input (target < 3).",
        "",
        f"Chunked meshing, {2 * n}^3 uint64 ({big_bytes / 1e9:.2f} GB, the volume above tiled 2 x 2 x 2), "
        "128^3-voxel tasks on the core's thread pool:",
        "",
        "| run | wall (s) | CPU (s) | throughput (Mvoxel/s) | peak memory (MB) | peak / input | triangles |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, label in (("intern-chunked-2", "chunked, 2 workers"), ("intern-chunked-1", "chunked, 1 worker"),
                        ("intern-whole", "one piece")):
        r = chunked[name]
        lines.append(f"| {label} | {r['wall']:.2f} | {r['cpu']:.2f} | {(2 * n) ** 3 / r['wall'] / 1e6:.1f} | "
                     f"{r['peak_bytes'] / 1e6:.0f} | {r['peak_bytes'] / big_bytes:.2f} | {r['faces']:,} |")
    lines += ["", "zmesh holds the GIL while it meshes, so threads overlap reading and stitching but not marching "
              "cubes itself: a second worker does not shorten the run. Chunking bounds the memory of meshing (a "
              "block per worker), not of the result, which holds every triangle of the volume; gaining wall time "
              "from more cores needs worker processes: `scheduler=\"local\"` (or `intern mesh --scheduler local`) runs "
              "the same tasks on a Dask LocalCluster through the core's job runner; this table measures threads."]
    markdown = "\n".join(lines)
    print("\n" + markdown)
    if args.json:
        args.json.write_text(json.dumps({"size": n, "cells": cells, "repeat": repeat, "input_bytes": input_bytes,
                                         "cases": results, "naive": naive, "chunked": chunked, "summary": summary,
                                         "markdown": markdown}, indent=2))


if __name__ == "__main__":
    main()
