"""Benchmark: intern.copy from Zarr to neuroglancer precomputed, against reading and writing the same stores alone.

A uint8 EM-like volume (1 GiB by default: 1024^3 in 64^3 chunks) is written once as Zarr. Then:

- read-only: the whole source read through ``intern.array`` (into memory);
- write-only: the same voxels written from memory to a new destination through ``intern.array``;
- copy on threads: ``intern.copy(src, dst, verify=False)``;
- copy on a 2-worker ``dask.distributed`` LocalCluster, as ``scheduler="local"`` starts it
  (``intern.jobs.local_cluster``: as many job threads in all as a threaded copy; the cluster's start and a one-chunk
  warm-up copy are not timed);
- copy on threads with ``verify=True`` (every unit read back and checksummed), for the price of verification.

Every step runs once a round, for ``REPEATS`` rounds, and its fastest run counts (every write goes to a new
destination, nothing is deleted until the end); each run comes just after touching as much memory as it will use
(``_common.warm_memory``: this virtual machine returns freed memory to its host after seconds and faults it back in
slowly, which would otherwise dominate the figures).

The volumes live on tmpfs (``/dev/shm``) when it has room, so that the figures measure intern rather than the disk;
``--dir`` puts them elsewhere (the markdown says which).

The figure of merit is copy throughput / the slower of read-only and write-only (target: at least 80 %).

    python3 bench/bench_transfer.py [--size 1024] [--dest precomputed|zarr] [--dir DIR] [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import tempfile
import time

import numpy as np
from _common import em_like, warm_memory  # bench/ is on the path of a bench script

import intern

REPEATS = 3
WARM_PER_GIB = 3.0  # a step holds the volume, its new files' page cache and buffers: about three times its size


def dest_uri(kind: str, root: str, name: str) -> str:
    return f"precomputed://file://{root}/{name}" if kind == "precomputed" else f"zarr://{root}/{name}.zarr"


def run_step(step, warm_gib: float) -> float:
    """The seconds ``step()`` reports timing itself (opening and cleaning up left out), after warming memory."""
    warm_memory(WARM_PER_GIB * warm_gib)
    return step()


def _memory_fs(nbytes: int) -> str | None:
    """``/dev/shm`` when it can hold ``nbytes`` and more: the figures then measure the code, not the disk."""
    try:
        return "/dev/shm" if shutil.disk_usage("/dev/shm").free > 2 * nbytes else None
    except OSError:
        return None


def _remove(uri: str, fs: str) -> None:
    """On tmpfs, a destination is deleted once timed (memory); on disk all stay until the end: deleting thousands of
    files makes creating new ones slower for minutes on some file systems (ext4 without a journal), which would
    slow the steps after it."""
    if fs == "tmpfs":
        shutil.rmtree(uri.split("://")[-1], ignore_errors=True)


def main() -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--dest", choices=["precomputed", "zarr"], default=None,
                   help="destination format (default: precomputed when intern-cloudvolume is installed)")
    p.add_argument("--quick", action="store_true", help="a 256^3 volume")
    p.add_argument("--dir", help="where the volumes go (default: /dev/shm when it has room, else the temp directory)")
    p.add_argument("--json")
    args = p.parse_args()
    size = 256 if args.quick else args.size
    kind = args.dest or ("precomputed" if any("precomputed" in p.schemes for p in intern.plugins()) else "zarr")
    where = args.dir or _memory_fs(size**3 * 4)
    root = tempfile.mkdtemp(prefix="bench-transfer-", dir=where)
    fs = "tmpfs" if where == "/dev/shm" else "disk"
    os.environ.setdefault("INTERN_CACHE_DIR", os.path.join(root, "cache"))
    try:
        shape = (size, size, size)
        src = intern.create(f"zarr://{root}/src.zarr", shape=shape, dtype="uint8", chunks=(64, 64, 64),
                            voxel_size=(8, 8, 8))
        block = em_like((128, 128, 128))  # tiled: realistic codec work, fast to make
        reps = tuple(-(-s // 128) for s in shape)
        data = np.tile(block, reps)[: shape[0], : shape[1], : shape[2]]
        src[...] = data
        gib = data.nbytes / 2**30

        # the cluster's start (processes, imports) is timed apart from the copies it then runs
        from dask.distributed import Client

        from intern.jobs import local_cluster

        t0 = time.perf_counter()
        cluster = local_cluster(2)  # what scheduler="local" starts, kept across the rounds
        schemes = ("zarr", kind)
        # workers import intern and both drivers (cloud-volume alone takes a second or two): part of starting them
        Client(cluster).run(lambda: [__import__("intern").registry.get_registry().factory(x) for x in schemes])
        started = time.perf_counter() - t0
        written = itertools.count()

        def read() -> float:
            fresh = intern.array(src.uri)  # as a copy opens it: no chunk cached from writing it, or from a past read
            start = time.perf_counter()
            fresh[...]
            return time.perf_counter() - start

        def write() -> float:
            uri = dest_uri(kind, root, f"write-only-{next(written)}")
            writer = intern.create(uri, shape=shape, dtype="uint8", chunks=(64, 64, 64), voxel_size=(8, 8, 8))
            start = time.perf_counter()
            writer[...] = data
            seconds = time.perf_counter() - start
            _remove(uri, fs)
            return seconds

        def copy(name: str, **options):
            """A copy's own time (opening and creating the destination are not in it)."""
            def run() -> float:
                uri = dest_uri(kind, root, f"{name}-{next(written)}")
                seconds = intern.copy(src.uri, uri, progress=False, **options).seconds
                _remove(uri, fs)
                return seconds
            return run

        steps = {"read-only (zarr)": read, f"write-only ({kind})": write,
                 "copy, threads": copy("threads", verify=False),
                 "copy, LocalCluster 2 workers": copy("dask", verify=False, scheduler=cluster.scheduler_address),
                 "copy, threads, verify=True": copy("verified", verify=True)}
        best = dict.fromkeys(steps, float("inf"))
        try:
            # a warm-up copy of one chunk, not timed, as every other benchmark here warms up before timing
            intern.copy(src.uri, dest_uri(kind, root, "warm-up"), box=intern.Box((0, 0, 0), (64, 64, 64)),
                        verify=False, progress=False, scheduler=cluster.scheduler_address)
            for _ in range(REPEATS):  # rounds, so that drift on this machine hits every step alike
                for name, step in steps.items():
                    best[name] = min(best[name], run_step(step, gib))
        finally:
            cluster.close()
        read_s, write_s = best["read-only (zarr)"], best[f"write-only ({kind})"]
        copies = {k: v for k, v in best.items() if k.startswith("copy")}

        mb = shape[0] * shape[1] * shape[2] / 1e6
        slower = max(read_s, write_s)
        rows = [*best.items(),
                ("(starting the LocalCluster and loading the drivers in its workers; not in the copy above)",
                 started)]
        result = {
            "volume": {"shape": list(shape), "gib": gib, "chunks": [64, 64, 64], "destination": kind, "files_on": fs},
            "seconds": dict(rows),
            "mb_per_s": {k: mb / v for k, v in rows},
            "copy_over_slower": {k: slower / v for k, v in copies.items()},
            "cluster_start_s": started,
        }
        lines = [f"### Transfers: zarr to {kind}", "",
                 f"{'x'.join(map(str, shape))} uint8 ({gib:.2f} GiB) EM-like volume in 64^3 chunks, copied Zarr to "
                 f"{kind} on {os.cpu_count()} CPUs, files on {fs}, the fastest of {REPEATS} rounds of every step. Share = copy throughput / "
                 "throughput of the slower of read-only and write-only (target 80 %).", "",
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
