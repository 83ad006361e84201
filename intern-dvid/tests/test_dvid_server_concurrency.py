"""The test server under concurrent writers over HTTP: what it holds once every write has been answered.

Each test makes many writers race on purpose (threads, each with its own HTTP connection) and then checks the
state against what serial writes would leave, so that a lost update in the server shows up as a wrong answer.
"""

from __future__ import annotations

import http.client
import itertools
import threading
from concurrent.futures import ThreadPoolExecutor, wait

import numpy as np
import pytest
import requests

import intern
from intern_dvid.testing import DvidTestServer
from intern_dvid.testing._voxels import downres_mode

LEVELS = 2  # scales 1 and 2 below scale 0


def _labelmap(server: DvidTestServer, block: int) -> str:
    """A new repo with a labelmap ``seg`` of ``block``^3 blocks and LEVELS lower scales; returns the root UUID."""
    node = server.new_repo("races")
    with requests.Session() as api:
        api.post(f"{server.url}/api/repo/{node}/instance",
                 json={"typename": "labelmap", "dataname": "seg", "BlockSize": f"{block},{block},{block}",
                       "MaxDownresLevel": str(LEVELS)}).raise_for_status()
    return node


def _scales(server: DvidTestServer, node: str, side: int) -> list[np.ndarray]:
    """Every level of ``seg`` (``side``^3 voxels at scale 0), read over HTTP, (z, y, x)."""
    out = []
    with requests.Session() as api:
        for s in range(LEVELS + 1):
            n = side >> s
            got = api.get(f"{server.url}/api/node/{node}/seg/raw/0_1_2/{n}_{n}_{n}/0_0_0", params={"scale": s})
            got.raise_for_status()
            out.append(np.frombuffer(got.content, "<u8").reshape(n, n, n))
    return out


def _assert_pyramid_follows_scale0(levels: list[np.ndarray], expected0: np.ndarray) -> None:
    np.testing.assert_array_equal(levels[0], expected0)
    expected = expected0
    for s in range(1, LEVELS + 1):
        expected = downres_mode(expected)  # the server's definition: 2x2x2 mode of non-zero labels, ties to smaller
        wrong = int((levels[s] != expected).sum())
        assert wrong == 0, f"scale {s}: {wrong} voxels disagree with the downres of scale 0"


def _post_blocks(server: DvidTestServer, node: str, data: np.ndarray, block: int, threads: int) -> None:
    """Every block of ``data`` as its own POST, ``threads`` at a time, in a shuffled order."""
    corners = list(itertools.product(range(0, data.shape[0], block), repeat=3))
    np.random.default_rng(len(corners)).shuffle(corners)
    local = threading.local()
    sessions = []

    def post(corner: tuple[int, int, int]) -> None:
        if not hasattr(local, "session"):
            local.session = requests.Session()
            sessions.append(local.session)
        z, y, x = corner
        body = np.ascontiguousarray(data[z:z + block, y:y + block, x:x + block]).astype("<u8").tobytes()
        local.session.post(f"{server.url}/api/node/{node}/seg/raw/0_1_2/{block}_{block}_{block}/{x}_{y}_{z}",
                        data=body, params={"mutate": "true"}).raise_for_status()

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(post, corners))
    for session in sessions:
        session.close()


def _labels(seed: int, first: int, side: int) -> np.ndarray:
    """Noisy labels ``first`` .. ``first + 3``: every 2x2x2 cube has a mode of its own, often a tie."""
    return np.random.default_rng(seed).integers(first, first + 4, (side,) * 3).astype(np.uint64)


@pytest.mark.parametrize("round_", range(2))
def test_parallel_block_writes_leave_lower_scales_consistent(server: DvidTestServer, round_: int) -> None:
    side, block = 64, 16  # 64 blocks, each its own request
    node = _labelmap(server, block)
    first, second = _labels(round_, 1, side), _labels(100 + round_, 10, side)
    _post_blocks(server, node, first, block, threads=16)
    _assert_pyramid_follows_scale0(_scales(server, node, side), first)
    _post_blocks(server, node, second, block, threads=16)  # the overwrite: a stale lower block would hold `first`
    _assert_pyramid_follows_scale0(_scales(server, node, side), second)


def test_parallel_write_through_intern_leaves_lower_scales_consistent(server: DvidTestServer,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The operator's case: a 128^3 labelmap overwritten by intern's parallel writer, several times."""
    monkeypatch.setenv("INTERN_MAX_WORKERS", "16")
    side = 128
    root = f"dvid://{server.address}/{server.new_repo('races')}"
    seg = intern.create(f"{root}/seg", shape=(side,) * 3, dtype="uint64", kind="segmentation", scales=LEVELS + 1,
                        chunks=(32, 32, 32))
    node = seg.resource.version
    for round_ in range(3):
        data = _labels(200 + round_, 1 + 10 * round_, side)
        seg[...] = data
        _assert_pyramid_follows_scale0(_scales(server, node, side), data)


def test_nothing_changes_a_node_once_its_commit_is_answered(server: DvidTestServer) -> None:
    """A write already accepted when the commit arrives is finished before the commit is answered, never after."""
    node, block = server.new_repo("commit"), 32
    path = f"/api/node/{node}/gray/raw/0_1_2/{block}_{block}_{block}/0_0_0"
    with requests.Session() as api:
        api.post(f"{server.url}/api/repo/{node}/instance",
                  json={"typename": "uint8blk", "dataname": "gray", "BlockSize": f"{block},{block},{block}"},
                  ).raise_for_status()
    body = bytes([7]) * block**3
    server.requests.clear()
    writer = http.client.HTTPConnection(*server.address.split(":"))
    writer.putrequest("POST", path)
    writer.putheader("Content-Length", str(len(body)))
    writer.endheaders(body[:100])  # the server has the request and waits for the rest of its body
    for _ in range(3000):  # until the server has the request (it records each one as it starts on it)
        if ("POST", path) in server.requests:
            break
        threading.Event().wait(0.01)
    else:
        pytest.fail("the server never started on the POST")

    def commit_then_read() -> bytes:
        requests.post(f"{server.url}/api/node/{node}/commit", json={"note": "frozen"}).raise_for_status()
        return requests.get(f"{server.url}{path}").content  # the node as it is once its commit is answered

    with ThreadPoolExecutor(1) as pool:
        committed = pool.submit(commit_then_read)
        wait([committed], timeout=1)  # enough for a server that answers the commit without waiting for the write
        writer.send(body[100:])
        assert writer.getresponse().status == 200  # accepted before the commit: it must finish
        frozen = committed.result()
    writer.close()
    assert frozen == body  # the commit was answered after the write finished
    refused = requests.post(f"{server.url}{path}", data=bytes(block**3))
    assert refused.status_code == 400 and "locked node" in refused.text
    assert requests.get(f"{server.url}{path}").content == frozen
