"""Malformed requests get DVID's 400 and a message saying what is wrong, never a server panic (500)."""

from __future__ import annotations

import json

import pytest
import requests

from intern_dvid.testing import DvidTestServer

INT32_MAX = 2**31 - 1
BIG = 2**31 - 64  # a multiple of the 64^3 blocks of a labelmap, so that writes pass the alignment check


@pytest.fixture(scope="module")
def node(server: DvidTestServer) -> str:
    """A node with a uint8blk ``gray`` and a labelmap ``seg`` (64^3 blocks, one lower scale)."""
    root = server.new_repo("malformed")
    with requests.Session() as http:
        for config in ({"typename": "uint8blk", "dataname": "gray"},
                       {"typename": "labelmap", "dataname": "seg", "MaxDownresLevel": "1"}):
            http.post(f"{server.url}/api/repo/{root}/instance", json=config).raise_for_status()
    return root


MALFORMED = [
    # sizes: each coordinate is a 32-bit integer in DVID, whatever the product
    ("GET", "seg/raw/0_1_2/4294967296_4294967296_4294967296/0_0_0", None, "value out of range"),
    ("GET", f"seg/raw/0_1_2/{INT32_MAX}_{INT32_MAX}_{INT32_MAX}/0_0_0", None, "exceeds this DVID server's set limit"),
    ("GET", "gray/raw/0_1_2/2000_2000_1000/0_0_0", None, "exceeds this DVID server's set limit"),
    ("GET", "seg/raw/0_1_2/1024_1024_512/0_0_0", None, "exceeds this DVID server's set limit"),
    ("GET", "seg/raw/0_1_2/-64_64_64/0_0_0", None, "illegal geometry requested"),
    ("GET", "seg/raw/0_1_2/-64_-64_64/0_0_0", None, "illegal geometry requested"),
    ("GET", "gray/raw/0_1_2/0_64_64/0_0_0", None, "illegal geometry requested"),
    ("GET", "seg/raw/0_1_2/a_64_64/0_0_0", None, 'parsing "a": invalid syntax'),
    ("GET", "seg/raw/0_1_2/1e3_64_64/0_0_0", None, 'parsing "1e3": invalid syntax'),
    ("GET", "seg/raw/0_1_2/64_64/0_0_0", None, "Size must be 3 (not 2) dimensions"),
    ("GET", "seg/raw/0_1_2/64/0_0_0", None, "cannot convert '64' into a Point"),
    # offsets
    ("GET", "seg/raw/0_1_2/64_64_64/0_0_2147483648", None, "value out of range"),
    ("GET", "seg/raw/0_1_2/64_64_64/0_0_x", None, 'parsing "x": invalid syntax'),
    ("GET", "seg/raw/0_1_2/64_64_64/0_0", None, "Offset must be 3d coordinate, not 2-d coordinate"),
    ("GET", f"gray/raw/0_1_2/64_64_64/{INT32_MAX - 10}_0_0", None, "32-bit coordinates"),
    # writes
    ("POST", "seg/raw/0_1_2/4294967296_64_64/0_0_0", bytes(8), "value out of range"),
    ("POST", f"seg/raw/0_1_2/{BIG}_{BIG}_{BIG}/0_0_0", bytes(8), "voxels data was 8 bytes, expected"),
    ("POST", "seg/raw/0_1_2/-64_64_64/0_0_0", bytes(8), "illegal geometry requested"),
    ("POST", f"seg/raw/0_1_2/128_64_64/{BIG}_0_0", bytes(8 * 128 * 64**2), "32-bit coordinates"),
    # scales, points and labels
    ("GET", "seg/raw/0_1_2/64_64_64/0_0_0?scale=x", None, "bad scale specified"),
    ("GET", "seg/raw/0_1_2/64_64_64/0_0_0?scale=\u00b2", None, "bad scale specified"),
    ("GET", "seg/raw/0_1_2/64_64_64/0_0_0?scale=2", None, "MaxDownresLevel"),
    ("GET", "seg/label/1_2_x", None, 'parsing "x": invalid syntax'),
    ("GET", "seg/label/4294967296_0_0", None, "value out of range"),
    ("GET", "seg/label/1_2", None, 'String "1_2" cannot be converted to a 3d point'),
    ("GET", "seg/labels", json.dumps([[0, 0, "a"]]).encode(), "Bad labels request JSON"),
    ("GET", "seg/labels", json.dumps([[0, 0, 1.5]]).encode(), "Bad labels request JSON"),
    ("GET", "seg/labels", json.dumps([[0, 0, 2**40]]).encode(), "Bad labels request JSON"),
    ("GET", "seg/sparsevol/-5", None, 'parsing "-5": invalid syntax'),
    ("GET", "seg/sparsevol/18446744073709551616", None, "value out of range"),
    ("GET", "seg/sparsevol-size/1_0", None, 'parsing "1_0": invalid syntax'),
]


@pytest.mark.parametrize(("method", "path", "body", "message"), MALFORMED)
def test_malformed_volume_requests_are_400(server: DvidTestServer, api: requests.Session, node: str, method: str,
                                           path: str, body: bytes | None, message: str) -> None:
    got = api.request(method, f"{server.url}/api/node/{node}/{path}", data=body)
    assert got.status_code == 400, got.text
    assert got.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert message.lower() in got.text.lower(), got.text  # uint8blk capitalises some messages labelmap does not
    assert got.text.endswith(f"({requests.utils.urlparse(got.url).path}).\n")


@pytest.mark.parametrize(("level", "message"), [("\u00b2", "invalid syntax"), ("256", "must be 0 <= n <= 255"),
                                                ("-1", "must be 0 <= n <= 255")])
def test_malformed_downres_level_is_400(server: DvidTestServer, api: requests.Session, level: str,
                                        message: str) -> None:
    root = server.new_repo("levels")
    got = api.post(f"{server.url}/api/repo/{root}/instance",
                   json={"typename": "labelmap", "dataname": "seg", "MaxDownresLevel": level})
    assert got.status_code == 400 and message in got.text, got.text


def test_malformed_writes_change_nothing(server: DvidTestServer, api: requests.Session, node: str) -> None:
    writes = [(path, body) for method, path, body, _ in MALFORMED if method == "POST"]
    assert writes
    for path, body in writes:
        assert api.post(f"{server.url}/api/node/{node}/{path}", data=body).status_code == 400
    info = api.get(f"{server.url}/api/node/{node}/seg/info").json()["Extended"]
    assert info["MinPoint"] is None and info["MaxPoint"] is None and info["MaxLabel"] == {}
    assert api.get(f"{server.url}/api/node/{node}/seg/raw/0_1_2/4_4_4/0_0_0").content == bytes(8 * 64)
