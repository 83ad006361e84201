"""A volume declares how it takes reads and writes in one typed record, ``io: VolumeIO``; a Remote's optional
members (``server_name``, ``declared_options``) are typed too. Nothing a driver misspells or forgets falls back to a
default silently: it fails where the record is made or where the core first meets the volume."""

from __future__ import annotations

import itertools
import threading

import numpy as np
import pytest

import intern
from intern._box import Box
from intern._io import read_box, write_box
from intern._metadata import VolumeMetadata
from intern._options import OptionSet
from intern.errors import PluginError, ReadOnlyError

_n = itertools.count()


class _Recorder:
    """A volume over a numpy array that records the boxes the core hands it."""

    def __init__(self, shape=(8, 16, 16), chunks=(4, 8, 8), writable=True) -> None:
        self.metadata = VolumeMetadata.single_scale(shape=shape, dtype="uint8", chunks=chunks)
        self.data = np.arange(np.prod(shape), dtype="uint64").reshape(shape).astype("uint8")
        self.reads: list[Box] = []
        self.writes: list[Box] = []
        self.writable = writable
        self._lock = threading.Lock()  # the core calls read and write from several threads: guards the two lists

    @property
    def uri(self) -> str:
        return f"recorder://{id(self)}"

    @property
    def remote(self):
        return None

    def read(self, box, *, scale=0):
        with self._lock:
            self.reads.append(box)
        return self.data[box.to_slices()]

    def write(self, box, data, *, scale=0):
        with self._lock:
            self.writes.append(box)
        self.data[box.to_slices()] = data


def test_a_misspelt_loose_flag_is_not_silently_ignored():
    class Misspelt(_Recorder):
        handles_any_boxes = True  # meant "handles_any_box": the old flags fell back to single chunks silently

    vol = Misspelt()
    with pytest.raises(PluginError, match=r"Misspelt.*declares none.*VolumeIO"):
        read_box(vol, Box((0, 0, 0), (8, 16, 16)))
    assert vol.reads == []


def test_a_volume_without_io_is_refused_where_the_core_meets_it():
    vol = _Recorder()
    for meet in (intern.array, intern.Array):
        with pytest.raises(PluginError, match=r"_Recorder \(recorder://\d+\) declares none: .*io = intern\.plugin\."
                                              r"VolumeIO"):
            meet(vol)


def test_a_misspelt_field_fails_at_class_definition():
    from intern._traits import VolumeIO

    with pytest.raises(TypeError, match="whole_read"):
        class Volume(_Recorder):  # noqa: F841 - the class statement itself fails
            io = VolumeIO(whole_read=True)
    with pytest.raises(TypeError, match="whole_reads is True or False"):
        VolumeIO(whole_reads="yes")
    with pytest.raises(TypeError):
        VolumeIO(True)  # keyword-only: a positional True would say nothing of what it turns on


def test_io_that_is_not_a_record_is_refused():
    class Loose(_Recorder):
        io = {"whole_reads": True}

    with pytest.raises(PluginError, match=r"has io=\{'whole_reads': True\}"):
        intern.array(Loose())


def test_a_retired_flag_beside_the_record_is_refused_with_what_to_write():
    from intern._traits import VolumeIO

    class Old(_Recorder):
        io = VolumeIO()
        handles_any_box = True

    with pytest.raises(PluginError, match=r"still sets handles_any_box.*VolumeIO\(whole_reads=\.\.\., whole_writes"):
        intern.array(Old())

    class Wrapper(_Recorder):  # sets the old flag per instance, as wrappers of another volume did
        io = VolumeIO()

        def __init__(self) -> None:
            super().__init__()
            self.fresh_reads = True

    with pytest.raises(PluginError, match=r"still sets fresh_reads.*VolumeIO\(fresh_reads=\.\.\.\)"):
        read_box(Wrapper(), Box((0, 0, 0), (1, 1, 1)))


def test_the_record_says_how_requests_are_cut():
    from intern._traits import VolumeIO

    class Chunked(_Recorder):
        io = VolumeIO()

    class WholeReads(_Recorder):
        io = VolumeIO(whole_reads=True)

    class WholeWrites(_Recorder):
        io = VolumeIO(whole_writes=True)

    everything = Box((0, 0, 0), (8, 16, 16))
    part = Box((1, 1, 1), (7, 15, 15))
    for cls, whole_reads, whole_writes in ((Chunked, False, False), (WholeReads, True, False),
                                           (WholeWrites, False, True)):
        vol = cls()
        expected = vol.data[part.to_slices()].copy()
        assert np.array_equal(read_box(vol, part), expected)
        pieces = [c.intersection(part) for c in part.chunk_boxes((4, 8, 8), bounds=everything)]  # 2 x 2 x 2
        assert sorted(vol.reads, key=str) == ([part] if whole_reads else sorted(pieces, key=str)), cls
        vol.reads.clear()
        write_box(vol, part, np.full(part.shape, 7, "uint8"))
        if whole_writes:
            assert vol.writes == [part] and vol.reads == []
        else:  # whole chunks, the partial ones merged by the core from what they held
            assert vol.writes and all(w.shape == (4, 8, 8) for w in vol.writes), cls
            assert vol.data[0, 0, 0] == 0 and vol.data[1, 1, 1] == 7


def test_fresh_reads_are_handed_over_without_a_copy():
    from intern._traits import VolumeIO

    class Fresh(_Recorder):
        io = VolumeIO(whole_reads=True, fresh_reads=True)

        def read(self, box, *, scale=0):
            self.last = np.array(self.data[box.to_slices()])
            return self.last

    class Views(_Recorder):
        io = VolumeIO(whole_reads=True)

    fresh = Fresh()
    assert read_box(fresh, Box((0, 0, 0), (8, 16, 16))) is fresh.last
    views = Views()
    got = read_box(views, Box((0, 0, 0), (8, 16, 16)))
    got[0, 0, 0] = 99  # the caller's array is its own: the driver's memory is untouched
    assert views.data[0, 0, 0] == 0


def test_the_read_only_reason_reaches_the_error():
    from intern._traits import VolumeIO

    class Committed(_Recorder):
        io = VolumeIO(read_only_reason="its version 3f2a is committed; branch it to write")

    a = intern.array(Committed(writable=False))
    with pytest.raises(ReadOnlyError, match="cannot be written: its version 3f2a is committed; branch it"):
        a[0, 0, 0] = 1


def test_mem_volumes_declare_the_record():
    from intern._traits import VolumeIO, VolumeResource

    a = intern.create(f"mem://volume-io/a{next(_n)}", shape=(4, 4, 4), dtype="uint8")
    assert isinstance(a.resource, VolumeResource) and a.resource.io == VolumeIO()


def test_server_services_without_a_server_name_are_refused():
    a = intern.create(f"mem://volume-io/served{next(_n)}", shape=(4, 4, 4), dtype="uint32", kind="segmentation")
    remote = a.resource.remote

    class Serving:  # serves `tally` itself, but forgot to say under which name
        scheme = "mem"

        def server_services(self, resource):
            return {"tally": lambda resource, **params: "server"}

        def __getattr__(self, name):
            return getattr(remote, name)

    a.resource._remote = Serving()
    with pytest.raises(PluginError, match="Serving has server_services but no server_name"):
        intern.resolve("tally", a)
    Serving.server_name = "tally-server"
    assert intern.resolve("tally", a).implementation == "tally-server"


def test_declared_options_of_another_type_are_refused():
    from intern._options import split_options

    class Remote:
        scheme = "loose"
        declared_options = {"mode": str}  # not an OptionSet: its options would arrive unparsed

    with pytest.raises(PluginError, match="Remote declares declared_options=.*not an intern.plugin.OptionSet"):
        split_options(Remote(), {"mode": "r"}, {}, create=False)

    class Declared(Remote):
        declared_options = OptionSet("loose")

    assert split_options(Declared(), {}, {}, create=False) == {}
