"""The light plugin module of intern-boss: the ``bossdb://`` scheme and the ``intern relay`` command.

The core imports this module when it builds its registry, so it imports nothing but :mod:`intern.plugin`;
requests, blosc and the relay's ASGI server load on first use, through the dotted references.
"""

from __future__ import annotations

from intern.plugin import CommandSpec, SchemeSpec, hookimpl

__all__ = ["intern_cli_commands", "intern_schemes"]


@hookimpl
def intern_schemes() -> list[SchemeSpec]:
    """``bossdb://COLL/EXP/CHAN`` (host from the configuration) and ``bossdb://http(s)://HOST/COLL/EXP/CHAN``."""
    return [SchemeSpec("bossdb", "intern_boss._remote:BossRemote.from_uri",
                       description="BossDB channels over its REST API (and intern relays)")]


@hookimpl
def intern_cli_commands() -> list[CommandSpec]:
    """``intern relay``: serve any volume intern reads in the Boss dialect, with a memory and disk cache."""
    return [CommandSpec("relay", "intern_boss.relay._cli:main",
                        help="serve volumes in the BossDB dialect with a cache (pip install 'intern-boss[relay]')")]
