"""Benchmark: misaligned cutouts from a KNOSSOS dataset (``.raw`` and ``.png`` cubes) and from a Zarr store of the
same data, through ``intern.array``: time and peak memory.

Builds an EM-like uint8 volume of 1024 x 1024 x 256 voxels (x, y, z) once, in a temporary directory, and stores it
three ways with 128^3 chunks: KNOSSOS ``.raw`` cubes, KNOSSOS ``.png`` cubes (both intern-knossos) and a Zarr v3 array
with intern-zarr's default compressor. Each cutout is then read in a fresh Python process per store: one warm-up read
(the files are in the page cache afterwards, for every store alike), then the best of ``--repeat`` timed reads.
Zarr is read with intern-zarr's chunk cache off, which would otherwise serve the repeated reads from memory (KNOSSOS
cubes have no cache). Peak memory is the growth of the process's peak resident set size (``VmHWM``, reset before each
read) over its resident size when the read starts, so it counts every allocation (numpy's, TensorStore's, Pillow's),
not only Python's; the returned cutout itself is part of it.

    python3 bench/bench_knossos.py [--quick] [--repeat 5] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from typing import Any

import numpy as np
from _common import em_like, reset_peak, status_mb  # bench/ is on the path of a bench script

FULL = {"shape": (256, 1024, 1024), "cutouts": {"large": "37:201,101:869,77:941", "small": "61:125,300:556,501:757"}}
QUICK = {"shape": (64, 256, 256), "cutouts": {"large": "9:51,25:217,19:235", "small": "15:31,75:139,125:189"}}
STORES = {
    "KNOSSOS .raw": ("knossos", ".raw"),
    "KNOSSOS .png": ("knossos", ".png"),
    "Zarr (intern-zarr, cache off)": ("zarr", None),
}


def build(tmp: str, name: str, data: np.ndarray) -> tuple[str, float, int]:
    """Store ``data`` one way; (URI, seconds to write it through intern, bytes on disk)."""
    import intern

    scheme, ext = STORES[name]
    path = os.path.join(tmp, f"em{ext or ''}".replace(".", "-") + (".zarr" if scheme == "zarr" else ""))
    extra = {"extension": ext} if ext else {}
    a = intern.create(f"{scheme}://{path}", shape=data.shape, dtype="uint8", chunks=(128, 128, 128),
                      voxel_size=(25, 10, 10), **extra)
    t = time.perf_counter()
    a[...] = data
    seconds = time.perf_counter() - t
    stored = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)
    # intern-zarr keeps a chunk cache that would serve the repeated reads from memory; KNOSSOS has none
    return a.uri + ("?cache_bytes=0" if scheme == "zarr" else ""), seconds, stored


def child(uri: str, cutout: str, repeat: int) -> dict[str, Any]:
    """Run in a fresh process: open, read the cutout (warm-up, then ``repeat`` timed), report time and memory."""
    import intern
    from intern import Box

    a = intern.array(uri)
    box = Box.parse(cutout)
    first = a.read(box)  # warm-up: thread pool, codecs, page cache
    crc = zlib.crc32(first.tobytes())
    del first
    best, peak = float("inf"), 0.0
    for _ in range(repeat):
        base = reset_peak()
        t = time.perf_counter()
        block = a.read(box)
        best = min(best, time.perf_counter() - t)
        peak = max(peak, status_mb("VmHWM") - base)
        del block
    return {"seconds": best, "peak_mb": peak, "crc": crc}


def measure(uri: str, cutout: str, repeat: int) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--child", uri, "--cutout", cutout, "--repeat", str(repeat)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def render(results: dict[str, Any]) -> str:
    vol = results["volume"]
    z, y, x = vol["shape"]
    lines = ["### KNOSSOS cutouts", "",
             f"{x} x {y} x {z} (x, y, z) uint8 EM-like volume, 128^3 chunks, stored as KNOSSOS `.raw` cubes, KNOSSOS "
             f"`.png` cubes (intern-knossos) and Zarr v3 with intern-zarr's default compressor; read through "
             f"`intern.array` in a fresh process per store (Zarr with intern-zarr's chunk cache off), warm page cache, best of {results['repeat']} after a "
             f"warm-up; peak memory = growth of peak RSS during the read (the cutout included); "
             f"{results['machine']['cpus']} CPUs, Python {results['machine']['python']}.", "",
             "| store | stored MB | write s |", "|---|---:|---:|"]
    for name, s in results["stores"].items():
        lines.append(f"| {name} | {s['stored_bytes'] / 1e6:.0f} | {s['write_s']:.2f} |")
    for label, case in results["cutouts"].items():
        lines += ["", f"**{label} misaligned cutout** `[{case['box']}]` (z, y, x; {case['mb']:.1f} MB)", "",
                  "| store | seconds | MB/s | peak memory MB | peak / cutout |", "|---|---:|---:|---:|---:|"]
        for name, r in case["stores"].items():
            lines.append(f"| {name} | {r['seconds']:.4f} | {case['mb'] / r['seconds']:.0f} | {r['peak_mb']:.0f} | "
                         f"{r['peak_mb'] / case['mb']:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 256 x 256 x 64 volume: a smoke run")
    parser.add_argument("--repeat", type=int, default=5, help="timed reads per store and cutout (default 5)")
    parser.add_argument("--json", metavar="PATH", help="also write the results (and a 'markdown' table) as JSON")
    parser.add_argument("--child", metavar="URI", help=argparse.SUPPRESS)
    parser.add_argument("--cutout", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.cutout, args.repeat)))
        return

    plan = QUICK if args.quick else FULL
    from intern import Box

    data = em_like(plan["shape"])
    tmp = tempfile.mkdtemp(prefix="bench-knossos-")
    try:
        results: dict[str, Any] = {
            "volume": {"shape": list(data.shape), "dtype": "uint8", "chunks": [128, 128, 128]},
            "repeat": args.repeat, "quick": args.quick,
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
            "stores": {}, "cutouts": {},
        }
        uris = {}
        for name in STORES:
            uri, seconds, stored = build(tmp, name, data)
            uris[name] = uri
            results["stores"][name] = {"uri": uri, "write_s": seconds, "stored_bytes": stored}
        for label, box_text in plan["cutouts"].items():
            box = Box.parse(box_text)
            expected = zlib.crc32(np.ascontiguousarray(data[box.to_slices()]).tobytes())
            case = {"box": box_text, "mb": box.size / 1e6, "stores": {}}
            for name, uri in uris.items():
                r = measure(uri, box_text, args.repeat)
                if r.pop("crc") != expected:
                    raise AssertionError(f"{name} read different voxels for [{box_text}]")
                case["stores"][name] = r
            results["cutouts"][label] = case
        results["markdown"] = render(results)
        print(results["markdown"])
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=2)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
