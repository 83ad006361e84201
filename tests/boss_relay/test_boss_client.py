"""The bossdb:// client against a relay on loopback: URIs, configuration, geometry, cutouts and their options."""

from __future__ import annotations

import numpy as np
import pytest
from _bosstest import TOKEN, Lab
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import intern
from intern._box import Box
from intern.errors import (
    ConfigError,
    DTypeError,
    InvalidURIError,
    NotFoundError,
    OutOfBoundsError,
    ParameterError,
    PermissionDeniedError,
    ReadOnlyError,
)


def test_short_uris_use_the_configured_host(as_lab: Lab) -> None:
    a = intern.array("bossdb://lab/em/image")
    assert a.uri == "bossdb://lab/em/image"
    np.testing.assert_array_equal(a[5, 100:120, 200:260], as_lab.data["image"][5, 100:120, 200:260])
    assert intern.ls("bossdb://") == ["kit", "lab"]
    assert intern.ls("bossdb://lab") == ["big", "em", "iso", "movie", "scratch"]
    assert intern.ls("bossdb://lab/em") == ["image", "labels"]
    assert intern.ls("bossdb://lab/em/image") == []


def test_config_file_default_section(lab: Lab, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "intern.cfg"
    cfg.write_text(f"[Default]\nprotocol = http\nhost = {lab.host}\ntoken = {TOKEN}\n")
    monkeypatch.setenv("INTERN_CONFIG", str(cfg))
    assert intern.array("bossdb://lab/em/image").shape == (40, 700, 600)


def test_qualified_uri_sends_the_configured_token_only_to_its_host(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERN_PROTOCOL", "http")
    monkeypatch.setenv("INTERN_HOST", "elsewhere.invalid:1")
    monkeypatch.setenv("INTERN_TOKEN", TOKEN)
    with pytest.raises(PermissionDeniedError, match="token"):
        intern.array(lab.uri("lab/em/image"))  # the lab's relay gets 'public', not the other host's token
    assert intern.array(lab.uri("lab/em/image"), token=TOKEN).shape == (40, 700, 600)
    monkeypatch.setenv("INTERN_BOSSDB_TOKEN", TOKEN)
    assert intern.array(lab.uri("lab/em/image")).dtype == np.uint8


def test_geometry_from_channel_experiment_and_frame(as_lab: Lab) -> None:
    a = intern.array("bossdb://lab/em/image")
    assert a.axes == ("z", "y", "x") and a.dtype == np.uint8 and a.kind == "image"
    assert [s.shape for s in a.scales] == [(40, 700, 600), (40, 350, 300), (40, 175, 150)]
    assert [s.voxel_size for s in a.scales] == [(40.0, 8.0, 8.0), (40.0, 16.0, 16.0), (40.0, 32.0, 32.0)]
    assert a.chunks == (16, 512, 512)
    seg = intern.array("bossdb://lab/em/labels")
    assert seg.kind == "segmentation" and seg.dtype == np.uint64
    iso = intern.array("bossdb://lab/iso/image")
    assert [s.shape for s in iso.scales] == [(40, 96, 80), (20, 48, 40)]
    assert iso.scales[1].downsample == (2.0, 2.0, 2.0)
    movie = intern.array("bossdb://lab/movie/frames")
    assert movie.axes == ("t", "z", "y", "x") and movie.shape == (3, 20, 40, 50)


def test_resolution_in_uri_is_scale_zero(as_lab: Lab) -> None:
    a = intern.array("bossdb://lab/em/image/1")
    assert a.uri == "bossdb://lab/em/image/1"
    assert a.shape == (40, 350, 300) and len(a.scales) == 2 and a.scales[0].downsample == (1.0, 1.0, 1.0)
    expected = as_lab.data["image"][:, ::2, ::2]
    np.testing.assert_array_equal(a[3:9, 10:300, 5:290], expected[3:9, 10:300, 5:290])
    np.testing.assert_array_equal(a.at_scale(1)[0], intern.array("bossdb://lab/em/image", scale=2)[0])
    with pytest.raises(InvalidURIError):
        intern.open("bossdb://lab/em/image/one")


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_cutouts_match(as_lab: Lab, data: st.DataObject) -> None:
    a = intern.array("bossdb://lab/em/image")
    expected = as_lab.data["image"]
    box = []
    for n in a.shape:
        lo = data.draw(st.integers(0, n - 1))
        box.append(slice(lo, data.draw(st.integers(lo + 1, n))))
    np.testing.assert_array_equal(a[tuple(box)], expected[tuple(box)])


def test_whole_volume_in_larger_blocks(as_lab: Lab) -> None:
    a = intern.array("bossdb://lab/em/image", block=(32, 1024, 512))
    assert a.resource.options.block == (32, 1024, 512)
    np.testing.assert_array_equal(a[...], as_lab.data["image"])
    with pytest.raises(ConfigError, match="multiples of the cuboid"):
        intern.array("bossdb://lab/em/image", block=(10, 512, 512))


def test_time_axis(as_lab: Lab) -> None:
    a = intern.array("bossdb://lab/movie/frames")
    movie = as_lab.data["movie"]
    np.testing.assert_array_equal(a[...], movie)
    np.testing.assert_array_equal(a[1:3, 2:19, 5, 7:40], movie[1:3, 2:19, 5, 7:40])


def test_npygz_bodies(as_lab: Lab) -> None:
    a = intern.array("bossdb://lab/em/labels", format="npygz")
    np.testing.assert_array_equal(a[0:20, 0:600, 0:520], as_lab.data["labels"][0:20, 0:600, 0:520])


def test_cutout_options(as_lab: Lab) -> None:
    ch = intern.open("bossdb://lab/em/labels", access_mode="cache")
    seg = as_lab.data["labels"]
    box = Box((0, 0, 0), (16, 64, 64))
    keep = [int(seg[0, 0, 40]), int(seg[0, 40, 40])]
    got = ch.cutout(box, ids=keep, access_mode="raw")
    expected = np.where(np.isin(seg[box.to_slices()], keep), seg[box.to_slices()], 0)
    np.testing.assert_array_equal(got, expected)
    assert ch.ids_in_region(box) == sorted(int(i) for i in np.unique(seg[box.to_slices()]) if i)
    with pytest.raises(ValueError, match="access_mode"):
        intern.open("bossdb://lab/em/labels", access_mode="sometimes")


def test_metadata_and_downsample_status(as_lab: Lab) -> None:
    remote = intern.open("bossdb://lab/em/image").remote
    assert {"session", "stain"} <= set(remote.list_metadata("lab/em/image"))
    assert remote.get_metadata("lab/em/image", ["stain"]) == {"stain": "osmium"}
    status = intern.open("bossdb://lab/em/image").downsample_status()
    assert status["num_hierarchy_levels"] == 3 and status["extent"]["2"] == [150, 175, 40]


def test_errors(as_lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(NotFoundError):
        intern.open("bossdb://lab/em/nothing")
    with pytest.raises(NotFoundError):
        intern.ls("bossdb://nothing")
    a = intern.array("bossdb://lab/em/image")
    with pytest.raises(OutOfBoundsError):
        a.resource.read(Box((0, 0, 0), (41, 1, 1)))
    with pytest.raises(ReadOnlyError, match="base resolution"):
        intern.array("bossdb://lab/em/image", scale=1)[0, 0, 0] = 1
    with pytest.raises(ReadOnlyError):
        intern.array("bossdb://lab/em/image", mode="r")[0, 0, 0] = 1
    with pytest.raises(DTypeError):
        a.resource.write(Box((0, 0, 0), (1, 1, 1)), np.zeros((1, 1, 1), np.uint16))
    with pytest.raises(ParameterError, match="does not know the option.*colour"):
        intern.open("bossdb://lab/em/image", colour="red")
    monkeypatch.setenv("INTERN_TOKEN", "wrong")
    with pytest.raises(PermissionDeniedError, match="INTERN_TOKEN"):
        intern.array("bossdb://lab/em/image")


def test_writes_and_zero_blocks(as_lab: Lab) -> None:
    a = intern.array("bossdb://lab/scratch/image")
    upstream = intern.array(f"zarr://{as_lab.root}/scratch.zarr")
    before = upstream[...]
    assert np.array_equal(a[...], before)  # fills the relay's cache
    block = np.full((5, 300, 200), 7, np.uint8)
    a[3:8, 250:550, 100:300] = block
    before[3:8, 250:550, 100:300] = 7
    np.testing.assert_array_equal(upstream[...], before)  # written through to the zarr volume
    np.testing.assert_array_equal(a[...], before)  # and the cached cuboids it touched were dropped

    a[0:16, 0:512, 0:512] = np.zeros((16, 512, 512), np.uint8)  # zeros are sent: clearing works
    before[0:16, 0:512, 0:512] = 0
    np.testing.assert_array_equal(a[...], before)

    skip = intern.array("bossdb://lab/scratch/image", send_zeros=False)
    skip[16:24, 0:512, 0:512] = np.zeros((8, 512, 512), np.uint8)  # all-zero blocks skipped: data stays
    np.testing.assert_array_equal(upstream[16:24, 0:512, 0:512], before[16:24, 0:512, 0:512])
    assert before[16:24, 0:512, 0:512].any()

    ch = intern.open("bossdb://lab/scratch/image")
    ch.to_black(Box((20, 10, 10), (22, 30, 30)))
    before[20:22, 10:30, 10:30] = 0
    np.testing.assert_array_equal(a[...], before)
    assert ch.downsample_status()["status"] == "NOT_DOWNSAMPLED"



def test_cutouts_through_an_http_proxy(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    """With HTTP_PROXY set, cutouts go through the proxy (and requests) and decode as on the direct path."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import requests

    seen: list[str] = []

    class Forward(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - the base class's name
            seen.append(self.path)  # a forward proxy is asked for absolute URLs
            with requests.Session() as session:
                session.trust_env = False
                answer = session.get(self.path, headers=dict(self.headers), timeout=30)
            self.send_response(answer.status_code)
            self.send_header("Content-Type", answer.headers.get("Content-Type", "application/json"))
            self.send_header("Content-Length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Forward)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{server.server_address[1]}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        # remotes are kept per server, with their proxy settings: name the relay in a way no other test does
        base = f"http://localhost:{lab.relay.port}"
        for name in ("image", "labels"):  # noisy voxels stored as they are, and labels blosc compresses
            a = intern.array(f"bossdb://{base}/lab/em/{name}", token=TOKEN)
            np.testing.assert_array_equal(a[0:16, 0:512, 0:512], lab.data[name][0:16, 0:512, 0:512])
        assert any("/v1/cutout/lab/em/image/" in p for p in seen)
        assert all(p.startswith(f"{base}/") for p in seen)
    finally:
        server.shutdown()
        server.server_close()
