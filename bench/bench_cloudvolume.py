"""Benchmark: reading neuroglancer precomputed volumes through intern vs TensorStore and cloud-volume directly.

Writes a SIZE^3 uint8 volume in 64^3 chunks with cloud-volume itself, raw encoding, chunks uncompressed (the files
TensorStore's ``neuroglancer_precomputed`` driver reads on a local disk), once, in a temporary directory. Then times,
best of N after a warm-up, the contenders interleaved round by round so that drift on a shared machine hits all alike:

- the full read and the misaligned cutout [13:333, 7:400, 100:228] (z, y, x; scaled with SIZE) through
  ``intern.array`` (opened once), TensorStore (``read(order='F')``, opened once) and cloud-volume (``parallel=1``);
- a small misaligned 64^3 cutout, where cloud-volume's process pool (``parallel=2``) pays its start-up cost;
- what the axis conversion costs: intern's (a ``.T`` view per chunk) against the naive transpose of a C-order
  (x, y, z) array of the whole volume into (z, y, x);
- a second copy of the volume with gzip-compressed chunks (cloud-volume's default), intern vs cloud-volume only:
  TensorStore does not read cloud-volume's local ``.gz`` chunk files.

    python3 bench/bench_cloudvolume.py [--size 512] [--repeat 7] [--json out.json] [--quick]
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


def em_like(size: int, seed: int = 0) -> np.ndarray:
    """(x, y, z) uint8: smooth blobs plus grain, so gzip finds something to compress (about 1.3x)."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(60, 200, (size // 16 + 1,) * 3).astype(np.float32)
    smooth = coarse.repeat(16, 0).repeat(16, 1).repeat(16, 2)[:size, :size, :size]
    noise = rng.normal(0, 12, (size, size, size)).astype(np.float32)
    return np.clip(smooth + noise, 0, 255).astype(np.uint8)


def write(path: str, data: np.ndarray, compress: Any) -> None:
    from cloudvolume import CloudVolume

    info = CloudVolume.create_new_info(num_channels=1, layer_type="image", data_type="uint8", encoding="raw",
                                       resolution=[8, 8, 8], voxel_offset=[0, 0, 0], chunk_size=[64, 64, 64],
                                       volume_size=list(data.shape))
    cv = CloudVolume(f"file://{path}", info=info, compress=compress, progress=False)
    cv.commit_info()
    cv[...] = data


def best_of(funcs: dict[str, Callable[[], Any]], repeat: int) -> dict[str, float]:
    for fn in funcs.values():  # warm-up: page cache, imports, pools
        fn()
    best = dict.fromkeys(funcs, float("inf"))
    for _ in range(repeat):
        for name, fn in funcs.items():
            t = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t)
    return best


def check(funcs: dict[str, Callable[[], Any]], expected: np.ndarray, to_zyx: dict[str, bool]) -> None:
    for name, fn in funcs.items():
        got = np.asarray(fn())
        got = got[..., 0].T if to_zyx[name] else got
        if not np.array_equal(got, expected):
            raise SystemExit(f"{name} read different voxels")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--json", help="write the results here")
    p.add_argument("--quick", action="store_true", help="256^3 and 3 rounds: a smoke run")
    args = p.parse_args()
    if args.quick:
        args.size, args.repeat = 256, 3
    import cloudvolume
    import tensorstore as ts

    import intern

    n = args.size
    s = n / 512
    cut = (slice(int(13 * s), int(333 * s)), slice(int(7 * s), int(400 * s)), slice(int(100 * s), int(228 * s)))
    small = (slice(int(100 * s), int(100 * s) + 64), slice(int(37 * s), int(37 * s) + 64),
             slice(int(300 * s), int(300 * s) + 64))
    tmp = tempfile.mkdtemp(prefix="bench-precomputed-")
    try:
        data = em_like(n)
        raw, gz = os.path.join(tmp, "raw"), os.path.join(tmp, "gzip")
        write(raw, data, False)
        write(gz, data, "gzip")
        expected = data.T  # (z, y, x)
        a = intern.array(f"precomputed://file://{raw}")
        store = ts.open({"driver": "neuroglancer_precomputed",
                         "kvstore": {"driver": "file", "path": raw + "/"}}).result()
        cv1 = cloudvolume.CloudVolume(f"file://{raw}", parallel=1, progress=False)
        cv2 = cloudvolume.CloudVolume(f"file://{raw}", parallel=2, progress=False)

        def xyz(sl: tuple[slice, ...]) -> tuple[slice, ...]:
            return sl[::-1]

        cases: dict[str, dict[str, Callable[[], Any]]] = {
            "full read": {"intern": lambda: a[...], "tensorstore": lambda: store.read(order="F").result(),
                          "cloud-volume parallel=1": lambda: cv1[...]},
            "misaligned cutout": {"intern": lambda: a[cut],
                                  "tensorstore": lambda: store[xyz(cut)].read(order="F").result(),
                                  "cloud-volume parallel=1": lambda: cv1[xyz(cut)]},
            "small cutout 64^3": {"intern": lambda: a[small],
                                  "tensorstore": lambda: store[xyz(small)].read(order="F").result(),
                                  "cloud-volume parallel=1": lambda: cv1[xyz(small)],
                                  "cloud-volume parallel=2": lambda: cv2[xyz(small)]},
        }
        sel = {"full read": (slice(None),) * 3, "misaligned cutout": cut, "small cutout 64^3": small}
        results: dict[str, Any] = {}
        for case, funcs in cases.items():
            check(funcs, expected[sel[case]], {k: k != "intern" for k in funcs})
            secs = best_of(funcs, args.repeat)
            mb = expected[sel[case]].nbytes / 1e6
            results[case] = {"mb": mb, "seconds": secs, "mb_per_s": {k: mb / v for k, v in secs.items()}}
            print(f"{case}: " + ", ".join(f"{k} {v:.4f}s" for k, v in secs.items()), flush=True)

        # the axis conversion: intern's is a view per chunk; the naive one transposes a C-order (x, y, z) volume
        c_xyz = np.ascontiguousarray(data)
        conv = best_of({"naive transpose (x,y,z) C-order -> (z,y,x)":
                        lambda: np.ascontiguousarray(c_xyz.transpose(2, 1, 0))}, max(3, args.repeat // 2))
        results["transpose"] = {"seconds": conv, "intern read": results["full read"]["seconds"]["intern"]}

        ag = intern.array(f"precomputed://file://{gz}")
        cvg = cloudvolume.CloudVolume(f"file://{gz}", parallel=1, progress=False)
        gz_funcs = {"intern": lambda: ag[...], "cloud-volume parallel=1": lambda: cvg[...]}
        check(gz_funcs, expected, {"intern": False, "cloud-volume parallel=1": True})
        gz_secs = best_of(gz_funcs, max(2, args.repeat // 2))
        ratio = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(raw) for f in fs) / \
            sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(gz) for f in fs)
        results["gzip full read"] = {"mb": expected.nbytes / 1e6, "seconds": gz_secs, "ratio": ratio}
        print("gzip full read: " + ", ".join(f"{k} {v:.4f}s" for k, v in gz_secs.items()))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    from importlib.metadata import version

    versions = {m: version(m) for m in ("cloud-volume", "tensorstore", "numpy")}
    lines = [f"{n}^3 uint8 precomputed volume in 64^3 chunks written by cloud-volume {versions['cloud-volume']} "
             f"(raw encoding, chunks uncompressed) on a local disk, read from the page cache; best of "
             f"{args.repeat} after a warm-up, contenders interleaved; {os.cpu_count()} CPUs "
             f"({platform.machine()}, Python {platform.python_version()}, TensorStore {versions['tensorstore']}). "
             "Ratio = time / TensorStore's time (below 1: faster).", ""]
    for case in cases:
        r = results[case]
        where = {"full read": "", "misaligned cutout": f" [{_fmt(cut)}]", "small cutout 64^3": f" [{_fmt(small)}]"}
        lines += [f"**{case}**{where[case]} ({r['mb']:.1f} MB)", "",
                  "| reader | seconds | MB/s | ratio to TensorStore |", "|---|---:|---:|---:|"]
        ts_secs = r["seconds"]["tensorstore"]
        for name, secs in r["seconds"].items():
            rate = r["mb_per_s"][name]
            lines.append(f"| {name} | {secs:.4f} | {rate:.0f} | {secs / ts_secs:.2f} |" if rate >= 10 else
                         f"| {name} | {secs:.4f} | {rate:.2f} | {secs / ts_secs:.2f} |")
        lines.append("")
    (naive, tsecs), = results["transpose"]["seconds"].items()
    lines += ["**axis conversion** (whole volume)", "", "| conversion | seconds | × intern's full read |",
              "|---|---:|---:|",
              "| intern: `.T` of each decoded chunk (a view; included in the read above) | 0 | 0 |",
              f"| {naive} | {tsecs:.4f} | {tsecs / results['transpose']['intern read']:.1f} |", ""]
    g = results["gzip full read"]
    lines += [f"**full read, gzip-compressed chunks** (cloud-volume's default; {g['ratio']:.2f}x smaller; TensorStore "
              "does not read local `.gz` chunk files)", "", "| reader | seconds | ratio to cloud-volume |",
              "|---|---:|---:|"]
    for name, secs in g["seconds"].items():
        lines.append(f"| {name} | {secs:.4f} | {secs / g['seconds']['cloud-volume parallel=1']:.2f} |")
    markdown = "### Neuroglancer precomputed reads\n\n" + "\n".join(lines).rstrip() + "\n"
    print("\n" + markdown)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"size": n, "repeat": args.repeat, "versions": versions, "results": results,
                       "markdown": markdown}, f, indent=2)


def _fmt(sl: tuple[slice, ...]) -> str:
    return ", ".join(f"{s.start}:{s.stop}" for s in sl)


if __name__ == "__main__":
    main()
