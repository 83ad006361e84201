"""The client's project API and creation of channels, against a small Boss on loopback (``_miniboss``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest
from _miniboss import MiniBoss

import intern
from intern.errors import (
    AlreadyExistsError,
    InvalidArgumentError,
    MetadataError,
    NotFoundError,
    PermissionDeniedError,
    RemoteError,
)
from intern.plugin import Box, parse_uri
from intern.testing import VolumeDriverTests
from intern_boss import BossRemote

TOKEN = "mini-token"


@pytest.fixture
def boss(monkeypatch: pytest.MonkeyPatch) -> Iterator[MiniBoss]:
    server = MiniBoss(TOKEN)
    monkeypatch.setenv("INTERN_PROTOCOL", "http")
    monkeypatch.setenv("INTERN_HOST", server.url.split("://")[1])
    monkeypatch.setenv("INTERN_TOKEN", TOKEN)
    yield server
    server.close()


def remote() -> BossRemote:
    r, _ = BossRemote.from_uri(parse_uri("bossdb://"))
    return r


def test_a_coordinate_frame_needs_three_axes_of_each(boss: MiniBoss) -> None:
    # A fourth extent used to be dropped without a word, and a frame of two voxel sizes reached the Boss.
    r = remote()
    cases = [(dict(extent_xyz=(600, 500, 40, 7), voxel_size_xyz=(4, 4, 40)), "extent_xyz"),
             (dict(extent_xyz=(600, 500, 40), voxel_size_xyz=(4, 4)), "voxel_size_xyz"),
             (dict(extent_xyz=(600, 500, 40), voxel_size_xyz=(4, 4, 40), start_xyz=(0, 0)), "start_xyz")]
    for kwargs, argument in cases:
        with pytest.raises(InvalidArgumentError, match=argument):
            r.create_coordinate_frame("lab_frame", **kwargs)  # type: ignore[arg-type]
    assert r.coordinate_frames() == []


def test_resources_round_trip(boss: MiniBoss) -> None:
    r = remote()
    r.create_collection("lab", description="a lab")
    r.create_coordinate_frame("lab_frame", extent_xyz=(600, 500, 40), voxel_size_xyz=(4, 4, 40))
    r.create_experiment("lab", "em", coord_frame="lab_frame", num_hierarchy_levels=2)
    r.create_channel("lab", "em", "image", datatype="uint8")
    r.create_channel("lab", "em", "seg", datatype="uint64", type="annotation", sources=["image"])
    assert r.ls("") == ["lab"] and r.ls("lab") == ["em"] and r.ls("lab/em") == ["image", "seg"]
    assert r.coordinate_frames() == ["lab_frame"] and r.coordinate_frame("lab_frame")["x_stop"] == 600
    assert r.info("lab")["description"] == "a lab"
    assert r.info("lab/em/seg")["sources"] == ["image"]
    r.update("lab/em/image", description="EM")
    assert r.info("lab/em/image")["description"] == "EM"
    r.update_coordinate_frame("lab_frame", description="the frame")
    assert r.coordinate_frame("lab_frame")["description"] == "the frame"
    with pytest.raises(AlreadyExistsError):
        r.create_collection("lab")
    with pytest.raises(RemoteError):
        r.delete("lab/em")  # it has channels
    r.delete("lab/em/seg")
    assert r.ls("lab/em") == ["image"]
    assert isinstance(intern.open("bossdb://lab"), intern_boss_types()[0])
    assert intern.open("bossdb://lab/em").coord_frame["name"] == "lab_frame"
    with pytest.raises(NotFoundError):
        r.info("lab/em/seg")
    r.delete("lab/em/image")
    r.delete("lab/em")
    r.delete_coordinate_frame("lab_frame")
    r.delete("lab")
    assert r.ls("") == [] and r.coordinate_frames() == []


def intern_boss_types() -> tuple[type, type]:
    from intern_boss import BossCollection, BossExperiment

    return BossCollection, BossExperiment


def test_metadata(boss: MiniBoss) -> None:
    r = remote()
    r.create_collection("lab")
    r.create_metadata("lab", {"stain": "osmium", "year": 2024})
    assert r.list_metadata("lab") == ["stain", "year"]
    assert r.get_metadata("lab", ["year"]) == {"year": "2024"}
    with pytest.raises(AlreadyExistsError):
        r.create_metadata("lab", {"stain": "uranyl"})
    r.update_metadata("lab", {"stain": "uranyl"})
    assert r.get_metadata("lab", ["stain"]) == {"stain": "uranyl"}
    r.delete_metadata("lab", ["stain"])
    assert r.list_metadata("lab") == ["year"]
    with pytest.raises(NotFoundError):
        r.get_metadata("lab", ["stain"])


def test_create_through_intern_and_annotation_helpers(boss: MiniBoss) -> None:
    seg = intern.create("bossdb://lab/em/seg", shape=(20, 600, 540), dtype="uint64", kind="segmentation",
                        voxel_size=(40, 4, 4), scales=2)
    assert seg.kind == "segmentation" and [s.shape for s in seg.scales] == [(20, 600, 540), (20, 300, 270)]
    assert boss.experiments[("lab", "em")]["hierarchy_method"] == "anisotropic"
    assert boss.channels[("lab", "em", "seg")]["type"] == "annotation"
    seg[2:9, 500:580, 520:531] = 77
    ch = intern.open("bossdb://lab/em/seg")
    assert ch.ids_in_region(Box((0, 0, 0), (20, 600, 540))) == [77]
    assert ch.bounding_box(77, tight=True) == Box((2, 500, 520), (9, 580, 531))
    assert ch.bounding_box(77) == Box((0, 0, 512), (16, 1024, 1024))  # loose: cuboid-aligned frame boxes
    first = ch.reserve_ids(10)
    assert ch.reserve_ids(5) == first + 10
    assert ch.downsample_status()["status"] == "NOT_DOWNSAMPLED"
    ch.start_downsample()
    assert ch.downsample_status()["status"] == "DOWNSAMPLED"
    ch.cancel_downsample()
    with pytest.raises(AlreadyExistsError):
        intern.create("bossdb://lab/em/seg", shape=(20, 600, 540), dtype="uint64", kind="segmentation",
                      voxel_size=(40, 4, 4), scales=2)
    again = intern.create("bossdb://lab/em/seg", shape=(20, 600, 540), dtype="uint64", kind="segmentation",
                          voxel_size=(40, 4, 4), scales=2, exist_ok=True)
    assert again[5, 550, 525] == 77


def test_pyramids_the_boss_cannot_build(boss: MiniBoss) -> None:
    with pytest.raises(MetadataError, match="anisotropic"):
        intern.create("bossdb://lab/em/mixed", shape=(100, 1024, 1024), dtype="uint8", voxel_size=(40, 4, 4),
                      scales=6)  # halves z from the fifth level on
    with pytest.raises(MetadataError, match="channel axis"):
        intern.create("bossdb://lab/em/rgb", shape=(3, 10, 64, 64), dtype="uint8")


def test_wrong_token(boss: MiniBoss, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERN_TOKEN", "nope")
    with pytest.raises(PermissionDeniedError):
        intern.ls("bossdb://")


class TestBossCreateConformance(VolumeDriverTests):
    """The whole conformance kit, creation included, on channels the client creates."""

    dtypes = ("uint8", "uint16", "uint64", "float32")
    random_boxes = 6
    writable_scales = False  # a Boss takes writes at the base resolution only and builds the others itself

    @pytest.fixture
    def new_uri(self, boss: MiniBoss) -> Callable[[str], str]:
        # one experiment per volume: a Boss experiment has one coordinate frame and one pyramid
        return lambda name: f"bossdb://{boss.url}/kit/{name}/{name}"


def test_time_series_create(boss: MiniBoss) -> None:
    movie = intern.create("bossdb://lab/movie/frames", shape=(4, 10, 30, 40), dtype="uint16", axes=("t", "z", "y", "x"))
    data = np.arange(4 * 10 * 30 * 40, dtype=np.uint16).reshape(4, 10, 30, 40)
    movie[...] = data
    np.testing.assert_array_equal(intern.array("bossdb://lab/movie/frames")[1:3, 2:8], data[1:3, 2:8])
    assert boss.experiments[("lab", "movie")]["num_time_samples"] == 4
