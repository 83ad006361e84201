"""The registry's remotes, hook calls, the options parser, the error boundary and the resolver's report.

Each test stands for one promise of the plugin API: a fresh remote after ``registry.reload()``, one rule for every
yes-or-no option, creation options that do not stop a URI from reopening, intern's errors crossing a driver's
boundary unchanged, a Resolution that stays as it was while threads run it, and hooks called with their spec's
arguments.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading

import numpy as np
import pytest

import intern
from intern import _registry as registry
from intern._api import remote_for
from intern._hookspecs import SchemeSpec, ServiceSpec, hookimpl
from intern._options import FLOATS, INTS, Option, OptionSet, parse_bool
from intern.errors import (
    CapabilityUnavailableError,
    ErrorBoundary,
    InvalidURIError,
    MetadataError,
    RemoteError,
)

_n = itertools.count()


# -- the process's remotes ---------------------------------------------------------------------------------------
def test_reload_gives_fresh_remotes_and_keeps_memory_volumes():
    a = intern.create(f"mem://registry/keep{next(_n)}", shape=(2, 3, 4), dtype="uint8")
    a[...] = 7
    first, _, _ = remote_for("mem://anything")
    assert remote_for("mem://other")[0] is first  # one remote per key
    registry.reload()
    fresh, _, _ = remote_for("mem://anything")
    assert fresh is not first
    assert (intern.array(a.uri)[...] == 7).all()  # the volumes are the process's memory, not the remote's


def test_shared_remote_is_one_per_key_under_concurrency():
    registry.reload()
    made = []
    start = threading.Barrier(8)

    def make():
        made.append(object())
        return made[-1]

    got = []

    def ask():
        start.wait()
        got.append(registry.shared_remote("test", ("host", 1), make))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 1 and all(g is made[0] for g in got)
    assert registry.shared_remote("test", ("host", 2), object) is not made[0]  # another key, another remote
    registry.reload()
    assert registry.shared_remote("test", ("host", 1), object) is not made[0]


# -- hooks are called with their spec's arguments -----------------------------------------------------------------
class _Subset:
    """Takes none of the spec's arguments, as plugins written before the spec grew do."""

    @hookimpl
    def intern_schemes(self):
        return [SchemeSpec("subsetdb", "intern._builtin.mem:MemRemote.from_uri")]


class _Grown:
    """Takes the argument the spec has beyond what older plugins take."""

    seen: list[str] = []

    @hookimpl
    def intern_services(self, intern_version):
        self.seen.append(intern_version)
        return [ServiceSpec("grown", "versioned", "intern._builtin.labels:size", requires=("segmentation",),
                            description=f"registered for intern {intern_version}")]


def test_hooks_get_the_arguments_of_their_spec_they_name():
    reg = registry.reload()
    try:
        reg.register(_Subset(), name="subset")
        reg.register(_Grown(), name="grown")
        assert "subsetdb" in reg.schemes
        assert _Grown.seen[-1] == intern.__version__
        assert reg.services("grown")[0].description == f"registered for intern {intern.__version__}"
    finally:
        registry.reload()


# -- one options parser -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "value"), [
    ("1", True), ("0", False), ("true", True), ("FALSE", False), ("Yes", True), ("no", False), ("ON", True),
    (" off ", False), (True, True), (False, False), (1, True), (0, False), (np.True_, True), (np.int64(0), False),
])
def test_bool_spellings(text, value):
    assert parse_bool(text, "throttle") is value


@pytest.mark.parametrize("text", ["maybe", "", "2", "tru", None, 2.5])
def test_bool_refuses_anything_else_naming_the_option_and_the_spellings(text):
    with pytest.raises(InvalidURIError, match=r"throttle=.*1/0, true/false, yes/no, on/off"):
        parse_bool(text, "throttle")


_OPTIONS = OptionSet(
    "testdb",
    Option("mode", str, "a", choices=("r", "a")),
    Option("fast", bool, False),
    Option("retries", int, 3),
    Option("timeout", float, 1.0),
    Option("block", INTS, None),
    Option("voxel_size", FLOATS, None),
    Option("codec", object, None, creation_only=True),
    Option("chunks", INTS, None, creation_only=True),
)


def test_option_types_from_text_and_keywords():
    got = _OPTIONS.for_open({"fast": "yes", "retries": "4", "timeout": "2", "block": "1,2,3", "voxel_size": "40,4,4"},
                            {"mode": "r"})
    assert got == {"fast": True, "retries": 4, "timeout": 2.0, "block": (1, 2, 3), "voxel_size": (40.0, 4.0, 4.0),
                   "mode": "r"}
    assert _OPTIONS.for_open({"retries": "4"}, {"retries": 5}) == {"retries": 5}  # keywords win over the query
    assert _OPTIONS.for_open({"mode": "R"}, {}) == {"mode": "r"}  # a choice in any case
    codec = object()
    assert _OPTIONS.for_create({}, {"codec": codec})["codec"] is codec  # objects pass as given


@pytest.mark.parametrize(("values", "message"), [
    ({"colour": "red"}, r"does not know the option\(s\) colour \(it knows: block, chunks, codec, fast, mode"),
    ({"mode": "w"}, r"mode='w': use one of 'r', 'a'"),
    ({"retries": "many"}, r"retries='many': a whole number"),
    ({"retries": "2.5"}, r"retries='2.5': a whole number"),
    ({"timeout": "soon"}, r"timeout='soon': a number"),
    ({"block": "1,x"}, r"block='1,x': comma-separated whole numbers"),
    ({"fast": "perhaps"}, r"fast='perhaps'"),
])
def test_bad_options_name_the_option_and_what_it_takes(values, message):
    with pytest.raises(InvalidURIError, match=message):
        _OPTIONS.for_open(values, {})


def test_creation_options_reach_create_only():
    query = {"chunks": "8,8,8", "mode": "r"}
    assert _OPTIONS.for_create(query, {}) == {"chunks": (8, 8, 8), "mode": "r"}
    assert _OPTIONS.for_open(query, {}) == {"mode": "r"}  # the URI that created the volume opens it
    with pytest.raises(InvalidURIError, match="chunks='x'"):  # checked all the same
        _OPTIONS.for_open({"chunks": "x"}, {})
    with pytest.raises(InvalidURIError, match="chunks apply when a volume is created"):
        _OPTIONS.for_open({}, {"chunks": (8, 8, 8)})


def test_mem_takes_no_options_and_says_so():
    a = intern.create(f"mem://registry/opts{next(_n)}", shape=(2, 2, 2), dtype="uint8")
    with pytest.raises(InvalidURIError, match=r"mem:// does not know the option\(s\) mode \(it knows: none\)"):
        intern.open(f"{a.uri}?mode=r")


def test_exist_ok_checks_shape_and_dtype_once_for_every_driver():
    uri = f"mem://registry/same{next(_n)}"
    intern.create(uri, shape=(4, 4, 4), dtype="uint8")
    assert intern.create(uri, shape=(4, 4, 4), dtype="uint8", exist_ok=True).shape == (4, 4, 4)
    with pytest.raises(intern.errors.AlreadyExistsError, match=r"exists as uint8\[4, 4, 4\], not the uint8\[4, 4, 5\]"):
        intern.create(uri, shape=(4, 4, 5), dtype="uint8", exist_ok=True)


# -- the error boundary -------------------------------------------------------------------------------------------
def test_intern_errors_cross_a_boundary_unchanged():
    seen = []

    def translate(exc, what):
        seen.append(exc)
        return RemoteError(f"{what}: {exc}") if isinstance(exc, ValueError) else exc

    boundary = ErrorBoundary(translate)
    raised = MetadataError("/data/x: the axes name z twice")  # a ValueError too, like the backend's

    class Volume:
        uri = "test://x"

        @boundary.translated
        def read(self):
            raise raised

        @boundary.translated
        def backend(self):
            raise ValueError("backend said no")

    with pytest.raises(MetadataError) as caught:
        Volume().read()
    assert caught.value is raised and caught.value.__cause__ is None
    with pytest.raises(MetadataError) as caught, boundary.translating("/data/x"):
        raise raised
    assert caught.value is raised
    assert seen == []  # translate never saw intern's own errors
    with pytest.raises(RemoteError, match="test://x: backend said no") as caught:
        Volume().backend()
    assert isinstance(caught.value.__cause__, ValueError)


# -- the resolver's report ----------------------------------------------------------------------------------------
def _fast(resource, **params):
    return ("fast", params)


class _Counter:
    @hookimpl
    def intern_services(self):
        return [ServiceSpec("tally", "fast", f"{__name__}:_fast", requires=("segmentation",))]


@pytest.fixture
def tally_plugin():
    reg = registry.reload()
    reg.register(_Counter(), name="tally")
    yield
    registry.reload()


def _serving(server):
    a = intern.create(f"mem://registry/tally{next(_n)}", shape=(4, 4, 4), dtype="uint32", kind="segmentation")
    remote = a.resource.remote

    class Serving:  # a remote that answers `tally` itself, as DVID answers stored meshes
        scheme = "mem"
        server_name = "mem-server"

        def server_services(self, resource):
            return {"tally": server} if resource is a.resource else {}

        def __getattr__(self, name):
            return getattr(remote, name)

    a.resource._remote = Serving()
    return a


def test_a_resolution_is_not_changed_by_running_it(tally_plugin):
    def whole_only(resource, **params):
        if params.get("box") is not None:
            raise CapabilityUnavailableError("whole volumes only")
        return ("server", params)

    r = intern.resolve("tally", _serving(whole_only))
    before = (r.candidates, r.explain())
    assert r(box=1) == ("fast", {"box": 1})
    assert (r.candidates, r.explain()) == before and r.implementation == "mem-server"
    later = r.run()
    assert later.value == ("server", {}) and later.implementation == "mem-server" and later.declined == ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.candidates = ()  # type: ignore[misc]


def test_threads_running_one_resolution_each_learn_who_answered(tally_plugin):
    both_in = threading.Barrier(2, timeout=30)

    def whole_only(resource, **params):
        both_in.wait()  # the two calls are inside the server's implementation at the same time
        if params.get("box") is not None:
            raise CapabilityUnavailableError("whole volumes only")
        return ("server", params)

    r = intern.resolve("tally", _serving(whole_only))
    outcomes: dict[str, object] = {}
    calls = {"whole": {}, "boxed": {"box": 1}}

    def run(name):
        outcomes[name] = r.run(**calls[name])

    threads = [threading.Thread(target=run, args=(name,)) for name in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    whole, boxed = outcomes["whole"], outcomes["boxed"]
    assert (whole.value, whole.implementation, whole.declined) == (("server", {}), "mem-server", ())
    assert (boxed.value, boxed.implementation) == (("fast", {"box": 1}), "fast")
    assert [c.name for c in boxed.declined] == ["mem-server"] and "whole volumes only" in boxed.declined[0].reason
    assert "-> fast [local" in boxed.explain() and "-> mem-server [server" in whole.explain()
    assert r.implementation == "mem-server"
