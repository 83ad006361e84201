import pickle

import pytest

import intern
from intern import config, errors
from intern._uri import parse_uri


@pytest.mark.parametrize("cls", [getattr(errors, n) for n in errors.__all__ if n != "ErrorBoundary"])
def test_every_error_pickles_and_is_an_intern_error(cls):
    exc = cls("something went wrong; do this")
    again = pickle.loads(pickle.dumps(exc))
    assert type(again) is cls and str(again) == "something went wrong; do this"
    assert isinstance(again, errors.InternError)


def test_remote_error_keeps_status_and_body():
    exc = pickle.loads(pickle.dumps(errors.TransientRemoteError("upstream busy", 503, "throttled")))
    assert (exc.status, exc.body) == (503, "throttled") and isinstance(exc, OSError)


@pytest.mark.parametrize("text", ["", " mem://x", "://x", "no-scheme-at-all", 42, "1abc://x"])
def test_malformed_uris(text):
    with pytest.raises(errors.InvalidURIError):
        parse_uri(text)


def test_uri_options_and_nested_urls():
    u = parse_uri("zarr:///data/em.zarr?mode=r&engine=zarr")
    assert (u.scheme, u.rest, u.options) == ("zarr", "/data/em.zarr", {"mode": "r", "engine": "zarr"})
    inner = parse_uri("ZARR://s3://bucket/em.zarr?mode=r")
    assert (inner.scheme, inner.rest, inner.options) == ("zarr", "s3://bucket/em.zarr", {"mode": "r"})
    web = parse_uri("zarr://https://host/em.zarr?X-Amz-Signature=ab")  # a web server's query stays its own
    assert (web.rest, web.options) == ("https://host/em.zarr?X-Amz-Signature=ab", {})
    with pytest.raises(errors.InvalidURIError):
        parse_uri("mem://x?=&&")


def test_missing_and_invalid_names():
    with pytest.raises(errors.NotFoundError, match="make it with intern.create"):
        intern.array("mem://errors/none-here")
    with pytest.raises(errors.InvalidURIError):
        intern.create("mem://../escape", shape=(1, 1, 1), dtype="uint8")


def test_create_rejects_bad_metadata():
    for kwargs in [dict(shape=(4, 4), dtype="uint8"), dict(shape=(4, 4, 4), dtype="complex64"),
                   dict(shape=(4, 4, 4), dtype="float32", kind="segmentation"),
                   dict(shape=(4, 4, 4), dtype="uint8", voxel_size=(0, 1, 1)),
                   dict(shape=(4, 4, 4), dtype="uint8", chunks=(0, 4, 4)), dict(shape=(4, 4, 4), dtype="uint8", scales=0)]:
        with pytest.raises(errors.MetadataError):
            intern.create("mem://errors/bad", **kwargs)


def test_create_names_a_voxel_size_or_factor_without_three_axes():
    # A fourth factor used to be dropped without a word (scales=[(1, 2, 2, 2)] made a (1, 2, 2) level).
    cases = [(dict(voxel_size=(4, 4)), "voxel_size"), (dict(voxel_size=(40, 4, 4, 4)), "voxel_size"),
             (dict(scales=[(1, 2, 2, 2)]), "scales"), (dict(scales=[(1, 2, 2), (2, 2)]), "scales")]
    for kwargs, argument in cases:
        with pytest.raises(errors.MetadataError, match=argument):
            intern.create("mem://errors/axes", shape=(8, 8, 8), dtype="uint8", **kwargs)
    with pytest.raises(errors.NotFoundError):
        intern.array("mem://errors/axes")  # nothing was made
    for kwargs, argument in [(dict(factors=[(1, 2, 2, 2)]), "factors"), (dict(voxel_size=(4, 4)), "voxel_size")]:
        with pytest.raises(errors.MetadataError, match=argument):
            intern.VolumeMetadata.pyramid(shape=(8, 8, 8), dtype="uint8", **kwargs)


def test_exist_ok_refuses_a_different_volume():
    intern.create("mem://errors/existing", shape=(4, 4, 4), dtype="uint8")
    assert intern.create("mem://errors/existing", shape=(4, 4, 4), dtype="uint8", exist_ok=True).shape == (4, 4, 4)
    with pytest.raises(errors.AlreadyExistsError):
        intern.create("mem://errors/existing", shape=(4, 4, 4), dtype="uint8")
    with pytest.raises(errors.AlreadyExistsError, match="uint16"):
        intern.create("mem://errors/existing", shape=(4, 4, 4), dtype="uint16", exist_ok=True)


def test_config_file_and_environment(tmp_path, monkeypatch):
    cfg = tmp_path / "intern.cfg"
    cfg.write_text("[Default]\nprotocol = https\nhost = api.bossdb.io\ntoken = abc\n\n[dvid]\ntimeout = 30\n"
                   "[intern]\nmax_workers = 3\n")
    monkeypatch.setenv("INTERN_CONFIG", str(cfg))
    assert config.section("Default") == {"protocol": "https", "host": "api.bossdb.io", "token": "abc"}
    monkeypatch.setenv("INTERN_HOST", "localhost:8000")
    monkeypatch.setenv("INTERN_DVID_TIMEOUT", "5")
    assert config.section("Default")["host"] == "localhost:8000"
    assert config.section("dvid") == {"timeout": "5"}
    assert config.max_workers() == 3
    monkeypatch.setenv("INTERN_MAX_WORKERS", "zero")
    with pytest.raises(errors.ConfigError, match="max_workers"):
        config.max_workers()
    cfg.write_text("not an ini file")
    with pytest.raises(errors.ConfigError):
        config.section("Default")


def test_numbers_that_do_not_fit_are_refused():
    import numpy as np

    a = intern.create("mem://errors/fit", shape=(2, 2, 2), dtype="uint8")
    a[0, 0] = [1, 2]  # Python ints that fit
    with pytest.raises(errors.DTypeError):
        a[0, 1] = np.array([1, 300], dtype=np.uint16)
    with pytest.raises(errors.DTypeError):
        a[0, 1] = [-1, 2]
    assert a[0, 0, 1] == 2 and a[0, 1].sum() == 0
    assert isinstance(a[0, 0, 1], np.uint8)
    with pytest.raises(ValueError):
        np.asarray(a, copy=False) if np.lib.NumpyVersion(np.__version__) >= "2.0.0" else a.__array__(copy=False)


def test_error_boundary_translates_once_and_keeps_the_cause():
    def translate(exc, what):
        return errors.NotFoundError(f"{what}: gone") if isinstance(exc, FileNotFoundError) else exc

    boundary = errors.ErrorBoundary(translate)

    class Volume:
        uri = "x://vol"

        @boundary.translated
        def read(self):
            raise FileNotFoundError("chunk 0.0.0")

        @boundary.translated
        def other(self):
            raise KeyError("not ours")

    with pytest.raises(errors.NotFoundError, match="x://vol: gone") as err:
        Volume().read()
    assert isinstance(err.value.__cause__, FileNotFoundError)
    with pytest.raises(KeyError):  # untranslated failures pass unchanged
        Volume().other()
    with pytest.raises(errors.NotFoundError, match="opening y: gone"):
        with boundary.translating("opening y"):
            raise FileNotFoundError("y")
