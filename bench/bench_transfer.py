"""Benchmark: intern.copy from Zarr to neuroglancer precomputed, against reading and writing the same stores alone.

A uint8 EM-like volume (1 GiB by default: 1024^3 in 64^3 chunks) is written once as Zarr. Then, in one run:

- read-only: the whole source read through ``intern.array`` (into memory);
- write-only: the same voxels written from memory to a new destination through ``intern.array``;
- copy on threads: ``intern.copy(src, dst, verify=False)``;
- copy on a 2-worker ``dask.distributed`` LocalCluster (one thread each; the cluster's start and a one-chunk warm-up
  copy are not timed);
- copy on threads with ``verify=True`` (every unit read back and checksummed), for the price of verification.

The figure of merit is copy throughput / the slower of read-only and write-only (target: at least 80 %).

    python3 bench/bench_transfer.py [--size 1024] [--dest precomputed|zarr] [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time

import numpy as np

import intern


def em_block(n: int = 128, seed: int = 0) -> np.ndarray:
    """A 128^3 EM-like block (cells, membranes, grain) tiled to fill the volume: realistic codec work, fast to make."""
    rng = np.random.default_rng(seed)
    z, y, x = np.meshgrid(*[np.linspace(0, 6 * np.pi, n, dtype=np.float32)] * 3, indexing="ij")
    field = np.sin(x + 0.7 * np.sin(y)) * np.cos(y + 0.5 * np.sin(z)) + 0.3 * np.sin(2.3 * z + x)
    membrane = np.exp(-((np.abs(field) / 0.12) ** 2))
    img = 150 + 30 * field - 90 * membrane + rng.normal(0, 14, field.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def dest_uri(kind: str, root: str, name: str) -> str:
    return f"precomputed://file://{root}/{name}" if kind == "precomputed" else f"zarr://{root}/{name}.zarr"


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--dest", choices=["precomputed", "zarr"], default=None,
                   help="destination format (default: precomputed when intern-cloudvolume is installed)")
    p.add_argument("--quick", action="store_true", help="a 256^3 volume")
    p.add_argument("--json")
    args = p.parse_args()
    size = 256 if args.quick else args.size
    kind = args.dest or ("precomputed" if "precomputed" in intern.registry.get_registry().schemes else "zarr")
    root = tempfile.mkdtemp(prefix="bench-transfer-")
    os.environ.setdefault("INTERN_CACHE_DIR", os.path.join(root, "cache"))
    try:
        shape = (size, size, size)
        src = intern.create(f"zarr://{root}/src.zarr", shape=shape, dtype="uint8", chunks=(64, 64, 64),
                            voxel_size=(8, 8, 8))
        block = em_block()
        reps = tuple(-(-s // 128) for s in shape)
        data = np.tile(block, reps)[: shape[0], : shape[1], : shape[2]]
        src[...] = data
        gib = data.nbytes / 2**30

        read_s = timed(lambda: src[...])
        writer = intern.create(dest_uri(kind, root, "write-only"), shape=shape, dtype="uint8", chunks=(64, 64, 64),
                               voxel_size=(8, 8, 8))
        write_s = timed(lambda: writer.__setitem__(Ellipsis, data))  # noqa: F821 - bound just above, freed below
        del data
        copies = {}
        report = intern.copy(src.uri, dest_uri(kind, root, "threads"), verify=False, progress=False)
        copies["copy, threads"] = report.seconds
        # the cluster's start (processes, imports) is timed apart from the copy it then runs
        from dask.distributed import Client, LocalCluster

        t0 = time.perf_counter()
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
        schemes = ("zarr", kind)
        # workers import intern and both drivers (cloud-volume alone takes a second or two): part of starting them
        Client(cluster).run(lambda: [__import__("intern").registry.get_registry().factory(x) for x in schemes])
        started = time.perf_counter() - t0
        try:
            # a warm-up copy of one chunk, not timed, as every other benchmark here warms up before timing
            intern.copy(src.uri, dest_uri(kind, root, "warm-up"), box=intern.Box((0, 0, 0), (64, 64, 64)),
                        verify=False, progress=False, scheduler=cluster.scheduler_address)
            report = intern.copy(src.uri, dest_uri(kind, root, "dask"), verify=False, progress=False,
                                 scheduler=cluster.scheduler_address)
            copies["copy, LocalCluster 2 workers"] = report.seconds
        finally:
            cluster.close()
        verified = intern.copy(src.uri, dest_uri(kind, root, "verified"), verify=True, progress=False)
        copies["copy, threads, verify=True"] = verified.seconds

        mb = shape[0] * shape[1] * shape[2] / 1e6
        slower = max(read_s, write_s)
        rows = [("read-only (zarr)", read_s), (f"write-only ({kind})", write_s), *copies.items(),
                ("(starting the LocalCluster and loading the drivers in its workers; not in the copy above)",
                 started)]
        result = {
            "volume": {"shape": list(shape), "gib": gib, "chunks": [64, 64, 64], "destination": kind},
            "seconds": dict(rows),
            "mb_per_s": {k: mb / v for k, v in rows},
            "copy_over_slower": {k: slower / v for k, v in copies.items()},
            "cluster_start_s": started,
        }
        lines = [f"### Transfers: zarr to {kind}", "",
                 f"{'x'.join(map(str, shape))} uint8 ({gib:.2f} GiB) EM-like volume in 64^3 chunks, copied Zarr to "
                 f"{kind} on {os.cpu_count()} CPUs. Share = copy throughput / throughput of the slower of read-only and "
                 "write-only (target 80 %).", "",
                 "| step | seconds | MB/s | share |", "|---|---:|---:|---:|"]
        for name, secs in rows:
            share = result["copy_over_slower"].get(name)
            lines.append(f"| {name} | {secs:.2f} | {mb / secs:.0f} | {'' if share is None else f'{share:.0%}'} |")
        result["markdown"] = "\n".join(lines) + "\n"
        print(result["markdown"])
        if args.json:
            with open(args.json, "w") as f:
                json.dump(result, f, indent=2)
        return result
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
