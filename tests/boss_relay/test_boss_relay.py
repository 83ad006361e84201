"""The relay under its real server: the Boss routes, bodies, authentication and refusals, as any client sees them."""

from __future__ import annotations

import io
import json
import pickle
import zlib
from pathlib import Path

import blosc
import numpy as np
import pytest
import requests
from _bosstest import TOKEN, Lab

import intern
from intern.errors import ConfigError
from intern_boss._wire import BLOSC, BLOSC_PYTHON, JPEG, NPYGZ
from intern_boss.relay import RelayConfig, parse_mount, parse_size
from intern_boss.relay._cache import CacheStats, DiskTier

AUTH = {"Authorization": f"Token {TOKEN}"}


def get(lab: Lab, route: str, *, headers: dict[str, str] | None = None, **kwargs: object) -> requests.Response:
    return requests.get(f"{lab.relay.url}/v1/{route}", headers={**AUTH, **(headers or {})}, timeout=30, **kwargs)


def stats(lab: Lab) -> dict[str, int]:
    return requests.get(f"{lab.relay.url}/relay/stats", headers=AUTH, timeout=10).json()


def boss_error(resp: requests.Response, status: int, code: int) -> str:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["status"] == status and body["code"] == code and body["message"]
    return body["message"]


def test_resources_carry_what_clients_need(lab: Lab) -> None:
    chan = get(lab, "collection/lab/experiment/em/channel/labels").json()
    for key in ("name", "public", "description", "experiment", "default_time_sample", "type", "base_resolution",
                "datatype", "creator", "sources", "downsample_status", "related", "storage_type", "bucket", "cv_path"):
        assert key in chan
    assert (chan["type"], chan["datatype"], chan["downsample_status"]) == ("annotation", "uint64", "DOWNSAMPLED")
    exp = get(lab, "collection/lab/experiment/movie/").json()  # a trailing slash is accepted too
    assert exp["num_time_samples"] == 3 and exp["hierarchy_method"] == "anisotropic"
    frame = get(lab, f"coord/{exp['coord_frame']}").json()
    assert (frame["x_stop"], frame["y_stop"], frame["z_stop"], frame["x_voxel_size"]) == (50, 40, 20, 50.0)
    assert get(lab, "collection/").json() == {"collections": ["kit", "lab"]}
    assert "lab_em" in get(lab, "coord/").json()["coords"]
    assert get(lab, "meta/lab/em/image/", params={"key": "session"}).json() == {"key": "session", "value": "7"}


def test_bodies(lab: Lab) -> None:
    image = lab.data["image"]
    route = "cutout/lab/em/image/0/10:300/20:90/3:7/"
    expected = image[3:7, 20:90, 10:300]
    raw = get(lab, route, headers={"Accept": BLOSC}).content
    np.testing.assert_array_equal(np.frombuffer(blosc.decompress(raw), np.uint8).reshape(expected.shape), expected)
    np.testing.assert_array_equal(blosc.unpack_array(get(lab, route, headers={"Accept": BLOSC_PYTHON}).content),
                                  expected)
    npy = np.load(io.BytesIO(zlib.decompress(get(lab, route, headers={"Accept": NPYGZ}).content)))
    np.testing.assert_array_equal(npy, expected)
    from PIL import Image

    jpeg = Image.open(io.BytesIO(get(lab, route, headers={"Accept": JPEG}).content))
    assert jpeg.size == (290, 4 * 70)  # z-slices stacked vertically
    timed = get(lab, "cutout/lab/movie/frames/0/0:50/0:40/0:20/1:3/").content
    np.testing.assert_array_equal(np.frombuffer(blosc.decompress(timed), np.uint16).reshape(2, 20, 40, 50),
                                  lab.data["movie"][1:3])


def test_authentication(lab: Lab, public: Lab) -> None:
    route = "cutout/lab/em/image/0/0:10/0:10/0:1/"
    assert requests.get(f"{lab.relay.url}/v1/{route}", timeout=10).status_code == 401
    wrong = requests.get(f"{lab.relay.url}/v1/{route}", headers={"Authorization": "Token public"}, timeout=10)
    boss_error(wrong, 403, 3001)
    assert get(lab, route).status_code == 200
    # anonymous reads of the public relay, with the public client's 'public' token or none at all
    assert requests.get(f"{public.relay.url}/v1/cutout/pub/em/image/0/0:10/0:10/0:1/", timeout=10).status_code == 200
    body = blosc.compress(np.zeros(100, np.uint8).tobytes(), typesize=1)
    refused = requests.post(f"{public.relay.url}/v1/cutout/pub/em/image/0/0:10/0:10/0:1/", data=body,
                            headers={"Content-Type": BLOSC, "Authorization": "Token public"}, timeout=10)
    assert "read-only" in boss_error(refused, 403, 3001)


@pytest.mark.parametrize(("route", "status", "code"), [
    ("cutout/lab/em/image/0/0:10/0:10/", 400, 1001),           # a range missing
    ("cutout/lab/em/image/0/10:5/0:10/0:1/", 400, 1001),       # empty range
    ("cutout/lab/em/image/0/a:b/0:10/0:1/", 400, 1001),        # not numbers
    ("cutout/lab/em/image/x/0:10/0:10/0:1/", 400, 1001),       # resolution not a number
    ("cutout/lab/em/image/0/0:601/0:10/0:1/", 400, 1001),      # outside the frame
    ("cutout/lab/em/image/3/0:10/0:10/0:1/", 400, 1001),       # no such resolution
    ("cutout/lab/em/image/0/0:10/0:10/0:1/0:2/", 400, 1001),   # no such time sample
    ("cutout/lab/em/nothing/0/0:10/0:10/0:1/", 404, 4000),     # unknown channel
    ("collection/nothing", 404, 4000),
    ("coord/nothing", 404, 4000),
    ("nothing/at/all", 404, 1000),
    ("cutout/lab/big/image/0/0:1024/0:1024/0:1024/", 413, 2000),  # over 520 MiB
])
def test_bad_reads_never_reach_the_upstream(lab: Lab, route: str, status: int, code: int) -> None:
    before = stats(lab)
    boss_error(get(lab, route), status, code)
    after = stats(lab)
    assert (after["upstream_reads"], after["misses"]) == (before["upstream_reads"], before["misses"])


@pytest.mark.parametrize(("route", "params", "headers", "code"), [
    ("cutout/lab/em/image/%C2%B2/0:10/0:10/0:1/", {}, {}, 1001),              # a superscript two is no number
    ("cutout/lab/em/image/" + "9" * 5000 + "/0:10/0:10/0:1/", {}, {}, 1001),  # beyond Python's int() digit limit
    ("cutout/lab/em/image/0/0:" + "9" * 5000 + "/0:10/0:1/", {}, {}, 1001),
    ("cutout/lab/em/labels/0/0:10/0:10/0:1/", {"filter": "-1"}, {}, 1005),     # ids are not negative
    ("cutout/lab/em/labels/0/0:10/0:10/0:1/", {"filter": "9" * 20}, {}, 1005),  # over uint64
    ("cutout/lab/em/image/0/0:10/0:10/0:1/", {"filter": "1"}, {}, 1005),       # not an annotation channel
    ("cutout/lab/big/image/0/0:1024/0:1024/0:64/", {}, {"Accept": JPEG}, 2004),  # 65,536 rows: over JPEG's limit
], ids=["res-superscript", "res-5000-digits", "range-5000-digits", "filter-negative", "filter-20-digits",
        "filter-on-image", "jpeg-too-tall"])
def test_malformed_cutouts_are_boss_400s(lab: Lab, route: str, params: dict[str, str], headers: dict[str, str],
                                         code: int) -> None:
    before = stats(lab)
    boss_error(get(lab, route, params=params, headers=headers), 400, code)
    after = stats(lab)
    assert (after["upstream_reads"], after["misses"]) == (before["upstream_reads"], before["misses"])


def test_bad_formats(lab: Lab) -> None:
    route = "cutout/lab/em/labels/0/0:10/0:10/0:1/"
    boss_error(get(lab, route, headers={"Accept": "text/csv"}), 406, 5001)
    boss_error(get(lab, route, headers={"Accept": JPEG}), 400, 2003)
    boss_error(get(lab, route, params={"filter": "1,x"}), 400, 1005)
    boss_error(get(lab, route, params={"access-mode": "sometimes"}), 400, 1005)


class _Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("this must never run",))


@pytest.mark.parametrize(("body", "content_type", "code"), [
    (blosc.compress(np.zeros(99, np.uint8).tobytes(), typesize=1), BLOSC, 2002),        # one voxel short
    (blosc.compress(np.zeros(100, np.uint16).tobytes(), typesize=2), BLOSC, 2002),      # uint16 bytes: too long
    (b"not blosc at all", BLOSC, 5003),
    (zlib.compress(b"\x93NUMPY garbage"), NPYGZ, 5003),
    (blosc.compress(pickle.dumps(_Evil()), typesize=1), BLOSC_PYTHON, 5003),           # no code runs
    (blosc.pack_array(np.zeros((1, 10, 10), np.uint16)), BLOSC_PYTHON, 2001),           # wrong dtype
    (blosc.pack_array(np.zeros((1, 10, 9), np.uint8)), BLOSC_PYTHON, 2002),             # wrong shape
], ids=["short", "long", "not-blosc", "not-npy", "pickled-code", "wrong-dtype", "wrong-shape"])
def test_bad_writes_change_nothing(lab: Lab, body: bytes, content_type: str, code: int) -> None:
    upstream = intern.array(f"zarr://{lab.root}/iso.zarr")
    before = upstream[0, 0:10, 0:10]
    resp = requests.post(f"{lab.relay.url}/v1/cutout/lab/iso/image/0/0:10/0:10/0:1/", data=body,
                         headers={**AUTH, "Content-Type": content_type}, timeout=10)
    boss_error(resp, 400, code)
    np.testing.assert_array_equal(upstream[0, 0:10, 0:10], before)


def test_writes_only_at_resolution_zero(lab: Lab) -> None:
    body = blosc.compress(np.ones(100, np.uint8).tobytes(), typesize=1)
    resp = requests.post(f"{lab.relay.url}/v1/cutout/lab/iso/image/1/0:10/0:10/0:1/", data=body,
                         headers={**AUTH, "Content-Type": BLOSC}, timeout=10)
    boss_error(resp, 400, 2004)
    resp = requests.delete(f"{lab.relay.url}/v1/collection/lab", headers=AUTH, timeout=10)
    boss_error(resp, 405, 2004)


def test_mount_names_and_cache_paths_cannot_escape(tmp_path: Path) -> None:
    for bad in ("../a/b=zarr:///x", "a/b=zarr:///x", "a/b/c", "a/b/c.d=zarr:///x", "a/./c=zarr:///x"):
        with pytest.raises(ConfigError):
            parse_mount(bad)
    tier = DiskTier(tmp_path / "cache", 10**6, CacheStats())
    for parts in (("..", "x"), ("a", "../../x"), ("a/b", "c")):
        with pytest.raises(ValueError):
            tier.path(parts)
    with pytest.raises(ConfigError, match="--token"):
        RelayConfig(mounts=(parse_mount("a/b/c=mem://x"),), writable=True)
    assert parse_size("10GB") == 10**10 and parse_size("1.5GiB") == 3 * 2**29 and parse_size("0") == 0
    with pytest.raises(ConfigError):
        parse_size("ten")


def test_stats_and_errors_are_json(lab: Lab) -> None:
    s = stats(lab)
    assert {"memory_hits", "disk_hits", "misses", "discarded", "evicted", "upstream_reads"} <= set(s)
    resp = get(lab, "cutout/lab/em/image/0/0:10/0:10/0:1/", headers={"Authorization": "Basic abc"})
    assert json.loads(resp.text)["status"] == 401
