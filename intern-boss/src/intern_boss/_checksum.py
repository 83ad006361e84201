"""The CRC-32 a relay sends with each cutout, so that what reaches the reader is checked whole.

The Boss dialect carries no checksum, and blosc none of its own: a byte damaged on the way (by a proxy, a faulty
link or a bug) inside a buffer blosc stored as it was decodes into a wrong voxel, silently. A relay therefore sends
``Intern-Crc32: <8 hex digits>``, the CRC-32 of the body as sent (the relay keeps it with every cached cuboid, so
answering costs nothing), and the ``bossdb://`` client checks every body that comes with one. A relay whose upstream
is another relay thus never caches damage. Other Boss servers send no such header; their bodies are checked by
size only (the blosc header's sizes against the cutout, then decoding).
"""

from __future__ import annotations

import zlib

from intern.errors import TransientRemoteError

__all__ = ["HEADER", "check", "crc32", "header"]

HEADER = "Intern-Crc32"


def header(crc: int) -> tuple[bytes, bytes]:
    """The ``(name, value)`` header pair of an answer whose body has CRC-32 ``crc``."""
    return HEADER.lower().encode(), f"{crc & 0xFFFFFFFF:08x}".encode()


def check(sent: str | None, crc: int, what: str) -> None:
    """Compare the CRC-32 ``crc`` of a body received with the header value ``sent`` (if there is one).

    Raises:
        TransientRemoteError: they differ (or the header is malformed): the body was damaged on the way, and
            reading it again may succeed.
    """
    if sent is None:
        return
    try:
        expected = int(sent, 16)
    except ValueError:
        expected = None
    if expected != crc & 0xFFFFFFFF:
        raise TransientRemoteError(f"{what}: the body does not match its {HEADER} checksum ({crc & 0xFFFFFFFF:08x}, "
                                   f"sent {sent!r}): it was damaged on the way; reading it again may succeed")


def crc32(*parts: bytes | bytearray | memoryview) -> int:
    """The CRC-32 of ``parts`` one after the other."""
    crc = 0
    for part in parts:
        crc = zlib.crc32(part, crc)
    return crc
