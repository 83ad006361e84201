"""``zarr://s3://...`` against a real S3 endpoint on loopback (moto in server mode, see conftest)."""

from __future__ import annotations

import numpy as np
import pytest

import intern
from intern.errors import NotFoundError

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_write_through_intern_and_read_back(s3_bucket: str) -> None:
    uri = f"zarr://s3://{s3_bucket}/em.ome.zarr"
    a = intern.create(uri, shape=(10, 40, 36), dtype="uint16", chunks=(4, 16, 16), voxel_size=(30, 4, 4), scales=2)
    assert a.uri == uri
    data = np.random.default_rng(0).integers(0, 5000, a.shape).astype(np.uint16)
    a[...] = data
    a[2:5, 7:30, 3:11] = 1  # partial chunks, merged on S3
    data[2:5, 7:30, 3:11] = 1
    again = intern.array(uri)
    assert again.resource.engine().name == "tensorstore"  # TensorStore's s3 driver, at the configured endpoint
    assert again.voxel_size == (30.0, 4.0, 4.0) and len(again.scales) == 2
    np.testing.assert_array_equal(again[...], data)
    np.testing.assert_array_equal(again[1:9, 5:33, 2:35], data[1:9, 5:33, 2:35])
    assert not again.at_scale(1)[...].any()
    assert intern.ls(f"zarr://s3://{s3_bucket}/em.ome.zarr") == ["0", "1"]
    assert "em.ome.zarr" in intern.ls(f"zarr://s3://{s3_bucket}")
    via_fsspec = intern.array(uri, engine="zarr-python")
    assert via_fsspec.resource.engine().name == "zarr-python"
    np.testing.assert_array_equal(via_fsspec[1:9, 5:33, 2:35], data[1:9, 5:33, 2:35])


def test_fsspec_only_options_use_zarr_python(s3_bucket: str, s3_endpoint: str) -> None:
    intern.create(f"zarr://s3://{s3_bucket}/k.zarr", shape=(2, 8, 8), dtype="uint8")[...] = 3
    a = intern.array(f"zarr://s3://{s3_bucket}/k.zarr", storage_options={"key": "testing", "secret": "testing"})
    assert a.resource.engine().name == "zarr-python"  # inline credentials are fsspec's business
    assert (a[...] == 3).all()


@pytest.mark.parametrize("engine", [None, "zarr-python"])
def test_concurrent_writers_on_s3(s3_bucket: str, engine: str | None) -> None:
    import threading

    uri = f"zarr://s3://{s3_bucket}/c-{engine}.zarr"
    intern.create(uri, shape=(4, 4, 16), dtype="uint8", chunks=(4, 4, 16))  # one chunk, four writers
    arrays = [intern.array(uri, **({"engine": engine} if engine else {})) for _ in range(4)]

    def writer(i: int) -> None:
        for r in range(5):
            arrays[i][:, r % 4, i * 4:(i + 1) * 4] = i + 1 + r

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expected = np.zeros((4, 4, 16), np.uint8)
    for i in range(4):
        for r in range(5):
            expected[:, r % 4, i * 4:(i + 1) * 4] = i + 1 + r
    np.testing.assert_array_equal(intern.array(uri)[...], expected)


def test_read_what_zarr_python_wrote(s3_bucket: str, s3_endpoint: str) -> None:
    import zarr

    data = np.arange(6 * 20 * 20, dtype=np.uint32).reshape(6, 20, 20)
    z = zarr.create_array(f"s3://{s3_bucket}/plain.zarr", shape=data.shape, chunks=(3, 8, 8), dtype="uint32",
                          storage_options={"endpoint_url": s3_endpoint}, zarr_format=2)
    z[...] = data
    a = intern.array(f"zarr://s3://{s3_bucket}/plain.zarr?mode=r")
    assert a.resource.writable is False
    np.testing.assert_array_equal(a[...], data)
    np.testing.assert_array_equal(a[1:5, 3:17, 9:20], data[1:5, 3:17, 9:20])


def test_storage_options_argument_and_aws_endpoint_variable(s3_bucket: str, s3_endpoint: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    intern.create(f"zarr://s3://{s3_bucket}/o.zarr", shape=(2, 8, 8), dtype="uint8")[...] = 4
    monkeypatch.delenv("INTERN_ZARR_ENDPOINT_URL")
    a = intern.array(f"zarr://s3://{s3_bucket}/o.zarr", storage_options={"endpoint_url": s3_endpoint})
    assert (a[...] == 4).all()
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)  # the AWS SDKs' own variable works as well
    assert (intern.array(f"zarr://s3://{s3_bucket}/o.zarr", storage_options={"skip_instance_cache": True})[...]
            == 4).all()


def test_missing_on_s3_is_not_found(s3_bucket: str) -> None:
    with pytest.raises(NotFoundError, match="does not exist"):
        intern.array(f"zarr://s3://{s3_bucket}/nothing.zarr")
