"""Files that readers see whole or not at all: for drivers, caches and products that write to local directories.

A viewer serving a directory, another worker process or a later run may read a file while it is being replaced.
:func:`write_atomic` writes a temporary file in the same directory and renames it over the target (a rename within
one file system is atomic), so a reader sees the old content or the new, never half of it. A write that fails
removes its temporary file and leaves the old content in place.

>>> from pathlib import Path
>>> import tempfile
>>> target = Path(tempfile.mkdtemp()) / "info"
>>> write_atomic(target, b'{"type": ', b'"image"}').read_bytes()
b'{"type": "image"}'
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

__all__ = ["write_atomic"]


def write_atomic(path: str | os.PathLike[str], *parts: bytes | bytearray | memoryview) -> Path:
    """Write ``parts``, one after the other, to ``path``, replacing it atomically.

    The temporary file is ``.NAME.RANDOM.tmp`` beside ``path``, unique per call, so writers in threads and processes do
    not collide: the last rename wins, whole. Permissions follow the umask, as for any other file (not the owner-only
    ones of :func:`tempfile.mkstemp`: datasets are shared). The parent directory must exist. No ``fsync``: atomicity
    is promised, durability across a power loss is not.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    Raises:
        OSError: the directory cannot be written (nothing is left behind).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            for part in parts:
                f.write(part)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
