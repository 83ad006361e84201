"""Where a Boss is and how to talk to it: endpoints from the configuration, and the client's tunables.

Endpoints follow the public ``intern`` client: ``[Default]`` of ``~/.intern/intern.cfg`` (keys ``protocol``, ``host``,
``token``) with ``INTERN_PROTOCOL``, ``INTERN_HOST``, ``INTERN_TOKEN`` over it, and optional ``[Project Service]``,
``[Metadata Service]`` and ``[Volume Service]`` sections that replace it for one service. With nothing configured,
the public BossDB (``https://api.bossdb.io``, token ``public``) is used, as the public client does.

Tunables live in the ``[bossdb]`` section (or ``INTERN_BOSSDB_<KEY>``); options passed to ``intern.open`` win:

==================  ===========================================================================  ==============
key                 meaning                                                                      default
==================  ===========================================================================  ==============
``timeout``         seconds to wait for an answer (each request)                                 ``120``
``connect_timeout`` seconds to wait for a connection                                             ``10``
``retries``         further tries after a dropped connection, a timeout, a 5xx or a 429           ``5``
``backoff``         first wait between tries, in seconds; it doubles each time (capped at 30)     ``0.5``
``block``           the request size ``Z,Y,X``: multiples of the 16x512x512 cuboid               ``16,512,512``
``send_zeros``      whether uploads send all-zero blocks (``false`` skips them)                  ``true``
``format``          ``blosc`` or ``npygz`` bodies                                                ``blosc``
``token``           token for fully qualified URIs whose host is not the configured one          ``public``
==================  ===========================================================================  ==============
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from intern.errors import ConfigError
from intern.plugin import config_path, config_section, parse_bool

from ._wire import BLOSC, CUBOID, NPYGZ

__all__ = ["ClientOptions", "Endpoint", "configured_endpoints"]

DEFAULT_PROTOCOL = "https"
DEFAULT_HOST = "api.bossdb.io"
ANONYMOUS = "public"
SERVICES = {"project": "Project Service", "metadata": "Metadata Service", "volume": "Volume Service"}


@dataclass(frozen=True)
class Endpoint:
    """One Boss API: ``protocol://host`` and the token sent to it."""

    protocol: str
    host: str
    token: str = ANONYMOUS

    @property
    def base_url(self) -> str:
        return f"{self.protocol}://{self.host}"

    def __repr__(self) -> str:  # never print a token
        return f"Endpoint({self.base_url})"


def _endpoint(values: Mapping[str, str], where: str) -> Endpoint:
    protocol = values.get("protocol", DEFAULT_PROTOCOL).strip().lower() or DEFAULT_PROTOCOL
    if protocol not in ("http", "https"):
        raise ConfigError(f"protocol {protocol!r} in {where} must be http or https")
    host = values.get("host", DEFAULT_HOST).strip().rstrip("/") or DEFAULT_HOST
    if "://" in host:
        raise ConfigError(f"host {host!r} in {where} is a host[:port] without a protocol (set protocol separately)")
    return Endpoint(protocol, host, values.get("token", "").strip() or ANONYMOUS)


def configured_endpoints() -> dict[str, Endpoint]:
    """The endpoint of each service (``project``, ``metadata``, ``volume``) as the configuration says."""
    where = f"[Default] of {config_path()} or INTERN_PROTOCOL/INTERN_HOST/INTERN_TOKEN"
    default = _endpoint(config_section("Default"), where)
    out = {}
    for key, section in SERVICES.items():
        values = config_section(section)
        out[key] = _endpoint(values, f"[{section}] of {config_path()}") if values.get("host") else default
    return out


def fallback_token() -> str:
    """The ``[bossdb]`` token, sent to hosts other than the configured one (``public`` when unset)."""
    return config_section("bossdb").get("token", "").strip() or ANONYMOUS


@dataclass(frozen=True)
class ClientOptions:
    """How the client moves cutouts; see the module docstring for each field."""

    timeout: float = 120.0
    connect_timeout: float = 10.0
    retries: int = 5
    backoff: float = 0.5
    block: tuple[int, int, int] = CUBOID
    send_zeros: bool = True
    format: str = BLOSC

    @classmethod
    def from_config(cls, overrides: Mapping[str, Any] | None = None) -> ClientOptions:
        """``[bossdb]`` settings with ``overrides`` (``intern.open`` options) on top; unknown keys stay in place."""
        values: dict[str, Any] = {k: v for k, v in config_section("bossdb").items() if k in _FIELDS}
        values.update({k: v for k, v in (overrides or {}).items() if k in _FIELDS})
        return replace(cls(), **{k: _parse(k, v) for k, v in values.items()})


_FIELDS = ("timeout", "connect_timeout", "retries", "backoff", "block", "send_zeros", "format")


def _parse(key: str, value: Any) -> Any:
    where = f"{key}={value!r} (an intern.open option, INTERN_BOSSDB_{key.upper()} or [bossdb] in {config_path()})"
    try:
        if key in ("timeout", "connect_timeout", "backoff"):
            number = float(value)
            if number <= 0 and key != "backoff" or number < 0:
                raise ValueError
            return number
        if key == "retries":
            number = int(value)
            if number < 0:
                raise ValueError
            return number
        if key == "send_zeros":
            return parse_bool(value, key)  # spelt as every boolean option and setting is
        if key == "format":
            text = str(value).strip().lower()
            formats = {"blosc": BLOSC, BLOSC: BLOSC, "npygz": NPYGZ, NPYGZ: NPYGZ}
            return formats[text]
        if key == "block":
            parts = [int(p) for p in (value.split(",") if isinstance(value, str) else value)]
            if len(parts) != 3 or any(p < 1 or p % c for p, c in zip(parts, CUBOID, strict=True)):
                raise ValueError
            return tuple(parts)
    except (TypeError, ValueError, KeyError):
        hints = {
            "block": "three whole multiples of the cuboid 16,512,512 as Z,Y,X",
            "format": "blosc or npygz",
            "send_zeros": "1/0, true/false, yes/no or on/off",
            "retries": "a whole number >= 0",
        }
        raise ConfigError(f"{where} is invalid: use {hints.get(key, 'a positive number of seconds')}") from None
    raise ConfigError(f"unknown setting {key!r}")  # pragma: no cover - _FIELDS guards it
