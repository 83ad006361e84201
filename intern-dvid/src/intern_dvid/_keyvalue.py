"""``DvidKeyValue``: a keyvalue instance at a version node (where DVID keeps meshes, skeletons and the like)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from intern.errors import NotFoundError

from ._versions import DvidNode

if TYPE_CHECKING:
    from ._remote import DvidRemote

__all__ = ["DvidKeyValue"]


class DvidKeyValue:
    """Bytes by key, versioned like everything in DVID.

    >>> kv = intern.open("dvid://localhost:8000/a1b2/segmentation_meshes")   # doctest: +SKIP
    >>> kv.put("17.ngmesh", mesh.to_precomputed()); kv.keys()                 # doctest: +SKIP
    ['17.ngmesh']
    """

    def __init__(self, remote: DvidRemote, node: DvidNode, name: str) -> None:
        self._remote = remote
        self.node = node
        self.name = name

    @property
    def uri(self) -> str:
        return f"{self.node.uri}/{self.name}"

    @property
    def remote(self) -> DvidRemote:
        return self._remote

    @property
    def writable(self) -> bool:
        return not self.node.committed

    def _key(self, key: str) -> str:
        if not key:
            raise ValueError("a DVID key is a non-empty string")
        return f"/api/node/{self.node.uuid}/{self.name}/key/{quote(key, safe='')}"

    def keys(self) -> list[str]:
        """Every key visible at this version, sorted."""
        return sorted(self._remote.http.json("GET", f"/api/node/{self.node.uuid}/{self.name}/keys"))

    def get(self, key: str) -> bytes:
        """The value of ``key``.

        Raises:
            NotFoundError: no such key at this version.
        """
        try:
            return self._remote.http.request("GET", self._key(key)).content
        except NotFoundError as exc:
            raise NotFoundError(f"{self.uri} has no key {key!r} at this version") from exc

    def __contains__(self, key: str) -> bool:
        return self._remote.http.request("HEAD", self._key(key), ok=(200, 404)).status_code == 200

    def put(self, key: str, value: bytes) -> None:
        """Store ``value`` under ``key`` (at an uncommitted version)."""
        self.node.check_writable()
        self._remote.http.request("POST", self._key(key), data=bytes(value), idempotent=True)

    def delete(self, key: str) -> None:
        """Remove ``key`` at this version (ancestors keep it)."""
        self.node.check_writable()
        self._remote.http.request("DELETE", self._key(key))

    def __repr__(self) -> str:
        return f"<DvidKeyValue {self.uri}>"
