"""URIs, listing, opening and creating: servers, nodes, instances, options, keyvalue stores, foreign volumes."""

from __future__ import annotations

import numpy as np
import pytest
import requests

import intern
from intern.errors import AlreadyExistsError, InvalidURIError, MetadataError, NotFoundError, ReadOnlyError
from intern.plugin import parse_uri
from intern_dvid import DvidKeyValue, DvidRemote, create_repo
from intern_dvid.testing import DvidTestServer


def test_ls_server_node_and_instance(server: DvidTestServer, root: str) -> None:
    assert root.rsplit("/", 1)[1] in intern.ls(f"dvid://{server.address}")
    assert intern.ls(root) == []
    intern.create(f"{root}/gray", shape=(4, 8, 8), dtype="uint8")
    assert intern.ls(root) == ["gray"]  # not the record of shapes intern keeps beside it
    assert intern.ls(f"{root}/gray") == []
    assert "gray" in intern.ls(f"{root}/intern_metadata")  # still there, and still opens by its name
    with pytest.raises(NotFoundError):
        intern.ls(f"dvid://{server.address}/0000000000")


def test_create_repo_and_schemes(server: DvidTestServer) -> None:
    node = create_repo(f"dvid://{server.address}", alias="made", description="by intern")
    assert node.uri == f"dvid://{server.address}/{node.uuid}" and not node.committed
    assert node.uuid in intern.ls(f"dvid://{server.address}")
    with pytest.raises(InvalidURIError, match="server alone"):
        create_repo(f"dvid://{server.address}/{node.uuid}")
    remote, path = DvidRemote.from_uri(parse_uri("dvid+https://dvid.example.org/abc/seg"))
    assert remote.http.base == "https://dvid.example.org" and path == "abc/seg"
    assert remote.base_uri == "dvid+https://dvid.example.org"
    with pytest.raises(InvalidURIError, match="names no server"):
        intern.open("dvid:///abc/seg")
    with pytest.raises(InvalidURIError, match="is a server"):
        intern.open(f"dvid://{server.address}")
    with pytest.raises(InvalidURIError, match="too many parts"):
        intern.open(f"dvid://{server.address}/{node.uuid}/a/b")


def test_options_travel_with_the_uri(root: str) -> None:
    intern.create(f"{root}/seg", shape=(8, 16, 16), dtype="uint64", kind="segmentation", chunks=(8, 8, 8))
    a = intern.array(f"{root}/seg?compression=gzip&supervoxels=true&mode=r")
    opts = a.resource.options
    assert (opts.compression, opts.supervoxels, opts.read_only) == ("gzip", True, True)
    assert intern.array(a.uri).resource.options == opts
    assert not a.resource.writable
    with pytest.raises(ReadOnlyError):
        a[0, 0, 0] = 1
    with pytest.raises(InvalidURIError, match="compression"):
        intern.array(f"{root}/seg?compression=zstd")
    with pytest.raises(InvalidURIError, match="does not know the option.*colour.*it knows: compression"):
        intern.array(f"{root}/seg?colour=blue")
    assert intern.array(f"{root}/seg").uri == f"{root}/seg"


def test_create_checks_what_dvid_can_hold(root: str) -> None:
    with pytest.raises(MetadataError, match="uint8 grayscale"):
        intern.create(f"{root}/f", shape=(4, 8, 8), dtype="float32")
    with pytest.raises(MetadataError, match="3-D"):
        intern.create(f"{root}/c", shape=(2, 4, 8, 8), dtype="uint8")
    with pytest.raises(MetadataError, match="2x coarser"):
        intern.create(f"{root}/aniso", shape=(8, 64, 64), dtype="uint64", voxel_size=(40, 4, 4), scales=2)
    with pytest.raises(MetadataError, match="holds uint64"):
        intern.create(f"{root}/t", shape=(4, 8, 8), dtype="uint8", typename="labelmap")
    for typename in ("labelblk", "labelarray"):
        other = intern.create(f"{root}/{typename}", shape=(4, 8, 8), dtype="uint64", typename=typename,
                              chunks=(4, 8, 8))
        assert other.resource.typename == typename and other.kind == "segmentation"
        other[1:3, 2:7, 0:5] = 2**63 + 3
        assert intern.array(other.uri)[2, 3, 4] == 2**63 + 3 and intern.array(other.uri)[0, 0, 0] == 0
    a = intern.create(f"{root}/g", shape=(4, 8, 8), dtype="uint8", scales=2, voxel_size=(8, 8, 8))
    with pytest.raises(AlreadyExistsError, match="exists already"):
        intern.create(f"{root}/g_1", shape=(4, 8, 8), dtype="uint8")  # the name of a level of g
    assert intern.create(a.uri, shape=(4, 8, 8), dtype="uint8", exist_ok=True).shape == (4, 8, 8)


def test_create_at_a_committed_node_is_refused(root: str) -> None:
    intern.open(root).commit("frozen")
    with pytest.raises(ReadOnlyError, match="committed"):
        intern.create(f"{root}/late", shape=(4, 8, 8), dtype="uint8")


def test_keyvalue_instances(root: str) -> None:
    node = intern.open(root)
    kv = node.create_keyvalue("notes")
    assert isinstance(intern.open(f"{root}/notes"), DvidKeyValue)
    kv.put("a b", b"spaced key")
    kv.put("z", b"last")
    assert kv.keys() == ["a b", "z"] and intern.ls(f"{root}/notes") == ["a b", "z"]
    assert kv.get("a b") == b"spaced key" and "z" in kv and "y" not in kv
    kv.delete("z")
    with pytest.raises(NotFoundError, match="no key 'z'"):
        kv.get("z")
    with pytest.raises(AlreadyExistsError):
        node.create_keyvalue("notes")
    assert node.create_keyvalue("notes", exist_ok=True).name == "notes"


def test_a_volume_made_by_another_client_has_its_extents_as_shape(server: DvidTestServer, root: str,
                                                                  api: requests.Session) -> None:
    uuid = root.rsplit("/", 1)[1]
    api.post(f"{server.url}/api/repo/{uuid}/instance", json={
        "typename": "uint8blk", "dataname": "foreign", "BlockSize": "16,16,16", "VoxelSize": "4,4,40",
        "VoxelUnits": "nanometers,nanometers,nanometers"}).raise_for_status()
    assert intern.array(f"{root}/foreign").shape == (0, 0, 0)  # nothing written: no extents yet
    block = np.arange(16 * 16 * 32, dtype=np.uint8).reshape(16, 16, 32)
    api.post(f"{server.url}/api/node/{uuid}/foreign/raw/0_1_2/32_16_16/16_0_-16",
             data=block.tobytes()).raise_for_status()
    a = intern.array(f"{root}/foreign")
    # x reaches 47, y 15; z runs from -16 to -1, so voxel 0 of intern's z sits at DVID's z = -16
    assert a.shape == (16, 16, 48) and a.level.offset == (-16, 0, 0)
    assert a.voxel_size == (40.0, 4.0, 4.0) and a.chunks == (16, 16, 16)
    np.testing.assert_array_equal(a[:, :, 16:48], block)
    assert not a[:, :, 0:16].any()
    # a micrometre volume is converted to nanometres
    api.post(f"{server.url}/api/repo/{uuid}/instance", json={
        "typename": "uint8blk", "dataname": "um", "VoxelSize": "0.004,0.004,0.04",
        "VoxelUnits": "micrometers,micrometers,micrometers"}).raise_for_status()
    assert intern.array(f"{root}/um").voxel_size == pytest.approx((40.0, 4.0, 4.0))


def test_a_missing_instance_lists_what_is_there(root: str) -> None:
    with pytest.raises(NotFoundError, match="instances at that node: none"):
        intern.open(f"{root}/seg")
    intern.create(f"{root}/gray", shape=(4, 8, 8), dtype="uint8")
    with pytest.raises(NotFoundError, match=r"instances at that node: gray\)"):
        intern.open(f"{root}/grey")
