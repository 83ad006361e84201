"""What goes wrong says so: URIs, options, metadata precomputed cannot hold, damaged files, backend errors."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

import intern
from intern.errors import (
    AlreadyExistsError,
    InvalidURIError,
    MetadataError,
    NotFoundError,
    ParameterError,
    PermissionDeniedError,
    ReadOnlyError,
    RemoteError,
    TransientRemoteError,
)


@pytest.mark.parametrize("uri", ["precomputed://ftp://host/vol", "precomputed://", "precomputed://gs://",
                                 "precomputed://file://"])
def test_bad_uris(uri: str) -> None:
    with pytest.raises(InvalidURIError):
        intern.array(uri)


def test_bad_options(tmp_path: Path) -> None:
    uri = f"precomputed://{tmp_path}/v"
    intern.create(uri, shape=(4, 8, 8), dtype="uint8")
    with pytest.raises(ParameterError, match="does not know the option.*colour"):
        intern.array(uri, colour="red")
    with pytest.raises(InvalidURIError, match="does not know the option.*colour"):
        intern.array(f"{uri}?colour=red")
    with pytest.raises(InvalidURIError, match="mode"):
        intern.array(uri, mode="w")
    with pytest.raises(InvalidURIError, match="compress"):
        intern.array(f"precomputed://file://{tmp_path}/v?compress=lz4")
    with pytest.raises(InvalidURIError, match="fill_missing"):
        intern.array(uri, fill_missing="perhaps")
    with pytest.raises(InvalidURIError, match="encoding apply when a volume is created"):
        intern.array(uri, encoding="jpeg")  # a creation option: given to open, it could only be ignored


def test_read_only_mode_travels_with_the_uri(tmp_path: Path) -> None:
    intern.create(f"precomputed://{tmp_path}/v", shape=(4, 8, 8), dtype="uint8")[...] = 5
    a = intern.array(f"precomputed://file://{tmp_path}/v?mode=r")
    assert a.uri == f"precomputed://file://{tmp_path}/v?mode=r" and a.resource.writable is False
    with pytest.raises(ReadOnlyError, match="read-only"):
        a[0, 0, 0] = 1
    again = intern.array(a.uri)
    assert again.resource.writable is False and (again[...] == 5).all()


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"shape": (2, 4, 8, 8), "axes": ("t", "z", "y", "x")}, "time axis"),
    ({"shape": (4, 8, 8), "dtype": "bool"}, "uint8"),
    ({"shape": (4, 8, 8), "dtype": "uint16", "encoding": "jpeg"}, "jpeg encoding holds uint8"),
    ({"shape": (4, 8, 8), "dtype": "uint8", "encoding": "compressed_segmentation"}, "uint32, uint64"),
    ({"shape": (4, 8, 8), "dtype": "uint8", "encoding": "zfp"}, "not one intern writes"),
])
def test_what_precomputed_cannot_hold(tmp_path: Path, kwargs: dict, match: str) -> None:
    kwargs = {"dtype": "uint8", **kwargs}
    with pytest.raises(MetadataError, match=match):
        intern.create(f"precomputed://{tmp_path}/v", **kwargs)
    assert not (tmp_path / "v").exists()


def test_create_does_not_write_into_other_things(tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("mine")
    with pytest.raises(AlreadyExistsError, match="not a precomputed volume"):
        intern.create(f"precomputed://{tmp_path}/notes", shape=(4, 8, 8), dtype="uint8")
    with pytest.raises(NotFoundError, match="no info"):
        intern.array(f"precomputed://{tmp_path}/notes")
    assert intern.ls(f"precomputed://{tmp_path}/notes") == ["a.txt"]


def test_infos_that_make_no_volume(tmp_path: Path) -> None:
    (tmp_path / "ann").mkdir()
    (tmp_path / "ann" / "info").write_text(json.dumps({"@type": "neuroglancer_annotations_v1", "type": "annotation"}))
    with pytest.raises(MetadataError, match="not a volume"):
        intern.array(f"precomputed://{tmp_path}/ann")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "info").write_text("{not json")
    with pytest.raises(MetadataError, match="not JSON"):
        intern.array(f"precomputed://{tmp_path}/bad")
    (tmp_path / "noscale").mkdir()
    (tmp_path / "noscale" / "info").write_text(json.dumps({"type": "image", "data_type": "uint8", "scales": []}))
    with pytest.raises(MetadataError, match="no scales"):
        intern.array(f"precomputed://{tmp_path}/noscale")


def test_damaged_and_missing_chunks(tmp_path: Path) -> None:
    a = intern.create(f"precomputed://{tmp_path}/v", shape=(8, 16, 16), dtype="uint16", chunks=(8, 8, 8))
    a[...] = 3
    chunk = tmp_path / "v" / a.level.key / "0-8_0-8_0-8"
    chunk.write_bytes(chunk.read_bytes()[:100])
    with pytest.raises(MetadataError, match="0-8_0-8_0-8 holds 100 bytes"):
        a[0:8, 0:8, 0:8]
    chunk.unlink()
    assert not a[0:8, 0:8, 0:8].any()  # missing reads as zeros by default
    strict = intern.array(f"precomputed://{tmp_path}/v", fill_missing=False)
    assert strict.uri.endswith("?fill_missing=false")
    with pytest.raises(NotFoundError, match="0-8_0-8_0-8 is missing"):
        strict[0:8, 0:8, 0:8]
    assert (strict[:, 8:, 8:] == 3).all()


def test_missing_bucket_on_s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERN_PRECOMPUTED_ENDPOINT_URL", s3_endpoint)
    with pytest.raises(NotFoundError) as info:
        intern.array("precomputed://s3://no-such-bucket-here/vol")
    again = pickle.loads(pickle.dumps(info.value))
    assert type(again) is NotFoundError and str(again) == str(info.value)


def test_backend_errors_are_translated_at_the_boundary() -> None:
    import botocore.exceptions
    import requests

    from intern_cloudvolume._errors import translate

    def http_error(status: int) -> requests.HTTPError:
        response = requests.Response()
        response.status_code = status
        return requests.HTTPError(f"{status} from the server", response=response)

    assert isinstance(translate(http_error(404), "u"), NotFoundError)
    assert isinstance(translate(http_error(403), "u"), PermissionDeniedError)
    assert isinstance(translate(http_error(503), "u"), TransientRemoteError)
    assert translate(http_error(503), "u").status == 503
    assert type(translate(http_error(400), "u")) is RemoteError
    # the statuses mean what intern.plugin.error_for's one mapping says, as for every HTTP driver
    assert isinstance(translate(http_error(410), "u"), NotFoundError)
    assert isinstance(translate(http_error(423), "u"), ReadOnlyError)
    assert type(translate(http_error(501), "u")) is RemoteError  # not implemented: trying again cannot help
    denied = botocore.exceptions.ClientError({"Error": {"Code": "AccessDenied"},
                                              "ResponseMetadata": {"HTTPStatusCode": 403}}, "GetObject")
    assert isinstance(translate(denied, "u"), PermissionDeniedError)
    assert isinstance(translate(ConnectionResetError("reset"), "u"), TransientRemoteError)
    bug = KeyError("a programming error")
    assert translate(bug, "u") is bug
    from cloudvolume.exceptions import InfoUnavailableError

    assert isinstance(translate(InfoUnavailableError("no info"), "u"), NotFoundError)


def test_sharded_scale_refuses_writes_before_anything_is_stored(tmp_path: Path) -> None:
    a = intern.create(f"precomputed://{tmp_path}/v", shape=(8, 16, 16), dtype="uint8", chunks=(8, 8, 8))
    info = json.loads((tmp_path / "v" / "info").read_text())
    info["scales"][0]["sharding"] = {"@type": "neuroglancer_uint64_sharded_v1", "preshift_bits": 0, "hash": "identity",
                                     "minishard_bits": 0, "shard_bits": 0, "minishard_index_encoding": "raw",
                                     "data_encoding": "raw"}
    (tmp_path / "v" / "info").write_text(json.dumps(info))
    a = intern.array(f"precomputed://{tmp_path}/v")
    assert not a[...].any()  # no shard file yet: nothing stored, zeros
    with pytest.raises(ReadOnlyError, match="sharded"):
        a[...] = np.ones(a.shape, np.uint8)
