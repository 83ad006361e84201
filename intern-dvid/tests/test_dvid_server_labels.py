"""A labelmap's label counters over HTTP: ``maxlabel`` per version, ``nextlabel`` repo-wide, reservations."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import requests

from intern_dvid.testing import DvidTestServer

TOKEN = "s3cret"
BLOCK = 16


@pytest.fixture(scope="module")
def admin_server() -> Iterator[DvidTestServer]:
    """A second server, with an admin token (POST maxlabel and set-nextlabel need one)."""
    with DvidTestServer(admin_token=TOKEN) as srv:
        yield srv


class Seg:
    """The ``seg`` labelmap of a fresh repo, spoken to with plain HTTP."""

    def __init__(self, server: DvidTestServer, http: requests.Session, **config: str) -> None:
        self.url, self.http = server.url, http
        self.root = server.new_repo("labels")
        http.post(f"{self.url}/api/repo/{self.root}/instance",
                  json={"typename": "labelmap", "dataname": "seg", "BlockSize": f"{BLOCK},{BLOCK},{BLOCK}",
                        **config}).raise_for_status()

    def call(self, method: str, node: str, endpoint: str, **params: str) -> requests.Response:
        return self.http.request(method, f"{self.url}/api/node/{node}/seg/{endpoint}", params=params)

    def maxlabel(self, node: str) -> int:
        got = self.call("GET", node, "maxlabel")
        assert got.status_code == 200, got.text
        assert got.headers["Content-Type"] == "application/json"
        return got.json()["maxlabel"]

    def nextlabel(self, node: str) -> int:
        return self.call("GET", node, "nextlabel").json()["nextlabel"]

    def write(self, node: str, corner: tuple[int, int, int], largest: int) -> None:
        _write_block(self.http, f"{self.url}/api/node/{node}/seg", corner, largest)

    def child(self, node: str, branch: str | None = None) -> str:
        if not self.http.get(f"{self.url}/api/node/{node}/commit").json()["Locked"]:
            self.http.post(f"{self.url}/api/node/{node}/commit", json={"note": "done"}).raise_for_status()
        if branch is None:
            return self.http.post(f"{self.url}/api/node/{node}/newversion", json={}).json()["child"]
        return self.http.post(f"{self.url}/api/node/{node}/branch", json={"branch": branch}).json()["child"]


def _write_block(http: requests.Session, url: str, corner: tuple[int, int, int], largest: int) -> None:
    """One block at ``corner`` (x, y, z, in blocks) holding labels 0 .. ``largest``."""
    data = np.zeros(BLOCK**3, "<u8")
    data[:largest + 1] = np.arange(largest + 1)[:data.size]
    data[0] = largest
    x, y, z = (c * BLOCK for c in corner)
    http.post(f"{url}/raw/0_1_2/{BLOCK}_{BLOCK}_{BLOCK}/{x}_{y}_{z}", data=data.tobytes()).raise_for_status()


def _bad(got: requests.Response, text: str) -> None:
    assert got.status_code == 400, got.text
    assert got.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert text in got.text, got.text


def test_maxlabel_follows_writes_per_version(server: DvidTestServer, api: requests.Session) -> None:
    seg = Seg(server, api)
    root = seg.root
    _bad(seg.call("GET", root, "maxlabel"), "No maximum label found for seg version")
    assert seg.nextlabel(root) == 1
    seg.write(root, (0, 0, 0), 0)  # zeros only: still nothing recorded
    _bad(seg.call("GET", root, "maxlabel"), "No maximum label found")
    seg.write(root, (0, 0, 0), 7)
    seg.write(root, (1, 0, 0), 5)  # a lower label never lowers the max
    assert seg.maxlabel(root) == 7 and seg.nextlabel(root) == 8
    ext = api.get(f"{server.url}/api/node/{root}/seg/info").json()["Extended"]
    version = str(api.get(f"{server.url}/api/repo/{root}/info").json()["DAG"]["Nodes"][root]["VersionID"])
    assert ext["MaxLabel"] == {version: 7} and ext["MaxRepoLabel"] == 7 and ext["NextLabel"] == 0

    main, side = seg.child(root), seg.child(root, "side")
    assert seg.maxlabel(main) == 7  # a child inherits its parent's max
    seg.write(main, (0, 0, 0), 3)
    assert seg.maxlabel(main) == 7  # ... and never reports less
    seg.write(side, (0, 1, 0), 20)
    assert (seg.maxlabel(side), seg.maxlabel(main), seg.maxlabel(root)) == (20, 7, 7)
    assert seg.nextlabel(main) == seg.nextlabel(root) == 21  # new labels come after every branch's labels


def test_nextlabel_reserves_labels_after_every_version(server: DvidTestServer, api: requests.Session) -> None:
    seg = Seg(server, api)
    seg.write(seg.root, (0, 0, 0), 9)
    main, side = seg.child(seg.root), seg.child(seg.root, "side")
    seg.write(side, (0, 0, 0), 30)
    got = seg.call("POST", main, "nextlabel/5")
    assert got.status_code == 200 and got.headers["Content-Type"] == "application/json"
    assert got.json() == {"start": 31, "end": 35}
    assert seg.maxlabel(main) == 35 and seg.maxlabel(side) == 30 and seg.nextlabel(side) == 36
    assert seg.call("POST", side, "nextlabel/1").json() == {"start": 36, "end": 36}
    seg.write(main, (1, 0, 0), 40)  # written labels above the reservations move the next label on
    assert seg.nextlabel(main) == 41
    _bad(seg.call("POST", main, "nextlabel/0"), "cannot request 0 new labels, must be 1 or more")
    _bad(seg.call("POST", main, "nextlabel/-2"), 'strconv.ParseUint: parsing "-2": invalid syntax')
    _bad(seg.call("POST", main, "nextlabel"), "DVID requires number of requested labels to follow POST /nextlabel")
    _bad(seg.call("POST", main, f"nextlabel/{2**64 - 41}"), "would overflow uint64 label space")
    _bad(seg.call("POST", seg.root, "nextlabel/1"), f'Cannot do POST on endpoint "nextlabel" of locked node {seg.root}')
    _bad(seg.call("POST", main, "maxlabel/100"), "POST /maxlabel requires admin privileges")
    _bad(seg.call("POST", main, "set-nextlabel/100"), "POST /set-nextlabel requires admin privileges")
    assert seg.nextlabel(main) == 41  # nothing above changed the counters


def test_reservations_in_parallel_never_overlap(server: DvidTestServer, api: requests.Session) -> None:
    seg = Seg(server, api)
    seg.write(seg.root, (0, 0, 0), 4)

    def reserve(_: int) -> tuple[int, int]:
        with requests.Session() as http:
            got = http.post(f"{server.url}/api/node/{seg.root}/seg/nextlabel/3")
            got.raise_for_status()
            return got.json()["start"], got.json()["end"]

    with ThreadPoolExecutor(16) as pool:
        spans = sorted(pool.map(reserve, range(160)))
    assert spans == [(5 + 3 * i, 7 + 3 * i) for i in range(160)]  # contiguous, disjoint, none lost
    assert seg.maxlabel(seg.root) == 4 + 3 * 160 and seg.nextlabel(seg.root) == 5 + 3 * 160


def test_writes_in_parallel_keep_the_largest_max(server: DvidTestServer, api: requests.Session) -> None:
    seg = Seg(server, api)
    corners = list(itertools.product(range(4), repeat=3))
    largest = {c: 1 + (37 * i) % 500 for i, c in enumerate(corners)}

    def write(corner: tuple[int, int, int]) -> None:
        with requests.Session() as http:
            _write_block(http, f"{server.url}/api/node/{seg.root}/seg", corner, largest[corner])

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(write, corners))
    assert seg.maxlabel(seg.root) == max(largest.values())


def test_admin_maxlabel_and_set_nextlabel(admin_server: DvidTestServer, api: requests.Session) -> None:
    seg = Seg(admin_server, api)
    root = seg.root
    _bad(seg.call("POST", root, "maxlabel/100", admintoken="wrong"), "requires admin privileges")
    assert seg.call("POST", root, "maxlabel/100", admintoken=TOKEN).status_code == 200
    assert seg.maxlabel(root) == 100 and seg.nextlabel(root) == 101
    assert seg.call("POST", root, "maxlabel/50", admintoken=TOKEN).status_code == 200  # lower: ignored
    assert seg.maxlabel(root) == 100
    _bad(seg.call("POST", root, "maxlabel/0", admintoken=TOKEN), "Label 0 is protected background value")
    _bad(seg.call("POST", root, f"maxlabel/{2**48 + 1}", admintoken=TOKEN), "exceeds allowed cap")
    _bad(seg.call("POST", root, "maxlabel", admintoken=TOKEN), "DVID requires max label ID to follow POST /maxlabel")

    assert seg.call("POST", root, "set-nextlabel/1000", admintoken=TOKEN, ceiling="1003").status_code == 200
    assert seg.nextlabel(root) == 1001
    assert seg.call("POST", root, "nextlabel/3").json() == {"start": 1001, "end": 1003}
    _bad(seg.call("POST", root, "nextlabel/1"), "would exceed configured next label ceiling 1003")
    _bad(seg.call("POST", root, "set-nextlabel/2000", admintoken=TOKEN), "would exceed next label ceiling 1003")
    _bad(seg.call("POST", root, "set-nextlabel/5", admintoken=TOKEN, ceiling="x"), 'bad ceiling "x"')
    ext = api.get(f"{admin_server.url}/api/node/{root}/seg/info").json()["Extended"]
    assert ext["MaxRepoLabel"] == 100 and ext["NextLabel"] == 1003 and ext["NextLabelCeiling"] == 1003
    assert seg.maxlabel(root) == 1003  # the version's max follows its reservations

    # admin privileges reach committed nodes too, as in DVID
    api.post(f"{admin_server.url}/api/node/{root}/commit", json={"note": "locked"}).raise_for_status()
    _bad(seg.call("POST", root, "maxlabel/2000", admintoken="wrong"), "of locked node")
    assert seg.call("POST", root, "maxlabel/2000", admintoken=TOKEN).status_code == 200
    assert seg.maxlabel(root) == 2000


def test_counters_need_indexed_labels(server: DvidTestServer, api: requests.Session) -> None:
    seg = Seg(server, api, IndexedLabels="false")
    for endpoint in ("maxlabel", "nextlabel", "sparsevol/1"):
        _bad(seg.call("GET", seg.root, endpoint), f'data "seg" is not label indexed (IndexedLabels=false): '
                                                  f'"{endpoint.split("/")[0]}" endpoint is not supported')
