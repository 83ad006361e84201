"""Versions: DVID's DAG of nodes, how a UUID reference names one, and the version operations on a node.

A DVID repo is a DAG of version nodes, each named by a UUID (32 hex digits). URIs may name a node by any unique
prefix of its UUID, or by ``prefix:branch``, the newest node (the leaf) of that branch in the prefix's repo; the
default branch is ``master`` (DVID's empty branch name). intern resolves the reference once, when a resource is
opened, and the resource then points at that node for good: a ``branch:`` reference does not follow later commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from intern.errors import MetadataError, NotFoundError, ReadOnlyError

if TYPE_CHECKING:
    from ._remote import DvidRemote

__all__ = ["Dag", "DvidNode", "NodeInfo"]


@dataclass(frozen=True)
class NodeInfo:
    """One version node of a repo's DAG."""

    uuid: str
    version_id: int
    branch: str
    note: str
    locked: bool
    parents: tuple[str, ...]
    children: tuple[str, ...]
    created: str
    log: tuple[str, ...] = ()

    def as_version(self) -> dict[str, Any]:
        """The mapping ``versions()`` lists: ``id``, ``committed``, ``note`` and DVID's other facts."""
        return {"id": self.uuid, "committed": self.locked, "note": self.note, "branch": self.branch or "master",
                "parents": list(self.parents), "children": list(self.children), "created": self.created,
                "version_id": self.version_id, "log": list(self.log)}


class Dag:
    """The nodes of one repo, from its ``/api/repo/{uuid}/info`` JSON."""

    def __init__(self, repo_info: dict[str, Any]) -> None:
        try:
            raw = repo_info["DAG"]["Nodes"]
            self.root = str(repo_info.get("Root") or repo_info["DAG"]["Root"])
        except (KeyError, TypeError):
            raise MetadataError("DVID's repo info has no DAG.Nodes: is this a DVID server?") from None
        by_version = {int(n["VersionID"]): str(n.get("UUID") or u) for u, n in raw.items()}

        def uuids(refs: Any) -> tuple[str, ...]:
            # DVID lists parents and children by version ID; accept UUIDs too
            return tuple(by_version.get(r, str(r)) if isinstance(r, int) else str(r) for r in refs or ())

        self.nodes: dict[str, NodeInfo] = {}
        for key, n in raw.items():
            uuid = str(n.get("UUID") or key)
            self.nodes[uuid] = NodeInfo(uuid=uuid, version_id=int(n["VersionID"]), branch=str(n.get("Branch") or ""),
                                        note=str(n.get("Note") or ""), locked=bool(n.get("Locked")),
                                        parents=uuids(n.get("Parents")), children=uuids(n.get("Children")),
                                        created=str(n.get("Created") or ""), log=tuple(n.get("Log") or ()))

    def ordered(self) -> list[NodeInfo]:
        """Every node, oldest first (DVID's version IDs grow with time)."""
        return sorted(self.nodes.values(), key=lambda n: n.version_id)

    @staticmethod
    def _on_branch(node: NodeInfo, branch: str) -> bool:
        return node.branch == branch or (branch == "master" and node.branch == "")

    def resolve(self, ref: str) -> NodeInfo:
        """The node ``ref`` names: a UUID prefix, or ``prefix:branch`` (that branch's leaf)."""
        prefix, sep, branch = ref.partition(":")
        if not sep:
            found = [n for u, n in self.nodes.items() if u.startswith(prefix)]
            if len(found) != 1:
                raise NotFoundError(f"no single node of repo {self.root} matches UUID {prefix!r}")
            return found[0]
        on = [n for n in self.nodes.values() if self._on_branch(n, branch)]
        leaves = [n for n in on if not any(self._on_branch(self.nodes[c], branch) for c in n.children if c in self.nodes)]
        if not leaves:
            names = sorted({n.branch or "master" for n in self.nodes.values()})
            raise NotFoundError(f"repo {self.root} has no branch {branch!r} (branches: {', '.join(names)})")
        return max(leaves, key=lambda n: n.version_id)


class DvidNode:
    """A version node of a repo: ``dvid://HOST:PORT/UUID``.

    ``intern.ls`` on it lists the node's data instances. It carries the version operations that volumes at the node
    also offer (``versions``, ``commit``, ``newversion``, ``branch``).

    >>> node = intern.open("dvid://localhost:8000/a1b2")        # doctest: +SKIP
    >>> child = node.commit("raw import").newversion("proofreading")  # doctest: +SKIP
    """

    def __init__(self, remote: DvidRemote, info: NodeInfo, dag: Dag) -> None:
        self._remote = remote
        self.info = info
        self.dag = dag

    @property
    def uri(self) -> str:
        return f"{self._remote.base_uri}/{self.uuid}"

    @property
    def remote(self) -> DvidRemote:
        return self._remote

    @property
    def uuid(self) -> str:
        return self.info.uuid

    @property
    def committed(self) -> bool:
        return self.info.locked

    def refresh(self) -> DvidNode:
        """This node again, with the DAG as the server has it now."""
        return self._remote.node(self.uuid)

    def ls(self) -> list[str]:
        return self._remote.ls(self.uuid)

    def versions(self) -> list[dict[str, Any]]:
        """Every node of the repo, oldest first: ``id`` (UUID), ``committed``, ``note``, ``branch``, ``parents``..."""
        return [n.as_version() for n in self.refresh().dag.ordered()]

    def commit(self, note: str = "", *, log: list[str] | None = None) -> DvidNode:
        """Commit (lock) this node with ``note``; returns the committed node. Its data cannot change afterwards.

        Raises:
            ReadOnlyError: the node is committed already.
        """
        self._remote.http.json("POST", f"/api/node/{self.uuid}/commit", json={"note": note, "log": list(log or [])},
                               idempotent=False)
        return self.refresh()

    def newversion(self, note: str = "") -> DvidNode:
        """A new child of this committed node on the same branch, open for writes.

        Raises:
            ReadOnlyError: this node is not committed (DVID makes children of committed nodes only).
        """
        child = self._remote.http.json("POST", f"/api/node/{self.uuid}/newversion", json={"note": note},
                                       idempotent=False)["child"]
        return self._remote.node(child)

    def branch(self, name: str, note: str = "") -> DvidNode:
        """A new child of this committed node that starts branch ``name``.

        Raises:
            ReadOnlyError: this node is not committed.
            AlreadyExistsError: the repo has a branch of that name.
        """
        if not name or ":" in name or "/" in name:
            raise ValueError(f"branch name {name!r} must be non-empty and hold no ':' or '/'")
        child = self._remote.http.json("POST", f"/api/node/{self.uuid}/branch", json={"branch": name, "note": note},
                                       idempotent=False)["child"]
        return self._remote.node(child)

    def create_keyvalue(self, name: str, *, exist_ok: bool = False) -> Any:
        """Make a keyvalue instance at this node (``<seg>_meshes`` and ``<seg>_skeletons`` hold stored meshes and
        skeletons); returns it as a :class:`~intern_dvid.DvidKeyValue`.

        Raises:
            AlreadyExistsError: an instance of that name exists and ``exist_ok`` is false.
            ReadOnlyError: the node is committed (DVID adds instances to open nodes only).
        """
        from intern.errors import AlreadyExistsError

        from ._keyvalue import DvidKeyValue

        try:
            self._remote.http.json("POST", f"/api/repo/{self.uuid}/instance", idempotent=False,
                                   json={"typename": "keyvalue", "dataname": name, "versioned": "true"})
        except AlreadyExistsError:
            if not exist_ok:
                raise
        return DvidKeyValue(self._remote, self, name)

    def check_writable(self) -> None:
        if self.info.locked:
            raise ReadOnlyError(f"{self.uri} is a committed version and cannot change: write to a new version "
                                "(.newversion() or .branch(name))")

    def __repr__(self) -> str:
        state = "committed" if self.committed else "open"
        return f"<DvidNode {self.uri} {state} branch={self.info.branch or 'master'!r}>"
