"""Configuration: the public intern INI file, per-scheme sections, and ``INTERN_*`` environment variables.

Looked up in this order, later winning:

1. ``~/.intern/intern.cfg`` (or the file named by ``INTERN_CONFIG``). Its ``[Default]`` section has the public intern
   client's keys ``protocol``, ``host``, ``token``; other sections are per scheme (``[bossdb]``, ``[dvid]``,
   ``[zarr]``) or intern-wide (``[intern]``: ``max_workers``, ``cache_dir``, ``scheduler``).
2. Environment: ``INTERN_PROTOCOL``, ``INTERN_HOST``, ``INTERN_TOKEN`` (into ``Default``), ``INTERN_MAX_WORKERS``,
   ``INTERN_CACHE_DIR``, ``INTERN_SCHEDULER`` (into ``intern``), and ``INTERN_<SCHEME>_<KEY>`` into ``[<scheme>]`` (``+`` in a scheme becomes ``_``).

>>> section("Default").get("protocol", "https")  # doctest: +SKIP
'https'
"""

from __future__ import annotations

import configparser
import os
from pathlib import Path

from .errors import ConfigError

__all__ = ["cache_dir", "config_path", "max_workers", "scheduler", "section"]

_DEFAULT_KEYS = {"PROTOCOL": "protocol", "HOST": "host", "TOKEN": "token"}
_INTERN_KEYS = {"MAX_WORKERS": "max_workers", "CACHE_DIR": "cache_dir", "SCHEDULER": "scheduler"}


def config_path() -> Path:
    """The INI file intern reads (it need not exist)."""
    return Path(os.environ.get("INTERN_CONFIG", Path.home() / ".intern" / "intern.cfg")).expanduser()


def _read() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    path = config_path()
    if path.is_file():
        try:
            parser.read(path)
        except configparser.Error as exc:
            raise ConfigError(f"{path} is not a valid INI file: {exc}") from None
    return parser


def section(name: str) -> dict[str, str]:
    """All settings of one section (``"Default"``, ``"intern"``, or a scheme), files and environment merged.

    Read fresh on every call, so a test or notebook that changes the environment sees the change.
    """
    parser = _read()
    values = dict(parser[name]) if parser.has_section(name) else {}
    if name == "Default":
        for env, key in _DEFAULT_KEYS.items():
            if f"INTERN_{env}" in os.environ:
                values[key] = os.environ[f"INTERN_{env}"]
    elif name == "intern":
        for env, key in _INTERN_KEYS.items():
            if f"INTERN_{env}" in os.environ:
                values[key] = os.environ[f"INTERN_{env}"]
    else:
        prefix = f"INTERN_{name.upper().replace('+', '_')}_"
        for env, value in os.environ.items():
            if env.startswith(prefix):
                values[env[len(prefix):].lower()] = value
    return values


def max_workers() -> int:
    """Threads for chunked I/O: ``max_workers`` in ``[intern]``, else 4 per core (I/O waits more than it computes)."""
    value = section("intern").get("max_workers")
    if value:
        try:
            n = int(value)
        except ValueError:
            raise ConfigError(f"max_workers (INTERN_MAX_WORKERS or [intern] in {config_path()}) must be a whole "
                              f"number, got {value!r}") from None
        if n >= 1:
            return n
        raise ConfigError(f"max_workers must be >= 1, got {n}")
    return min(32, 4 * (os.cpu_count() or 1))


def cache_dir() -> Path:
    """Where intern keeps caches and transfer journals: ``cache_dir`` in ``[intern]``, else ``~/.cache/intern``."""
    value = section("intern").get("cache_dir")
    base = Path(value) if value else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "intern"
    return base.expanduser()


def scheduler() -> str | None:
    """The Dask scheduler chunked jobs go to by default (``tcp://host:8786`` or ``local``); None: threads here."""
    return section("intern").get("scheduler") or None
