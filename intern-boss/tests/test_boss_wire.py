"""The Boss wire format: bodies round-trip in every format, and bodies that lie about their content are refused."""

from __future__ import annotations

import io
import pickle
import struct
import sys
import tracemalloc
import zlib

import blosc
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from intern.errors import ConfigError
from intern_boss._api import _read_blosc_into
from intern_boss._config import ClientOptions
from intern_boss._http import _InMemory
from intern_boss._wire import (
    BLOSC,
    BLOSC_HEADER,
    BLOSC_PYTHON,
    NPYGZ,
    BodyError,
    decode,
    decode_into,
    encode,
    parse_range,
    stored_size,
)

DTYPES = st.sampled_from(["uint8", "uint16", "uint32", "uint64", "int16", "float32"])


@settings(max_examples=40, deadline=None)
@given(data=st.data(), fmt=st.sampled_from([BLOSC, BLOSC_PYTHON, NPYGZ]))
def test_bodies_round_trip(data: st.DataObject, fmt: str) -> None:
    dtype = data.draw(DTYPES)
    shape = data.draw(hnp.array_shapes(min_dims=3, max_dims=4, min_side=1, max_side=9))
    array = data.draw(hnp.arrays(dtype, shape))
    back = decode(encode(array, fmt), fmt, dtype=dtype, shape=shape)
    np.testing.assert_array_equal(back, array)


def test_decode_into_a_view() -> None:
    out = np.zeros((4, 5, 6), np.uint16)
    block = np.arange(2 * 5 * 6, dtype=np.uint16).reshape(2, 5, 6)
    decode_into(encode(block), out[1:3])  # whole rows: contiguous
    np.testing.assert_array_equal(out[1:3], block)
    with pytest.raises(ValueError, match="contiguous"):
        decode_into(encode(block[:, :, :3]), out[1:3, :, :3])


@settings(max_examples=40, deadline=None)
@given(data=st.data(), noisy=st.booleans())
def test_blosc_bodies_read_into_the_output(data: st.DataObject, noisy: bool) -> None:
    """Noisy voxels (which blosc stores as they are) and smooth ones (which it compresses) read back alike."""
    dtype = data.draw(DTYPES)
    shape = data.draw(hnp.array_shapes(min_dims=3, max_dims=3, min_side=1, max_side=40))
    seed = data.draw(st.integers(0, 2**32 - 1))
    if noisy:  # random bytes
        nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
        array = np.random.default_rng(seed).integers(0, 256, nbytes, np.uint8).view(dtype).reshape(shape)
    else:
        array = np.full(shape, 7, dtype)
    body = encode(array)
    size = stored_size(body[:BLOSC_HEADER])
    assert size is None or (size == array.nbytes and body[BLOSC_HEADER:] == array.tobytes())
    if noisy and array.nbytes >= 4096:
        assert size == array.nbytes  # blosc cannot shrink these: the direct path is the one taken
    out = np.empty(shape, dtype)
    assert _read_blosc_into(_InMemory(body), out) is out
    np.testing.assert_array_equal(out, array)


def test_lying_uncompressed_bodies_are_refused() -> None:
    array = np.random.default_rng(0).integers(0, 256, (2, 64, 64), np.uint8)
    body = encode(array)
    assert stored_size(body[:BLOSC_HEADER]) == array.nbytes
    with pytest.raises(BodyError, match="header says"):  # cut short: its header promises more
        _read_blosc_into(_InMemory(body[:-10]), np.empty(array.shape, np.uint8))
    with pytest.raises(BodyError, match="needs 8000"):  # whole, but not the size of the cutout
        _read_blosc_into(_InMemory(body), np.empty((2, 40, 100), np.uint8))


def test_lying_bodies_are_refused() -> None:
    with pytest.raises(BodyError, match="needs 100"):
        decode(encode(np.zeros(99, np.uint8)), BLOSC, dtype="uint8", shape=(1, 10, 10))
    with pytest.raises(BodyError):
        decode(b"\x02\x01\x03", BLOSC, dtype="uint8", shape=(1, 1, 1))
    with pytest.raises(BodyError, match="uint16"):
        decode(encode(np.zeros((1, 2, 2), np.uint16), NPYGZ), NPYGZ, dtype="uint8", shape=(1, 2, 2))

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (exec, ("raise SystemExit('ran')",))

    with pytest.raises(BodyError, match="only a numpy array"):
        decode(blosc.compress(pickle.dumps(Evil()), typesize=1), BLOSC_PYTHON, dtype="uint8", shape=(1, 1, 1))


def test_decoding_keeps_no_reference_to_the_body() -> None:
    """python-blosc 1.11.1-1.11.4's ``cbuffer_validate`` keeps every buffer it checks alive: a decoder that calls it
    leaks each body it reads (a relay grew by gigabytes)."""
    array = np.arange(3000, dtype=np.uint16).reshape(3, 10, 100)
    for fmt in (BLOSC, BLOSC_PYTHON, NPYGZ):
        body = encode(array, fmt)
        before = sys.getrefcount(body)
        for _ in range(5):
            decode(body, fmt, dtype="uint16", shape=array.shape)
        assert sys.getrefcount(body) == before, fmt
    view = memoryview(bytearray(encode(array)))  # the client decodes from its reused buffer through a view
    before = sys.getrefcount(view)
    for _ in range(5):
        decode_into(view, np.empty(array.shape, np.uint16))
    assert sys.getrefcount(view) == before


def test_blosc_headers_are_checked_before_decompressing() -> None:
    body = bytearray(encode(np.arange(1000, dtype=np.uint8).reshape(1, 10, 100)))
    out = np.empty((1, 10, 100), np.uint8)
    future = bytearray(body)
    future[0] = 9  # a format version this blosc does not know
    with pytest.raises(BodyError, match="version"):
        decode_into(future, out)
    with pytest.raises(BodyError, match="header says"):
        decode_into(body + b"\0", out)
    huge = bytearray(body)
    struct.pack_into("<I", huge, 4, 2**31)  # over blosc's largest buffer
    with pytest.raises(BodyError):
        decode_into(huge, out)


def _bomb(shape: tuple[int, ...]) -> bytes:
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": shape})
    z = zlib.compressobj(9)
    parts = [z.compress(header.getvalue())] + [z.compress(bytes(2**20)) for _ in range(int(np.prod(shape)) >> 20)]
    return b"".join(parts) + z.flush()


@pytest.mark.parametrize("fmt", [NPYGZ, BLOSC_PYTHON])
def test_compressed_bodies_expand_no_further_than_their_box(fmt: str) -> None:
    """128 MiB of zeros in a few hundred KiB, sent for a 1000-voxel box: refused having expanded at most a little."""
    big = (128, 1024, 1024)
    body = _bomb(big) if fmt == NPYGZ else blosc.pack_array(np.zeros(big, np.uint8), clevel=9)
    tracemalloc.start()
    try:
        with pytest.raises(BodyError, match="more than"):
            decode(body, fmt, dtype="uint8", shape=(1, 10, 100))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20 + len(body), peak


def test_ranges() -> None:
    assert parse_range("3:17") == (3, 17)
    for bad in ("3", "5:5", "7:3", "-1:4", "a:b", "1:2:3"):
        with pytest.raises(ValueError):
            parse_range(bad)


def test_client_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERN_BOSSDB_BLOCK", "32,1024,512")
    monkeypatch.setenv("INTERN_BOSSDB_SEND_ZEROS", "no")
    opts = ClientOptions.from_config({"retries": "2", "format": "npygz"})
    assert (opts.block, opts.send_zeros, opts.retries, opts.format) == ((32, 1024, 512), False, 2, NPYGZ)
    for key, value in (("retries", "-1"), ("timeout", "0"), ("format", "tiff"), ("send_zeros", "maybe")):
        with pytest.raises(ConfigError, match=key):
            ClientOptions.from_config({key: value})
