"""The resolver's order, `prefer`, requirements and explanations, with real plugins registered in a registry."""

import itertools

import numpy as np
import pytest

import intern
from intern import _registry as registry
from intern._hookspecs import ServiceSpec, hookimpl
from intern.errors import CapabilityUnavailableError

_n = itertools.count()


def fast_count(resource, **params):
    return ("fast", params)


def slow_count(resource, **params):
    return ("slow", params)


class _CountPlugin:
    @hookimpl
    def intern_services(self):
        return [
            ServiceSpec("count", "slow", f"{__name__}:slow_count", priority=1, description="a slow counter"),
            ServiceSpec("count", "fast", f"{__name__}:fast_count", priority=10, requires=("segmentation",)),
        ]


@pytest.fixture
def count_plugin():
    reg = registry.reload()
    reg.register(_CountPlugin(), name="counts")
    yield
    registry.reload()


def _vol(kind, server=None):
    a = intern.create(f"mem://resolver/v{next(_n)}", shape=(4, 4, 4), dtype="uint32", kind=kind)
    if server is not None:
        # a remote that serves `count` itself for this resource, as DVID serves stored meshes
        remote = a.resource.remote

        class Serving:
            scheme = "mem"
            server_name = "mem-server"

            def server_services(self, resource):
                return {"count": server} if resource is a.resource else {}

            def __getattr__(self, name):
                return getattr(remote, name)

        a.resource._remote = Serving()
    return a


def test_priority_then_requirements(count_plugin):
    seg, img = _vol("segmentation"), _vol("image")
    assert intern.resolve("count", seg)(x=1) == ("fast", {"x": 1})
    r = intern.resolve("count", img)
    assert r.implementation == "slow" and not r.server_side
    fast = next(c for c in r.candidates if c.name == "fast")
    assert not fast.taken and "needs a segmentation" in fast.reason


def test_server_side_wins_and_prefer_local_skips_it(count_plugin):
    seg = _vol("segmentation", server=lambda res, **p: ("server", p))
    r = intern.resolve("count", seg)
    assert r.server_side and r.implementation == "mem-server" and r() == ("server", {})
    local = intern.resolve("count", seg, prefer="local")
    assert local.implementation == "fast" and not local.server_side
    assert intern.resolve("count", seg, prefer="slow")() == ("slow", {})
    assert intern.resolve("count", seg, prefer="server").server_side
    text = r.explain()
    assert "-> mem-server [server" in text and "fast [local, priority 10]: an earlier candidate was taken" in text


def test_unknown_preference_and_missing_capability(count_plugin):
    seg = _vol("segmentation")
    with pytest.raises(CapabilityUnavailableError, match="no count implementation is named 'nope'"):
        intern.resolve("count", seg, prefer="nope")
    with pytest.raises(CapabilityUnavailableError, match="no implementation is installed"):
        intern.resolve("teleport", seg)
    # where the capability is one of ours, the explanation names the distribution to install
    assert 'pip install "intern-mesh"' in intern.Resolution("mesh", "mem://x", []).explain()
    # and the extra, where the service needs one
    assert 'pip install "intern-mesh[skeleton]"' in intern.Resolution("skeleton", "mem://x", []).explain()
    with pytest.raises(CapabilityUnavailableError):
        intern.resolve("count", seg, prefer="server")


def test_capabilities_lists_every_service(count_plugin):
    seg = _vol("segmentation")
    caps = intern.capabilities(seg)
    assert set(caps) >= {"count", "downsample"}
    assert caps["count"].implementation == "fast"
    assert caps["downsample"].available and caps["downsample"].candidates[-1].name == "numpy"
    assert seg.capabilities.keys() == caps.keys()


def test_services_front_door_runs_builtin_downsample():
    from functools import partial

    downsample = partial(intern.downsample, prefer="numpy")  # the core's own, whatever else is installed
    img = np.arange(4 * 8 * 8, dtype=np.uint8).reshape(4, 8, 8)
    (half,) = downsample(img, factor=(1, 2, 2), voxel_size=(40, 4, 4), kind="image")
    expected = img.reshape(4, 4, 2, 4, 2).mean(axis=(2, 4))
    np.testing.assert_array_equal(half, np.rint(expected).astype(np.uint8))
    seg = np.zeros((2, 4, 4), np.uint64)
    seg[:, :2, :2] = 7
    seg[:, 2:, 2:] = 5
    seg[0, 0, 3] = 9  # one stray voxel does not win its block
    (mode,) = downsample(seg, factor=(2, 2, 2))
    np.testing.assert_array_equal(mode[0], [[7, 0], [0, 5]])


def test_downsample_writes_into_a_pyramid():
    a = intern.create(f"mem://resolver/pyr{next(_n)}", shape=(8, 16, 16), dtype="uint8", voxel_size=(40, 4, 4),
                      scales=3)
    a[...] = np.random.default_rng(0).integers(0, 255, (8, 16, 16), dtype=np.uint8)
    expected = intern.downsample(a, levels=2, prefer="numpy")  # in memory
    levels = intern.downsample(a, levels=2, dest=a, prefer="numpy")  # written: the levels come back as arrays
    assert [lv.shape for lv in levels] == [(8, 8, 8), (8, 4, 4)] and [lv.scale for lv in levels] == [1, 2]
    np.testing.assert_array_equal(a.at_scale(1)[...], expected[0])
    np.testing.assert_array_equal(a.at_scale(2)[...], expected[1])


def test_server_that_declines_hands_over_to_the_next_candidate(count_plugin):
    def partial_server(resource, **params):
        if params.get("box") is not None:
            raise CapabilityUnavailableError("stored results cover whole bodies only")
        return ("server", params)

    seg = _vol("segmentation", server=partial_server)
    assert intern.resolve("count", seg)() == ("server", {})
    r = intern.resolve("count", seg)
    assert r(box=1) == ("fast", {"box": 1})
    outcome = r.run(box=1)
    assert outcome.value == ("fast", {"box": 1}) and outcome.implementation == "fast" and not outcome.server_side
    assert [c.name for c in outcome.declined] == ["mem-server"]
    assert "declined when called: stored results" in outcome.explain()
    with pytest.raises(CapabilityUnavailableError):  # an explicit choice is never second-guessed
        intern.resolve("count", seg, prefer="server")(box=1)


def test_remote_default_chunks_are_used(monkeypatch):
    from intern._builtin.mem import MemRemote

    monkeypatch.setattr(MemRemote, "default_chunks", lambda self, *, shape, dtype, kind: (2, 3, 5), raising=False)
    assert intern.create(f"mem://resolver/chunks{next(_n)}", shape=(8, 9, 10), dtype="uint8").chunks == (2, 3, 5)
    assert intern.create(f"mem://resolver/chunks{next(_n)}", shape=(8, 9, 10), dtype="uint8",
                         chunks=(4, 4, 4)).chunks == (4, 4, 4)


def test_local_label_queries_agree_with_numpy():
    rng = np.random.default_rng(3)
    data = np.zeros((20, 30, 40), np.uint64)
    data[3:9, 10:25, 5:6] = 11
    data[15, 29, 39] = 11
    data[rng.random(data.shape) < 0.1] = 5
    seg = intern.create(f"mem://resolver/labels{next(_n)}", shape=data.shape, dtype="uint64", chunks=(8, 8, 8),
                        kind="segmentation")
    seg[...] = data
    pts = rng.integers(0, (20, 30, 40), (50, 3))
    np.testing.assert_array_equal(intern.resolve("label_at", seg, prefer="scan")(points=pts), data[tuple(pts.T)])
    assert intern.resolve("label_at", seg, prefer="scan")(points=(15, 29, 39)) == 11
    assert intern.resolve("size", seg, prefer="scan")(label=11) == int((data == 11).sum())
    assert intern.resolve("bounding_box", seg, prefer="scan")(label=11) == intern.Box((3, 10, 5), (16, 30, 40))
    with pytest.raises(intern.errors.NotFoundError):
        intern.resolve("size", seg, prefer="scan")(label=99)
    with pytest.raises(intern.errors.OutOfBoundsError):
        intern.resolve("label_at", seg, prefer="scan")(points=(20, 0, 0))
