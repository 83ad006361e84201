"""Round trips through ``intern.array`` on zarr:// and h5:// volumes, at random boxes (hypothesis)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import intern
from intern.plugin import Box

SHAPE = (11, 21, 26)
CHUNKS = (4, 8, 16)
DTYPES = ("uint8", "uint16", "uint32", "uint64", "float32")


@st.composite
def boxes(draw: st.DrawFn, shape: tuple[int, ...] = SHAPE) -> Box:
    start, stop = [], []
    for n in shape:
        a = draw(st.integers(0, n - 1))
        b = draw(st.integers(a + 1, n))
        start.append(a)
        stop.append(b)
    return Box(tuple(start), tuple(stop))


def _values(box: Box, dtype: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return rng.standard_normal(box.shape).astype(dt) * 1e3
    return rng.integers(1, np.iinfo(dt).max, box.shape, dtype=dt, endpoint=True)


@pytest.fixture(scope="module")
def volumes(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], intern.Array]:
    root: Path = tmp_path_factory.mktemp("roundtrip")
    out = {}
    for dtype in DTYPES:
        out["zarr", dtype] = intern.create(f"zarr://{root}/{dtype}.zarr", shape=SHAPE, dtype=dtype, chunks=CHUNKS)
        out["h5", dtype] = intern.create(f"h5://{root}/vols.h5/{dtype}", shape=SHAPE, dtype=dtype, chunks=CHUNKS)
    return out


@pytest.mark.parametrize("driver", ["zarr", "h5"])
@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(box=boxes(), probe=boxes(), seed=st.integers(0, 2**16))
def test_random_boxes_round_trip(volumes: dict, driver: str, dtype: str, box: Box, probe: Box, seed: int) -> None:
    vol = volumes[driver, dtype]
    expected = vol[...]
    block = _values(box, dtype, seed)
    vol.write(box, block)  # not chunk-aligned in general: the voxels around it must survive
    expected[box.to_slices()] = block
    np.testing.assert_array_equal(vol[...], expected)
    np.testing.assert_array_equal(vol.read(probe), expected[probe.to_slices()])
    again = intern.array(vol.uri)  # a fresh handle sees the same
    np.testing.assert_array_equal(again[box.to_slices()], block)


@pytest.mark.parametrize("driver", ["zarr", "h5"])
def test_unaligned_write_keeps_neighbours_and_unwritten_is_zero(tmp_path: Path, driver: str) -> None:
    uri = f"zarr://{tmp_path}/n.zarr" if driver == "zarr" else f"h5://{tmp_path}/n.h5/v"
    vol = intern.create(uri, shape=SHAPE, dtype="uint16", chunks=CHUNKS)
    assert not vol[...].any()  # never written: the fill value
    vol[2:9, 3:17, 5:20] = 7
    vol[3:5, 4:6, 15:17] = 9
    expected = np.zeros(SHAPE, np.uint16)
    expected[2:9, 3:17, 5:20] = 7
    expected[3:5, 4:6, 15:17] = 9
    np.testing.assert_array_equal(vol[...], expected)
    np.testing.assert_array_equal(vol[3, 4:6, ::3], expected[3, 4:6, ::3])


def test_zarr_python_engine_round_trips(tmp_path: Path) -> None:
    """The engine used for URLs, exercised on a local store (engine="zarr-python")."""
    intern.create(f"zarr://{tmp_path}/p.zarr", shape=SHAPE, dtype="uint32", chunks=CHUNKS)
    vol = intern.array(f"zarr://{tmp_path}/p.zarr", engine="zarr-python")
    assert vol.resource.engine().name == "zarr-python"
    data = _values(Box((1, 2, 3), (10, 19, 25)), "uint32", 5)
    vol[1:10, 2:19, 3:25] = data
    np.testing.assert_array_equal(intern.array(f"zarr://{tmp_path}/p.zarr")[1:10, 2:19, 3:25], data)
    assert intern.array(f"zarr://{tmp_path}/p.zarr")[0].sum() == 0


def test_pyramid_levels_are_separate(tmp_path: Path) -> None:
    a = intern.create(f"zarr://{tmp_path}/pyr.zarr", shape=(16, 40, 40), dtype="uint8", chunks=(8, 16, 16),
                      voxel_size=(30, 4, 4), scales=3)
    assert [lv.shape for lv in a.scales] == [(16, 40, 40), (16, 20, 20), (16, 10, 10)]
    assert [lv.voxel_size for lv in a.scales] == [(30, 4, 4), (30, 8, 8), (30, 16, 16)]
    for s in range(3):
        a.at_scale(s)[...] = s + 1
    for s in range(3):
        assert (intern.array(a.uri, scale=s)[...] == s + 1).all()


def test_channel_axis_round_trips(tmp_path: Path) -> None:
    a = intern.create(f"zarr://{tmp_path}/c.zarr", shape=(3, 8, 16, 16), dtype="float32", chunks=(1, 8, 8, 8))
    assert a.axes == ("c", "z", "y", "x")
    data = np.random.default_rng(1).standard_normal((3, 5, 9, 7)).astype(np.float32)
    a[:, 1:6, 2:11, 4:11] = data
    np.testing.assert_array_equal(intern.array(a.uri)[:, 1:6, 2:11, 4:11], data)


def test_sharded_volume_round_trips(tmp_path: Path) -> None:
    import zarr

    a = intern.create(f"zarr://{tmp_path}/sh.zarr", shape=(16, 32, 32), dtype="uint16", chunks=(8, 8, 8),
                      shards=(16, 16, 16))
    assert a.chunks == (16, 16, 16)  # the shard: the unit a write replaces
    data = _values(Box((0, 0, 0), (16, 32, 32)), "uint16", 3)
    a[...] = data
    a[3:9, 5:20, 7:30] = 1
    data[3:9, 5:20, 7:30] = 1
    np.testing.assert_array_equal(intern.array(a.uri)[...], data)
    stored = zarr.open_array(str(tmp_path / "sh.zarr" / "0"), mode="r")
    assert stored.shards == (16, 16, 16) and stored.chunks == (8, 8, 8)
    np.testing.assert_array_equal(stored[...], data)
    assert len([f for f in (tmp_path / "sh.zarr" / "0" / "c").rglob("*") if f.is_file()]) == 4  # 1x2x2 shards
