"""Versions: a resource points at a node; commit, branch, newversion; reads at ancestors; locked nodes refuse."""

from __future__ import annotations

import numpy as np
import pytest
import requests

import intern
from intern.errors import AlreadyExistsError, InvalidURIError, NotFoundError, ReadOnlyError
from intern_dvid import DvidNode, DvidVolume
from intern_dvid.testing import DvidTestServer


def _volume(root: str, dtype: str = "uint8") -> intern.Array:
    kind = "segmentation" if dtype == "uint64" else "image"
    return intern.create(f"{root}/vol", shape=(16, 40, 40), dtype=dtype, kind=kind, chunks=(8, 16, 16))


@pytest.mark.parametrize("dtype", ["uint8", "uint64"])
def test_each_version_reads_its_own_data(root: str, dtype: str) -> None:
    a = _volume(root, dtype)
    first = np.arange(16 * 40 * 40).reshape(16, 40, 40).astype(dtype)
    a[...] = first
    vol: DvidVolume = a.resource
    committed = vol.commit("imported")
    assert committed == vol.version and not vol.writable

    edit = vol.branch("proofreading", note="fix merges")
    b = intern.array(edit)
    assert b.resource.writable and b.resource.version != committed
    np.testing.assert_array_equal(b[...], first)  # a child sees its parent's data
    b[2:9, 5:30, 7:33] = 3
    second = first.copy()
    second[2:9, 5:30, 7:33] = 3

    main = vol.newversion("more imports")
    c = intern.array(main)
    c[0:4, 0:40, 0:40] = 1
    third = first.copy()
    third[0:4] = 1

    np.testing.assert_array_equal(intern.array(vol.uri)[...], first)
    np.testing.assert_array_equal(intern.array(edit.uri)[...], second)
    np.testing.assert_array_equal(intern.array(main.uri)[...], third)
    # branch references name the leaf of a branch, the UUID prefix names the repo
    prefix = committed[:6]
    np.testing.assert_array_equal(intern.array(f"{root.rsplit('/', 1)[0]}/{prefix}:proofreading/vol")[...], second)
    np.testing.assert_array_equal(intern.array(f"{root.rsplit('/', 1)[0]}/{prefix}:master/vol")[...], third)
    np.testing.assert_array_equal(intern.array(vol.at(edit.version[:8]))[...], second)

    versions = vol.versions()
    assert [v["id"] for v in versions] == [committed, edit.version, main.version]
    assert [v["committed"] for v in versions] == [True, False, False]
    assert versions[1]["branch"] == "proofreading" and versions[1]["parents"] == [committed]
    assert versions[0]["note"] == "imported" and sorted(versions[0]["children"]) == sorted([edit.version,
                                                                                          main.version])


def test_writing_a_committed_node_is_a_clear_error(root: str) -> None:
    a = _volume(root)
    a[...] = 5
    a.resource.commit("done")
    with pytest.raises(ReadOnlyError, match="committed"):
        a[0, 0, 0] = 1
    with pytest.raises(ReadOnlyError, match="committed"):
        a.resource.commit("again")
    assert (intern.array(a.uri)[...] == 5).all()


def test_a_node_committed_by_another_client_refuses_writes(root: str, api: requests.Session,
                                                           server: DvidTestServer) -> None:
    a = _volume(root)
    assert a.resource.writable  # opened before the commit below
    api.post(f"{server.url}/api/node/{a.resource.version}/commit", json={"note": "elsewhere"}).raise_for_status()
    with pytest.raises(ReadOnlyError, match="locked node") as info:
        a[0:8, 0:16, 0:16] = 1
    assert "newversion" in str(info.value)


def test_branching_an_open_node_says_commit_first(root: str) -> None:
    vol = _volume(root).resource
    with pytest.raises(ReadOnlyError, match="commit"):
        vol.branch("b")
    with pytest.raises(ReadOnlyError, match="commit"):
        vol.newversion()
    vol.commit("c")
    vol.branch("b")
    with pytest.raises(AlreadyExistsError):
        vol.branch("b")


def test_nodes_and_uuid_prefixes(root: str, server: DvidTestServer) -> None:
    node = intern.open(root)
    assert isinstance(node, DvidNode) and not node.committed
    uuid = node.uuid
    assert intern.open(f"dvid://{server.address}/{uuid[:5]}").uuid == uuid
    child = node.commit("root").newversion("next")
    assert child.info.parents == (uuid,) and intern.open(child.uri).uuid == child.uuid
    with pytest.raises(NotFoundError, match="could not find UUID"):
        intern.open(f"dvid://{server.address}/zzzz")
    with pytest.raises(InvalidURIError, match="more than one UUID"):
        _open_ambiguous_prefix(server)


def _open_ambiguous_prefix(server: DvidTestServer) -> None:
    # make two repos whose root UUIDs share a first character, then ask for that character alone
    seen: dict[str, str] = {}
    while True:
        root = server.new_repo("prefix")
        if root[0] in seen:
            intern.open(f"dvid://{server.address}/{root[0]}")
        seen[root[0]] = root


def test_reading_an_ancestor_after_children_wrote(root: str) -> None:
    a = _volume(root)
    a[...] = 2
    vol = a.resource
    vol.commit("v1")
    child = vol.newversion()
    intern.array(child)[...] = 7
    assert (intern.array(vol.uri)[...] == 2).all()  # the parent never sees its children's writes
    assert (intern.array(child.uri)[...] == 7).all()


def test_no_new_instance_on_a_committed_node(root: str, api: requests.Session, server: DvidTestServer) -> None:
    node = intern.open(root)
    uuid = node.uuid
    node.create_keyvalue("before")
    api.post(f"{server.url}/api/node/{uuid}/commit", json={"note": "elsewhere"}).raise_for_status()
    # as DVID answers: 400, naming the node in full, whatever prefix the request used
    got = api.post(f"{server.url}/api/repo/{uuid[:8]}/instance", json={"typename": "keyvalue", "dataname": "kv"})
    assert got.status_code == 400
    assert got.text == f"New data instance cannot be created on locked node {uuid} (/api/repo/{uuid[:8]}/instance).\n"
    with pytest.raises(ReadOnlyError, match="locked node"):  # `node` was opened before the commit
        node.create_keyvalue("after")
    with pytest.raises(ReadOnlyError, match="committed"):
        _volume(root)
    assert intern.ls(root) == ["before"]
    child = intern.open(root).newversion("open")
    added = api.post(f"{server.url}/api/repo/{child.uuid}/instance", json={"typename": "keyvalue", "dataname": "kv"})
    assert added.json() == {"result": f"Added kv [keyvalue] to node {child.uuid}"}


def test_chunk_stamps_name_committed_nodes_only(root: str) -> None:
    """A copy resumed from a branch that moved on sees another stamp; an open node cannot vouch for its data."""
    a = intern.create(f"{root}/stamped", shape=(32, 32, 32), dtype="uint8", chunks=(32, 32, 32))
    a[...] = 7
    box = intern.Box((0, 0, 0), (32, 32, 32))
    assert a.resource.chunk_stamp(box) is None  # open: it may change under a copy
    a.resource.commit("first")
    committed = a.resource.chunk_stamp(box)
    assert committed is not None and intern.array(a.uri).resource.chunk_stamp(box) == committed
    child = a.resource.newversion("second")
    assert child.chunk_stamp(box) is None
    child.commit("second")
    assert child.chunk_stamp(box) not in (None, committed)
