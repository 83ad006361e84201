"""The state of the DVID-compatible test server: repos, version DAGs and versioned data instances, in memory.

Everything here follows what the real server does (see ``docs/dvid.md`` for the wire facts it answers by):
version IDs are small integers local to the server, UUIDs are 32 lowercase hex digits matched by case-sensitive
prefix, a read at a node sees the newest write on that node or its first-parent ancestors, writes to a versioned
instance at a committed (locked) node are refused, and labelmap lower scales are recomputed from scale 0 on every
write. Failures raise :class:`DvidError` with the status and message the real server would send.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
import uuid as uuidlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._errors import DvidError
from ._labels import LabelCounters

__all__ = ["DvidError", "Instance", "Node", "Repo", "Store", "VOLUME_TYPES"]

VOLUME_TYPES = {"uint8blk": np.uint8, "labelblk": np.uint64, "labelarray": np.uint64, "labelmap": np.uint64}
LABEL_TYPES = ("labelblk", "labelarray", "labelmap")
MULTISCALE_TYPES = ("labelarray", "labelmap")
KNOWN_TYPES = (*VOLUME_TYPES, "keyvalue")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


@dataclass
class Node:
    uuid: str
    version: int
    branch: str = ""
    note: str = ""
    log: list[str] = field(default_factory=list)
    locked: bool = False
    parents: list[int] = field(default_factory=list)
    children: list[int] = field(default_factory=list)
    created: str = field(default_factory=_now)
    updated: str = field(default_factory=_now)
    writers: int = 0  # requests changing data at this node right now (see Store.writing)

    def to_json(self) -> dict[str, Any]:
        return {"Branch": self.branch, "Note": self.note, "Log": list(self.log), "UUID": self.uuid,
                "VersionID": self.version, "Locked": self.locked, "Parents": list(self.parents),
                "Children": list(self.children), "Created": self.created, "Updated": self.updated}


@dataclass
class Instance:
    """A data instance: a voxel volume (blocks per scale, per version) or a keyvalue store (per version)."""

    repo: Repo
    name: str
    typename: str
    versioned: bool = True
    compression: str = ""
    block: tuple[int, int, int] = (32, 32, 32)  # x, y, z
    voxel_size: tuple[float, float, float] = (8.0, 8.0, 8.0)
    voxel_units: tuple[str, str, str] = ("nanometers",) * 3
    max_downres: int = 0
    indexed: bool = True
    data_uuid: str = field(default_factory=lambda: uuidlib.uuid4().hex)
    min_point: list[int] | None = None  # x, y, z, inclusive
    max_point: list[int] | None = None
    # (scale, bx, by, bz) -> {version: block (z, y, x) or None for a deletion}; keyvalue: key -> {version: bytes|None}.
    # Changed under Store.lock; a block array is never changed in place, only replaced, so a reader holding one
    # sees a whole old block or a whole new one.
    blocks: dict[tuple[int, int, int, int], dict[int, np.ndarray | None]] = field(default_factory=dict)
    values: dict[str, dict[int, bytes | None]] = field(default_factory=dict)
    # labelarray, labelmap: max label per version, repo-wide max, allocator (with their own lock)
    labels: LabelCounters | None = None
    # Held by each voxel write from its first block to its last downres level: the read-modify-write of the lower
    # scales (read the level above, reduce, store) must not interleave with another write's, or a reduction of
    # stale data can be stored last. See _voxels.put_voxels.
    write_lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(VOLUME_TYPES[self.typename])

    @property
    def is_volume(self) -> bool:
        return self.typename in VOLUME_TYPES

    @property
    def block_zyx(self) -> tuple[int, int, int]:
        return self.block[2], self.block[1], self.block[0]

    def info(self) -> dict[str, Any]:
        base = {"TypeName": self.typename, "TypeURL": f"github.com/janelia-flyem/dvid/datatype/{self.typename}",
                "TypeVersion": "0.1", "DataUUID": self.data_uuid, "Name": self.name, "RepoUUID": self.repo.root,
                "Compression": self.compression, "Checksum": "No checksum", "Syncs": [],
                "Versioned": self.versioned, "KVStore": "basholeveldb @ memory", "LogStore": "", "Tags": {}}
        if not self.is_volume:
            return {"Base": base, "Extended": {}}
        dtype = self.dtype.name
        ext: dict[str, Any] = {
            "Values": [{"DataType": dtype, "Label": self.typename if self.typename in LABEL_TYPES else dtype}],
            "Interpolable": self.typename not in LABEL_TYPES,
            "BlockSize": list(self.block), "VoxelSize": list(self.voxel_size), "VoxelUnits": list(self.voxel_units),
            "MinPoint": self.min_point, "MaxPoint": self.max_point,
            "MinIndex": None if self.min_point is None else [p // b for p, b in zip(self.min_point, self.block, strict=True)],
            "MaxIndex": None if self.max_point is None else [p // b for p, b in zip(self.max_point, self.block, strict=True)],
            "Background": 0,
        }
        if self.labels is not None:
            counters = self.labels.info()
            if self.typename != "labelmap":  # labelarray has no allocator of its own
                del counters["NextLabel"]
            ext.update(counters)
        if self.typename in MULTISCALE_TYPES:
            ext.update({"MaxDownresLevel": self.max_downres, "IndexedLabels": self.indexed})
        return {"Base": base, "Extended": ext, "Extents": {"MinPoint": self.min_point, "MaxPoint": self.max_point}}


@dataclass
class Repo:
    root: str
    alias: str = ""
    description: str = ""
    log: list[str] = field(default_factory=list)
    properties: dict[str, Any] = field(default_factory=dict)
    instances: dict[str, Instance] = field(default_factory=dict)
    nodes: dict[int, Node] = field(default_factory=dict)
    created: str = field(default_factory=_now)
    updated: str = field(default_factory=_now)

    def info(self) -> dict[str, Any]:
        return {
            "Root": self.root, "Alias": self.alias, "Description": self.description, "Log": list(self.log),
            "Properties": dict(self.properties),
            "DataInstances": {name: inst.info() for name, inst in self.instances.items()},
            "DAG": {"Root": self.root, "Nodes": {n.uuid: n.to_json() for n in self.nodes.values()}},
            "Created": self.created, "Updated": self.updated,
        }


def _str_config(config: dict[str, Any], key: str) -> str | None:
    """A type-specific setting: DVID takes them as JSON strings only (case-insensitive keys)."""
    for k, v in config.items():
        if k.lower() == key.lower():
            if not isinstance(v, str):
                raise DvidError(400, f"Configuration value for {k!r} must be a string, got {v!r}")
            return v
    return None


def _triple(text: str, kind: type, what: str) -> tuple[Any, Any, Any]:
    parts = text.replace(" ", "").split(",")
    try:
        values = tuple(kind(p) for p in parts)
    except ValueError:
        raise DvidError(400, f"Could not parse {what} {text!r}") from None
    if len(values) != 3:
        raise DvidError(400, f"{what} must have 3 dimensions, got {text!r}")
    return values


class Store:
    """Every repo of the server.

    What protects what:

    - :attr:`lock` guards the structure (repos, UUIDs, nodes and their DAG links and locks, instances), the keyvalue
      histories and the dicts of blocks: every check-then-change of these (a duplicate name, a locked node, the next
      version ID) happens under it.
    - a node's ``writers`` count (under :attr:`lock`) keeps commits and writes apart: a write enters only while its
      node is unlocked, and a commit locks the node, then waits until the writes already in progress are done, so
      nothing changes a node once its commit has been answered.
    - ``Instance.write_lock`` serialises voxel writes of one instance (their lower scales are read-modify-writes).
    - ``Instance.labels.lock`` guards a labelmap's label counters.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._writes_done = threading.Condition(self.lock)
        self.repos: dict[str, Repo] = {}
        self._next_version = 1
        self._uuids: dict[str, tuple[Repo, int]] = {}

    # -- versions -------------------------------------------------------------------------------------------------
    def _new_node(self, repo: Repo, *, branch: str = "", note: str = "", parent: Node | None = None) -> Node:
        node = Node(uuid=uuidlib.uuid4().hex, version=self._next_version, branch=branch, note=note)
        self._next_version += 1
        if parent is not None:
            node.parents.append(parent.version)
            parent.children.append(node.version)
        repo.nodes[node.version] = node
        self._uuids[node.uuid] = (repo, node.version)
        return node

    def new_repo(self, alias: str = "", description: str = "") -> Repo:
        with self.lock:
            repo = Repo(root="", alias=alias, description=description)
            node = self._new_node(repo)
            repo.root = node.uuid
            self.repos[repo.root] = repo
            return repo

    def match(self, ref: str) -> tuple[Repo, Node]:
        """The repo and node of a UUID prefix, or of ``prefix:branch`` (the leaf of that branch)."""
        prefix, sep, branch = ref.partition(":")
        with self.lock:
            found = [u for u in self._uuids if u.startswith(prefix)] if prefix else []
            if not found:
                raise DvidError(400, f"could not find UUID with partial match to {prefix}")
            repos = {id(self._uuids[u][0]) for u in found}
            if len(found) > 1 and (not sep or len(repos) > 1):
                raise DvidError(400, f"more than one UUID matches {prefix}")
            repo, version = self._uuids[found[0]]
            if not sep:
                return repo, repo.nodes[version]
            return repo, self._leaf(repo, branch)

    @staticmethod
    def _on_branch(node: Node, branch: str) -> bool:
        return node.branch == branch or (branch == "master" and node.branch == "")

    def _leaf(self, repo: Repo, branch: str) -> Node:
        nodes = [n for n in repo.nodes.values() if self._on_branch(n, branch)]
        leaves = [n for n in nodes if not any(self._on_branch(repo.nodes[c], branch) for c in n.children)]
        if not leaves:
            raise DvidError(400, f"could not find branch {branch!r} in repo {repo.root}")
        return max(leaves, key=lambda n: n.version)

    @staticmethod
    def ancestry(repo: Repo, node: Node) -> list[int]:
        """Version IDs from the node up to the root along first parents: where reads look, nearest first."""
        chain = [node.version]
        while repo.nodes[chain[-1]].parents:
            chain.append(repo.nodes[chain[-1]].parents[0])
        return chain

    def commit(self, repo: Repo, node: Node, note: str, log: list[str]) -> None:
        with self.lock:
            if node.locked:
                raise DvidError(400, f"node {node.uuid} is already locked")
            node.locked, node.note, node.updated = True, note, _now()  # from here on, new writes are refused
            node.log.extend(log)
            while node.writers:  # ... and those already in progress finish before the commit is answered
                self._writes_done.wait()

    @contextlib.contextmanager
    def writing(self, node: Node, method: str, endpoint: str, *, admin: bool = False) -> Iterator[None]:
        """Around a request that changes data at ``node``: refused if the node is locked (committed).

        As on DVID, the check comes before the request's body is read, so a commit also waits for a client still
        sending the body of a write it began before the commit.

        Args:
            admin: the request carries the server's admin token; DVID lets it change locked nodes.
        """
        with self.lock:
            if node.locked and not admin:
                raise DvidError(400, f'Cannot do {method} on endpoint "{endpoint}" of locked node {node.uuid}')
            node.writers += 1
        try:
            yield
        finally:
            with self.lock:
                node.writers -= 1
                if not node.writers:
                    self._writes_done.notify_all()

    def child(self, repo: Repo, node: Node, *, branch: str | None, note: str) -> Node:
        with self.lock:
            if not node.locked:
                raise DvidError(400, "can't branch an unlocked node")
            if branch is None:
                branch = node.branch
                if any(repo.nodes[c].branch == branch for c in node.children):
                    raise DvidError(400, f"node {node.uuid} already has a child on branch {branch!r}: "
                                         "create a new branch instead")
            elif any(self._on_branch(n, branch) for n in repo.nodes.values()) or branch in ("", "master"):
                raise DvidError(400, f"branch {branch!r} already exists in repo {repo.root}")
            return self._new_node(repo, branch=branch, note=note, parent=node)

    # -- instances ------------------------------------------------------------------------------------------------
    def new_instance(self, repo: Repo, node: Node, config: dict[str, Any], *, admin: bool = False) -> Instance:
        """A data instance made at ``node`` (DVID names the node in its answer); refused on a locked node.

        Args:
            admin: the request carries the server's admin token; DVID lets it add instances to locked nodes.
        """
        self._check_open(node, admin)  # DVID's first check, before it reads the configuration
        typename = config.get("typename")
        name = config.get("dataname")
        if not isinstance(typename, str) or not isinstance(name, str) or not name:
            raise DvidError(400, "POST on repo endpoint requires specification of valid 'typename' and 'dataname'")
        if typename not in KNOWN_TYPES:
            raise DvidError(400, f"no data type with name {typename!r} has been compiled into this DVID server")
        versioned = (_str_config(config, "versioned") or "true").lower() in ("true", "1", "yes")
        inst = Instance(repo=repo, name=name, typename=typename, versioned=versioned)
        if inst.is_volume:
            default_block = 64 if typename in ("labelarray", "labelmap") else 32
            inst.block = _triple(_str_config(config, "BlockSize") or f"{default_block},{default_block},{default_block}",
                                 int, "BlockSize")
            if any(b < 1 for b in inst.block):
                raise DvidError(400, f"BlockSize must be positive, got {inst.block}")
            inst.voxel_size = _triple(_str_config(config, "VoxelSize") or "8,8,8", float, "VoxelSize")
            inst.voxel_units = _triple(_str_config(config, "VoxelUnits") or "nanometers,nanometers,nanometers",
                                       str, "VoxelUnits")
            inst.compression = _str_config(config, "Compression") or ("gzip" if typename == "labelmap" else "lz4")
            if typename in MULTISCALE_TYPES:
                level = _str_config(config, "MaxDownresLevel") or "0"
                if not re.fullmatch(r"[+-]?[0-9]+", level):  # Go's strconv.Atoi
                    raise DvidError(400, f'strconv.Atoi: parsing "{level}": invalid syntax')
                if not 0 <= int(level) <= 255:
                    raise DvidError(400, f"illegal number of down-res levels specified ({int(level)}): "
                                         "must be 0 <= n <= 255")
                inst.max_downres = int(level)
                inst.indexed = (_str_config(config, "IndexedLabels") or "true").lower() == "true"
                inst.labels = LabelCounters(parents=lambda v: repo.nodes[v].parents)
        else:
            inst.compression = _str_config(config, "Compression") or "lz4"
        with self.lock:
            self._check_open(node, admin)  # again, under the lock: a commit may have come in meanwhile
            if name in repo.instances:
                raise DvidError(400, f"data {name!r} already exists in repo {repo.root}")
            repo.instances[name] = inst
            repo.updated = _now()
        return inst

    def _check_open(self, node: Node, admin: bool) -> None:
        with self.lock:
            if node.locked and not admin:
                raise DvidError(400, f"New data instance cannot be created on locked node {node.uuid}")

    def instance(self, repo: Repo, name: str) -> Instance:
        try:
            return repo.instances[name]
        except KeyError:
            raise DvidError(400, f"invalid data instance name {name!r}") from None

    # -- versioned lookups ----------------------------------------------------------------------------------------
    @staticmethod
    def visible(history: dict[int, Any], chain: list[int], versioned: bool) -> Any:
        if not versioned:
            return history.get(0)
        for v in chain:
            if v in history:
                return history[v]
        return None

    def put_kv(self, inst: Instance, chain: list[int], key: str, value: bytes | None) -> None:
        """Write (or, with None, delete) a key at the node: under the lock, as the key's history may be new."""
        with self.lock:
            inst.values.setdefault(key, {})[chain[0] if inst.versioned else 0] = value

    def get_kv(self, inst: Instance, chain: list[int], key: str) -> bytes | None:
        """The value of a key seen from the node (the newest write on it or its ancestors), None if absent."""
        with self.lock:
            return self.visible(inst.values.get(key, {}), chain, inst.versioned)

    def kv_keys(self, inst: Instance, chain: list[int]) -> list[str]:
        with self.lock:
            items = list(inst.values.items())
        return sorted(k for k, h in items if self.visible(h, chain, inst.versioned) is not None)
