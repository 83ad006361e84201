"""HTTP routing of the test server: DVID's URLs, status codes, plain-text errors, JSON shapes and binary layouts."""

from __future__ import annotations

import gzip
import json
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

import numpy as np

from ._store import LABEL_TYPES, MULTISCALE_TYPES, DvidError, Instance, Node, Repo
from ._voxels import get_voxels, label_runs, put_voxels, sparsevol_rle

if TYPE_CHECKING:
    from . import DvidTestServer

__all__ = ["Handler"]

MAX_REQUEST_BYTES = 3 * 1024**3
_THROTTLED = ("raw", "sparsevol", "blocks")


def _ints(text: str, what: str) -> tuple[int, int, int]:
    try:
        values = tuple(int(v) for v in text.split("_"))
    except ValueError:
        raise DvidError(400, f"bad {what} {text!r}: expected 3 integers separated by '_'") from None
    if len(values) != 3:
        raise DvidError(400, f"bad {what} {text!r}: expected 3 integers separated by '_'")
    return values  # type: ignore[return-value]


class Handler(BaseHTTPRequestHandler):
    """One request; the server object (``self.server.dvid``) holds the store and the injected faults."""

    protocol_version = "HTTP/1.1"  # keep-alive, as DVID's Go server
    disable_nagle_algorithm = True  # as Go's net/http: headers and body must not wait on a delayed ACK
    server_version = "dvid-test/1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    @property
    def dvid(self) -> DvidTestServer:
        return self.server.dvid  # type: ignore[attr-defined]

    # -- plumbing -------------------------------------------------------------------------------------------------
    def _send(self, status: int, body: bytes = b"", content_type: str = "application/json") -> None:
        self.send_response(status)
        if body or status != 204:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, value: Any, status: int = 200) -> None:
        self._send(status, json.dumps(value).encode())

    def _body(self) -> bytes:
        if self._consumed:
            return b""
        self._consumed = True
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _json_body(self, *, required: bool = False) -> Any:
        body = self._body()
        if not body.strip():
            if required:
                raise DvidError(400, "request requires a JSON body")
            return {}
        try:
            return json.loads(body)
        except ValueError as exc:
            raise DvidError(400, f"malformed JSON request in body: {exc}") from None

    def _handle(self) -> None:
        self._consumed = False
        self._path = urlsplit(self.path).path
        self._query = dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
        self.dvid.record(self.command, self.path)
        fault = self.dvid.take_fault()
        if fault == "drop":
            self._body()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if fault is not None:
            self._body()
            self._send(int(fault), b"Server busy, try again later\n", "text/plain; charset=utf-8")
            return
        try:
            self._route([unquote(p) for p in self._path.strip("/").split("/")])
        except DvidError as err:
            self._body()  # an unread body would be taken for the next request on this connection
            if err.status == 400:  # DVID's BadRequest: the message, then the URL path
                self._send(400, f"{err.message} ({self._path}).\n".encode(), "text/plain; charset=utf-8")
            else:
                body = (err.message + "\n").encode() if err.message else b""
                self._send(err.status, body, "text/plain; charset=utf-8")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # a panic: 500, as DVID's recovery handler answers
            self._body()
            self._send(500, f"DVID server panic: {exc!r}\n".encode(), "text/plain; charset=utf-8")

    do_GET = do_POST = do_DELETE = do_HEAD = do_PUT = _handle  # noqa: N815 - http.server's names

    # -- routes ---------------------------------------------------------------------------------------------------
    def _route(self, parts: list[str]) -> None:
        method = self.command
        store = self.dvid.store
        if parts[:1] != ["api"] or len(parts) < 2:
            raise DvidError(404, "404 page not found")
        if parts[1:] == ["server", "info"] and method == "GET":
            return self._json({"DVID Version": "v1.0.0-test", "Datastore Version": "0.10.0",
                               "Storage backend": "in-memory test store", "Cores": "2", "Server uptime": "0s",
                               "Max Throttled Ops": str(self.dvid.max_throttled)})
        if parts[1:] == ["repos", "info"] and method == "GET":
            with store.lock:
                return self._json({root: repo.info() for root, repo in store.repos.items()})
        if parts[1:] == ["repos"] and method == "POST":
            body = self._json_body()
            repo = store.new_repo(str(body.get("alias", "")), str(body.get("description", "")))
            return self._json({"root": repo.root})
        if parts[1] == "repo" and len(parts) == 4:
            repo, _ = store.match(parts[2])
            if parts[3] == "info" and method == "GET":
                with store.lock:
                    return self._json(repo.info())
            if parts[3] == "instance" and method == "POST":
                inst = store.new_instance(repo, self._json_body(required=True))
                return self._json({"result": f"Added {inst.name} [{inst.typename}] to node {repo.root}"})
        if parts[1] == "node" and len(parts) == 4:
            repo, node = store.match(parts[2])
            return self._node_action(repo, node, parts[3])
        if parts[1] == "node" and len(parts) >= 5:
            repo, node = store.match(parts[2])
            inst = store.instance(repo, parts[3])
            return self._data(repo, node, inst, parts[4], parts[5:])
        raise DvidError(400, f"Bad API call ({self._path})")

    def _node_action(self, repo: Repo, node: Node, action: str) -> None:
        store = self.dvid.store
        method = self.command
        if action == "commit" and method == "GET":
            return self._json({"Locked": node.locked})
        if action == "commit" and method == "POST":
            body = self._json_body(required=True)
            log = body.get("log") or []
            store.commit(repo, node, str(body.get("note", "")), [str(x) for x in log])
            return self._json({"committed": node.uuid})
        if action == "newversion" and method == "POST":
            child = store.child(repo, node, branch=None, note=str(self._json_body().get("note", "")))
            return self._json({"child": child.uuid})
        if action == "branch" and method == "POST":
            body = self._json_body(required=True)
            if not isinstance(body.get("branch"), str) or not body["branch"]:
                raise DvidError(400, "branch requires a 'branch' name in the JSON body")
            child = store.child(repo, node, branch=body["branch"], note=str(body.get("note", "")))
            return self._json({"child": child.uuid})
        if action == "log" and method == "GET":
            return self._json({"log": list(node.log)})
        raise DvidError(400, f"Bad API call ({self._path}) for node {node.uuid}")

    def _data(self, repo: Repo, node: Node, inst: Instance, endpoint: str, args: list[str]) -> None:
        store = self.dvid.store
        method = self.command
        if method in ("POST", "PUT", "DELETE") and inst.versioned and node.locked:
            raise DvidError(400, f'Cannot do {method} on endpoint "{endpoint}" of locked node {node.uuid}')
        chain = store.ancestry(repo, node)
        if endpoint == "info" and method == "GET":
            with store.lock:
                return self._json(inst.info())
        throttled = self._query.get("throttle") == "true" and endpoint in _THROTTLED
        if throttled and not self.dvid.throttle.acquire(blocking=False):
            raise DvidError(503, f"Server already running maximum of {self.dvid.max_throttled} throttled operations")
        try:
            if inst.typename == "keyvalue":
                return self._keyvalue(inst, chain, endpoint, args)
            if inst.is_volume:
                return self._volume(inst, chain, endpoint, args)
        finally:
            if throttled:
                self.dvid.throttle.release()
        raise DvidError(400, f'Bad API call ({self._path}) for data "{inst.name}"')

    # -- keyvalue -------------------------------------------------------------------------------------------------
    def _keyvalue(self, inst: Instance, chain: list[int], endpoint: str, args: list[str]) -> None:
        store = self.dvid.store
        method = self.command
        if endpoint == "keys" and method == "GET":
            return self._json(store.kv_keys(inst, chain))
        if endpoint == "keyrange" and method == "GET" and len(args) == 2:
            return self._json([k for k in store.kv_keys(inst, chain) if args[0] <= k <= args[1]])
        if endpoint == "key" and len(args) == 1:
            key = args[0]
            if method == "POST":
                store.put_kv(inst, chain, key, self._body())
                return self._send(200, b"", "text/plain")
            if method == "DELETE":
                store.put_kv(inst, chain, key, None)
                return self._send(200, b"", "text/plain")
            value = store.visible(inst.values.get(key, {}), chain, inst.versioned)
            if value is None:
                raise DvidError(404, f'Key "{key}" not found')
            if method == "HEAD":
                return self._send(200, b"", "application/octet-stream")
            return self._send(200, value, "application/octet-stream")
        raise DvidError(400, f'Bad API call ({self._path}) for data "{inst.name}"')

    # -- volumes --------------------------------------------------------------------------------------------------
    def _volume(self, inst: Instance, chain: list[int], endpoint: str, args: list[str]) -> None:
        store = self.dvid.store
        method = self.command
        labels = inst.typename in LABEL_TYPES
        if endpoint == "raw" and len(args) in (3, 4):
            if args[0] not in ("0_1_2", "xyz"):
                raise DvidError(400, f"this server serves only 3d subvolumes (dims 0_1_2), not {args[0]!r}")
            if len(args) == 4 and args[3] != "octet-stream":
                raise DvidError(400, f"unsupported format {args[3]!r} for a 3d subvolume: use octet-stream")
            size, offset = _ints(args[1], "size"), _ints(args[2], "offset")
            if any(s <= 0 for s in size):
                raise DvidError(400, f"Illegal geometry requested: size {size}")
            if method == "POST":
                if labels and self._query.get("scale", "0") != "0":
                    raise DvidError(400, "labelmap POSTs go to scale 0; lower scales are computed by the server")
                put_voxels(store, inst, chain, offset, size, self._body())
                return self._send(200, b"", "text/plain")
            if method == "GET":
                return self._get_raw(inst, chain, size, offset)
        if labels and endpoint == "label" and len(args) == 1 and method == "GET":
            x, y, z = _ints(args[0], "point")
            value = get_voxels(store, inst, chain, (x, y, z), (1, 1, 1), self._scale(inst))
            return self._json({"Label": int(value[0, 0, 0])})
        if labels and endpoint == "labels" and method == "GET":
            points = self._json_body(required=True)
            if not isinstance(points, list) or not all(isinstance(p, list) and len(p) == 3 for p in points):
                raise DvidError(400, "expected JSON body [[x,y,z], ...]")
            scale = self._scale(inst)
            return self._json([int(get_voxels(store, inst, chain, tuple(p), (1, 1, 1), scale)[0, 0, 0])
                               for p in points])
        if inst.typename in MULTISCALE_TYPES and endpoint in ("sparsevol", "sparsevol-size") and len(args) == 1:
            try:
                label = int(args[0])
            except ValueError:
                raise DvidError(400, f"bad label {args[0]!r}") from None
            if label == 0:
                raise DvidError(400, "Label 0 is protected background value and cannot be used as sparse volume")
            runs = label_runs(store, inst, chain, label)
            if endpoint == "sparsevol" and method == "HEAD":
                return self._send(200 if len(runs) else 204, b"", "text/plain")
            if not len(runs):
                raise DvidError(404)
            if endpoint == "sparsevol" and method == "GET":
                return self._send(200, sparsevol_rle(runs), "application/octet-stream")
            if method == "GET":
                stops = runs[:, 0] + runs[:, 3] - 1
                blocks = {(int(x) // inst.block[0], int(y) // inst.block[1], int(z) // inst.block[2])
                          for x, y, z in runs[:, :3]}
                return self._json({"voxels": int(runs[:, 3].sum()), "numblocks": len(blocks),
                                   "minvoxel": [int(runs[:, 0].min()), int(runs[:, 1].min()), int(runs[:, 2].min())],
                                   "maxvoxel": [int(stops.max()), int(runs[:, 1].max()), int(runs[:, 2].max())]})
        raise DvidError(400, f'Bad API call ({self._path}) for data "{inst.name}"')

    def _scale(self, inst: Instance) -> int:
        text = self._query.get("scale", "0")
        if not text.isdigit():
            raise DvidError(400, f"bad scale {text!r}")
        scale = int(text)
        if scale and inst.typename not in MULTISCALE_TYPES:
            raise DvidError(400, f"data {inst.name!r} of type {inst.typename} has no scale levels")
        if scale > inst.max_downres:
            raise DvidError(400, f"scale {scale} is above the MaxDownresLevel {inst.max_downres} of {inst.name!r}")
        return scale

    def _get_raw(self, inst: Instance, chain: list[int], size: tuple[int, int, int],
                 offset: tuple[int, int, int]) -> None:
        labels = inst.typename in LABEL_TYPES
        nbytes = int(np.prod(size)) * inst.dtype.itemsize
        if nbytes > MAX_REQUEST_BYTES:
            raise DvidError(400, f"Requested payload ({nbytes} bytes) exceeds this DVID server's set limit "
                                 f"({MAX_REQUEST_BYTES})")
        scale = self._scale(inst) if labels else 0
        if not labels and "scale" in self._query:
            raise DvidError(400, f"data {inst.name!r} of type {inst.typename} has no scale levels")
        data = get_voxels(self.dvid.store, inst, chain, offset, size, scale)
        raw = data.astype(inst.dtype.newbyteorder("<"), copy=False)
        compression = self._query.get("compression", "") if labels else ""
        if compression == "lz4":
            import lz4.block

            return self._send(200, lz4.block.compress(raw.tobytes(), store_size=False), "application/octet-stream")
        if compression == "gzip":
            return self._send(200, gzip.compress(raw.tobytes(), compresslevel=1), "application/octet-stream")
        if compression not in ("", "uncompressed"):
            raise DvidError(400, f"unknown compression type {compression!r}")
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(raw.nbytes))
        self.end_headers()
        self.wfile.write(memoryview(np.ascontiguousarray(raw)).cast("B"))
