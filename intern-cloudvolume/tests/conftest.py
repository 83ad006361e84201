"""Fixtures of intern-cloudvolume's tests: real servers on loopback and volumes written by cloud-volume itself.

- ``s3_endpoint``/``s3_bucket``: an S3 server (moto in server mode) on 127.0.0.1; intern finds it through
  ``INTERN_PRECOMPUTED_ENDPOINT_URL``.
- ``http_root``: a static file server on 127.0.0.1 serving a temporary directory, as neuroglancer data is often
  served.
- ``write_with_cloudvolume``: a precomputed volume made by cloud-volume from an (x, y, z[, c]) array.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from intern.testing.servers import s3_server, static_http_server


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """URL of an S3 server (moto) on 127.0.0.1 for the whole session, with fake credentials in the environment."""
    with s3_server() as endpoint:
        yield endpoint


@pytest.fixture
def s3_bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new, empty bucket; the ``[precomputed]`` settings point intern at the endpoint."""
    import boto3

    name = f"intern-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=name)
    monkeypatch.setenv("INTERN_PRECOMPUTED_ENDPOINT_URL", s3_endpoint)
    return name


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """(directory, its URL): a static file server on 127.0.0.1 serving the directory."""
    root = tmp_path / "www"
    root.mkdir()
    with static_http_server(root) as url:
        yield root, url


def _cloudvolume_info(*, size: tuple[int, int, int], dtype: str = "uint8", layer: str = "image",
                     encoding: str = "raw", chunk: tuple[int, int, int] = (16, 16, 8),
                     resolution: tuple[float, float, float] = (4, 4, 40), offset: tuple[int, int, int] = (0, 0, 0),
                     channels: int = 1, **extra: Any) -> dict[str, Any]:
    """A new info made by cloud-volume's own constructor (sizes in x, y, z)."""
    from cloudvolume import CloudVolume

    return CloudVolume.create_new_info(
        num_channels=channels, layer_type=layer, data_type=dtype, encoding=encoding, resolution=list(resolution),
        voxel_offset=list(offset), volume_size=list(size), chunk_size=list(chunk), **extra)


@pytest.fixture
def cloudvolume_info() -> Callable[..., dict[str, Any]]:
    """``cloudvolume_info(size=(x, y, z), dtype=..., layer=..., encoding=..., chunk=..., resolution=..., offset=...,
    channels=..., **extra)``: a new info made by cloud-volume's own constructor."""
    return _cloudvolume_info


@pytest.fixture
def write_with_cloudvolume(tmp_path: Path) -> Callable[..., tuple[str, Any]]:
    """``write(name, data_xyz, **info_args, compress=..., scales=[factor, ...])`` -> (file URL, CloudVolume).

    Writes ``data_xyz`` at scale 0 and, for each extra factor, cloud-volume's own downsampling of it by striding
    (so every level holds known data) with cloud-volume's ``add_scale``.
    """

    def write(name: str, data: np.ndarray, *, compress: Any = None, scales: tuple[tuple[int, int, int], ...] = (),
              **info_args: Any) -> tuple[str, Any]:
        from cloudvolume import CloudVolume

        url = f"file://{tmp_path / name}"
        info = _cloudvolume_info(size=data.shape[:3], dtype=str(data.dtype), **info_args)
        cv = CloudVolume(url, info=info, compress=compress, progress=False)
        for factor in scales:
            cv.add_scale(factor)
        cv.commit_info()
        offset = cv.voxel_offset
        cv[offset[0]:offset[0] + data.shape[0], offset[1]:offset[1] + data.shape[1],
           offset[2]:offset[2] + data.shape[2]] = data
        for mip in range(1, len(cv.info["scales"])):
            level = CloudVolume(url, mip=mip, compress=compress, progress=False)
            f = level.downsample_ratio.astype(int)
            part = np.ascontiguousarray(data[::f[0], ::f[1], ::f[2]])
            part = part[:level.shape[0], :level.shape[1], :level.shape[2]]
            o = level.voxel_offset
            level[o[0]:o[0] + part.shape[0], o[1]:o[1] + part.shape[1], o[2]:o[2] + part.shape[2]] = part
        return url, cv

    return write
