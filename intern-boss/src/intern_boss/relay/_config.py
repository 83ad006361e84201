"""What a relay serves and how: mounts, tokens, cache sizes; parsed once from the command line.

The configuration crosses into uvicorn's worker processes as JSON in the environment (``INTERN_RELAY_CONFIG``), so
every worker builds the same application.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from intern.errors import ConfigError

__all__ = ["ENV_VAR", "Mount", "RelayConfig", "parse_mount", "parse_size"]

ENV_VAR = "INTERN_RELAY_CONFIG"
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def parse_size(text: str | int) -> int:
    """``"10GB"`` -> 10_000_000_000; ``"512MiB"``, ``"0"`` and plain byte counts too.

    >>> parse_size("1.5GiB")
    1610612736
    """
    if isinstance(text, int):
        return text
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*", str(text))
    if not m or m.group(2).upper() not in _UNITS:
        raise ConfigError(f"size {text!r} is not a number with an optional unit (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)")
    return int(float(m.group(1)) * _UNITS[m.group(2).upper()])


@dataclass(frozen=True)
class Mount:
    """``COLL/EXP/CHAN=URI``: the channel the relay serves and the intern URI it reads."""

    collection: str
    experiment: str
    channel: str
    upstream: str

    @property
    def path(self) -> str:
        return f"{self.collection}/{self.experiment}/{self.channel}"


def parse_mount(text: str) -> Mount:
    """Parse ``COLL/EXP/CHAN=URI``.

    Raises:
        ConfigError: no ``=``, not three names, or a name with characters other than letters, digits, ``-``, ``_``
            (names become cache directory names, so nothing like ``..`` may pass).
    """
    name, sep, uri = text.partition("=")
    parts = name.strip().split("/")
    if not sep or not uri.strip() or len(parts) != 3:
        raise ConfigError(f"--mount {text!r}: write COLL/EXP/CHAN=URI, e.g. em/raw/image=zarr:///data/em.zarr")
    for p in parts:
        if not _NAME.match(p):
            raise ConfigError(f"--mount {text!r}: {p!r} is not a Boss name (1-64 letters, digits, '-' or '_')")
    return Mount(parts[0], parts[1], parts[2], uri.strip())


@dataclass(frozen=True)
class RelayConfig:
    """Everything a relay process needs.

    Attributes:
        mounts: the channels served.
        tokens: accepted ``Authorization: Token ...`` values; empty serves anonymous reads.
        writable: whether cutout POSTs are written through to the upstream (needs tokens).
        cache_dir: the disk tier's directory (shared by the workers); ``None`` for no disk tier.
        cache_size: the disk tier's budget in bytes (LRU beyond it).
        memory_size: the in-memory tier's budget in bytes, per worker process.
        max_cutout: the largest cutout served, uncompressed bytes (uint64 channels get four times as much).
        workers: processes serving (their memory tiers check the disk tier so writes elsewhere are seen).
        threads: threads per process running requests.
        header_timeout: seconds a connection has to send a request's headers (from its opening, or from the first
            byte of a further request on it); a connection that takes longer is answered 408 and closed.
        body_timeout: seconds a request has to send its whole body once its headers are in; 408 and closed beyond.
        keep_alive: seconds an idle connection stays open between requests.
        max_connections: connections each worker holds at once; one more is answered 503 and closed at once.
        backlog: connections the operating system queues for the relay before it accepts them.
        trim_every: seconds between returns of freed memory to the system while requests come in (glibc's
            ``malloc_trim``; see :mod:`intern_boss.relay._memory`); 0 never returns it.
    """

    mounts: tuple[Mount, ...]
    tokens: tuple[str, ...] = ()
    writable: bool = False
    cache_dir: str | None = None
    cache_size: int = 10 * 10**9
    memory_size: int = 10**9
    max_cutout: int = 520 * 2**20
    workers: int = 1
    threads: int = 16
    header_timeout: float = 10.0
    body_timeout: float = 60.0
    keep_alive: float = 30.0
    max_connections: int = 1000
    backlog: int = 2048
    trim_every: float = 1.0

    def __post_init__(self) -> None:
        if not self.mounts:
            raise ConfigError("a relay serves at least one --mount COLL/EXP/CHAN=URI")
        for flag, value in (("--header-timeout", self.header_timeout), ("--body-timeout", self.body_timeout),
                            ("--keep-alive", self.keep_alive)):
            if not value > 0:
                raise ConfigError(f"{flag} {value}: give a number of seconds above 0")
        if not self.trim_every >= 0:
            raise ConfigError(f"--trim-every {self.trim_every}: give a number of seconds, or 0 to never trim")
        for flag, count in (("--max-connections", self.max_connections), ("--backlog", self.backlog)):
            if count < 1:
                raise ConfigError(f"{flag} {count}: give at least 1")
        seen = set()
        for m in self.mounts:
            if m.path in seen:
                raise ConfigError(f"--mount {m.path} is given twice")
            seen.add(m.path)
        if self.writable and not self.tokens:
            raise ConfigError("--writable needs --token: a relay never takes anonymous writes")
        if self.cache_dir is not None and self.cache_size > 0:
            Path(self.cache_dir).mkdir(parents=True, exist_ok=True)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> RelayConfig:
        raw = json.loads(text)
        raw["mounts"] = tuple(Mount(**m) for m in raw["mounts"])
        raw["tokens"] = tuple(raw.get("tokens", ()))
        return cls(**raw)

    @classmethod
    def from_env(cls) -> RelayConfig:
        text = os.environ.get(ENV_VAR)
        if not text:
            raise ConfigError(f"{ENV_VAR} is not set: start relays with 'intern relay ...'")
        return cls.from_json(text)
