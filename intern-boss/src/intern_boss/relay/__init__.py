"""The relay: any volume intern reads, served in the BossDB dialect with a memory and a disk cache.

Start it with ``intern relay --mount COLL/EXP/CHAN=URI ...`` (see :mod:`intern_boss.relay._cli`); the application
is :class:`~intern_boss.relay._app.RelayApp`, which any ASGI server can run (uvicorn is what ``intern relay`` uses).
Needs the extra ``intern-boss[relay]``.
"""

from __future__ import annotations

from ._config import Mount, RelayConfig, parse_mount, parse_size
from ._process import RelayProcess

__all__ = ["Mount", "RelayConfig", "RelayProcess", "parse_mount", "parse_size"]
