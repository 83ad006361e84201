"""Every driver's remotes and options behave alike: the registry's cache, one yes-or-no rule, URIs that reopen.

Real stores on disk (Zarr, HDF5, TIFF, precomputed, KNOSSOS) and the DVID-compatible test server over HTTP.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import intern
from intern import _registry as registry
from intern._api import remote_for
from intern._options import OptionSet
from intern.errors import InvalidURIError, NotFoundError

_n = itertools.count()


@pytest.fixture(scope="module")
def dvid_server():
    from intern_dvid.testing import DvidTestServer

    with DvidTestServer() as server:
        yield server


def _uris(tmp_path) -> dict[str, str]:
    # one URI per driver; making a remote does no I/O, so the servers named here need not exist
    return {
        "zarr": f"zarr://{tmp_path}/a.zarr",
        "h5": f"h5://{tmp_path}/a.h5/raw",
        "tiff": f"tiff://{tmp_path}/a.tif",
        "precomputed": f"precomputed://file://{tmp_path}/a",
        "knossos": f"knossos://{tmp_path}/a",
        "dvid": "dvid://127.0.0.1:9/abc/grayscale",
        "bossdb": "bossdb://http://127.0.0.1:9/coll/exp/chan",
        "mem": "mem://options/a",
    }


def test_reload_gives_every_driver_a_fresh_remote(tmp_path):
    registry.reload()
    uris = _uris(tmp_path)
    first = {scheme: remote_for(uri)[0] for scheme, uri in uris.items()}
    assert all(remote_for(uri)[0] is first[scheme] for scheme, uri in uris.items())  # shared until reload
    registry.reload()
    fresh = {scheme: remote_for(uri)[0] for scheme, uri in uris.items()}
    assert [s for s in uris if fresh[s] is first[s]] == []


def _declared(tmp_path) -> dict[str, OptionSet]:
    found = {}
    for scheme, uri in _uris(tmp_path).items():
        options = getattr(type(remote_for(uri)[0]), "declared_options", None)
        assert isinstance(options, OptionSet), f"{scheme}:// declares no options"
        found[scheme] = options
    return found


def test_every_bool_option_of_every_driver_takes_the_same_spellings(tmp_path):
    seen = []
    for scheme, options in _declared(tmp_path).items():
        for option in options:
            if option.type is not bool:
                continue
            seen.append(f"{scheme}:{option.name}")
            assert [option.parse(t) for t in ("1", "true", "Yes", "ON")] == [True] * 4
            assert [option.parse(t) for t in ("0", "FALSE", "no", "off")] == [False] * 4
            with pytest.raises(InvalidURIError, match=f"{option.name}='maybe'.*1/0, true/false, yes/no, on/off"):
                option.parse("maybe", scheme=scheme)
    assert {"dvid:supervoxels", "dvid:throttle", "precomputed:fill_missing", "bossdb:send_zeros"} <= set(seen)


def test_yes_means_true_through_the_uri_of_each_driver(tmp_path, dvid_server):
    pre = f"precomputed://file://{tmp_path}/pre{next(_n)}"
    intern.create(pre, shape=(4, 8, 8), dtype="uint8")
    assert intern.array(f"{pre}?fill_missing=YES")[0, 0, 0] == 0
    with pytest.raises(NotFoundError):  # off: a chunk never written is missing, not zeros
        intern.array(f"{pre}?fill_missing=off")[0, 0, 0]
    root = dvid_server.new_repo(f"opts{next(_n)}")
    seg = f"dvid://{dvid_server.address}/{root}/seg"
    intern.create(seg, shape=(8, 16, 16), dtype="uint64", kind="segmentation", chunks=(8, 8, 8))
    for spelling in ("yes", "Yes", "1", "on", "true"):
        assert intern.open(f"{seg}?supervoxels={spelling}").options.supervoxels is True
    for spelling in ("no", "0", "OFF", "false"):
        assert intern.open(f"{seg}?throttle={spelling}").options.throttle is False
    with pytest.raises(InvalidURIError, match="supervoxels='maybe'"):
        intern.open(f"{seg}?supervoxels=maybe")


def test_a_uri_with_creation_options_opens_what_it_created(tmp_path, dvid_server):
    root = dvid_server.new_repo(f"make{next(_n)}")
    uris = [
        f"zarr://{tmp_path}/c.zarr?compressor=none&shards=8,16,16&name=cells",
        f"h5://{tmp_path}/c.h5/raw?compression=lzf",
        f"precomputed://file://{tmp_path}/c?encoding=compressed_segmentation",
        f"knossos://{tmp_path}/kc?name=exp1&description=made%20here",
        f"dvid://{dvid_server.address}/{root}/c?typename=labelmap",
    ]
    data = np.arange(8 * 16 * 16, dtype=np.uint64).reshape(8, 16, 16) % 7
    for uri in uris:
        a = intern.create(uri, shape=(8, 16, 16), dtype="uint64", chunks=(8, 8, 8), kind="segmentation")
        a[...] = data
        again = intern.array(uri)  # the creating URI, creation options and all
        np.testing.assert_array_equal(again[...], data, err_msg=uri)


def test_a_missing_volume_named_with_creation_options_is_not_found(tmp_path):
    for uri in (f"zarr://{tmp_path}/none.zarr?compressor=none", f"h5://{tmp_path}/none.h5/raw?compression=lzf",
                f"precomputed://file://{tmp_path}/none?encoding=raw", f"knossos://{tmp_path}/none?name=x"):
        with pytest.raises(NotFoundError):
            intern.array(uri)
