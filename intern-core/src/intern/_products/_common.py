"""Helpers shared by mesh.py and skeleton.py: validation of arrays, labels and names, and atomic file I/O."""

from __future__ import annotations

import gzip
import json
import operator
import os
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .._files import write_atomic
from ..errors import MetadataError, NotFoundError

StrPath = str | os.PathLike[str]


# -- validation ------------------------------------------------------------------------------------------------------
def _readonly(a: np.ndarray) -> np.ndarray:
    # A read-only view rather than a copy: meshes can be large, and the caller's own array keeps its flags.
    v = a.view()
    v.flags.writeable = False
    return v


def _points(value: npt.ArrayLike, what: str, n: int | None = None) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):  # values beyond float32 become inf, refused below
        a = np.asarray(value, dtype=np.float32)
    if a.size == 0:
        a = a.reshape(0, 3)
    if a.ndim != 2 or a.shape[1] != 3:
        raise ValueError(f"{what} must have shape (N, 3), got {a.shape}")
    if n is not None and len(a) != n:
        raise ValueError(f"{what} has {len(a)} rows, but there are {n} vertices")
    if not np.isfinite(a).all():
        raise ValueError(f"{what} contain NaN or infinity")
    return _readonly(a)


def _indices(value: npt.ArrayLike, width: int, what: str, n: int) -> np.ndarray:
    a = np.asarray(value)
    if a.size == 0:
        a = a.reshape(0, width).astype(np.uint32)  # an empty list arrives as float64
    if a.ndim != 2 or a.shape[1] != width:
        raise ValueError(f"{what} must have shape (M, {width}), got {a.shape}")
    if not np.issubdtype(a.dtype, np.integer):
        raise TypeError(f"{what} must be integers, got dtype {a.dtype}")
    if a.size and (a.min() < 0 or a.max() >= n):
        raise ValueError(f"{what} refer to vertices outside 0..{n - 1}" if n else f"{what} refer to missing vertices")
    return _readonly(a.astype(np.uint32, copy=False))


def _label(value: Any, what: str = "id") -> int:
    if isinstance(value, bool):
        raise TypeError(f"{what} must be an integer label, got {value!r}")
    try:
        label = operator.index(value)
    except TypeError:
        raise TypeError(f"{what} must be an integer label, got {value!r}") from None
    if not 0 <= label < 2**64:
        raise ValueError(f"{what} must be a uint64 label, got {label}")
    return label


def _as_label(value: Any, what: str = "id") -> int | None:
    return None if value is None else _label(value, what)


def _text(data: bytes | str, what: str) -> str:
    if isinstance(data, str):
        return data
    try:
        return bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MetadataError(f"{what} data is not UTF-8 text: {exc}") from None


def _suffix(path: Path, allowed: Sequence[str], what: str) -> str:
    suffix = path.suffix.lower()
    if suffix not in allowed:
        raise MetadataError(f"cannot tell a {what} format from the suffix of {str(path)!r}; use {' or '.join(allowed)}")
    return suffix


def _safe_name(name: Any, what: str) -> str:
    # Names come from manifests and callers; keep them inside the directory they belong to.
    if not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\\" in name:
        raise MetadataError(f"{what} {name!r} is not a plain file name")
    return name


# -- files -----------------------------------------------------------------------------------------------------------
def _read_file(path: Path, what: str) -> bytes:
    # cloud-volume stores gzip-compressed files on local disk as "<name>.gz"; read those transparently.
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    try:
        return gzip.decompress(path.with_name(path.name + ".gz").read_bytes())
    except FileNotFoundError:
        raise NotFoundError(f"{what}: no file {str(path)!r}") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise MetadataError(f"{what}: {str(path)!r}.gz is not valid gzip: {exc}") from None


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(_read_file(path, what))
    except ValueError as exc:
        if isinstance(exc, MetadataError):
            raise
        raise MetadataError(f"{what}: {str(path)!r} is not valid JSON: {exc}") from None


def _read_info(root: Path, what: str) -> dict[str, Any] | None:
    try:
        info = _read_json(root / "info", what)
    except NotFoundError:
        return None
    if not isinstance(info, dict):
        raise MetadataError(f"{what}: {str(root / 'info')!r} is not a JSON object")
    if "sharding" in info:
        raise MetadataError(f"{what}: {str(root)!r} is sharded; intern reads only unsharded directories here")
    return info


def _write_info(root: Path, info: dict[str, Any], absent: Mapping[str, Any]) -> None:
    # Merging keeps keys others wrote (segment_properties, ...). The keys of ``absent`` (mapped to the value an info
    # without them implies) decide how the existing files are laid out; if they differ, rewriting info would make
    # those files unreadable, so refuse instead.
    path = root / "info"
    existing = _read_info(root, "existing info")
    if existing is not None:
        for key, implied in absent.items():
            if existing.get(key, implied) != info.get(key):
                raise MetadataError(
                    f"{str(path)!r} has {key}={existing.get(key, implied)!r}, not {info.get(key)!r}; "
                    "refusing to mix layouts in one directory"
                )
        if {**existing, **info} == existing:
            return
        info = {**existing, **info}
    write_atomic(path, json.dumps(info).encode())

