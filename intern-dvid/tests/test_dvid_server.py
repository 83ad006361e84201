"""The test server answers as the DVID spec says, checked with plain HTTP (as any DVID client would see it)."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import requests

from intern_dvid.testing import DvidTestServer


@pytest.fixture
def repo(server: DvidTestServer, api: requests.Session) -> str:
    root = api.post(f"{server.url}/api/repos", json={"alias": "spec", "description": "d"}).json()["root"]
    assert len(root) == 32 and root == root.lower() and int(root, 16) >= 0
    return root


def _instance(api: requests.Session, server: DvidTestServer, repo: str, **config: str) -> requests.Response:
    return api.post(f"{server.url}/api/repo/{repo}/instance", json=config)


def _bad(resp: requests.Response, text: str) -> None:
    assert resp.status_code == 400, resp.text
    assert resp.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert text in resp.text and resp.text.endswith(f"({requests.utils.urlparse(resp.url).path}).\n")


def test_repos_and_instances(server: DvidTestServer, api: requests.Session, repo: str) -> None:
    info = api.get(f"{server.url}/api/server/info").json()
    assert isinstance(info, dict) and all(isinstance(v, str) for v in info.values()) and "DVID Version" in info
    added = _instance(api, server, repo, typename="uint8blk", dataname="gray").json()
    assert added == {"result": f"Added gray [uint8blk] to node {repo}"}
    _instance(api, server, repo, typename="labelmap", dataname="seg").raise_for_status()
    _bad(_instance(api, server, repo, typename="uint8blk", dataname="gray"), "already exists")
    _bad(_instance(api, server, repo, typename="labelmap", dataname="x", MaxDownresLevel=3), "must be a string")
    whole = api.get(f"{server.url}/api/repos/info").json()
    assert repo in whole
    r = api.get(f"{server.url}/api/repo/{repo}/info").json()
    assert {"Root", "Alias", "Description", "Log", "Properties", "DataInstances", "DAG", "Created",
            "Updated"} <= set(r)
    assert r["Alias"] == "spec" and sorted(r["DataInstances"]) == ["gray", "seg"]
    node = r["DAG"]["Nodes"][repo]
    assert {"Branch", "Note", "Log", "UUID", "VersionID", "Locked", "Parents", "Children", "Created",
            "Updated"} <= set(node)
    gray = api.get(f"{server.url}/api/node/{repo}/gray/info").json()
    assert gray["Base"]["TypeName"] == "uint8blk" and gray["Extended"]["BlockSize"] == [32, 32, 32]
    assert gray["Extended"]["Values"][0]["DataType"] == "uint8"
    assert gray["Extended"]["MinPoint"] is None and gray["Extended"]["MaxPoint"] is None
    seg = api.get(f"{server.url}/api/node/{repo}/seg/info").json()
    assert seg["Extended"]["BlockSize"] == [64, 64, 64] and seg["Base"]["Compression"] == "gzip"
    assert seg["Extended"]["MaxDownresLevel"] == 0 and seg["Extended"]["IndexedLabels"] is True
    _bad(api.get(f"{server.url}/api/node/{repo}/nothing/info"), "invalid data instance name")
    _bad(api.get(f"{server.url}/api/node/{repo}/gray/frobnicate"), 'Bad API call')


def test_uuid_prefixes_and_branches(server: DvidTestServer, api: requests.Session, repo: str) -> None:
    url = server.url
    _bad(api.get(f"{url}/api/repo/{repo[:4]}xyz/info"), "could not find UUID with partial match to")
    _bad(api.post(f"{url}/api/node/{repo}/newversion"), "can't branch an unlocked node")
    _bad(api.post(f"{url}/api/node/{repo}/commit"), "requires a JSON body")
    assert api.get(f"{url}/api/node/{repo}/commit").json() == {"Locked": False}
    _instance(api, server, repo, typename="keyvalue", dataname="kv").raise_for_status()
    assert api.post(f"{url}/api/node/{repo[:7]}/commit", json={"note": "n", "log": ["a"]}).json() == \
        {"committed": repo}
    assert api.get(f"{url}/api/node/{repo}/commit").json() == {"Locked": True}
    _bad(api.post(f"{url}/api/node/{repo}/commit", json={"note": "again"}), "already locked")
    child = api.post(f"{url}/api/node/{repo}/newversion", json={"note": "c"}).json()["child"]
    side = api.post(f"{url}/api/node/{repo}/branch", json={"branch": "side"}).json()["child"]
    dag = api.get(f"{url}/api/repo/{child}/info").json()["DAG"]["Nodes"]
    assert dag[child]["Parents"] == [dag[repo]["VersionID"]] and dag[side]["Branch"] == "side"
    assert sorted(dag[repo]["Children"]) == sorted([dag[child]["VersionID"], dag[side]["VersionID"]])
    assert api.get(f"{url}/api/repo/{repo[:6]}:side/info").status_code == 200
    api.post(f"{url}/api/node/{repo[:6]}:side/kv/key/k", data=b"on side").raise_for_status()
    api.post(f"{url}/api/node/{repo[:6]}:master/kv/key/k", data=b"on master").raise_for_status()
    assert api.get(f"{url}/api/node/{side}/kv/key/k").content == b"on side"
    assert api.get(f"{url}/api/node/{child}/kv/key/k").content == b"on master"


def test_keyvalue(server: DvidTestServer, api: requests.Session, repo: str) -> None:
    url = f"{server.url}/api/node/{repo}/kv"
    _instance(api, server, repo, typename="keyvalue", dataname="kv").raise_for_status()
    missing = api.get(f"{url}/key/a")
    assert missing.status_code == 404 and missing.text == 'Key "a" not found\n'
    assert api.head(f"{url}/key/a").status_code == 404
    for key in ("a", "b", "c"):
        api.post(f"{url}/key/{key}", data=key.encode() * 3).raise_for_status()
    assert api.get(f"{url}/key/b").content == b"bbb" and api.head(f"{url}/key/b").status_code == 200
    assert api.get(f"{url}/keys").json() == ["a", "b", "c"]
    assert api.get(f"{url}/keyrange/a/b").json() == ["a", "b"]
    api.delete(f"{url}/key/a").raise_for_status()
    assert api.get(f"{url}/keys").json() == ["b", "c"]
    api.post(f"{server.url}/api/node/{repo}/commit", json={"note": "x"}).raise_for_status()
    _bad(api.post(f"{url}/key/d", data=b"d"), f'Cannot do POST on endpoint "key" of locked node {repo}')


def test_raw_voxels_alignment_extents_and_layout(server: DvidTestServer, api: requests.Session, repo: str) -> None:
    _instance(api, server, repo, typename="uint8blk", dataname="g", BlockSize="16,16,16").raise_for_status()
    url = f"{server.url}/api/node/{repo}/g"
    data = np.arange(16 * 16 * 32, dtype=np.uint8).reshape(16, 16, 32)  # z, y, x
    _bad(api.post(f"{url}/raw/0_1_2/32_16_16/8_0_0", data=data.tobytes()), "non-block aligned geometry")
    _bad(api.post(f"{url}/raw/0_1_2/32_16_16/0_0_0", data=data.tobytes()[:-1]), "voxels data was 8191 bytes")
    api.post(f"{url}/raw/0_1_2/32_16_16/16_32_-16", data=data.tobytes()).raise_for_status()
    ext = api.get(f"{url}/info").json()["Extended"]
    assert ext["MinPoint"] == [16, 32, -16] and ext["MaxPoint"] == [47, 47, -1]
    api.post(f"{url}/raw/0_1_2/16_16_16/64_0_0", data=bytes(4096)).raise_for_status()
    ext = api.get(f"{url}/info").json()["Extended"]
    assert ext["MinPoint"] == [16, 0, -16] and ext["MaxPoint"] == [79, 47, 15]  # grown, never shrunk
    got = api.get(f"{url}/raw/0_1_2/40_20_18/10_30_-17")  # any geometry; never-written voxels are 0
    assert got.headers["Content-Type"] == "application/octet-stream"
    cut = np.frombuffer(got.content, np.uint8).reshape(18, 20, 40)
    expected = np.zeros((18, 20, 40), np.uint8)
    expected[1:17, 2:18, 6:38] = data
    np.testing.assert_array_equal(cut, expected)
    assert api.get(f"{url}/raw/0_1_2/4_4_4/0_0_0/octet-stream").content == bytes(64)
    _bad(api.get(f"{url}/raw/0_1_2/4_4_4/0_0_0?scale=1"), "no scale levels")
    _bad(api.get(f"{url}/raw/0_1_2/2000_2000_1000/0_0_0"), "exceeds")


def test_labels_downres_points_and_sparsevol(server: DvidTestServer, api: requests.Session, repo: str) -> None:
    import lz4.block

    _instance(api, server, repo, typename="labelmap", dataname="s", BlockSize="8,8,8",
              MaxDownresLevel="1").raise_for_status()
    url = f"{server.url}/api/node/{repo}/s"
    labels = np.zeros((8, 8, 16), np.uint64)
    labels[0:2, 0:2, 0:2] = [[[3, 3], [5, 5]], [[0, 0], [0, 0]]]  # a tie between 3 and 5: the smaller wins
    labels[0:2, 0:2, 2:4] = [[[0, 0], [0, 7]], [[0, 0], [0, 0]]]  # one non-zero voxel beats seven zeros
    labels[4:6, 3:7, 6:16] = 2**60 + 9  # crosses the blocks at x = 8
    api.post(f"{url}/raw/0_1_2/16_8_8/0_0_0", data=labels.astype("<u8").tobytes()).raise_for_status()
    low = np.frombuffer(api.get(f"{url}/raw/0_1_2/8_4_4/0_0_0?scale=1").content, "<u8").reshape(4, 4, 8)
    assert low[0, 0, 0] == 3 and low[0, 0, 1] == 7 and low[2, 2, 6] == 2**60 + 9
    raw = labels[1:7, 2:8, 3:15].astype("<u8").tobytes()
    packed = api.get(f"{url}/raw/0_1_2/12_6_6/3_2_1?compression=lz4").content
    assert lz4.block.decompress(packed, uncompressed_size=len(raw)) == raw
    assert api.get(f"{url}/label/10_4_5").json() == {"Label": 2**60 + 9}
    assert api.get(f"{url}/labels", data=json.dumps([[0, 0, 0], [1, 1, 0], [3, 1, 0]])).json() == [3, 5, 7]
    rle = api.get(f"{url}/sparsevol/{2**60 + 9}").content
    assert rle[:4] == bytes([0, 3, 0, 0]) and struct.unpack_from("<I", rle, 4)[0] == 0
    nspans = struct.unpack_from("<I", rle, 8)[0]
    runs = np.frombuffer(rle, "<i4", offset=12).reshape(nspans, 4)
    assert len(rle) == 12 + 16 * nspans and runs[:, 3].sum() == 2 * 4 * 10
    assert ((runs[:, 0] // 8) == ((runs[:, 0] + runs[:, 3] - 1) // 8)).all()  # no run crosses a block
    assert api.get(f"{url}/sparsevol-size/{2**60 + 9}").json() == {
        "voxels": 80, "numblocks": 2, "minvoxel": [6, 3, 4], "maxvoxel": [15, 6, 5]}
    assert api.head(f"{url}/sparsevol/5").status_code == 200 and api.head(f"{url}/sparsevol/6").status_code == 204
    missing = api.get(f"{url}/sparsevol/6")
    assert missing.status_code == 404 and missing.content == b""
    _bad(api.get(f"{url}/sparsevol/0"), "background")
    _bad(api.post(f"{url}/raw/0_1_2/8_8_8/0_0_0?scale=1", data=bytes(8 * 512)), "scale 0")


def test_throttle_and_panics(server: DvidTestServer, api: requests.Session, repo: str) -> None:
    _instance(api, server, repo, typename="uint8blk", dataname="g").raise_for_status()
    server.throttle.acquire()
    server.throttle.acquire()  # both throttled slots busy
    try:
        busy = api.get(f"{server.url}/api/node/{repo}/g/raw/0_1_2/8_8_8/0_0_0?throttle=true")
        assert busy.status_code == 503
        assert api.get(f"{server.url}/api/node/{repo}/g/raw/0_1_2/8_8_8/0_0_0").status_code == 200
    finally:
        server.throttle.release()
        server.throttle.release()
