"""A small Boss on loopback, in memory, for the client's project API: what the relay does not serve (creating,
changing and deleting resources and metadata, reserving ids, bounding boxes, starting downsampling).

It follows the wire facts of the Boss dialect: routes, status codes (201 create, 204 delete), list keys, JSON
fields, blosc cutouts. Cutouts live in numpy arrays sized from the coordinate frame at each resolution.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import numpy as np

from intern_boss._wire import BLOSC, decode, encode, parse_range

__all__ = ["MiniBoss"]

_N = r"[A-Za-z0-9_-]+"


class _Fail(Exception):
    def __init__(self, status: int, message: str, code: int = 1006) -> None:
        super().__init__(status, message, code)
        self.status, self.message, self.code = status, message, code


class MiniBoss:
    """Start with ``MiniBoss()``; ``url`` is its address, ``close()`` stops it; ``requests`` counts by method."""

    def __init__(self, token: str = "public") -> None:
        self.token = token
        self.collections: dict[str, dict[str, Any]] = {}
        self.experiments: dict[tuple[str, str], dict[str, Any]] = {}
        self.channels: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.coords: dict[str, dict[str, Any]] = {}
        self.meta: dict[tuple[str, ...], dict[str, str]] = {}
        self.data: dict[tuple[str, str, str, int], np.ndarray] = {}
        self.next_id: dict[tuple[str, str, str], int] = {}
        self.lock = threading.RLock()
        boss = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True
            wbufsize = 1 << 16  # headers and body leave in one write (no delayed-ACK stall between them)

            def log_message(self, *args: object) -> None:
                pass

            def _go(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                url = urlsplit(self.path)
                try:
                    if self.headers.get("Authorization") != f"Token {boss.token}":
                        raise _Fail(403, "bad token", 3001)
                    with boss.lock:
                        status, payload, kind = boss.route(self.command, url.path,
                                                           dict(parse_qsl(url.query)), body, self.headers)
                except _Fail as f:
                    status, kind = f.status, "application/json"
                    payload = json.dumps({"status": f.status, "code": f.code, "message": f.message}).encode()
                except Exception as exc:  # noqa: BLE001 - a bug of this test server answers 500 with its reason
                    status, kind = 500, "application/json"
                    payload = json.dumps({"status": 500, "code": 5000, "message": repr(exc)}).encode()
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _go  # noqa: N815 - the base class's names

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- routing ----------------------------------------------------------------------------------------------------
    def route(self, method: str, path: str, query: dict[str, str], body: bytes, headers: Any) -> tuple[int, bytes, str]:
        path = re.sub("/+", "/", path)
        doc = json.loads(body) if body and headers.get("Content-Type") == "application/json" else {}
        m = re.fullmatch(rf"/v1/collection(?:/({_N})(?:/experiment(?:/({_N})(?:/channel(?:/({_N}))?)?)?)?)?/?", path)
        if m:
            return self._project(method, [g for g in m.groups() if g], path.rstrip("/").endswith(
                ("collection", "experiment", "channel")), doc)
        m = re.fullmatch(rf"/v1/coord(?:/({_N}))?/?", path)
        if m:
            return self._coord(method, m.group(1), doc)
        m = re.fullmatch(rf"/v1/meta/({_N})(?:/({_N}))?(?:/({_N}))?/?", path)
        if m:
            return self._meta(method, tuple(g for g in m.groups() if g), query)
        m = re.fullmatch(rf"/v1/(cutout|ids|reserve|boundingbox|downsample)/({_N})/({_N})/({_N})/?(.*)", path)
        if m:
            service, c, e, ch, rest = m.groups()
            if (c, e, ch) not in self.channels:
                raise _Fail(404, "channel not found", 4000)
            return getattr(self, f"_{service}")(method, (c, e, ch), [p for p in rest.split("/") if p], query, body,
                                                headers)
        raise _Fail(404, f"no route {path}", 1000)

    @staticmethod
    def _ok(value: Any, status: int = 200) -> tuple[int, bytes, str]:
        return status, json.dumps(value).encode(), "application/json"

    def _project(self, method: str, names: list[str], listing: bool, doc: dict[str, Any]) -> tuple[int, bytes, str]:
        tables = [self.collections, self.experiments, self.channels]
        if listing:
            depth = len(names)
            parent = depth == 0 or (names[0] in self.collections if depth == 1 else tuple(names) in self.experiments)
            if not parent:
                raise _Fail(404, "not found", 4000)
            keys = [k if isinstance(k, str) else k[-1] for k in tables[depth]
                    if (k if isinstance(k, tuple) else (k,))[:depth] == tuple(names)]
            return self._ok({("collections", "experiments", "channels")[depth]: sorted(keys)})
        table = tables[len(names) - 1]
        key: Any = names[0] if len(names) == 1 else tuple(names)
        if method == "GET":
            if key not in table:
                raise _Fail(404, f"{'/'.join(names)} not found", 4000)
            return self._ok(table[key])
        if method == "POST":
            if key in table:
                raise _Fail(400, f"{'/'.join(names)} already exists", 6002)
            if len(names) > 1 and (names[0] if len(names) == 2 else tuple(names[:2])) not in tables[len(names) - 2]:
                raise _Fail(404, "parent not found", 4000)
            record = {**doc, "name": names[-1], "creator": "miniboss"}
            if len(names) == 2:
                if doc.get("coord_frame") not in self.coords:
                    raise _Fail(400, "coordinate frame does not exist", 1005)
                record.update(channels=[], public=False)
            if len(names) == 3:
                record.update(experiment=names[1], downsample_status="NOT_DOWNSAMPLED", storage_type="spdb",
                              bucket=None, cv_path=None, public=False)
            table[key] = record
            return self._ok(record, 201)
        if key not in table:
            raise _Fail(404, "not found", 4000)
        if method == "PUT":
            record = {**table.pop(key), **doc}
            new = record["name"]
            table[new if len(names) == 1 else (*names[:-1], new)] = record
            return self._ok(record)
        if method == "DELETE":
            children = [k for k in (tables[len(names)] if len(names) < 3 else {})
                        if (k if isinstance(k, tuple) else (k,))[:len(names)] == tuple(names)]
            if children:
                raise _Fail(400, "delete its children first", 1006)
            del table[key]
            return 204, b"", "application/json"
        raise _Fail(405, "method not allowed")

    def _coord(self, method: str, name: str | None, doc: dict[str, Any]) -> tuple[int, bytes, str]:
        if name is None:
            return self._ok({"coords": sorted(self.coords)})
        if method == "POST":
            if name in self.coords:
                raise _Fail(400, f"coordinate frame {name} already exists", 6002)
            self.coords[name] = {**doc, "name": name}
            return self._ok(self.coords[name], 201)
        if name not in self.coords:
            raise _Fail(404, "coordinate frame not found", 4000)
        if method == "PUT":
            self.coords[name].update({k: v for k, v in doc.items() if k in ("description",)})
            return self._ok(self.coords[name])
        if method == "DELETE":
            del self.coords[name]
            return 204, b"", "application/json"
        return self._ok(self.coords[name])

    def _meta(self, method: str, names: tuple[str, ...], query: dict[str, str]) -> tuple[int, bytes, str]:
        store = self.meta.setdefault(names, {})
        key = query.get("key")
        if method == "GET":
            if key is None:
                return self._ok({"keys": sorted(store)})
            if key not in store:
                raise _Fail(404, f"key {key} not found", 4000)
            return self._ok({"key": key, "value": store[key]})
        if method == "POST":
            if key in store:
                raise _Fail(400, f"key {key} already exists", 6002)
            store[key] = query["value"]
            return 201, b"", "application/json"
        if key not in store:
            raise _Fail(404, f"key {key} not found", 4000)
        if method == "PUT":
            store[key] = query["value"]
            return 200, b"", "application/json"
        del store[key]
        return 204, b"", "application/json"

    # -- volumes ----------------------------------------------------------------------------------------------------
    def _array(self, chan: tuple[str, str, str], res: int) -> tuple[np.ndarray, tuple[int, int, int]]:
        c, e, ch = chan
        exp = self.experiments[(c, e)]
        frame = self.coords[exp["coord_frame"]]
        f = 2**res
        fz = f if exp["hierarchy_method"] == "isotropic" else 1
        factors = {"z": fz, "y": f, "x": f}
        lo = tuple(frame[f"{a}_start"] // factors[a] for a in "zyx")
        hi = tuple(-(-frame[f"{a}_stop"] // factors[a]) for a in "zyx")
        times = int(exp.get("num_time_samples") or 1)
        key = (*chan, res)
        if key not in self.data:
            shape = (times, *(b - a for a, b in zip(lo, hi, strict=True)))
            self.data[key] = np.zeros(shape, self.channels[chan]["datatype"])
        return self.data[key], lo

    def _box(self, chan: tuple[str, str, str], parts: list[str]) -> tuple[np.ndarray, tuple[slice, ...], tuple[int, ...]]:
        res = int(parts[0])
        ranges = [parse_range(p) for p in parts[1:]]
        array, lo = self._array(chan, res)
        (x0, x1), (y0, y1), (z0, z1) = ranges[:3]
        t0, t1 = ranges[3] if len(ranges) == 4 else (0, 1)
        sel = (slice(t0, t1), slice(z0 - lo[0], z1 - lo[0]), slice(y0 - lo[1], y1 - lo[1]), slice(x0 - lo[2], x1 - lo[2]))
        if any(s.start < 0 or s.stop > n for s, n in zip(sel, array.shape, strict=True)):
            raise _Fail(400, "out of bounds", 1001)
        shape = (t1 - t0, z1 - z0, y1 - y0, x1 - x0) if len(ranges) == 4 else (z1 - z0, y1 - y0, x1 - x0)
        return array, sel, shape

    def _cutout(self, method: str, chan: tuple[str, str, str], parts: list[str], query: dict[str, str], body: bytes,
                headers: Any) -> tuple[int, bytes, str]:
        array, sel, shape = self._box(chan, parts)
        if method == "GET":
            data = array[sel].reshape(shape)
            if "filter" in query:
                keep = np.array([int(i) for i in query["filter"].split(",")], dtype=data.dtype)
                data = np.where(np.isin(data, keep), data, 0)
            return 200, encode(data, BLOSC), BLOSC
        array[sel] = decode(body, BLOSC, dtype=array.dtype, shape=shape).reshape(array[sel].shape)
        self.channels[chan]["downsample_status"] = "NOT_DOWNSAMPLED"
        return 201, b"", "application/json"

    def _ids(self, method: str, chan: tuple[str, str, str], parts: list[str], *_: Any) -> tuple[int, bytes, str]:
        array, sel, _ = self._box(chan, parts)
        return self._ok({"ids": [str(int(i)) for i in np.unique(array[sel]) if i]})

    def _reserve(self, method: str, chan: tuple[str, str, str], parts: list[str], *_: Any) -> tuple[int, bytes, str]:
        count = int(parts[0])
        start = self.next_id.get(chan, 1)
        self.next_id[chan] = start + count
        return self._ok({"start_id": start, "count": count})

    def _boundingbox(self, method: str, chan: tuple[str, str, str], parts: list[str], query: dict[str, str],
                     *_: Any) -> tuple[int, bytes, str]:
        res, label = int(parts[0]), int(parts[1])
        array, lo = self._array(chan, res)
        where = np.argwhere(array[0] == label)
        if not len(where):
            raise _Fail(404, f"id {label} not found", 4000)
        start, stop = where.min(0) + lo, where.max(0) + 1 + lo
        if query.get("type", "loose") == "loose":  # cuboid-aligned
            cub = np.array([16, 512, 512])
            start, stop = start // cub * cub, -(-stop // cub) * cub
        z, y, x = ([int(a), int(b)] for a, b in zip(start, stop, strict=True))
        return self._ok({"x_range": x, "y_range": y, "z_range": z, "t_range": [0, 1]})

    def _downsample(self, method: str, chan: tuple[str, str, str], *_: Any) -> tuple[int, bytes, str]:
        record = self.channels[chan]
        if method == "POST":
            record["downsample_status"] = "DOWNSAMPLED"  # this Boss downsamples instantly (it keeps no pyramid)
            return 201, b"", "application/json"
        if method == "DELETE":
            record["downsample_status"] = "NOT_DOWNSAMPLED"
            return 204, b"", "application/json"
        exp = self.experiments[chan[:2]]
        return self._ok({"status": record["downsample_status"], "num_hierarchy_levels": exp["num_hierarchy_levels"]})
