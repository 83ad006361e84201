"""Benchmark: misaligned cutouts from a 1024 x 1024 x 256 uint8 BigTIFF through intern, and through tifffile's own
ways of reading it (the whole file with ``imread``, its Zarr store ``aszarr``, and page by page): time and peak memory.

The EM-like volume is written once, in a temporary directory, two ways with tifffile: an uncompressed contiguous
BigTIFF (what ``intern.create`` and ``tifffile.imwrite`` write by default) and a BigTIFF of 256 x 256 deflate tiles.
Every reader runs in a fresh Python process per file and cutout: one warm-up read (the file is then in the page cache,
for every reader alike), then the best of ``--repeat`` timed reads. Peak memory is the growth of the process's peak
resident set size (``VmHWM``, reset before each read) over its resident size when the read starts, so it counts every
allocation, the returned cutout included.

    python3 bench/bench_tiff.py [--quick] [--repeat 5] [--json results.json]
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
FILES = {"uncompressed, contiguous": {}, "deflate, 256 x 256 tiles": {"tile": (256, 256), "compression": "zlib"}}
READERS = {
    "intern (tiff://)": "intern",
    "tifffile imread, whole file": "imread",
    "tifffile aszarr + zarr": "aszarr",
    "tifffile, page by page": "pages",
}


def _reader(path: str, how: str) -> Any:
    """A function (z0, z1, y0, y1, x0, x1) -> numpy array that reads the cutout the way ``how`` names."""
    if how == "intern":
        import intern

        a = intern.array(f"tiff://{path}")
        return lambda z0, z1, y0, y1, x0, x1: a[z0:z1, y0:y1, x0:x1]
    import tifffile

    if how == "imread":
        return lambda z0, z1, y0, y1, x0, x1: tifffile.imread(path)[z0:z1, y0:y1, x0:x1].copy()
    if how == "aszarr":
        import zarr

        store = tifffile.imread(path, aszarr=True)
        z = zarr.open(store, mode="r")
        return lambda z0, z1, y0, y1, x0, x1: z[z0:z1, y0:y1, x0:x1]
    tif = tifffile.TiffFile(path)

    def pages(z0: int, z1: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        out = np.empty((z1 - z0, y1 - y0, x1 - x0), np.uint8)
        for i in range(z0, z1):
            out[i - z0] = tif.pages[i].asarray()[y0:y1, x0:x1]
        return out

    return pages


def child(path: str, how: str, cutout: str, repeat: int) -> dict[str, Any]:
    """Run in a fresh process: open, read the cutout (warm-up, then ``repeat`` timed), report time and memory."""
    bounds = [int(v) for part in cutout.split(",") for v in part.split(":")]
    read = _reader(path, how)
    first = read(*bounds)  # warm-up: imports, thread pool, page cache
    crc = zlib.crc32(np.ascontiguousarray(first).tobytes())
    del first
    best, peak = float("inf"), 0.0
    for _ in range(repeat):
        base = reset_peak()
        t = time.perf_counter()
        block = read(*bounds)
        best = min(best, time.perf_counter() - t)
        peak = max(peak, status_mb("VmHWM") - base)
        del block
    return {"seconds": best, "peak_mb": peak, "crc": crc}


def measure(path: str, how: str, cutout: str, repeat: int) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--child", path, "--how", how, "--cutout", cutout,
                          "--repeat", str(repeat)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def render(results: dict[str, Any]) -> str:
    z, y, x = results["volume"]["shape"]
    lines = ["### TIFF cutouts", "",
             f"{x} x {y} x {z} (x, y, z) uint8 EM-like volume in a BigTIFF written by tifffile, uncompressed and "
             "contiguous, or in 256 x 256 deflate tiles; each reader in a fresh process per file and cutout, warm "
             f"page cache, best of {results['repeat']} after a warm-up; peak memory = growth of peak RSS during the read "
             f"(the cutout included); {results['machine']['cpus']} CPUs, Python {results['machine']['python']}, "
             f"tifffile {results['versions'].get('tifffile', '?')}.", "",
             "| file | MB on disk | write s |", "|---|---:|---:|"]
    for name, f in results["files"].items():
        lines.append(f"| {name} | {f['bytes'] / 1e6:.0f} | {f['write_s']:.2f} |")
    for label, case in results["cutouts"].items():
        for name, readers in case["files"].items():
            lines += ["", f"**{label} misaligned cutout** `[{case['box']}]` (z, y, x; {case['mb']:.1f} MB), {name}", "",
                      "| reader | seconds | MB/s | peak memory MB | peak / cutout |", "|---|---:|---:|---:|---:|"]
            for reader, r in readers.items():
                lines.append(f"| {reader} | {r['seconds']:.4f} | {case['mb'] / r['seconds']:.0f} | "
                             f"{r['peak_mb']:.0f} | {r['peak_mb'] / case['mb']:.2f} |")
    return "\n".join(lines) + "\n"


def _versions() -> dict[str, str]:
    from importlib import metadata

    found = {}
    for name in ("intern-core", "intern-zarr", "tifffile", "zarr", "numpy"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 256 x 256 x 64 volume: a smoke run")
    parser.add_argument("--repeat", type=int, default=5, help="timed reads per reader, file and cutout (default 5)")
    parser.add_argument("--json", metavar="PATH", help="also write the results (and a 'markdown' table) as JSON")
    parser.add_argument("--child", metavar="PATH", help=argparse.SUPPRESS)
    parser.add_argument("--how", help=argparse.SUPPRESS)
    parser.add_argument("--cutout", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.how, args.cutout, args.repeat)))
        return

    import tifffile

    plan = QUICK if args.quick else FULL
    data = em_like(plan["shape"])
    tmp = tempfile.mkdtemp(prefix="bench-tiff-")
    try:
        results: dict[str, Any] = {
            "volume": {"shape": list(data.shape), "dtype": "uint8"}, "repeat": args.repeat, "quick": args.quick,
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
            "versions": _versions(), "files": {}, "cutouts": {},
        }
        paths = {}
        for i, (name, options) in enumerate(FILES.items()):
            paths[name] = os.path.join(tmp, f"em{i}.tif")
            t = time.perf_counter()
            tifffile.imwrite(paths[name], data, bigtiff=True, photometric="minisblack", **options)
            results["files"][name] = {"write_s": time.perf_counter() - t, "bytes": os.path.getsize(paths[name]),
                                      **{k: list(v) if isinstance(v, tuple) else v for k, v in options.items()}}
        for label, box_text in plan["cutouts"].items():
            bounds = [int(v) for part in box_text.split(",") for v in part.split(":")]
            z0, z1, y0, y1, x0, x1 = bounds
            expected = zlib.crc32(np.ascontiguousarray(data[z0:z1, y0:y1, x0:x1]).tobytes())
            case: dict[str, Any] = {"box": box_text, "mb": (z1 - z0) * (y1 - y0) * (x1 - x0) / 1e6, "files": {}}
            for name, path in paths.items():
                case["files"][name] = {}
                for reader, how in READERS.items():
                    r = measure(path, how, box_text, args.repeat)
                    if r.pop("crc") != expected:
                        raise AssertionError(f"{reader} read different voxels of {name} at [{box_text}]")
                    case["files"][name][reader] = r
                    print(f"{label:6s} {name:28s} {reader:30s} {r['seconds']:.4f} s {r['peak_mb']:6.0f} MB", flush=True)
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
