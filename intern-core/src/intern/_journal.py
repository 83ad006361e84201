"""The journal of a copy: which units are done, and what the source held when each was read.

One file per copy in ``<cache_dir>/transfers/``, named by a hash of the copy's arguments, so rerunning the same copy
finds it. The first line is a JSON header: the arguments, the source's metadata and the units' layout. Each further
line is one finished unit::

    KEY CRC STAMP

``KEY`` names the unit (``"scale:Z0:Z1,Y0:Y1,X0:X1"``), ``CRC`` is the checksum of the source's voxels when the copy
verified (``-`` when it did not), ``STAMP`` a digest of the source's chunk stamp for the unit, taken before it was read
(``-`` when the store cannot tell). A later line for a key replaces an earlier one; ``CRC`` ``!`` forgets the key (its
destination did not verify). A torn last line, from a crash in mid-write, is ignored.

A journal written for the same arguments but another source metadata (shape, dtype, chunks, voxel size, offset,
scale levels) or another cut into units is discarded, and :meth:`Journal.open` says why.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import config
from ._metadata import VolumeMetadata

__all__ = ["Entry", "Journal", "describe_source"]

_VERSION = 2


@dataclass(frozen=True)
class Entry:
    """What the journal knows of a finished unit: its source's checksum and stamp digest (``None``: not recorded)."""

    crc: int | None
    stamp: str | None


def describe_source(meta: VolumeMetadata) -> dict[str, Any]:
    """The parts of a source's metadata a journal depends on, as JSON-ready values."""
    return {
        "dtype": meta.dtype,
        "axes": list(meta.axes),
        "scales": [{"shape": list(level.shape), "chunks": list(level.chunks), "voxel size": list(level.voxel_size),
                    "downsample": list(level.downsample), "offset": list(level.offset)} for level in meta.scales],
    }


def _changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What differs between two :func:`describe_source` values, in words."""

    def shown(value: Any) -> str:
        return str(tuple(value)) if isinstance(value, list) else str(value)

    changes = [f"{name} {shown(old.get(name))} -> {shown(new[name])}" for name in ("dtype", "axes")
               if old.get(name) != new[name]]
    before, after = old.get("scales") or [], new["scales"]
    if len(before) != len(after):
        changes.append(f"{len(before)} scale levels -> {len(after)}")
    # A changed number of levels is reported above; the levels both have are compared one by one.
    for i, (a, b) in enumerate(zip(before, after, strict=False)):
        changes += [f"scale {i} {name} {shown(a.get(name))} -> {shown(b[name])}" for name in b if a.get(name) != b[name]]
    return changes


class Journal:
    """An open journal, appended to as units finish.

    Only the copy's own thread writes it (:func:`intern.jobs.run_jobs` calls ``on_done`` in the caller's thread), and
    each line is flushed as it is written, so a killed copy loses at most the line it was writing.
    """

    def __init__(self, path: Path, header: str, *, fresh: bool) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("w" if fresh else "a")
        if fresh:
            self._write(header)

    @classmethod
    def open(cls, arguments: dict[str, Any], source: dict[str, Any], units: dict[str, Any], *,
             resume: bool) -> tuple[Journal, dict[str, Entry], str | None]:
        """The journal of this copy, the units it records as done, and why an earlier one was discarded (or ``None``).

        Args:
            arguments: the copy's arguments; they name the journal's file.
            source: :func:`describe_source` of the source now.
            units: how the copy is cut into units (any JSON value that changes when the cut does).
            resume: use what an earlier run recorded; ``False`` starts over.
        """
        named = json.dumps(arguments, sort_keys=True)
        path = config.cache_dir() / "transfers" / f"{hashlib.sha1(named.encode()).hexdigest()[:20]}.journal"
        header = json.dumps({"journal": _VERSION, "arguments": arguments, "source": source, "units": units},
                            sort_keys=True)
        done: dict[str, Entry] = {}
        why = None
        if resume:
            lines = _lines(path)
            before = _header(lines[0]) if lines else None
            if before is not None and before.get("arguments") == arguments:  # otherwise another copy's, or older
                changes = _changes(before.get("source") or {}, source)
                if changes:
                    why = f"the source's metadata changed since ({'; '.join(changes)})"
                elif before.get("units") != units:
                    why = "the copy is cut into other units (the destination's chunks changed)"
                else:
                    done = _entries(lines)
                if why:
                    why = (f"the journal of an earlier run of this copy ({path}) was discarded and every unit is "
                           f"copied again: {why}")
        return cls(path, header, fresh=not done), done, why

    def record(self, key: str, crc: int | None, stamp: str | None) -> None:
        """Note ``key`` as copied, with its source's checksum and stamp digest."""
        self._write(f"{key} {'-' if crc is None else crc} {stamp or '-'}")

    def forget(self, key: str) -> None:
        """Note ``key`` as not done: the next run copies it again."""
        self._write(f"{key} ! -")

    def close(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)

    def _write(self, line: str) -> None:
        self._file.write(line + "\n")
        self._file.flush()


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text().split("\n")
    except FileNotFoundError:
        return []


def _header(line: str) -> dict[str, Any] | None:
    try:
        header = json.loads(line)
    except ValueError:
        return None
    return header if isinstance(header, dict) and header.get("journal") == _VERSION else None


def _entries(lines: list[str]) -> dict[str, Entry]:
    done: dict[str, Entry] = {}
    for line in lines[1:-1]:  # the last element is "" after a complete line, or a torn line after a crash
        parts = line.split(" ")
        if len(parts) != 3:
            continue
        key, crc, stamp = parts
        if crc == "!":
            done.pop(key, None)
        elif crc == "-" or crc.isdigit():
            done[key] = Entry(None if crc == "-" else int(crc), None if stamp == "-" else stamp)
    return done
