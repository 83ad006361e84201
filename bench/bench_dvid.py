"""Benchmark: reading a uint8 region from a DVID server over loopback, three ways.

The server is intern-dvid's DVID-compatible test server, run as a process of its own (so it does not share the
client's interpreter), on 127.0.0.1. A uint8blk volume (32^3 blocks, DVID's default) is filled with random bytes,
then a region is read, best and median of N after a warm-up:

- ``intern-dvid``: ``intern.array(uri)[z0:z1, y0:y1, x0:x1]`` (opened once), which cuts the region on the block
  grid into a few-megabyte pieces fetched in parallel;
- ``intern 1.4.2 DVIDRemote``: the public client's ``get_cutout`` (one request), run in its own virtual environment
  (``tools/legacy_intern.py``), timed inside that process;
- ``raw single request``: one GET of the whole region read into a preallocated buffer with ``http.client``, the
  least a single-request client can spend (the ceiling for one request).

Both a block-aligned region and an unaligned one are read; every contender's result is checked against the data.

    python3 bench/bench_dvid.py [--quick] [--size 256] [--repeat 7] [--json results.json]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def start_server() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "intern_dvid.testing", "--host", "127.0.0.1", "--port", "0"],
                            stdout=subprocess.PIPE, text=True)
    url = proc.stdout.readline().strip()  # type: ignore[union-attr]
    if not url.startswith("http://127.0.0.1:"):
        proc.kill()
        raise RuntimeError(f"the DVID test server did not start (said {url!r})")
    return proc, url


def raw_single(host: str, port: int, path: str, nbytes: int) -> np.ndarray:
    conn = http.client.HTTPConnection(host, port)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        out = np.empty(nbytes, np.uint8)
        view, got = memoryview(out), 0
        while got < nbytes:
            n = resp.readinto(view[got:])
            if not n:
                raise RuntimeError(f"short read: {got} of {nbytes} bytes")
            got += n
        return out
    finally:
        conn.close()


def contenders(array: object, key: tuple[slice, ...], port: int, path: str) -> dict:
    """name -> a read of the region (``array`` opened once)."""
    shape = tuple(k.stop - k.start for k in key)
    nbytes = int(np.prod(shape))
    return {
        "intern-dvid": lambda: array[key],  # type: ignore[index]
        "raw single request": lambda: raw_single("127.0.0.1", port, path, nbytes).reshape(shape),
    }


LEGACY = r"""
import json, sys, time, zlib
import numpy as np
from intern.remote.dvid import DVIDRemote
host, uuid, name, repeat = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
boxes = json.loads(sys.argv[5])
rmt = DVIDRemote({"protocol": "http", "host": host})
inst = rmt.get_instance(uuid, name, datatype="uint8")
out = {}
for key, (z0, z1, y0, y1, x0, x1) in boxes.items():
    cut = rmt.get_cutout(inst, 0, [x0, x1], [y0, y1], [z0, z1])  # warm-up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        cut = rmt.get_cutout(inst, 0, [x0, x1], [y0, y1], [z0, z1])
        times.append(time.perf_counter() - t)
    out[key] = {"times": times, "crc": zlib.crc32(np.ascontiguousarray(cut).tobytes()), "shape": list(cut.shape)}
print(json.dumps(out))
"""


def run_legacy(host: str, uuid: str, name: str, repeat: int, boxes: dict[str, list[int]]) -> dict | str:
    sys.path.insert(0, str(ROOT))
    try:
        from tools.legacy_intern import legacy_python
    except ImportError as exc:
        return f"tools.legacy_intern unavailable: {exc}"
    try:
        python = legacy_python()
    except Exception as exc:  # no network for pip, no uv: report rather than invent a number
        return f"could not make the intern 1.4.2 environment: {exc}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    proc = subprocess.run([str(python), "-c", LEGACY, host, uuid, name, str(repeat), json.dumps(boxes)],
                          capture_output=True, text=True, env=env, timeout=1200)
    if proc.returncode != 0:
        return f"intern 1.4.2 failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else '?'}"
    return json.loads(proc.stdout)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=256, help="edge of the cubic region read (voxels)")
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--quick", action="store_true", help="a 128^3 region, 3 rounds")
    p.add_argument("--json", help="write the results here")
    args = p.parse_args()
    if args.quick:
        args.size, args.repeat = 128, 3

    import zlib

    import intern
    from intern_dvid import create_repo

    proc, url = start_server()
    try:
        host = url.removeprefix("http://")
        size = args.size
        shape = (size + 64,) * 3
        data = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
        node = create_repo(f"dvid://{host}", alias="bench")
        vol = intern.create(f"{node.uri}/grayscale", shape=shape, dtype="uint8", chunks=(32, 32, 32),
                            voxel_size=(8, 8, 8))
        vol[...] = data
        boxes = {"aligned": [32, 32 + size] * 3, "unaligned": [13, 13 + size, 7, 7 + size, 21, 21 + size]}
        a = intern.array(vol.uri)
        results: dict[str, dict] = {}
        for key, (z0, z1, y0, y1, x0, x1) in boxes.items():
            expected = data[z0:z1, y0:y1, x0:x1]
            path = (f"/api/node/{node.uuid}/grayscale/raw/0_1_2/{x1 - x0}_{y1 - y0}_{z1 - z0}/{x0}_{y0}_{z0}")
            funcs = contenders(a, (slice(z0, z1), slice(y0, y1), slice(x0, x1)), int(host.split(":")[1]), path)
            times: dict[str, list[float]] = {name: [] for name in funcs}
            for name, fn in funcs.items():  # warm-up and check
                if not np.array_equal(fn(), expected):
                    raise RuntimeError(f"{name} read wrong voxels")
            for _ in range(args.repeat):  # interleaved, so drift on a shared machine hits both alike
                for name, fn in funcs.items():
                    t = time.perf_counter()
                    fn()
                    times[name].append(time.perf_counter() - t)
            results[key] = {"times": times, "crc": zlib.crc32(expected.tobytes()), "mb": expected.nbytes / 1e6}
        legacy = run_legacy(host, node.uuid, "grayscale", args.repeat, boxes)
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    legacy_note = legacy if isinstance(legacy, str) else None
    for key, r in results.items():
        if isinstance(legacy, dict):
            got = legacy[key]
            if got["crc"] != r["crc"]:
                raise RuntimeError(f"intern 1.4.2 read wrong voxels for the {key} region")
            r["times"]["intern 1.4.2 DVIDRemote"] = got["times"]
    out = render(results, args, legacy_note)
    print(out["markdown"])
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")


def render(results: dict, args: argparse.Namespace, legacy_note: str | None) -> dict:
    size = args.size
    lines = ["### DVID reads", "",
             f"A {size}^3 uint8 region (block-aligned, then unaligned) of a uint8blk volume in 32^3 blocks, read "
             f"over loopback from intern-dvid's DVID test server (its own process) on {os.cpu_count()} CPUs, "
             f"Python {platform.python_version()}; best and median of {args.repeat} after a warm-up. "
             "Speed-up = intern 1.4.2's best time / this reader's best time.", ""]
    summary: dict = {}
    for key, r in results.items():
        mb = r["mb"]
        legacy = r["times"].get("intern 1.4.2 DVIDRemote")
        lines += [f"**{key} region** ({mb:.1f} MB)", "",
                  "| reader | best (s) | median (s) | MB/s | speed-up vs intern 1.4.2 |", "|---|---:|---:|---:|---:|"]
        summary[key] = {}
        for name, times in r["times"].items():
            best, median = min(times), statistics.median(times)
            ratio = f"{min(legacy) / best:.2f}x" if legacy else "n/a"
            lines.append(f"| {name} | {best:.4f} | {median:.4f} | {mb / best:.0f} | {ratio} |")
            summary[key][name] = {"best": best, "median": median, "mb_per_s": mb / best}
        lines.append("")
    if legacy_note:
        lines += [f"intern 1.4.2 was not measured: {legacy_note}", ""]
    return {"region": size, "repeat": args.repeat, "results": summary, "markdown": "\n".join(lines).rstrip() + "\n"}


if __name__ == "__main__":
    main()
