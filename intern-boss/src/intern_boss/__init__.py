"""intern-boss: the BossDB REST dialect both ways.

- the ``bossdb://`` client: ``intern.array("bossdb://coll/exp/chan")[z0:z1, y0:y1, x0:x1]`` and the whole resource
  API (:class:`BossRemote`: collections, experiments, channels, coordinate frames, metadata, annotation helpers,
  downsampling);
- the relay (extra ``intern-boss[relay]``): ``intern relay --mount COLL/EXP/CHAN=URI`` serves any volume intern can
  read to any Boss client, with a memory and a disk cache.

The names below load on first use, so the plugin stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = ["BossChannel", "BossCollection", "BossExperiment", "BossRemote"]

if TYPE_CHECKING:
    from ._remote import BossChannel, BossCollection, BossExperiment, BossRemote


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("._remote", __name__), name)
    raise AttributeError(f"module 'intern_boss' has no attribute {name!r}")
