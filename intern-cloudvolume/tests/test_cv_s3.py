"""``precomputed://s3://...`` against a real S3 endpoint on loopback (moto in server mode, see conftest)."""

from __future__ import annotations

import numpy as np
import pytest

import intern
from intern.errors import AlreadyExistsError, NotFoundError

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_write_through_intern_and_read_back(s3_bucket: str, s3_endpoint: str) -> None:
    import boto3

    uri = f"precomputed://s3://{s3_bucket}/em"
    a = intern.create(uri, shape=(10, 40, 36), dtype="uint16", chunks=(4, 16, 16), voxel_size=(30, 4, 4), scales=2)
    assert a.uri == uri
    data = np.random.default_rng(0).integers(0, 5000, a.shape).astype(np.uint16)
    a[...] = data
    a[2:5, 7:30, 3:11] = 1  # partial chunks, merged on S3
    data[2:5, 7:30, 3:11] = 1
    again = intern.array(uri)
    assert again.voxel_size == (30.0, 4.0, 4.0) and len(again.scales) == 2
    np.testing.assert_array_equal(again[...], data)
    np.testing.assert_array_equal(again[1:9, 5:33, 2:35], data[1:9, 5:33, 2:35])
    assert not again.at_scale(1)[...].any()
    # object stores keep cloud-volume's default: gzip as Content-Encoding, under the plain chunk name
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    head = s3.head_object(Bucket=s3_bucket, Key=f"em/{again.level.key}/0-16_0-16_0-4")
    assert head.get("ContentEncoding") == "gzip"
    assert intern.ls(f"precomputed://s3://{s3_bucket}") == ["em"]
    assert intern.ls(uri) == []
    with pytest.raises(AlreadyExistsError):
        intern.create(uri, shape=(10, 40, 36), dtype="uint16")


def test_cloudvolume_reads_and_writes_alongside(s3_bucket: str, s3_endpoint: str) -> None:
    from cloudvolume import CloudVolume

    a = intern.create(f"precomputed://s3://{s3_bucket}/seg", shape=(8, 32, 32), dtype="uint32", chunks=(8, 16, 16),
                      kind="segmentation", encoding="compressed_segmentation")
    data = np.random.default_rng(3).integers(0, 9, a.shape).astype(np.uint32)
    a[...] = data
    from cloudfiles.paths import add_alias

    add_alias("motos3", f"s3://{s3_endpoint}/")  # how cloud-volume reaches an S3 endpoint other than AWS
    cv = CloudVolume(f"motos3://{s3_bucket}/seg", progress=False,
                     secrets={"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"})
    np.testing.assert_array_equal(np.asarray(cv[...])[..., 0].T, data)
    cv[0:16, 0:16, 0:8] = np.full((16, 16, 8), 77, np.uint32)  # cloud-volume writes, intern reads
    data[0:8, 0:16, 0:16] = 77
    np.testing.assert_array_equal(intern.array(f"precomputed://s3://{s3_bucket}/seg")[...], data)


def test_missing_on_s3_is_not_found(s3_bucket: str) -> None:
    with pytest.raises(NotFoundError, match="does not exist"):
        intern.array(f"precomputed://s3://{s3_bucket}/nothing")


def test_threads_writing_rows_of_one_chunk_on_s3_lose_none(s3_bucket: str) -> None:
    # S3 has no locks: within one process the core's chunk locks keep the read-modify-writes of one chunk apart
    import threading

    uri = f"precomputed://s3://{s3_bucket}/rows"
    intern.create(uri, shape=(4, 32, 32), dtype="uint8", chunks=(4, 32, 32))
    arrays = [intern.array(uri) for _ in range(2)]
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(who: int) -> None:
        try:
            start.wait()
            for y in range(who, 32, 2):
                arrays[who][:, y] = who + 1
        except BaseException as exc:  # noqa: BLE001 - the main thread reports it
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(who,)) for who in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    data = intern.array(uri)[...]
    assert [y for y in range(32) if not (data[:, y] == y % 2 + 1).all()] == []
