"""Fixtures of intern-zarr's tests: a real S3 endpoint on loopback (moto in server mode) and small test data."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from intern.testing.servers import s3_server


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """URL of an S3 server (moto) on 127.0.0.1, on a free port, for the whole session, with fake credentials."""
    with s3_server() as endpoint:
        yield endpoint


@pytest.fixture
def s3_bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new, empty bucket; the ``[zarr]`` config points intern at the endpoint (via ``INTERN_ZARR_ENDPOINT_URL``)."""
    import boto3

    name = f"intern-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=name)
    monkeypatch.setenv("INTERN_ZARR_ENDPOINT_URL", s3_endpoint)
    return name
