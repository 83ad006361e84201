"""Benchmark: reading a local Zarr volume through intern.array vs TensorStore and zarr-python directly.

Builds a 512^3 uint8 EM-like volume in 64^3 chunks with intern-zarr's default compressor once, in a temporary
directory, then times (best of N after a warm-up, contenders interleaved round by round so drift hits all alike):

- the full read and the misaligned cutout [13:333, 7:400, 100:228],
- through ``intern.array`` (opened once) as it comes, i.e. with intern-zarr's chunk cache, which the warm-up fills,
  so this is the cost of reading again what was read before;
- through ``intern.array`` with the cache off (``cache_bytes=0``): every read decodes every chunk, as TensorStore's
  own default does; this is the like-for-like comparison with TensorStore;
- TensorStore directly (opened once, ``.read().result()``), zarr-python directly (``zarr.open_array``), and, for
  reference, ``intern.array`` on its zarr-python engine.

    python3 bench/bench_zarr.py [--size 512] [--repeat 7] [--json results.json] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

CUTOUT = (slice(13, 333), slice(7, 400), slice(100, 228))


def em_like(shape: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    """Smooth cells with dark membranes and correlated grain noise, as uint8 (compresses like real EM, ~1.2x)."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    low = tuple(max(4, s // 4) for s in shape)
    field = ndimage.gaussian_filter(rng.standard_normal(low, dtype=np.float32), 2.0)
    field = ndimage.zoom(field, [s / n for s, n in zip(shape, low, strict=True)], order=1, grid_mode=True, mode="nearest")
    field = field[tuple(slice(0, s) for s in shape)] / (field.std() + 1e-6)
    membrane = np.exp(-((np.abs(np.sin(3.0 * field)) / 0.15) ** 2))
    img = 150.0 + 30.0 * np.tanh(field) - 90.0 * membrane
    img += ndimage.gaussian_filter(rng.normal(0.0, 16.0, shape).astype(np.float32), 0.6)
    return np.clip(img, 0, 255).astype(np.uint8)


def build(path: str, size: int, chunk: int) -> np.ndarray:
    import intern

    data = em_like((size, size, size))
    a = intern.create(path, shape=data.shape, dtype="uint8", chunks=(chunk,) * 3, voxel_size=(8, 8, 8))
    a[...] = data
    return data


def contenders(path: str) -> dict[str, tuple[Callable[[], np.ndarray], Callable[[], np.ndarray]]]:
    """name -> (full read, cutout), each opened once here."""
    import tensorstore as ts
    import zarr

    import intern

    a = intern.array(path)
    cold = intern.array(path, cache_bytes=0)
    b = intern.array(path, engine="zarr-python")
    store = ts.open({"driver": "zarr3", "kvstore": {"driver": "file", "path": f"{path}/0/"}}).result()
    z = zarr.open_array(f"{path}/0", mode="r")
    return {
        "intern": (lambda: a[...], lambda: a[CUTOUT]),
        "intern, cache off": (lambda: cold[...], lambda: cold[CUTOUT]),
        "tensorstore": (lambda: store.read().result(), lambda: store[CUTOUT].read().result()),
        "zarr-python": (lambda: z[...], lambda: z[CUTOUT]),
        "intern (zarr-python engine)": (lambda: b[...], lambda: b[CUTOUT]),
    }


def measure(funcs: dict[str, Callable[[], np.ndarray]], repeat: int, expected: np.ndarray) -> dict[str, float]:
    for name, fn in funcs.items():  # warm-up, and a check that everyone reads the same voxels
        got = fn()
        if not np.array_equal(got, expected):
            raise AssertionError(f"{name} read different voxels")
    best = {name: float("inf") for name in funcs}
    for _ in range(repeat):
        for name, fn in funcs.items():
            t = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512, help="edge of the cube (default 512)")
    parser.add_argument("--chunk", type=int, default=64, help="chunk edge (default 64)")
    parser.add_argument("--repeat", type=int, default=7, help="timed rounds after the warm-up (default 7)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--keep", metavar="DIR", help="build into DIR (reused when it already holds the volume)")
    args = parser.parse_args()

    tmp = args.keep or tempfile.mkdtemp(prefix="bench-zarr-")
    path = os.path.join(tmp, f"em{args.size}.zarr")
    try:
        if os.path.exists(path):
            import intern

            data = intern.array(path)[...]
            build_s = 0.0
        else:
            t = time.perf_counter()
            data = build(path, args.size, args.chunk)
            build_s = time.perf_counter() - t
        stored = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)
        funcs = contenders(path)
        results: dict[str, Any] = {
            "volume": {"shape": list(data.shape), "dtype": "uint8", "chunks": [args.chunk] * 3,
                       "stored_bytes": stored, "ratio": data.nbytes / stored, "build_s": build_s},
            "cutout": "[13:333, 7:400, 100:228]", "repeat": args.repeat,
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
            "cases": {},
        }
        for case, index, expected in (("full", 0, data), ("cutout", 1, data[CUTOUT])):
            best = measure({name: f[index] for name, f in funcs.items()}, args.repeat, expected)
            mb = expected.nbytes / 1e6
            results["cases"][case] = {
                "mb": mb,
                "seconds": best,
                "mb_per_s": {n: mb / s for n, s in best.items()},
                "intern_over_tensorstore": best["intern"] / best["tensorstore"],
                "intern_over_zarr_python": best["intern"] / best["zarr-python"],
                "intern_cache_off_over_tensorstore": best["intern, cache off"] / best["tensorstore"],
                "intern_cache_off_over_zarr_python": best["intern, cache off"] / best["zarr-python"],
            }
        print(f"volume {data.shape} uint8, {args.chunk}^3 chunks, {data.nbytes / stored:.2f}x compressed, "
              f"best of {args.repeat}, {os.cpu_count()} CPUs")
        print(f"{'case':8} {'reader':30} {'seconds':>9} {'MB/s':>8}")
        for case, r in results["cases"].items():
            for name, s in r["seconds"].items():
                print(f"{case:8} {name:30} {s:9.4f} {r['mb_per_s'][name]:8.0f}")
            for label, key in (("intern/tensorstore", "intern_over_tensorstore"),
                               ("intern/zarr-python", "intern_over_zarr_python"),
                               ("intern cache off/tensorstore", "intern_cache_off_over_tensorstore"),
                               ("intern cache off/zarr-python", "intern_cache_off_over_zarr_python")):
                print(f"{case:8} {'ratio ' + label:36} {r[key]:7.3f}")
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=2)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
