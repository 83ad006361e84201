"""The Boss wire format, shared by the client and the relay: cutout routes, ranges, bodies and error codes.

Bodies (chosen by ``Accept`` on reads, ``Content-Type`` on writes):

- ``application/blosc``: blosc-compressed C-order bytes shaped (z, y, x) or (t, z, y, x); the dtype is the channel's
  and the shape the URL's, so a body's length is checked against them;
- ``application/blosc-python``: ``blosc.pack_array``, a pickled array. It is only ever unpickled through a loader
  that accepts numpy arrays and nothing else, so a hostile body cannot run code;
- ``application/npygz``: zlib-compressed ``.npy`` bytes;
- ``image/jpeg``: uint8 only, z-slices stacked vertically (the relay serves it, nobody writes it).

>>> data = np.arange(24, dtype="uint16").reshape(2, 3, 4)
>>> np.array_equal(decode(encode(data, BLOSC), BLOSC, dtype="uint16", shape=(2, 3, 4)), data)
True
"""

from __future__ import annotations

import io
import pickle
import struct
import zlib
from collections.abc import Sequence
from enum import IntEnum

import blosc
import numpy as np

__all__ = [
    "BLOSC", "BLOSC_HEADER", "BLOSC_PYTHON", "BOSS_DTYPES", "CUBOID", "FORMATS", "JPEG", "MAX_CUTOUT_BYTES", "NPYGZ",
    "BodyError", "ErrorCode", "cutout_limit", "decode", "decode_into", "encode", "format_range", "is_count",
    "max_body_size", "parse_range", "stored_size",
]

# python-blosc holds the GIL while it works unless told otherwise; the cutout threads need it released. Released, each
# call runs on threads of its own making, started and joined per buffer: for one cuboid (4 MiB of uint8) that doubles
# the time and CPU of a decode. Cutouts already decode one block per thread, so each buffer gets one thread.
blosc.set_releasegil(True)
blosc.set_nthreads(1)

BLOSC = "application/blosc"
BLOSC_HEADER = 16  # bytes: version, versionlz, flags, typesize, nbytes, blocksize, cbytes
_MEMCPYED = 0x02  # header flag: the data follows the header as it is
_BLOSC_FORMAT = 2  # the newest header format c-blosc 1.x reads (its BLOSC_VERSION_FORMAT)
_BLOSC_MAX = 2**31 - 1 - BLOSC_HEADER  # the largest buffer c-blosc compresses (its BLOSC_MAX_BUFFERSIZE)
#: what a body may hold beyond its voxels: a pickle's or a .npy file's header (numpy reads .npy headers of at most
#: 10,000 bytes unless told otherwise; a pickled array's is a few hundred)
_HEADER_SLACK = 1 << 16
BLOSC_PYTHON = "application/blosc-python"
NPYGZ = "application/npygz"
JPEG = "image/jpeg"
FORMATS = (BLOSC, BLOSC_PYTHON, NPYGZ, JPEG)

#: Boss storage cuboids, (z, y, x), at every resolution
CUBOID = (16, 512, 512)
#: the datatypes a real Boss stores (the relay serves any integer or float dtype its upstream has)
BOSS_DTYPES = ("uint8", "uint16", "uint64")
#: the real server's refusal threshold for one cutout, uncompressed (uint64 channels get four times as much)
MAX_CUTOUT_BYTES = 520 * 2**20

# lz4 at a middle level: as fast as a copy on incompressible EM, and it still shrinks labels and empty space
_CNAME, _CLEVEL = "lz4", 5


class ErrorCode(IntEnum):
    """The Boss's numeric error codes (the ``code`` of an error body)."""

    INVALID_URL = 1000
    INVALID_CUTOUT_ARGS = 1001
    TYPE_ERROR = 1002
    INVALID_POST_ARGUMENT = 1003
    INVALID_ARGUMENT = 1005
    BAD_REQUEST = 1006
    REQUEST_TOO_LARGE = 2000
    DATATYPE_DOES_NOT_MATCH = 2001
    DATA_DIMENSION_MISMATCH = 2002
    DATATYPE_NOT_SUPPORTED = 2003
    INVALID_REQUEST = 2004
    MISSING_ROLE = 3000
    MISSING_PERMISSION = 3001
    RESOURCE_NOT_FOUND = 4000
    IO_ERROR = 5000
    UNSUPPORTED_TRANSPORT_FORMAT = 5001
    SERIALIZATION_ERROR = 5002
    DESERIALIZATION_ERROR = 5003
    RESOURCE_EXISTS = 6002


class BodyError(ValueError):
    """A body does not hold what its URL and channel say (wrong length, dtype or shape, or not decodable)."""

    def __init__(self, message: str, code: ErrorCode = ErrorCode.DESERIALIZATION_ERROR) -> None:
        super().__init__(message, code)
        self.code = code

    def __str__(self) -> str:
        return str(self.args[0])


def cutout_limit(dtype: np.dtype | str) -> int:
    """Largest cutout in bytes the Boss serves for ``dtype`` (uint64 annotation channels get four times as much)."""
    return MAX_CUTOUT_BYTES * (4 if np.dtype(dtype).itemsize == 8 else 1)


# -- ranges ----------------------------------------------------------------------------------------------------------
def format_range(start: int, stop: int) -> str:
    return f"{int(start)}:{int(stop)}"


def is_count(text: str) -> bool:
    """Whether ``text`` is a non-negative integer in ASCII digits, below 10^18 (so it fits every index type; Python's
    ``isdigit`` alone also takes digits such as ``"²"`` that ``int`` refuses)."""
    return 0 < len(text) <= 18 and text.isascii() and text.isdigit()


def parse_range(text: str) -> tuple[int, int]:
    """``"10:20"`` -> ``(10, 20)``.

    Raises:
        ValueError: not two non-negative integers (ASCII digits, at most 18 of them) with start < stop.
    """
    lo, sep, hi = text.partition(":")
    if not sep or not is_count(lo) or not is_count(hi):
        raise ValueError(f"range {text[:60]!r} is not START:STOP in non-negative integers below 10^18")
    a, b = int(lo), int(hi)
    if b <= a:
        raise ValueError(f"range {text!r} is empty: STOP must be greater than START")
    return a, b


# -- bodies ----------------------------------------------------------------------------------------------------------
def encode(data: np.ndarray, content_type: str = BLOSC, *, quality: int = 85) -> bytes:
    """The body of ``data`` in ``content_type``.

    Raises:
        BodyError: JPEG of a dtype other than uint8, or an unknown type.
    """
    data = np.ascontiguousarray(data)
    if content_type == BLOSC:
        if data.nbytes == 0:
            return blosc.compress(b"", typesize=1)
        return blosc.compress_ptr(data.ctypes.data, data.size, typesize=data.itemsize, clevel=_CLEVEL,
                                  shuffle=blosc.SHUFFLE, cname=_CNAME)
    if content_type == BLOSC_PYTHON:
        return blosc.pack_array(data, clevel=_CLEVEL, shuffle=blosc.SHUFFLE, cname=_CNAME)
    if content_type == NPYGZ:
        buf = io.BytesIO()
        np.save(buf, data, allow_pickle=False)
        return zlib.compress(buf.getvalue(), 1)
    if content_type == JPEG:
        if data.dtype != np.uint8:
            raise BodyError(f"image/jpeg holds uint8 data only, this channel is {data.dtype}",
                            ErrorCode.DATATYPE_NOT_SUPPORTED)
        from PIL import Image

        out = io.BytesIO()
        Image.fromarray(data.reshape(-1, data.shape[-1])).save(out, format="JPEG", quality=quality)
        return out.getvalue()
    raise BodyError(f"unsupported format {content_type!r}; use one of {', '.join(FORMATS)}",
                    ErrorCode.UNSUPPORTED_TRANSPORT_FORMAT)


def stored_size(head: bytes | memoryview) -> int | None:
    """The data size of a blosc buffer that holds its data uncompressed right after the header (blosc does so when
    compression would not make it smaller), from the header's first :data:`BLOSC_HEADER` bytes; ``None`` otherwise."""
    if len(head) < BLOSC_HEADER or not head[2] & _MEMCPYED:
        return None
    nbytes, _, cbytes = struct.unpack_from("<III", head, 4)
    return int(nbytes) if cbytes == nbytes + BLOSC_HEADER else None


def max_body_size(nbytes: int) -> int:
    """The longest body, in any of the formats a cutout is written in, that can hold ``nbytes`` of voxels.

    Compression never grows data by more than this: blosc stores what it cannot shrink as it is after its 16-byte
    header, and zlib's worst case is its ``compressBound``. A longer body holds something other than the cutout.
    """
    raw = int(nbytes) + _HEADER_SLACK
    return raw + (raw >> 12) + (raw >> 14) + (raw >> 25) + 13 + BLOSC_HEADER


def _blosc_nbytes(body: bytes | bytearray | memoryview) -> int:
    """The uncompressed size a blosc buffer declares, once its header is checked as c-blosc checks it before it
    decompresses (``blosc_cbuffer_validate``: a known format, the length it says, a size blosc can hold).

    The 16-byte header is read here, not by python-blosc: its ``get_cbuffer_sizes`` refuses memoryviews (bodies are
    read into reused buffers), and its ``cbuffer_validate`` (1.11.1-1.11.4) keeps a reference to every buffer it
    checks, so each body decoded would stay in memory for good.
    """
    if len(body) < BLOSC_HEADER:
        raise BodyError(f"the body is not a blosc buffer ({len(body)} bytes, shorter than a blosc header)")
    version = body[0]
    nbytes, _, cbytes = struct.unpack_from("<III", body, 4)
    if not 1 <= version <= _BLOSC_FORMAT:
        raise BodyError(f"the body is not a blosc buffer this relay reads (header format version {version})")
    if cbytes != len(body) or nbytes > _BLOSC_MAX:
        raise BodyError(f"the body is not a valid blosc buffer ({len(body)} bytes, its header says {cbytes} "
                        f"holding {nbytes})")
    return int(nbytes)


def _too_much(holds: str, needed: int) -> BodyError:
    return BodyError(f"the body holds {holds}, more than the {needed} bytes of the cutout and its header",
                     ErrorCode.DATA_DIMENSION_MISMATCH)


def decode_into(body: bytes | bytearray | memoryview, out: np.ndarray) -> np.ndarray:
    """Decompress an ``application/blosc`` body straight into the C-contiguous array ``out``.

    Raises:
        BodyError: the body does not hold exactly ``out.nbytes`` bytes.
    """
    if not out.flags.c_contiguous:
        raise ValueError("decode_into needs a C-contiguous output array")
    nbytes = _blosc_nbytes(body)
    if nbytes != out.nbytes:
        raise BodyError(f"the body holds {nbytes} bytes, the cutout needs {out.nbytes} "
                        f"({out.dtype}{list(out.shape)})", ErrorCode.DATA_DIMENSION_MISMATCH)
    if nbytes:
        blosc.decompress_ptr(body, out.ctypes.data)
    return out


def decode(body: bytes | bytearray | memoryview, content_type: str, *, dtype: np.dtype | str, shape: Sequence[int]) -> np.ndarray:
    """The array in a body, checked against the ``dtype`` and ``shape`` it must have.

    A compressed body is never expanded beyond what that array needs (plus its format's header): a few kilobytes
    that would expand to gigabytes are refused before they do.

    Raises:
        BodyError: undecodable, or another dtype, length or shape.
    """
    dtype = np.dtype(dtype)
    shape = tuple(int(s) for s in shape)
    needed = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize + _HEADER_SLACK
    if content_type == BLOSC:
        return decode_into(body, np.empty(shape, dtype))
    if content_type == BLOSC_PYTHON:
        nbytes = _blosc_nbytes(body)
        if nbytes > needed:
            raise _too_much(f"{nbytes} bytes uncompressed", needed)
        array = _restricted_loads(blosc.decompress(body))
    elif content_type == NPYGZ:
        array = _load_npygz(body, needed)
    else:
        raise BodyError(f"unsupported format {content_type!r}; use one of {BLOSC}, {BLOSC_PYTHON}, {NPYGZ}",
                        ErrorCode.UNSUPPORTED_TRANSPORT_FORMAT)
    if array.dtype != dtype:
        raise BodyError(f"the body holds {array.dtype} data, the channel is {dtype}", ErrorCode.DATATYPE_DOES_NOT_MATCH)
    if array.shape != shape:
        raise BodyError(f"the body holds an array of shape {array.shape}, the cutout is {shape}",
                        ErrorCode.DATA_DIMENSION_MISMATCH)
    return np.ascontiguousarray(array)


def _load_npygz(body: bytes | bytearray | memoryview, needed: int) -> np.ndarray:
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(body, needed)  # at most ``needed`` bytes, whatever the body would expand to
    except zlib.error as exc:
        raise BodyError(f"the body is not zlib-compressed .npy data ({exc})") from None
    if not inflater.eof:
        if len(raw) >= needed:
            raise _too_much(f"over {needed} bytes of .npy data", needed)
        raise BodyError("the body is not zlib-compressed .npy data (the zlib stream ends early)")
    try:
        return np.load(io.BytesIO(raw), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise BodyError(f"the body is not zlib-compressed .npy data ({exc})") from None


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and refuses every other global, so a body cannot name code to run."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in self._ALLOWED:
            raise BodyError(f"a blosc-python body may hold only a numpy array, not {module}.{name}")
        return super().find_class(module, name)


def _restricted_loads(raw: bytes) -> np.ndarray:
    try:
        value = _ArrayUnpickler(io.BytesIO(raw)).load()
    except BodyError:
        raise
    except Exception as exc:
        raise BodyError(f"the body is not a pickled numpy array ({exc})") from None
    if not isinstance(value, np.ndarray):
        raise BodyError(f"a blosc-python body must hold a numpy array, not {type(value).__name__}")
    return value
