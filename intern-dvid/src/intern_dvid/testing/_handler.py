"""HTTP routing of the test server: DVID's URLs, status codes, plain-text errors, JSON shapes and binary layouts."""

from __future__ import annotations

import contextlib
import gzip
import json
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

import numpy as np

from ._errors import DvidError
from ._parsing import INT32, Subvolume, go_quote, parse_int, parse_uint, point3d, subvolume
from ._store import LABEL_TYPES, MULTISCALE_TYPES, Instance, Node, Repo
from ._voxels import get_voxels, label_runs, put_voxels, sparsevol_rle

if TYPE_CHECKING:
    from . import DvidTestServer

__all__ = ["Handler"]

MAX_REQUEST_BYTES = 3 * 1024**3
_THROTTLED = ("raw", "sparsevol", "blocks")
_INDEXED_ONLY = ("sparsevol", "sparsevol-size", "maxlabel", "nextlabel")  # labelmap endpoints needing IndexedLabels


class Handler(BaseHTTPRequestHandler):
    """One request; the server object (``self.server.dvid``) holds the store and the injected faults."""

    _consumed = False  # whether this request's body was read (reset per request in _handle)

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
        text = self.headers.get("Content-Length") or "0"
        if not text.isascii() or not text.isdigit():
            self.close_connection = True  # where the next request starts on this connection is unknown
            raise DvidError(400, f"invalid Content-Length {text!r}")
        length = int(text)
        return self.rfile.read(length) if length else b""

    @property
    def _admin(self) -> bool:
        """The request carries the server's admin token (``?admintoken=``): DVID's admin privileges."""
        token = self.dvid.admin_token
        return bool(token) and self._query.get("admintoken") == token

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
            repo, node = store.match(parts[2])
            if parts[3] == "info" and method == "GET":
                with store.lock:
                    return self._json(repo.info())
            if parts[3] == "instance" and method == "POST":
                inst = store.new_instance(repo, node, self._json_body(required=True), admin=self._admin)
                return self._json({"result": f"Added {inst.name} [{inst.typename}] to node {node.uuid}"})
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
        changes = method in ("POST", "PUT", "DELETE") and inst.versioned  # unversioned data ignores node locks
        guard = store.writing(node, method, endpoint, admin=self._admin) if changes else contextlib.nullcontext()
        with guard:
            self._serve_data(repo, node, inst, endpoint, args)

    def _serve_data(self, repo: Repo, node: Node, inst: Instance, endpoint: str, args: list[str]) -> None:
        store = self.dvid.store
        method = self.command
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
            value = store.get_kv(inst, chain, key)
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
        if inst.typename == "labelmap" and not inst.indexed and endpoint in _INDEXED_ONLY:
            raise DvidError(400, f"data {go_quote(inst.name)} is not label indexed (IndexedLabels=false): "
                                 f"{go_quote(endpoint)} endpoint is not supported")
        if endpoint == "raw" and len(args) in (3, 4):
            if args[0] not in ("0_1_2", "xyz"):
                raise DvidError(400, f"this server serves only 3d subvolumes (dims 0_1_2), not {args[0]!r}")
            if len(args) == 4 and args[3] != "octet-stream":
                raise DvidError(400, f"unsupported format {args[3]!r} for a 3d subvolume: use octet-stream")
            box = subvolume(args[2], args[1], labels=inst.typename == "labelmap")
            if method == "POST":
                if labels and self._query.get("scale", "0") != "0":
                    raise DvidError(400, "labelmap POSTs go to scale 0; lower scales are computed by the server")
                put_voxels(store, inst, chain, box.offset, box.size, self._body())
                return self._send(200, b"", "text/plain")
            if method == "GET":
                return self._get_raw(inst, chain, box)
        if labels and endpoint == "label" and len(args) == 1 and method == "GET":
            point = point3d(args[0])
            value = get_voxels(store, inst, chain, point, (1, 1, 1), self._scale(inst))
            return self._json({"Label": int(value[0, 0, 0])})
        if labels and endpoint == "labels" and method == "GET":
            points = self._json_body(required=True)
            if not isinstance(points, list) or not all(_is_point(p) for p in points):
                raise DvidError(400, "Bad labels request JSON: expected [[x, y, z], ...] of 32-bit integers")
            scale = self._scale(inst)
            return self._json([int(get_voxels(store, inst, chain, tuple(p), (1, 1, 1), scale)[0, 0, 0])
                               for p in points])
        if inst.typename in MULTISCALE_TYPES and endpoint in ("sparsevol", "sparsevol-size") and len(args) == 1:
            label = parse_uint(args[0])
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
        if inst.typename == "labelmap" and endpoint in ("maxlabel", "nextlabel", "set-nextlabel"):
            return self._label_counters(inst, chain[0], endpoint, args)
        raise DvidError(400, f'Bad API call ({self._path}) for data "{inst.name}"')

    def _label_counters(self, inst: Instance, version: int, endpoint: str, args: list[str]) -> None:
        """``maxlabel``, ``nextlabel`` and ``set-nextlabel`` of a labelmap (see ``_labels`` for their meaning)."""
        counters = inst.labels
        assert counters is not None  # every labelmap has them
        method = self.command
        if method not in ("GET", "POST") or (endpoint == "set-nextlabel" and method != "POST"):
            raise DvidError(400, f"Unknown action {go_quote(method.lower())} requested: {self.path}\n")
        if endpoint == "maxlabel" and method == "GET":
            found = counters.effective_max(version)
            if found is None:
                raise DvidError(400, f"No maximum label found for {inst.name} version {version}\n")
            return self._json({"maxlabel": found})
        if endpoint == "nextlabel" and method == "GET":
            return self._json({"nextlabel": counters.next_free()})
        if endpoint in ("maxlabel", "set-nextlabel") and not self._admin:
            raise DvidError(400, f"POST /{endpoint} requires admin privileges (admintoken or DSG admin)")
        if not args:
            what = {"maxlabel": "max label ID", "nextlabel": "number of requested labels",
                    "set-nextlabel": "a label ID"}[endpoint]
            raise DvidError(400, f"DVID requires {what} to follow POST /{endpoint}")
        value = parse_uint(args[0])
        if endpoint == "maxlabel":
            counters.post_max(version, value)
            return self._send(200, b"", "text/plain")
        if endpoint == "nextlabel":
            start, end = counters.reserve(version, value, inst.name)
            return self._json({"start": start, "end": end})
        text = self._query.get("ceiling", "")
        try:
            ceiling = parse_uint(text) if text else None
        except DvidError as err:
            raise DvidError(400, f"bad ceiling {go_quote(text)} for POST /set-nextlabel: {err.message}") from None
        counters.set_next(value, ceiling)
        return self._send(200, b"", "text/plain")

    def _scale(self, inst: Instance) -> int:
        text = self._query.get("scale", "0")
        try:
            scale = parse_int(text, 64, func="Atoi")
        except DvidError as err:
            raise DvidError(400, f"bad scale specified: {err.message}") from None
        if scale and inst.typename not in MULTISCALE_TYPES:
            raise DvidError(400, f"data {inst.name!r} of type {inst.typename} has no scale levels")
        if not 0 <= scale <= inst.max_downres:
            raise DvidError(400, f"scale {scale} is outside 0..{inst.max_downres} (the MaxDownresLevel of "
                                 f"{inst.name!r})")
        return scale

    def _get_raw(self, inst: Instance, chain: list[int], box: Subvolume) -> None:
        labels = inst.typename in LABEL_TYPES
        size, offset = box.size, box.offset
        nbytes = box.voxels * inst.dtype.itemsize  # exact: sizes up to 2^31 on each axis overflow int64
        if nbytes > MAX_REQUEST_BYTES:
            first = "requested" if inst.typename == "labelmap" else "Requested"
            raise DvidError(400, f"{first} payload ({nbytes} bytes) exceeds this DVID server's set limit "
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
        self.wfile.write(np.ascontiguousarray(raw).data.cast("B"))


def _is_point(value: object) -> bool:
    """``[x, y, z]`` of 32-bit integers (JSON's true and false are not numbers here)."""
    return (isinstance(value, list) and len(value) == 3
            and all(type(v) is int and INT32[0] <= v <= INT32[1] for v in value))
