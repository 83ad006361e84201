"""intern.copy between real stores: identity across drivers, resume after SIGKILL, Dask, retries, verification."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import intern
from intern import _registry as registry
from intern.errors import TransferError

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import faulty_plugin  # noqa: E402

_n = itertools.count()


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("INTERN_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def faulty():
    reg = registry.get_registry()
    if "faulty" not in reg.schemes:
        reg.register(faulty_plugin, name="faulty")
    faulty_plugin._attempts.clear()
    return faulty_plugin


def _volume(uri: str, shape=(48, 70, 90), chunks=(16, 32, 32), scales=2, seed=0) -> tuple[intern.Array, list]:
    a = intern.create(uri, shape=shape, dtype="uint16", chunks=chunks, voxel_size=(8, 8, 8), scales=scales)
    rng = np.random.default_rng(seed)
    data = []
    for s in range(scales):
        level = rng.integers(0, 65535, a.at_scale(s).shape, dtype=np.uint16)
        a.at_scale(s)[...] = level
        data.append(level)
    return a, data


def test_zarr_mem_hdf5_zarr_round_trip_is_identical(tmp_path):
    src, data = _volume(f"zarr://{tmp_path}/src.zarr")
    intern.copy(src.uri, "mem://transfer/hop", progress=False)
    # HDF5 holds one level: copy level 0 there, and on to a new single-level zarr
    h5 = intern.copy("mem://transfer/hop", f"h5://{tmp_path}/hop.h5/em", scales=[0], progress=False)
    assert h5.chunks > 0 and h5.verified
    intern.copy(f"h5://{tmp_path}/hop.h5/em", f"zarr://{tmp_path}/back.zarr", progress=False)
    back = intern.array(f"zarr://{tmp_path}/back.zarr")
    np.testing.assert_array_equal(back[...], data[0])
    pyramid = intern.copy("mem://transfer/hop", f"zarr://{tmp_path}/back2.zarr", progress=False)
    assert pyramid.chunks > 0
    np.testing.assert_array_equal(intern.array(f"zarr://{tmp_path}/back2.zarr", scale=1)[...], data[1])


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_random_boxes_copy_exactly_and_nothing_else(tmp_path, data):
    src, levels = _volume(f"zarr://{tmp_path}/r{next(_n)}.zarr", scales=2)
    start = [data.draw(st.integers(0, n - 1)) for n in src.shape]
    stop = [data.draw(st.integers(a + 1, n)) for a, n in zip(start, src.shape, strict=True)]
    box = intern.Box(tuple(start), tuple(stop))
    dst = f"mem://transfer/box{next(_n)}"
    intern.copy(src.uri, dst, box=box, progress=False)
    out = intern.array(dst)
    expected = np.zeros_like(levels[0])
    expected[box.to_slices()] = levels[0][box.to_slices()]
    np.testing.assert_array_equal(out[...], expected)
    # the coarser level got the box that covers the same region
    half = intern.Box(tuple(a // 2 for a in start), tuple(-(-b // 2) for b in stop))
    np.testing.assert_array_equal(out.at_scale(1)[half.to_slices()], levels[1][half.to_slices()])


def _watch_writes(dst, record):
    """Call ``record(box, data)`` for every chunk the copy writes to ``dst``, then write it."""
    original = dst.resource.write

    def spy(box, data, *, scale=0):
        record(box, data)
        original(box, data, scale=scale)

    dst.resource.write = spy


def test_units_follow_the_destination_grid(tmp_path):
    src, _ = _volume(f"zarr://{tmp_path}/g.zarr", shape=(32, 64, 64), chunks=(8, 16, 16), scales=1)
    dst = intern.create("mem://transfer/grid", shape=(32, 64, 64), dtype="uint16", chunks=(16, 32, 32))
    writes = []
    _watch_writes(dst, lambda box, data: writes.append(box))
    intern.copy(src.uri, dst, chunk=(16, 32, 32), progress=False)
    assert len(writes) == len(set(writes)) == 2 * 2 * 2  # each destination chunk written once


def test_chunks_are_written_from_the_read_data_without_a_gathering_copy(tmp_path):
    src, data = _volume(f"zarr://{tmp_path}/slab.zarr", shape=(64, 64, 48), chunks=(8, 16, 16), scales=1)
    dst = intern.create("mem://transfer/slabs", shape=(64, 64, 48), dtype="uint16", chunks=(8, 16, 16))
    gathered = []
    # a chunk handed over as a view of what was read went straight from the read to the write
    _watch_writes(dst, lambda box, block: gathered.append(block.base is None))
    report = intern.copy(src.uri, dst, progress=False)
    np.testing.assert_array_equal(dst[...], data[0])
    assert report.chunks == 1 and len(gathered) == 8 * 4 * 3 and not any(gathered)


RESUME_SCRIPT = """
import sys
sys.path.insert(0, {here!r})
import intern, faulty_plugin
intern._registry.register(faulty_plugin, name="faulty")
intern.copy({src!r}, {dst!r}, chunk=(8, 16, 16), workers=1, progress=False, verify=False)
"""


def test_sigkill_then_rerun_copies_only_what_is_missing(tmp_path, faulty):
    _, data = _volume(f"zarr://{tmp_path}/k.zarr", shape=(32, 64, 64), chunks=(8, 16, 16), scales=1)
    src, dst = f"faulty://slow{tmp_path}/k.zarr", f"zarr://{tmp_path}/k-copy.zarr"
    total = 4 * 4 * 4
    env = {**os.environ, "INTERN_CACHE_DIR": os.environ["INTERN_CACHE_DIR"]}
    code = textwrap.dedent(RESUME_SCRIPT.format(here=str(Path(__file__).parent), src=src, dst=dst))
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    journal_dir = Path(env["INTERN_CACHE_DIR"]) / "transfers"
    deadline = time.monotonic() + 60
    done_before = 0
    while time.monotonic() < deadline and proc.poll() is None:
        journals = list(journal_dir.glob("*.journal")) if journal_dir.exists() else []
        if journals:
            done_before = len(journals[0].read_text().splitlines()) - 1
            if done_before >= 10:
                break
        time.sleep(0.01)
    assert proc.poll() is None, "the copy finished before it could be interrupted"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    report = intern.copy(src, dst, chunk=(8, 16, 16), progress=False)
    assert report.skipped >= done_before >= 10
    assert report.chunks == total - report.skipped
    np.testing.assert_array_equal(intern.array(dst)[...], data[0])
    assert not list(journal_dir.glob("*.journal")), "a finished copy leaves no journal"


def _freed_memory_kept(client) -> dict[str, bool]:
    # a lambda travels by value: the workers need not import this test module
    return client.run(lambda: __import__("intern.jobs", fromlist=["_tuned"])._tuned)


def test_dask_local_cluster_gives_the_same_bytes_and_workers_keep_freed_memory(tmp_path):
    from dask.distributed import Client

    from intern import jobs

    src, data = _volume(f"zarr://{tmp_path}/d.zarr", shape=(32, 96, 96), chunks=(16, 32, 32), scales=2)
    threaded = intern.copy(src.uri, f"zarr://{tmp_path}/threads.zarr", progress=False)
    cluster = jobs.local_cluster(2)
    try:
        dashboard = urlsplit(cluster.dashboard_link)
        assert dashboard.hostname == "127.0.0.1" and dashboard.port != 8787  # nothing exposed, no clash
        with Client(cluster) as client:
            before = _freed_memory_kept(client)
            on_dask = intern.copy(src.uri, f"zarr://{tmp_path}/dask.zarr", scheduler=cluster.scheduler_address,
                                  progress=False)
            after = _freed_memory_kept(client)
    finally:
        cluster.close()
    assert on_dask.chunks == threaded.chunks and on_dask.bytes == threaded.bytes
    for s in range(2):
        a = intern.array(f"zarr://{tmp_path}/threads.zarr", scale=s)[...]
        b = intern.array(f"zarr://{tmp_path}/dask.zarr", scale=s)[...]
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(b, data[s])
    assert len(before) == 2 and not any(before.values())
    assert any(after.values()), "a worker that ran copy jobs keeps its freed memory"
    assert jobs._tuned is False, "the threaded copy ran in this process, whose allocator stays as it was"


def test_transient_failures_are_retried(tmp_path, faulty):
    _, data = _volume(f"zarr://{tmp_path}/f.zarr", shape=(16, 32, 32), chunks=(8, 16, 16), scales=1)
    report = intern.copy(f"faulty://flaky{tmp_path}/f.zarr", "mem://transfer/flaky", chunk=(8, 16, 16), progress=False)
    assert report.retried == report.chunks * 2 and report.chunks == 8
    np.testing.assert_array_equal(intern.array("mem://transfer/flaky")[...], data[0])


def test_permanent_failure_lists_what_is_left_and_resumes(tmp_path, faulty, monkeypatch):
    _, data = _volume(f"zarr://{tmp_path}/b.zarr", shape=(64, 32, 32), chunks=(16, 32, 32), scales=1)
    src, dst = f"faulty://broken{tmp_path}/b.zarr", f"zarr://{tmp_path}/b-copy.zarr"
    with pytest.raises(TransferError) as err:
        intern.copy(src, dst, chunk=(16, 32, 32), workers=1, progress=False)
    assert err.value.unfinished and all(k.startswith("0:32:") or k.startswith("0:48:") for k in err.value.unfinished)
    assert "Resume with: intern copy faulty://broken" in str(err.value) and "--chunk 16,32,32" in str(err.value)
    monkeypatch.setenv("FAULTY_FIXED", "1")
    report = intern.copy(src, dst, chunk=(16, 32, 32), workers=1, progress=False)
    assert report.skipped == 2 and report.chunks == 2
    np.testing.assert_array_equal(intern.array(dst)[...], data[0])


def test_verify_catches_a_destination_that_loses_data(tmp_path, faulty):
    _volume(f"zarr://{tmp_path}/src.zarr", shape=(16, 32, 32), chunks=(8, 16, 16), scales=1)
    intern.create(f"zarr://{tmp_path}/lossy.zarr", shape=(16, 32, 32), dtype="uint16", chunks=(8, 16, 16))
    with pytest.raises(TransferError, match="units differ") as err:
        intern.copy(f"zarr://{tmp_path}/src.zarr", f"faulty://lossy{tmp_path}/lossy.zarr", progress=False)
    assert len(err.value.unfinished) >= 1


def test_incompatible_destination_is_refused(tmp_path):
    _volume(f"zarr://{tmp_path}/s.zarr", shape=(8, 16, 16), chunks=(8, 16, 16), scales=1)
    intern.create("mem://transfer/other-dtype", shape=(8, 16, 16), dtype="uint8")
    with pytest.raises(TransferError, match="uint8"):
        intern.copy(f"zarr://{tmp_path}/s.zarr", "mem://transfer/other-dtype", progress=False)
    intern.create("mem://transfer/other-shape", shape=(8, 16, 17), dtype="uint16")
    with pytest.raises(TransferError, match="shapes differ"):
        intern.copy(f"zarr://{tmp_path}/s.zarr", "mem://transfer/other-shape", progress=False)


def test_cli_copy(tmp_path):
    _, data = _volume(f"zarr://{tmp_path}/cli.zarr", shape=(8, 16, 16), chunks=(8, 16, 16), scales=1)
    out = subprocess.run([sys.executable, "-m", "intern.cli", "copy", f"zarr://{tmp_path}/cli.zarr",
                          f"h5://{tmp_path}/cli.h5/raw", "--box", "0:8,0:16,0:10"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "copied" in out.stdout and "verified" in out.stdout
    np.testing.assert_array_equal(intern.array(f"h5://{tmp_path}/cli.h5/raw")[:, :, :10], data[0][:, :, :10])
    bad = subprocess.run([sys.executable, "-m", "intern.cli", "copy", f"zarr://{tmp_path}/cli.zarr", "mem://x",
                          "--scales", "7"], capture_output=True, text=True)
    assert bad.returncode == 2 and "levels" in bad.stderr
