"""Reads are lazy: a small cutout of a large TIFF costs memory in proportion to the cutout, not to the file.

Each read runs in a fresh Python process that reports how far its peak resident memory grew during the read. The
same measurement of tifffile reading the whole file shows the method sees a whole-file read (it would otherwise prove
nothing). The files are 256 MiB of pixels (1024 x 1024 x 256 uint8): one uncompressed BigTIFF as intern.create writes
it (sparse on disk until written), one of 256 x 256 deflate tiles.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile

import intern

SHAPE = (256, 1024, 1024)
CUTOUT = (slice(100, 108), slice(500, 600), slice(300, 400))  # 80 kB
MB = 1e6

CHILD = r"""
import json, resource, sys, zlib
import numpy as np

def reset_peak():
    # Linux can restart the peak from the present resident size; elsewhere the peak since start has to do
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass

def peak_bytes():
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
    except OSError:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return rss if sys.platform == "darwin" else rss * 1024  # bytes on macOS, KiB on Linux

path, how = sys.argv[1], sys.argv[2]
if how == "intern":
    import intern
    a = intern.array("tiff://" + path)
    a[0:1, 0:8, 0:8]  # warm-up: the thread pool, tifffile's decoder
    reset_peak()
    base = peak_bytes()
    block = a[100:108, 500:600, 300:400]
else:
    import tifffile
    tifffile.imread(path, key=0)
    reset_peak()
    base = peak_bytes()
    block = tifffile.imread(path)[100:108, 500:600, 300:400]
print(json.dumps({"growth": peak_bytes() - base, "crc": zlib.crc32(np.ascontiguousarray(block).tobytes())}))
"""


def _measure(path: Path, how: str) -> dict[str, int]:
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), how], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("layout", ["uncompressed", "deflate tiles"])
def test_small_cutout_of_a_large_file_reads_little(tmp_path: Path, layout: str) -> None:
    path = tmp_path / "large.tif"
    block = np.random.default_rng(3).integers(1, 255, (8, 100, 100), dtype=np.uint8)
    try:
        if layout == "uncompressed":
            a = intern.create(f"tiff://{path}", shape=SHAPE, dtype="uint8")
            a[CUTOUT] = block
            a.resource.close()
        else:
            data = np.zeros(SHAPE, np.uint8)  # pages of zeros the kernel does not allocate until written
            data[CUTOUT] = block
            tifffile.imwrite(path, data, bigtiff=True, tile=(256, 256), compression="zlib",
                             compressionargs={"level": 1})
            del data
        expected = zlib.crc32(block.tobytes())
        lazy = _measure(path, "intern")
        whole = _measure(path, "tifffile")
        assert lazy["crc"] == expected and whole["crc"] == expected
        pixels = int(np.prod(SHAPE))
        assert whole["growth"] > 0.5 * pixels, f"the measurement must see a whole-file read ({whole})"
        assert lazy["growth"] < 32 * MB, f"a 80 kB cutout grew the peak by {lazy['growth'] / MB:.0f} MB"
    finally:
        path.unlink(missing_ok=True)
