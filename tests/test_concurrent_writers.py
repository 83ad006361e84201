"""Concurrent writers of one chunk lose nothing: threads of one process, and separate processes on local files.

Each writer assigns every other row of the same chunk (``a[:, y] = value`` for ``y`` in ``range(who, 128, 2)``), so
every assignment is a read-modify-write of that one chunk, and a merge that reads before the other writer's write
lands and writes after it drops that writer's row. The check counts rows that do not hold their writer's value.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import intern
from intern._locks import LOCK_FILE

SHAPE = (16, 128, 128)  # one chunk: every row written lands in it
ROWS = SHAPE[1]

#: driver -> URI of a new volume in a folder; zarr both through its default engine (TensorStore) and zarr-python.
#: DVID merges partial blocks in the client, so its writes need the locks as much as the core's own merges.
KINDS = {
    "mem": lambda root, dvid: f"mem://writers/{root.name}",
    "precomputed": lambda root, dvid: f"precomputed://file://{root}/v",
    "zarr": lambda root, dvid: f"zarr://{root}/v.zarr",
    "zarr-python": lambda root, dvid: f"zarr://{root}/v.zarr?engine=zarr-python",
    "knossos": lambda root, dvid: f"knossos://{root}/v",
    "dvid": lambda root, dvid: f"dvid://{dvid.address}/{dvid.new_repo(root.name)}/v",
}


@pytest.fixture(scope="module")
def dvid_server():
    from intern_dvid.testing import DvidTestServer

    with DvidTestServer() as server:
        yield server


def _new(kind: str, root: Path, request: pytest.FixtureRequest) -> str:
    uri = KINDS[kind](root, request.getfixturevalue("dvid_server") if kind == "dvid" else None)
    intern.create(uri, shape=SHAPE, dtype="uint8", chunks=SHAPE)
    return uri


def _lost_rows(uri: str, writers: int) -> list[int]:
    """The rows that do not hold the value of the writer that wrote them last (writer ``w`` writes ``w + 1``)."""
    data = intern.array(uri)[...]
    return [y for y in range(ROWS) if not (data[:, y] == y % writers + 1).all()]


def _write_rows(a: intern.Array, who: int, writers: int) -> None:
    value = np.uint8(who + 1)
    for y in range(who, ROWS, writers):
        a[:, y] = value


def _together(writers: int, write: Callable[[int], None]) -> None:
    """``write(who)`` in ``writers`` threads released at the same moment; the first error of any is raised here."""
    start = threading.Barrier(writers)
    errors: list[BaseException] = []

    def run(who: int) -> None:
        try:
            start.wait()
            write(who)
        except BaseException as exc:  # noqa: BLE001 - the main thread reports it
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(who,)) for who in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


@pytest.mark.parametrize("kind", list(KINDS))
def test_threads_writing_rows_of_one_chunk_lose_none(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    uri = _new(kind, tmp_path, request)
    writers = 2
    # separate handles, as two parts of a program (or two dask tasks in threads) would open them
    arrays = [intern.array(uri) for _ in range(writers)]
    _together(writers, lambda who: _write_rows(arrays[who], who, writers))
    assert _lost_rows(uri, writers) == []


@pytest.mark.parametrize("kind", ["mem", "zarr"])
def test_threads_assigning_strided_selections_of_one_chunk_lose_none(kind: str, tmp_path: Path,
                                                                      request: pytest.FixtureRequest) -> None:
    # a[:, who::2, x] is merged into its covering box, read and written back whole: the other writer's rows in it
    # must survive (even where the driver commits chunks atomically, the merge happens above it)
    uri = _new(kind, tmp_path, request)
    writers = 2
    arrays = [intern.array(uri) for _ in range(writers)]

    def write(who: int) -> None:
        for x in range(SHAPE[2]):
            arrays[who][:, who::writers, x] = np.uint8(who + 1)

    _together(writers, write)
    assert _lost_rows(uri, writers) == []


# A writer in a process of its own: waits until every writer is ready, then writes its rows.
_WORKER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import numpy as np
    import intern

    uri, who, writers, folder = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
    a = intern.array(uri)
    a[0, 0, 0]  # open everything the writes need before the start
    (folder / f"ready-{who}").touch()
    while not (folder / "go").exists():
        time.sleep(0.001)
    for y in range(who, a.shape[1], writers):
        a[:, y] = np.uint8(who + 1)
""")


def _run_processes(uri: str, writers: int, folder: Path) -> None:
    folder.mkdir()
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, uri, str(who), str(writers), str(folder)],
                              stderr=subprocess.PIPE, text=True) for who in range(writers)]
    try:
        deadline = time.monotonic() + 120
        while not all((folder / f"ready-{who}").exists() for who in range(writers)):
            failed = [p for p in procs if p.poll() not in (None, 0)]
            assert not failed, failed[0].communicate()[1]
            assert time.monotonic() < deadline, "the writer processes did not start"
            time.sleep(0.01)
        (folder / "go").touch()
        for p in procs:
            _, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()


@pytest.mark.parametrize("kind", ["precomputed", "zarr", "zarr-python", "knossos"])
def test_processes_writing_rows_of_one_chunk_lose_none(kind: str, tmp_path: Path,
                                                     request: pytest.FixtureRequest) -> None:
    uri = _new(kind, tmp_path, request)
    writers = 2
    _run_processes(uri, writers, tmp_path / "signals")
    assert _lost_rows(uri, writers) == []


def _lock_file(kind: str, root: Path) -> Path:
    """Where the core keeps the lock file of level 0 of the volume ``_new`` made."""
    folder = {"precomputed": root / "v", "zarr": root / "v.zarr", "zarr-python": root / "v.zarr",
              "knossos": root / "v"}[kind]
    return folder / intern.array(KINDS[kind](root, None)).scales[0].key / LOCK_FILE


@pytest.mark.parametrize("kind", ["precomputed", "zarr", "zarr-python", "knossos"])
def test_lock_file_is_hidden_from_listings_and_other_readers(kind: str, tmp_path: Path,
                                                             request: pytest.FixtureRequest) -> None:
    uri = _new(kind, tmp_path, request)
    a = intern.array(uri)
    a[:, 3] = 7  # a partial chunk: the write that needs the lock
    expected = np.zeros(SHAPE, np.uint8)
    expected[:, 3] = 7
    lock_file = _lock_file(kind, tmp_path)
    # TensorStore commits each chunk atomically by itself: the core keeps no lock file for it
    assert lock_file.exists() == (kind != "zarr")
    scheme = uri.split("://")[0]
    assert intern.ls(f"{scheme}://{tmp_path}") == ["v.zarr" if scheme == "zarr" else "v"]
    if kind == "precomputed":
        from cloudvolume import CloudVolume

        data = CloudVolume(f"file://{tmp_path}/v", progress=False)[:, :, :][..., 0]
        np.testing.assert_array_equal(np.asarray(data).T, expected)
    elif kind.startswith("zarr"):
        import tensorstore as ts
        import zarr

        group = zarr.open_group(str(tmp_path / "v.zarr"), mode="r")
        assert [name for name, _ in group.members()] == ["0"]
        np.testing.assert_array_equal(group["0"][...], expected)
        store = ts.open({"driver": "zarr3", "kvstore": {"driver": "file", "path": str(tmp_path / "v.zarr" / "0")}})
        np.testing.assert_array_equal(store.result().read().result(), expected)
    else:
        assert intern.ls(f"knossos://{tmp_path}/v") == ["v"]
    np.testing.assert_array_equal(intern.array(uri)[...], expected)


def test_handles_opened_with_other_options_share_the_locks(tmp_path: Path) -> None:
    from intern._box import Box
    from intern._io import _level_locks

    intern.create(f"precomputed://file://{tmp_path}/v", shape=(8, 16, 16), dtype="uint8", chunks=(8, 8, 8))
    plain = intern.array(f"precomputed://{tmp_path}/v")
    strict = intern.array(f"precomputed://file://{tmp_path}/v?fill_missing=false")
    bounds = Box.from_shape(plain.shape)
    assert (_level_locks(plain.resource, 0, bounds, plain.chunks).identity
            == _level_locks(strict.resource, 0, bounds, strict.chunks).identity)
