"""The label counters of a labelmap: max label per version, repo-wide max, and the allocator of new labels.

As DVID's labelmap keeps them (``datatype/labelmap/labelmap.go``, its help text for ``maxlabel`` and ``nextlabel``):

- ``MaxLabel[v]``: the largest label written (or reserved) at version ``v``. Every block written at ``v`` raises it to
  the block's largest label, never below what ``v`` inherits. ``GET maxlabel`` answers the largest entry of the
  version and its ancestors, so a child never reports less than its parents; a version with no entry anywhere up its
  ancestry (nothing but zeros written yet) is a 400.
- ``MaxRepoLabel``: the largest label of any version: new labels come after it, so two branches never hand out the
  same label. ``GET nextlabel`` is repo-wide: ``MaxRepoLabel + 1``, or ``NextLabel + 1`` once an administrator has set
  ``NextLabel`` (``set-nextlabel``), after which allocations count from there, up to an optional ceiling.
- ``POST nextlabel/<n>`` reserves ``n`` consecutive labels ``start..end`` and records ``end`` as the version's max.
- ``POST maxlabel/<n>`` (administrators only) raises the version's max; a lower value is ignored.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ._errors import DvidError

__all__ = ["LabelCounters", "MAX_POSTED_MAX_LABEL", "UINT64_MAX"]

UINT64_MAX = 2**64 - 1
MAX_POSTED_MAX_LABEL = 2**48  # DVID rejects larger POST /maxlabel values as garbage


@dataclass
class LabelCounters:
    """The counters of one labelmap instance.

    Every method reads and changes them under :attr:`lock` (DVID's ``mlMu``), so that a check and the change it
    decides on happen together: concurrent writes cannot lower a max, and concurrent reservations never overlap.
    The walk up the version DAG reads only the parents of existing nodes, which never change once a node exists.

    Args:
        parents: the parent version IDs of a version (the repo's DAG).
    """

    parents: Callable[[int], Iterable[int]]
    max_label: dict[int, int] = field(default_factory=dict)  # version -> its own max entry
    max_repo_label: int = 0
    next_label: int = 0  # 0: allocate above max_repo_label
    next_label_ceiling: int = 0  # 0: no ceiling
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def _effective(self, version: int) -> int | None:
        """The max over the version and all its ancestors, or None when none has an entry. Call under the lock."""
        best: int | None = None
        seen: set[int] = set()
        todo = [version]
        while todo:
            v = todo.pop()
            if v in seen:
                continue
            seen.add(v)
            if v in self.max_label and (best is None or self.max_label[v] > best):
                best = self.max_label[v]
            todo.extend(self.parents(v))
        return best

    def effective_max(self, version: int) -> int | None:
        """``GET maxlabel``: the largest label of the version and its ancestors; None if nothing was recorded."""
        with self.lock:
            return self._effective(version)

    def _raise(self, version: int, label: int) -> bool:
        """Raise the version's entry to ``label`` (never below what it inherits) and the repo max. Under the lock."""
        current = self.max_label.get(version)
        if current is not None and current >= label:
            return False
        inherited = self._effective(version)
        if inherited is not None and inherited > label:
            label = inherited
            if current is not None and current >= label:
                return False
        self.max_label[version] = label
        self.max_repo_label = max(self.max_repo_label, label)
        return True

    def written(self, version: int, largest: int) -> None:
        """Blocks holding labels up to ``largest`` were written at ``version`` (zeros alone change nothing)."""
        if largest:
            with self.lock:
                self._raise(version, largest)

    def post_max(self, version: int, label: int) -> bool:
        """``POST maxlabel/<label>``: raise the version's max; True if it changed (a lower value is ignored)."""
        if label == 0:
            raise DvidError(400, "Label 0 is protected background value and cannot be used as max label.\n")
        if label > MAX_POSTED_MAX_LABEL:
            raise DvidError(400, f"Posted max label {label} exceeds allowed cap {MAX_POSTED_MAX_LABEL}")
        with self.lock:
            return self._raise(version, label)

    def next_free(self) -> int:
        """``GET nextlabel``: the first label a reservation would hand out (repo-wide, whatever the version)."""
        with self.lock:
            return (self.next_label or self.max_repo_label) + 1

    def reserve(self, version: int, count: int, name: str) -> tuple[int, int]:
        """``POST nextlabel/<count>``: ``count`` new consecutive labels ``(start, end)``, inclusive."""
        if count == 0:
            raise DvidError(400, f"cannot request {count} new labels, must be 1 or more")
        with self.lock:
            base = self.next_label or self.max_repo_label
            # labels stay below 2^64 - 1, which DVID keeps as a range sentinel
            if count >= UINT64_MAX - base:
                what = f"next label {base}" if self.next_label else f"repo max {base}"
                raise DvidError(400, f"allocating {count} new labels for data {name!r} would overflow uint64 label "
                                     f"space ({what})")
            start, end = base + 1, base + count
            if self.next_label:
                if self.next_label_ceiling and end > self.next_label_ceiling:
                    raise DvidError(400, f"allocating {count} new labels for data {name!r} would exceed configured "
                                         f"next label ceiling {self.next_label_ceiling}")
                self.next_label = end
                # the version's max follows, the repo max does not: set-nextlabel counts below it on purpose
                inherited = self._effective(version) or 0
                self.max_label[version] = max(self.max_label.get(version, 0), end, inherited)
            else:
                self.max_repo_label = end
                self.max_label[version] = end
            return start, end

    def set_next(self, label: int, ceiling: int | None) -> None:
        """``POST set-nextlabel/<label>[?ceiling=n]``: the next reservation starts at ``label + 1``.

        ``ceiling``: None leaves the ceiling as it is, 0 clears it, another value caps every later reservation.
        """
        if label == 0:
            raise DvidError(400, "label 0 is protected background value and cannot be used as next label")
        if label == UINT64_MAX:
            raise DvidError(400, f"next label start {label} is reserved and would overflow uint64 label space")
        with self.lock:
            cap = self.next_label_ceiling if ceiling is None else ceiling
            if cap and label > cap:
                raise DvidError(400, f"next label start {label} would exceed next label ceiling {cap}")
            self.next_label = label
            if ceiling is not None:
                self.next_label_ceiling = ceiling

    def info(self) -> dict[str, object]:
        """The ``Extended`` fields of the instance's ``/info``: ``MaxLabel`` is keyed by version ID, as in DVID."""
        with self.lock:
            out: dict[str, object] = {"MaxLabel": {str(v): n for v, n in sorted(self.max_label.items())},
                                      "MaxRepoLabel": self.max_repo_label, "NextLabel": self.next_label}
            if self.next_label_ceiling:
                out["NextLabelCeiling"] = self.next_label_ceiling
            return out
