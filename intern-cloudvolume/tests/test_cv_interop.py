"""Volumes written by cloud-volume read through intern, and volumes written through intern read by cloud-volume and
by TensorStore's neuroglancer_precomputed driver."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import intern
from intern.errors import ReadOnlyError

SCALES = ((2, 2, 1), (4, 4, 2))  # x, y, z factors relative to scale 0, as cloud-volume's add_scale takes them


def _data(shape: tuple[int, ...], dtype: str, seed: int = 0, *, labels: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if labels:  # blocky labels, as compressed_segmentation is made for
        small = rng.integers(0, 2**40 if dtype == "uint64" else 2**20, [-(-s // 4) for s in shape])
        big = small.repeat(4, 0).repeat(4, 1).repeat(4, 2)[: shape[0], : shape[1], : shape[2]]
        return np.ascontiguousarray(big, dtype=dtype)
    if np.dtype(dtype).kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    return rng.integers(0, np.iinfo(dtype).max, shape, endpoint=True, dtype=dtype)


@pytest.mark.parametrize(("encoding", "dtype", "compress"), [
    ("raw", "uint8", None),        # cloud-volume's default: gzip, stored as <chunk>.gz
    ("raw", "uint16", False),
    ("raw", "float32", "br"),
    ("png", "uint8", None),
    ("jpeg", "uint8", None),
    ("compressed_segmentation", "uint32", None),
    ("compressed_segmentation", "uint64", False),
])
def test_cloudvolume_written_reads_equal(write_with_cloudvolume: Callable[..., Any], encoding: str, dtype: str,
                                         compress: Any) -> None:
    from cloudvolume import CloudVolume

    size = (45, 38, 21)  # x, y, z: not multiples of the chunk, so edge chunks are clipped
    kind = "segmentation" if encoding == "compressed_segmentation" else "image"
    source = _data(size, dtype, labels=kind == "segmentation")
    url, _ = write_with_cloudvolume(f"cv-{encoding}-{dtype}", source, encoding=encoding, layer=kind,
                                    compress=compress, offset=(3, 5, 7), scales=SCALES)
    a = intern.array(f"precomputed://{url}")
    assert a.kind == kind and a.dtype == np.dtype(dtype) and len(a.scales) == 3
    assert a.shape == (21, 38, 45) and a.voxel_size == (40.0, 4.0, 4.0) and a.level.offset == (7, 5, 3)
    assert a.chunks == (8, 16, 16)
    for mip in range(3):
        expected = np.asarray(CloudVolume(url, mip=mip, progress=False)[...])[..., 0].T  # as cloud-volume reads it
        level = a.at_scale(mip)
        assert level.shape == expected.shape
        factor = ((1, 1, 1),) + SCALES
        assert level.voxel_size == tuple(float(r * f) for r, f in zip((40, 4, 4), factor[mip][::-1], strict=True))
        assert level.level.downsample == tuple(float(f) for f in factor[mip][::-1])
        np.testing.assert_array_equal(level[...], expected)
        np.testing.assert_array_equal(level[1:-1, 3:-2, 5:], expected[1:-1, 3:-2, 5:])
    if encoding != "jpeg":  # lossless encodings give back the source itself
        np.testing.assert_array_equal(a[...], source.T)


def test_multichannel_volume(write_with_cloudvolume: Callable[..., Any]) -> None:
    source = _data((20, 17, 9, 3), "uint8", seed=4)
    url, _ = write_with_cloudvolume("rgb", source, channels=3, chunk=(8, 8, 4))
    a = intern.array(f"precomputed://{url}")
    assert a.axes == ("c", "z", "y", "x") and a.shape == (3, 9, 17, 20) and a.chunks == (3, 4, 8, 8)
    np.testing.assert_array_equal(a[...], source.T)
    np.testing.assert_array_equal(a[1, 2:7, 3:15, 1:19], source[1:19, 3:15, 2:7, 1].T)
    a[2, 0:4, 0:8, 0:8] = 9  # a partial write of one channel keeps the others
    source[0:8, 0:8, 0:4, 2] = 9
    from cloudvolume import CloudVolume

    np.testing.assert_array_equal(np.asarray(CloudVolume(url, progress=False)[...]), source)


def test_sharded_volume_written_by_cloudvolume(tmp_path: Path, cloudvolume_info: Callable[..., Any]) -> None:
    from cloudvolume import CloudVolume

    size = (64, 48, 32)
    source = _data(size, "uint16", seed=2)
    url = f"file://{tmp_path / 'sharded'}"
    cv = CloudVolume(url, info=cloudvolume_info(size=size, dtype="uint16", chunk=(16, 16, 8)), progress=False)
    # small shards, so the volume spans several of them
    cv.image.to_sharded(uncompressed_shard_bytesize=16 * 16 * 8 * 2 * 8, max_labels_per_minishard=4, mip=0)
    cv.commit_info()
    shape = cv.image.shard_shape(0)
    for x in range(0, size[0], shape[0]):
        for y in range(0, size[1], shape[1]):
            for z in range(0, size[2], shape[2]):
                box = np.s_[x:min(x + shape[0], size[0]), y:min(y + shape[1], size[1]),
                            z:min(z + shape[2], size[2])]
                cv[box] = source[box]
    assert len(list((tmp_path / "sharded" / cv.key).glob("*.shard"))) > 1
    a = intern.array(f"precomputed://{url}")
    assert a.metadata.attributes["precomputed"]["sharded"] == [True]
    np.testing.assert_array_equal(a[...], source.T)
    np.testing.assert_array_equal(a[3:29, 5:47, 9:60], source[9:60, 5:47, 3:29].T)
    with pytest.raises(ReadOnlyError, match="sharded"):
        a[0:8, 0:16, 0:16] = 1


@pytest.mark.parametrize(("encoding", "dtype", "compress"), [
    ("raw", "uint8", None),
    ("raw", "uint16", "gzip"),
    ("raw", "float32", None),
    ("compressed_segmentation", "uint64", None),
    ("png", "uint8", None),
])
def test_intern_written_read_by_cloudvolume(tmp_path: Path, encoding: str, dtype: str, compress: Any) -> None:
    from cloudvolume import CloudVolume

    kind = "segmentation" if encoding == "compressed_segmentation" else "image"
    url = f"file://{tmp_path}/w-{encoding}"
    a = intern.create(f"precomputed://{url}", shape=(19, 40, 33), dtype=dtype, chunks=(8, 16, 16),
                      voxel_size=(30, 6, 6), scales=3, kind=kind, encoding=encoding,
                      **({"compress": compress} if compress else {}))
    levels = []
    for s in range(3):
        level = a.at_scale(s)
        data = _data(level.shape[::-1], dtype, seed=s, labels=kind == "segmentation").T
        level[...] = np.ascontiguousarray(data)
        levels.append(data)
    a[2:5, 7:30, 3:11] = levels[0][2:5, 7:30, 3:11] = 1  # partial chunks, merged
    suffixes = {p.suffix for p in (tmp_path / f"w-{encoding}").rglob("*-*_*-*")}
    assert suffixes == ({".gz"} if compress == "gzip" else {""})
    for s in range(3):
        cv = CloudVolume(url, mip=s, progress=False)
        assert tuple(cv.resolution) == a.at_scale(s).voxel_size[::-1]
        np.testing.assert_array_equal(np.asarray(cv[...])[..., 0], levels[s].T)


def test_rewriting_with_another_compression_leaves_one_file_per_chunk(tmp_path: Path) -> None:
    from cloudvolume import CloudVolume

    url = f"file://{tmp_path}/recompressed"
    a = intern.create(f"precomputed://{url}?compress=gzip", shape=(16, 32, 32), dtype="uint16", chunks=(8, 16, 16),
                      voxel_size=(8, 8, 8))
    a[...] = 1
    rewritten = intern.array(f"precomputed://{url}?compress=zstd")
    rewritten[:8] = 2  # the first layer of chunks only: the others keep their .gz files
    files = sorted(p.name for p in (tmp_path / "recompressed").rglob("*-*_*-*"))
    assert len(files) == 8
    assert sum(f.endswith(".zstd") for f in files) == 4 and sum(f.endswith(".gz") for f in files) == 4
    expected = np.concatenate([np.full((8, 32, 32), 2), np.full((8, 32, 32), 1)]).astype("uint16")
    np.testing.assert_array_equal(intern.array(f"precomputed://{url}")[...], expected)
    np.testing.assert_array_equal(np.asarray(CloudVolume(url, progress=False)[...])[..., 0].T, expected)


@pytest.mark.parametrize(("encoding", "dtype"), [("raw", "uint8"), ("raw", "float32"),
                                                 ("compressed_segmentation", "uint64"), ("raw", "uint64")])
def test_intern_written_read_by_tensorstore(tmp_path: Path, encoding: str, dtype: str) -> None:
    import tensorstore as ts

    kind = "segmentation" if dtype == "uint64" else "image"
    path = tmp_path / f"ts-{encoding}-{dtype}"
    a = intern.create(f"precomputed://{path}", shape=(21, 50, 37), dtype=dtype, chunks=(8, 32, 16),
                      voxel_size=(40, 8, 8), scales=2, kind=kind, encoding=encoding)
    written = []
    for s in range(2):
        level = a.at_scale(s)
        data = np.ascontiguousarray(_data(level.shape[::-1], dtype, seed=10 + s, labels=kind == "segmentation").T)
        level[...] = data
        written.append(data)
    a[3:9, 1:40, 30:37] = written[0][3:9, 1:40, 30:37] = 0
    for s in range(2):
        store = ts.open({"driver": "neuroglancer_precomputed", "scale_index": s,
                         "kvstore": {"driver": "file", "path": f"{path}/"}}).result()
        assert store.domain.labels == ("x", "y", "z", "channel")
        got = store.read(order="F").result()[..., 0]
        np.testing.assert_array_equal(got.T, written[s])


def test_writes_keep_the_voxel_offset(write_with_cloudvolume: Callable[..., Any]) -> None:
    from cloudvolume import CloudVolume

    source = _data((30, 30, 12), "uint8", seed=6)
    url, _ = write_with_cloudvolume("offset", source, offset=(100, 200, 17), compress=False)
    a = intern.array(f"precomputed://{url}")
    a[0:3, 0:5, 0:7] = 255  # index 0 is the first voxel of the volume, at (100, 200, 17) in its own frame
    source[0:7, 0:5, 0:3] = 255
    np.testing.assert_array_equal(np.asarray(CloudVolume(url, progress=False)[100:130, 200:230, 17:29])[..., 0],
                                  source)


_PROPERTY_SHAPE = (23, 41, 37)  # z, y, x


@pytest.fixture(scope="module")
def property_volume(tmp_path_factory: pytest.TempPathFactory) -> tuple[intern.Array, np.ndarray]:
    from cloudvolume import CloudVolume

    data = _data(_PROPERTY_SHAPE[::-1], "uint16", seed=9)
    url = f"file://{tmp_path_factory.mktemp('prop') / 'vol'}"
    info = CloudVolume.create_new_info(num_channels=1, layer_type="image", data_type="uint16", encoding="raw",
                                       resolution=[4, 4, 40], voxel_offset=[11, 0, 3], volume_size=list(data.shape),
                                       chunk_size=[16, 8, 8])
    cv = CloudVolume(url, info=info, progress=False)
    cv.commit_info()
    cv[11:11 + data.shape[0], 0:data.shape[1], 3:3 + data.shape[2]] = data
    return intern.array(f"precomputed://{url}?mode=r"), data.T


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_any_index_reads_like_numpy(property_volume: tuple[intern.Array, np.ndarray], data: st.DataObject) -> None:
    a, expected = property_volume
    key = []
    for n in _PROPERTY_SHAPE:
        if data.draw(st.booleans(), label="integer"):
            key.append(data.draw(st.integers(-n, n - 1)))
        else:
            lo = data.draw(st.integers(0, n - 1))
            hi = data.draw(st.integers(lo + 1, n))
            step = data.draw(st.sampled_from([1, 1, 2, 3, -1]))
            key.append(slice(lo, hi, step) if step > 0 else slice(hi - 1, lo - 1 if lo else None, step))
    np.testing.assert_array_equal(a[tuple(key)], expected[tuple(key)])
