"""What one relay process serves: its mounts with the cache tiers they share, who may ask, and the lookups that 404.

The request handlers (:mod:`._resources`, :mod:`._cutouts`) are functions of a :class:`Site` and a request; the site
is built once per worker process and shared by its event loop and request threads. It changes nothing after it is
built (each mount's :class:`~._channel.ServedChannel` guards its own state), so it needs no lock of its own.
"""

from __future__ import annotations

import hmac

from .._wire import ErrorCode
from ._answers import BossHTTPError, Request
from ._cache import CacheStats, DiskTier, MemoryTier
from ._channel import ServedChannel
from ._config import RelayConfig
from ._memory import HeapTrimmer

__all__ = ["Site"]


class Site:
    """The mounts of one relay process, opened on first use, with its memory and disk tiers and their counters.

    Args:
        config: mounts, tokens, cache settings.
    """

    def __init__(self, config: RelayConfig) -> None:
        self.config = config
        self.stats = CacheStats()
        self.memory = MemoryTier(config.memory_size)
        disk = DiskTier(config.cache_dir, config.cache_size, self.stats) \
            if config.cache_dir and config.cache_size > 0 else None
        self.channels = {m.path: ServedChannel(m, i, memory=self.memory, disk=disk, stats=self.stats,
                                               check_disk=config.workers > 1 and config.writable)
                         for i, m in enumerate(config.mounts)}
        self._tokens = tuple(t.encode() for t in config.tokens)
        self.trimmer = HeapTrimmer(config.trim_every)  # started and stopped with the application's lifespan

    @property
    def public(self) -> bool:
        """Whether anyone may read, without a token (the Boss's ``public`` field)."""
        return not self._tokens

    def authenticate(self, request: Request) -> None:
        """Refuse a request without an accepted token, when this relay has tokens.

        Raises:
            BossHTTPError: 401 without ``Authorization: Token ...``, 403 with a token this relay does not accept.
        """
        if not self._tokens:
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "token" or not token.strip():
            raise BossHTTPError(401, ErrorCode.MISSING_PERMISSION,
                                "this relay needs 'Authorization: Token <token>' (set INTERN_TOKEN)")
        given = token.strip().encode()
        # compared in constant time, so that the answer's timing tells nothing about the tokens
        if not any(hmac.compare_digest(given, t) for t in self._tokens):
            raise BossHTTPError(403, ErrorCode.MISSING_PERMISSION, "the token is not one this relay accepts")

    def mounts(self, c: str | None = None, e: str | None = None) -> list[ServedChannel]:
        """The channels served in collection ``c`` and experiment ``e`` (all of them for ``None``)."""
        return [ch for ch in self.channels.values()
                if (c is None or ch.mount.collection == c) and (e is None or ch.mount.experiment == e)]

    def need(self, c: str, e: str | None = None) -> list[ServedChannel]:
        """The channels of collection ``c`` (and experiment ``e``); 404 when there are none."""
        found = self.mounts(c, e)
        if not found:
            what = f"experiment {c}/{e}" if e else f"collection {c}"
            raise BossHTTPError(404, ErrorCode.RESOURCE_NOT_FOUND, f"{what} is not served here")
        return found

    def channel(self, c: str, e: str, ch: str) -> ServedChannel:
        """The channel ``c/e/ch``; 404 when it is not served."""
        found = self.channels.get(f"{c}/{e}/{ch}")
        if found is None:
            raise BossHTTPError(404, ErrorCode.RESOURCE_NOT_FOUND, f"channel {c}/{e}/{ch} is not served here")
        return found
