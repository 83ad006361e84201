"""``dvid://HOST:PORT/UUID/INSTANCE``: the DVID Remote.

``dvid://`` speaks HTTP and ``dvid+https://`` HTTPS. The path names, from the top: the server (``intern.ls`` lists
its repos by root UUID), a version node (``UUID``: any unique prefix, or ``prefix:branch``; ``intern.ls`` lists its
data instances), and a data instance (a volume, or a keyvalue store). Options, from the URI's query or keywords:

- ``compression``: how label voxels travel, ``lz4`` (default), ``gzip`` or ``none``; grayscale is always raw.
- ``supervoxels``: ``true`` reads a labelmap's supervoxels instead of its bodies.
- ``throttle``: ``true`` asks DVID to queue heavy requests (it answers 503 when busy; intern retries).
- ``mode``: ``r`` opens read-only.
- ``typename`` and ``storage_compression`` (creation only): the DVID type and how DVID stores blocks.

The ``[dvid]`` configuration section (``[dvid+https]`` for TLS) holds the same keys as defaults, and ``timeout``,
``connect_timeout``, ``retries``, ``backoff`` for the HTTP client.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlencode, urlsplit

from intern.errors import AlreadyExistsError, InvalidURIError, MetadataError, NotFoundError, ParameterError
from intern.plugin import URI, Option, OptionSet, VolumeMetadata, config_section, max_workers, shared_remote

from ._http import DvidHTTP, HTTPSettings
from ._keyvalue import DvidKeyValue
from ._layout import (
    MULTISCALE_TYPES,
    RECORD_INSTANCE,
    VOLUME_TYPES,
    choose_type,
    creation_configs,
    record_for,
    volume_metadata,
)
from ._versions import Dag, DvidNode
from ._volume import DvidVolume

__all__ = ["OPTIONS", "DvidRemote", "Options"]

_SCHEMES = {"dvid": "http", "dvid+https": "https"}
_COMPRESSIONS = ("lz4", "gzip", "none")
_CONFIGURABLE = ("compression", "supervoxels", "throttle")  # options the [dvid] section may default

#: what ``open`` and ``create`` take; the core parses them (query strings included) before the remote sees them
OPTIONS = OptionSet(
    "dvid",
    Option("compression", str, "lz4", choices=_COMPRESSIONS, help="how label voxels travel (grayscale: raw)"),
    Option("supervoxels", bool, False, help="read a labelmap's supervoxels instead of its bodies"),
    Option("throttle", bool, False, help="ask DVID to queue heavy requests"),
    Option("mode", str, "a", choices=("r", "r+", "a"), help="'r' opens read-only"),
    Option("typename", str, None, creation_only=True, help="the DVID type (default uint8blk for uint8, labelmap)"),
    Option("storage_compression", str, None, creation_only=True,
           help="how DVID stores blocks (its Compression setting; DVID's default when not given)"),
)


def _check_server(uri: URI, host: str) -> None:
    """Refuse a server part that names no host, or a port that is not a number from 1 to 65535, at open time.

    requests would only find out when the first request is built, with its own ``InvalidURL``.
    """
    usage = "write dvid://HOST:PORT/UUID/INSTANCE"
    if not host or "@" in host:
        raise InvalidURIError(f"{uri} names no server: {usage}")
    try:
        server = urlsplit(f"//{host}")
        port = server.port
    except ValueError as exc:  # a port out of range or not a number, an unclosed IPv6 bracket
        raise InvalidURIError(f"{uri}: the server {host!r} is not HOST or HOST:PORT ({exc}); {usage}") from None
    if not server.hostname:
        raise InvalidURIError(f"{uri} names no host before the port: {usage}")
    if port == 0:
        raise InvalidURIError(f"{uri}: port 0 is not a port a server listens on (1 to 65535); {usage}")


@dataclass(frozen=True)
class Options:
    """How a volume is read and written (see the module docstring)."""

    compression: str = "lz4"
    supervoxels: bool = False
    throttle: bool = False
    read_only: bool = False

    @classmethod
    def parse(cls, options: dict[str, Any], defaults: dict[str, str]) -> Options:
        """The options of an open, over the ``[dvid]`` section's defaults, which are text spelt as in a URI's query
        and read by the same parser."""
        configured = {k: v for k, v in defaults.items() if k in _CONFIGURABLE and str(v).strip()}
        merged = OPTIONS.parse({**configured, **options})
        misplaced = sorted(k for k in merged if OPTIONS[k].creation_only)
        if misplaced:
            raise InvalidURIError(f"dvid:// option(s) {', '.join(misplaced)} apply when a volume is created only")
        return cls(compression=merged.get("compression", "lz4"), supervoxels=merged.get("supervoxels", False),
                   throttle=merged.get("throttle", False), read_only=merged.get("mode", "a") == "r")

    def query(self) -> str:
        """The URI query that reopens with these options (empty for the defaults)."""
        items = {}
        if self.compression != "lz4":
            items["compression"] = self.compression
        if self.supervoxels:
            items["supervoxels"] = "true"
        if self.throttle:
            items["throttle"] = "true"
        if self.read_only:
            items["mode"] = "r"
        return "?" + urlencode(items) if items else ""


class DvidRemote:
    """One DVID server, reached over a pooled HTTP session. One instance per scheme and host in a process."""

    scheme: str = "dvid"  # or "dvids": each instance says which it serves
    declared_options: ClassVar[OptionSet] = OPTIONS

    def __init__(self, scheme: str, host: str) -> None:
        self.scheme = scheme
        self.host = host
        self.settings = config_section(scheme)
        self.http = DvidHTTP(f"{_SCHEMES[scheme]}://{host}", HTTPSettings(self.settings), pool=max_workers())

    @property
    def base_uri(self) -> str:
        return f"{self.scheme}://{self.host}"

    @classmethod
    def from_uri(cls, uri: URI) -> tuple[DvidRemote, str]:
        """``dvid://HOST:PORT/PATH`` -> (the remote of HOST:PORT, PATH)."""
        if uri.scheme not in _SCHEMES:
            raise InvalidURIError(f"{uri}: intern-dvid serves dvid:// and dvid+https://")
        host, _, path = uri.rest.partition("/")
        _check_server(uri, host)
        if path.startswith("/"):
            raise InvalidURIError(f"{uri} names no version: write dvid://HOST:PORT/UUID/INSTANCE (intern.ls "
                                  f"'{uri.scheme}://{host}' lists the repos)")
        return shared_remote(uri.scheme, host, lambda: cls(uri.scheme, host)), path.strip("/")

    # -- the Remote protocol --------------------------------------------------------------------------------------
    def open(self, path: str, **options: Any) -> DvidVolume | DvidNode | DvidKeyValue:
        """The node (``UUID``) or the data instance (``UUID/INSTANCE``) at ``path``.

        Raises:
            NotFoundError: no such node or instance.
            InvalidURIError: the path names the server itself, or an instance of a type intern-dvid does not read.
        """
        ref, name = self._split(path)
        if not ref:
            raise InvalidURIError(f"{self.base_uri} is a server: open {self.base_uri}/UUID/INSTANCE (intern.ls "
                                  f"'{self.base_uri}' lists its repos)")
        node = self.node(ref)
        if name is None:
            if options:
                raise ParameterError(f"a DVID node takes no options, got {', '.join(sorted(options))}")
            return node
        return self.volume(node, name, Options.parse(dict(options), self.settings))

    def ls(self, path: str = "") -> list[str]:
        """Root UUIDs of the server's repos; the data instances of a node; the keys of a keyvalue instance.

        A node's listing leaves out ``intern_metadata``, the keyvalue instance where this driver keeps its volumes'
        records: it is bookkeeping, not data (it still opens by its name).
        """
        ref, name = self._split(path)
        if not ref:
            return sorted(self.http.json("GET", "/api/repos/info"))
        if name is None:
            # the record of shapes intern keeps beside the volumes it created is not one of the user's instances
            found = self.http.json("GET", f"/api/repo/{ref}/info").get("DataInstances") or {}
            return sorted(n for n in found if n != RECORD_INSTANCE)
        resource = self.open(path)
        return resource.keys() if isinstance(resource, DvidKeyValue) else []

    def default_chunks(self, *, shape: tuple[int, ...], dtype: Any, kind: str) -> tuple[int, ...]:
        """DVID's own block sizes, used by ``intern.create`` when no chunks are given: 32^3 for grayscale
        (``uint8blk``), 64^3 for labels (``labelmap``)."""
        edge = 32 if str(dtype) == "uint8" and kind == "image" else 64
        return (1,) * (len(shape) - 3) + (edge, edge, edge)

    def create(self, path: str, metadata: VolumeMetadata, *, exist_ok: bool = False, typename: str | None = None,
               storage_compression: str | None = None, **options: Any) -> DvidVolume | DvidKeyValue:
        """Make the data instance(s) of a new volume at a node, empty, and return it.

        Args:
            typename: the DVID type; by default ``uint8blk`` for uint8 and ``labelmap`` for uint64.
            storage_compression: how DVID stores blocks (its ``Compression`` setting); DVID's default when None.
                (``compression`` is how voxels travel, an option of :meth:`open`.)
            options: the options of :meth:`open` for the returned volume.

        Raises:
            AlreadyExistsError: the instance exists and ``exist_ok`` is false (or it does not match).
            ReadOnlyError: the node is committed.
            MetadataError: DVID cannot hold this volume (dtype, axes, a labelmap pyramid that is not 2x).
        """
        ref, name = self._split(path)
        if not ref or not name:
            raise InvalidURIError(f"{self.base_uri}/{path}: create a volume at dvid://HOST:PORT/UUID/INSTANCE")
        node = self.node(ref)
        where = f"{node.uri}/{name}"
        instances = self._instances_at(node.uuid)
        if name in instances:
            if not exist_ok:
                raise AlreadyExistsError(f"{where} exists already (pass exist_ok=True to open it)")
            return self.volume(node, name, Options.parse(dict(options), self.settings))
        node.check_writable()
        typename = choose_type(metadata, typename, where)
        configs = creation_configs(name, metadata, typename, compression=storage_compression, where=where)
        taken = [c["dataname"] for c in configs if c["dataname"] in instances]
        if taken:
            raise AlreadyExistsError(f"{where}: the pyramid's instance(s) {', '.join(taken)} exist already")
        parsed = Options.parse(dict(options), self.settings)
        for body in configs:
            self.http.json("POST", f"/api/repo/{node.uuid}/instance", json=body, idempotent=False)
        self._ensure_record_store(node, instances)
        self.http.request("POST", f"/api/node/{node.uuid}/{RECORD_INSTANCE}/key/{name}", data=record_for(metadata))
        return self._created(node, name, parsed)

    @property
    def server_name(self) -> str:
        """``dvid-server`` (or ``dvids-server``): how the resolver names what this DVID serves itself."""
        return f"{self.scheme}-server"

    def server_services(self, resource: Any) -> dict[str, Any]:
        """What DVID serves itself for ``resource``, by what the repo holds (see :mod:`intern_dvid._services`)."""
        if not isinstance(resource, DvidVolume) or resource.remote is not self or not resource.is_labels:
            return {}
        from . import _services

        found: dict[str, Any] = {"label_at": _services.label_at}
        if resource.typename in MULTISCALE_TYPES:
            found.update(sparsevol=_services.sparsevol, bounding_box=_services.bounding_box, size=_services.size)
        instances = self._instances_at(resource.node.uuid)
        if (instances.get(f"{resource.name}_meshes") or {}).get("Base", {}).get("TypeName") == "keyvalue":
            found["mesh"] = _services.stored_mesh
        if (instances.get(f"{resource.name}_skeletons") or {}).get("Base", {}).get("TypeName") == "keyvalue":
            found["skeleton"] = _services.stored_skeleton
        return found

    # -- DVID beyond the protocol ---------------------------------------------------------------------------------
    def _created(self, node: DvidNode, name: str, options: Options) -> DvidVolume:
        """The volume just made at ``node``, opened."""
        volume = self.volume(node, name, options)
        if not isinstance(volume, DvidVolume):  # made as a volume just now: another client replaced it at once
            raise MetadataError(f"{node.uri}/{name} was created as a volume but opens as a key-value instance")
        return volume

    def create_repo(self, alias: str = "", description: str = "") -> DvidNode:
        """Make a new repo; returns its root node (``.uuid``), where volumes can be created."""
        root = self.http.json("POST", "/api/repos", json={"alias": alias, "description": description},
                              idempotent=False)["root"]
        return self.node(root)

    def server_info(self) -> dict[str, Any]:
        """DVID's ``/api/server/info``: version, storage backend, ..."""
        return dict(self.http.json("GET", "/api/server/info"))

    def node(self, ref: str) -> DvidNode:
        """The version node ``ref`` names (UUID prefix or ``prefix:branch``), with its repo's DAG as it is now."""
        dag = Dag(self.http.json("GET", f"/api/repo/{ref}/info"))
        return DvidNode(self, dag.resolve(ref), dag)

    def volume(self, node: DvidNode, name: str, options: Options) -> DvidVolume | DvidKeyValue:
        """Open instance ``name`` at ``node``."""
        instances = self._instances_at(node.uuid)
        where = f"{node.uri}/{name}"
        info = instances.get(name)
        if info is None:
            known = ", ".join(sorted(n for n in instances if n != RECORD_INSTANCE)) or "none"
            raise NotFoundError(f"{where} does not exist (instances at that node: {known})")
        typename = (info.get("Base") or {}).get("TypeName")
        if typename == "keyvalue":
            return DvidKeyValue(self, node, name)
        if typename not in VOLUME_TYPES:
            raise InvalidURIError(f"{where} is a DVID {typename}; intern-dvid reads {', '.join(VOLUME_TYPES)} "
                                  "volumes and keyvalue stores")
        info = self.http.json("GET", f"/api/node/{node.uuid}/{name}/info")  # extents are fresh here
        record = self._record(node.uuid, name, instances)
        metadata, levels = volume_metadata(name, info, instances, record, where=where)
        return DvidVolume(self, node, name, typename, metadata, levels, options)

    # -- helpers --------------------------------------------------------------------------------------------------
    @staticmethod
    def _split(path: str) -> tuple[str, str | None]:
        parts = [p for p in path.strip("/").split("/") if p]
        if len(parts) > 2:
            raise InvalidURIError(f"dvid path {path!r} has too many parts: write dvid://HOST:PORT/UUID/INSTANCE")
        return (parts[0] if parts else ""), (parts[1] if len(parts) == 2 else None)

    def _instances_at(self, uuid: str) -> dict[str, dict[str, Any]]:
        return dict(self.http.json("GET", f"/api/repo/{uuid}/info").get("DataInstances") or {})

    def _record(self, uuid: str, name: str, instances: dict[str, Any]) -> dict[str, Any] | None:
        if RECORD_INSTANCE not in instances:
            return None
        resp = self.http.request("GET", f"/api/node/{uuid}/{RECORD_INSTANCE}/key/{name}", ok=(200, 404))
        if resp.status_code == 404:
            return None
        try:
            record = json.loads(resp.content)
        except ValueError:
            raise MetadataError(f"{self.base_uri}/{uuid}/{RECORD_INSTANCE} key {name!r} is not JSON: remove it, or "
                                "fix it") from None
        return record if isinstance(record, dict) else None

    def _ensure_record_store(self, node: DvidNode, instances: dict[str, Any]) -> None:
        if RECORD_INSTANCE in instances:
            return
        try:
            self.http.json("POST", f"/api/repo/{node.uuid}/instance", idempotent=False,
                           json={"typename": "keyvalue", "dataname": RECORD_INSTANCE, "versioned": "true"})
        except AlreadyExistsError:
            pass  # another writer made it first

    def __repr__(self) -> str:
        return f"<DvidRemote {self.base_uri}>"
