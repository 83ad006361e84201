"""Resuming a copy over a source or destination that changed in between, and the arguments a copy refuses.

Every copy here is interrupted the same way: a real Zarr source behind ``faulty://broken`` fails for good at z >= 32,
so with units of one chunk (16, 32, 32) and one worker the journal records exactly the units z 0:16 and 16:32. The
second run (``FAULTY_FIXED=1``) reads everything.
"""

from __future__ import annotations

import shutil
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

import intern
from intern import _registry as registry
from intern.cli import main
from intern.errors import InternError, OutOfBoundsError, TransferError

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import faulty_plugin  # noqa: E402

SHAPE, CHUNKS = (64, 32, 32), (16, 32, 32)
FIRST, SECOND = "0:0:16,0:32,0:32", "0:16:32,0:32,0:32"  # the units the interrupted run journals


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("INTERN_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def faulty():
    reg = registry.get_registry()
    if "faulty" not in reg.schemes:
        reg.register(faulty_plugin, name="faulty")
    return faulty_plugin


@pytest.fixture(scope="module")
def s3_endpoint():
    from intern.testing.servers import s3_server

    with s3_server() as endpoint:
        yield endpoint


@pytest.fixture
def s3_bucket(s3_endpoint, monkeypatch) -> str:
    import boto3

    name = f"intern-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=name)
    monkeypatch.setenv("INTERN_ZARR_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("INTERN_PRECOMPUTED_ENDPOINT_URL", s3_endpoint)
    return name


def _source(path: Path | str, *, voxel_size=(8, 8, 8), seed=0) -> np.ndarray:
    uri = path if isinstance(path, str) else f"zarr://{path}"
    a = intern.create(uri, shape=SHAPE, dtype="uint16", chunks=CHUNKS, voxel_size=voxel_size)
    data = np.random.default_rng(seed).integers(0, 65535, SHAPE, dtype=np.uint16)
    a[...] = data
    return data


def _interrupted_copy(tmp_path: Path, **options) -> tuple[str, str, np.ndarray]:
    """A source, and a copy of it to a new Zarr that stopped after journaling the units FIRST and SECOND."""
    data = _source(tmp_path / "src.zarr")
    src, dst = f"faulty://broken{tmp_path}/src.zarr", f"zarr://{tmp_path}/dst.zarr"
    with pytest.raises(TransferError) as err:
        intern.copy(src, dst, chunk=CHUNKS, workers=1, progress=False, **options)
    assert set(err.value.unfinished) == {"0:32:48,0:32,0:32", "0:48:64,0:32,0:32"}
    return src, dst, data


@pytest.mark.parametrize(("verify", "stamps"), [(False, True), (True, True), (True, False)],
                         ids=["stamps", "stamps-and-verify", "verify-without-stamps"])
def test_resume_copies_again_the_units_whose_source_changed(tmp_path, faulty, monkeypatch, verify, stamps):
    if not stamps:  # a store that cannot tell: the checksums the journal keeps must notice the change instead
        monkeypatch.setenv("FAULTY_NO_STAMPS", "1")
    src, dst, data = _interrupted_copy(tmp_path, verify=verify)
    # the source changes inside the first journaled unit, after it was copied
    changed = np.random.default_rng(9).integers(0, 65535, (8, 32, 32), dtype=np.uint16)
    intern.array(f"zarr://{tmp_path}/src.zarr")[4:12] = changed
    data[4:12] = changed
    monkeypatch.setenv("FAULTY_FIXED", "1")
    report = intern.copy(src, dst, chunk=CHUNKS, workers=1, progress=False, verify=verify)
    np.testing.assert_array_equal(intern.array(dst)[...], data)
    assert (report.chunks, report.skipped, report.changed) == (3, 1, 1)
    assert report.verified == verify


@pytest.mark.parametrize("store", ["zarr://s3://{bucket}/src.zarr", "precomputed://s3://{bucket}/src"])
def test_resume_from_s3_copies_again_the_units_whose_objects_changed(tmp_path, faulty, monkeypatch, s3_bucket, store):
    uri = store.format(bucket=s3_bucket)
    data = _source(uri)
    src, dst = f"faulty://broken/{uri}", f"zarr://{tmp_path}/dst.zarr"
    with pytest.raises(TransferError):
        intern.copy(src, dst, chunk=CHUNKS, workers=1, progress=False, verify=False)
    changed = np.random.default_rng(9).integers(0, 65535, (8, 32, 32), dtype=np.uint16)
    intern.array(uri)[4:12] = changed  # new objects, new ETags, in the first journaled unit
    data[4:12] = changed
    monkeypatch.setenv("FAULTY_FIXED", "1")
    report = intern.copy(src, dst, chunk=CHUNKS, workers=1, progress=False, verify=False)
    np.testing.assert_array_equal(intern.array(dst)[...], data)
    assert (report.chunks, report.skipped, report.changed) == (3, 1, 1)


def test_verify_reads_back_the_units_the_journal_skipped(tmp_path, faulty, monkeypatch):
    src, dst, data = _interrupted_copy(tmp_path)
    # the destination loses a voxel in a journaled unit after it was copied (another writer, a failing disk)
    intern.array(dst)[20, 5, 5] = data[20, 5, 5] ^ 1
    monkeypatch.setenv("FAULTY_FIXED", "1")
    with pytest.raises(TransferError) as err:
        intern.copy(src, dst, chunk=CHUNKS, workers=1, progress=False)
    assert err.value.unfinished == (SECOND,)
    assert SECOND in str(err.value) and "journal" in str(err.value) and "intern copy" in str(err.value)
    # the damaged unit left the journal: the next run copies it, and only it, and verifies everything
    report = intern.copy(src, dst, chunk=CHUNKS, workers=1, progress=False)
    assert (report.chunks, report.skipped, report.verified) == (1, 3, True)
    np.testing.assert_array_equal(intern.array(dst)[...], data)


def test_a_source_whose_metadata_changed_discards_the_journal(tmp_path, faulty, monkeypatch):
    src, dst, _ = _interrupted_copy(tmp_path)
    # the same shape and chunks (so the same units), another voxel size and other voxels
    shutil.rmtree(tmp_path / "src.zarr")
    data = _source(tmp_path / "src.zarr", voxel_size=(40, 4, 4), seed=1)
    monkeypatch.setenv("FAULTY_FIXED", "1")
    with pytest.warns(UserWarning, match=r"journal.*discarded.*voxel size") as caught:
        report = intern.copy(src, dst, chunk=CHUNKS, workers=1, progress=False)
    assert "(8.0, 8.0, 8.0)" in str(caught[0].message) and "(40.0, 4.0, 4.0)" in str(caught[0].message)
    assert (report.chunks, report.skipped) == (4, 0)
    np.testing.assert_array_equal(intern.array(dst)[...], data)


@pytest.mark.parametrize(("options", "named"), [
    ({"chunk": (0, 0, 0)}, "chunk"),
    ({"chunk": (16, -32, 32)}, "chunk"),
    ({"chunk": (16, 32, 33)}, "chunk"),
    ({"chunk": (1, 16, 32, 32)}, "chunk"),
    ({"workers": 0}, "workers"),
    ({"scale": 1, "box": intern.Box((0, 0, 0), (8, 8, 8))}, "scale"),
    ({"scales": [3]}, "scales"),
])
def test_bad_copy_arguments_are_refused_before_anything_is_written(tmp_path, options, named):
    _source(tmp_path / "src.zarr")
    with pytest.raises(InternError, match=named) as err:
        intern.copy(f"zarr://{tmp_path}/src.zarr", f"zarr://{tmp_path}/dst.zarr", progress=False, **options)
    assert isinstance(err.value, ValueError)
    assert not (tmp_path / "dst.zarr").exists(), "nothing is created for a copy that cannot run"


def test_a_box_outside_the_source_is_refused_not_clipped(tmp_path):
    _source(tmp_path / "src.zarr")
    with pytest.raises(OutOfBoundsError, match="outside"):
        intern.copy(f"zarr://{tmp_path}/src.zarr", f"zarr://{tmp_path}/dst.zarr", progress=False,
                    box=intern.Box((0, 0, 0), (64, 32, 40)))
    assert not (tmp_path / "dst.zarr").exists()


@pytest.mark.parametrize(("argv", "named"), [
    (["--chunk", "0,0,0"], "--chunk"),
    (["--chunk", "16,a,32"], "--chunk"),
    (["--workers", "0"], "--workers"),
])
def test_cli_refuses_bad_copy_arguments(tmp_path, capsys, argv, named):
    _source(tmp_path / "src.zarr")
    status = main(["copy", f"zarr://{tmp_path}/src.zarr", f"zarr://{tmp_path}/dst.zarr", *argv])
    err = capsys.readouterr().err
    assert status == 2, err
    assert err.startswith("intern: error:") and named in err
    assert not (tmp_path / "dst.zarr").exists()


def test_cli_says_why_it_discarded_the_journal(tmp_path, faulty, monkeypatch, capsys):
    src, dst, _ = _interrupted_copy(tmp_path)
    shutil.rmtree(tmp_path / "src.zarr")
    data = _source(tmp_path / "src.zarr", voxel_size=(40, 4, 4), seed=1)
    monkeypatch.setenv("FAULTY_FIXED", "1")
    status = main(["copy", src, dst, "--chunk", "16,32,32", "--workers", "1"])
    out = capsys.readouterr()
    assert status == 0, out.err
    warning = [line for line in out.err.splitlines() if line.startswith("intern: warning:")]
    assert len(warning) == 1 and "voxel size (8.0, 8.0, 8.0) -> (40.0, 4.0, 4.0)" in warning[0]
    assert "skipped 0" in out.out and "verified" in out.out
    np.testing.assert_array_equal(intern.array(dst)[...], data)
