"""Measure blosc settings for intern-zarr's default compressor (results go to ../COMPRESSION.md).

Writes and reads an EM-like uint8 volume and a uint64 segmentation through TensorStore (the engine intern-zarr uses
for local stores) into zarr v3 arrays made by zarr-python, for blosc-zstd clevel 1..5 with each shuffle, and a few
references; and HDF5 gzip-1 vs lzf through h5py. Prints a markdown table.

    python3 intern-zarr/tools/measure_compression.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import tensorstore as ts
import zarr
from synthetic import em_like, segmentation_like
from zarr.codecs import BloscCodec, GzipCodec, ZstdCodec


def _du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and f.name != "zarr.json")


def _best(fn: Any, n: int) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def zarr_case(tmp: Path, data: np.ndarray, name: str, compressors: Any, repeat: int) -> dict[str, Any]:
    path = tmp / name
    zarr.create_array(str(path), shape=data.shape, chunks=(64, 64, 64), dtype=data.dtype, compressors=compressors,
                      fill_value=0)
    store = ts.open({"driver": "zarr3", "kvstore": {"driver": "file", "path": str(path) + "/"}}).result()
    tw = _best(lambda: store.write(data).result(), repeat)
    assert np.array_equal(store.read().result(), data)
    tr = _best(lambda: store.read().result(), repeat)
    size = _du(path)
    shutil.rmtree(path)
    return {"name": name, "ratio": data.nbytes / size, "write": tw, "read": tr, "mb": data.nbytes / 1e6}


def h5_case(tmp: Path, data: np.ndarray, name: str, opts: dict[str, Any], repeat: int) -> dict[str, Any]:
    path = tmp / f"{name}.h5"
    def write() -> None:
        with h5py.File(path, "w") as f:
            f.create_dataset("v", data=data, chunks=(64, 64, 64), **opts)
    tw = _best(write, repeat)
    def read() -> np.ndarray:
        with h5py.File(path, "r") as f:
            return f["v"][...]
    tr = _best(read, repeat)
    size = os.path.getsize(path)
    os.remove(path)
    return {"name": name, "ratio": data.nbytes / size, "write": tw, "read": tr, "mb": data.nbytes / 1e6}


def _row(name: str, r: dict[str, Any]) -> None:
    print(f"| {name} | {r['ratio']:.2f} | {r['mb'] / r['write']:.0f} | {r['mb'] / r['read']:.0f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller volumes, one repeat")
    args = parser.parse_args()
    n, repeat = (128, 1) if args.quick else (256, 3)
    volumes = {"EM uint8": em_like((n, n, n)), "segmentation uint64": segmentation_like((n // 2, n, n))}
    tmp = Path(tempfile.mkdtemp(prefix="intern-compression-"))
    try:
        for label, data in volumes.items():
            print(f"\n### {label}, {data.shape}, {data.nbytes / 1e6:.0f} MB, 64^3 chunks\n")
            print("| codec | ratio | write MB/s | read MB/s |\n|---|---:|---:|---:|")
            cases: list[tuple[str, Any]] = [
                ("none", None),
                ("zstd level 0 (zarr-python default)", ZstdCodec(level=0)),
                ("gzip 1", GzipCodec(level=1)),
                ("blosc lz4 5 shuffle", BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")),
            ]
            for shuffle in ("noshuffle", "shuffle", "bitshuffle"):
                for level in range(1, 6):
                    codec = BloscCodec(cname="zstd", clevel=level, shuffle=shuffle)
                    cases.append((f"blosc zstd {level} {shuffle}", codec))
            for name, codec in cases:
                r = zarr_case(tmp, data, name.replace(" ", "_"), codec, repeat)
                _row(name, r)
            h5_cases: list[tuple[str, dict[str, Any]]] = [
                ("hdf5 gzip 1", {"compression": "gzip", "compression_opts": 1}),
                ("hdf5 gzip 1 + shuffle", {"compression": "gzip", "compression_opts": 1, "shuffle": True}),
                ("hdf5 lzf", {"compression": "lzf"}),
                ("hdf5 lzf + shuffle", {"compression": "lzf", "shuffle": True}),
            ]
            for name, opts in h5_cases:
                _row(name, h5_case(tmp, data, name.replace(" ", "_"), opts, repeat))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
