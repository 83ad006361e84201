"""What an operator gets for bad input, across the drivers and the command line: one of intern's errors, naming the file
or argument at fault, and nothing lost.

One table, one test. Each row does one wrong thing (a malformed URI, damaged metadata, a corrupt chunk, a parameter
a service does not take, a bad command-line argument...) and says which error must come out and which words its
message must hold: the file or URI, and the argument or fault. Rows that could destroy data also check afterwards
that nothing was lost. The per-driver ``*_errors.py`` tests cover their own cases (missing volumes, read-only modes,
out-of-bounds boxes, wrong dtypes); this table holds what they do not. Everything is small and local: files in a
temporary directory and the DVID test server on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import intern
from intern.errors import (
    CapabilityUnavailableError,
    DriverNotInstalledError,
    InternError,
    InvalidURIError,
    MetadataError,
    NotFoundError,
    ParameterError,
)

# -- the world the rows act on -----------------------------------------------------------------------------------


@dataclass
class World:
    """What the rows share: a directory of their own files, the DVID test server and two small segmentations."""

    root: Path
    dvid: str  # host:port of the DVID test server
    node: str  # dvid://host:port/uuid, a node holding the labelmap "seg"
    seg: intern.Array  # a zarr segmentation with label 7
    done: dict[str, Any]  # what a row recorded before failing, for its after-check

    def fmt(self, text: str) -> str:
        return text.format(root=self.root, dvid=self.dvid, node=self.node, seg=self.seg.uri)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    from intern_dvid.testing import DvidTestServer

    root = tmp_path_factory.mktemp("bad")
    seg = intern.create(f"zarr://{root}/seg.zarr", shape=(8, 8, 8), dtype="uint32", kind="segmentation")
    seg[2:5, 2:5, 2:5] = 7
    with DvidTestServer("127.0.0.1", 0) as server:
        node = f"dvid://{server.address}/{server.new_repo('bad-inputs')}"
        labels = intern.create(f"{node}/seg", shape=(8, 16, 16), dtype="uint64", kind="segmentation",
                               chunks=(8, 8, 8))
        labels[1:3, 2:4, 2:4] = 9
        yield World(root, server.address, node, seg, {})


@dataclass(frozen=True)
class Bad:
    """One bad input: ``act`` does it; ``error`` must come out, its message holding each of ``names``.

    ``names`` may use ``{root}``, ``{dvid}``, ``{node}`` and ``{seg}``. ``after`` checks that nothing was lost.
    """

    id: str
    act: Callable[[World], Any]
    error: type[BaseException]
    names: tuple[str, ...]
    after: Callable[[World], None] | None = None


class CommandFailed(Exception):
    """The ``intern`` command exited with an error (its status and what it printed on stderr)."""

    def __init__(self, status: int, stderr: str) -> None:
        super().__init__(f"exit {status}: {stderr}")
        self.status = status
        self.stderr = stderr


# -- helpers that make the damaged things -------------------------------------------------------------------------

_FILE = {2: ".zarray", 3: "zarr.json"}


def _zarr_array(w: World, name: str, fmt: int, edit: Callable[[dict], Any] | None = None,
                content: str | None = None, dtype: str = "uint8") -> str:
    """A small zarr array of ``fmt`` written by zarr-python, its metadata then edited or replaced; its URI."""
    import zarr

    path = w.root / name
    z = zarr.create_array(store=str(path), shape=(4, 4, 4), chunks=(2, 2, 2), dtype=dtype, zarr_format=fmt)
    z[...] = 1
    meta = path / _FILE[fmt]
    if edit is not None:
        doc = json.loads(meta.read_text())
        edit(doc)
        meta.write_text(json.dumps(doc))
    if content is not None:
        meta.write_text(content)
    return f"zarr://{path}"


def _open_zarr(name: str, fmt: int, engine: str, **make: Any) -> Callable[[World], Any]:
    def act(w: World) -> Any:
        return intern.array(_zarr_array(w, f"{name}-v{fmt}-{engine}.zarr", fmt, **make), engine=engine)[0, 0, 0]
    return act


def _zarr_damage() -> list[Bad]:
    """Every kind of damaged zarr.json / .zarray, in both formats, read through both engines."""
    faults: list[tuple[str, dict[str, Any], dict[int, str]]] = [
        ("empty", {"content": ""}, {2: "empty", 3: "empty"}),
        ("not-json", {"content": '{"shape": [4, 4'}, {2: "not JSON", 3: "not JSON"}),
        ("json-array", {"content": "[4, 4, 4]"}, {2: "JSON array", 3: "JSON array"}),
        ("json-null", {"content": "null"}, {2: "JSON null", 3: "JSON null"}),
        ("no-shape", {"edit": lambda d: d.pop("shape")}, {2: "shape", 3: "shape"}),
        ("unknown-dtype", {"edit": lambda d: d.update({"dtype": "|u9"} if "dtype" in d else {"data_type": "uint9"})},
         {2: "'|u9'", 3: "'uint9'"}),
        ("huge-shape", {"edit": lambda d: d.update(shape=[2**40, 2**40, 2**40])}, {2: "more voxels", 3: "more voxels"}),
        ("negative-shape", {"edit": lambda d: d.update(shape=[-4, 4, 4])}, {2: "non-negative", 3: "non-negative"}),
    ]
    rows = []
    for fault, make, says in faults:
        for fmt in (2, 3):
            for engine in ("tensorstore", "zarr-python"):
                rows.append(Bad(f"zarr-v{fmt}-{engine}-{fault}", _open_zarr(fault, fmt, engine, **make), MetadataError,
                                (f"{{root}}/{fault}-v{fmt}-{engine}.zarr/{_FILE[fmt]}", says[fmt])))
    return rows


def _ome_group(w: World, name: str, multiscales: dict[str, Any]) -> str:
    import zarr

    path = w.root / name
    group = zarr.create_group(store=str(path), zarr_format=2)
    group.create_array(name="0", shape=(4, 4, 4), chunks=(4, 4, 4), dtype="uint8")
    group.attrs["multiscales"] = [multiscales]
    return f"zarr://{path}"


def _broken_zattrs(w: World) -> Any:
    uri = _ome_group(w, "zattrs.zarr", {"version": "0.4", "datasets": [{"path": "0"}]})
    (w.root / "zattrs.zarr" / ".zattrs").write_text('{"multiscales": [')
    return intern.array(uri)


def _precomputed(w: World, name: str, edit: Callable[[dict], Any] | None = None, **create: Any) -> intern.Array:
    """A small precomputed volume written by intern, its info then edited."""
    a = intern.create(f"precomputed://{w.root}/{name}", shape=(8, 16, 16), chunks=(8, 8, 8),
                      **{"dtype": "uint8", **create})
    a[...] = 3
    if edit is not None:
        info = w.root / name / "info"
        doc = json.loads(info.read_text())
        edit(doc)
        info.write_text(json.dumps(doc))
    return a


def _scale0(key: str, value: Any) -> Callable[[dict], None]:
    def edit(doc: dict) -> None:
        doc["scales"][0][key] = value
    return edit


def _damaged_chunk(w: World, name: str, compress: str, garbage: bytes, **create: Any) -> tuple[intern.Array, Path]:
    """A precomputed volume whose first chunk file (stored with ``compress``) holds ``garbage``; (volume, chunk)."""
    a = _precomputed(w, name, compress=compress, **create)
    a = intern.array(f"precomputed://{w.root}/{name}", compress=compress)
    chunk = next((w.root / name / a.level.key).glob("0-8_0-8_0-8*"))
    chunk.write_bytes(garbage)
    w.done[name] = chunk.read_bytes()
    return a, chunk


def _read_damaged(name: str, compress: str, garbage: bytes, **create: Any) -> Callable[[World], Any]:
    def act(w: World) -> Any:
        a, _ = _damaged_chunk(w, name, compress, garbage, **create)
        return a[0:8, 0:8, 0:8]
    return act


def _write_into_damaged(w: World) -> None:
    a, _ = _damaged_chunk(w, "gz-write", "gzip", b"\x1f\x8b\x08\x00 torn")
    a[0:2, 0:2, 0:2] = 5  # a partial write reads the chunk first: it must fail before replacing it


def _chunk_kept(w: World) -> None:
    chunk = next((w.root / "gz-write").glob("*/0-8_0-8_0-8*"))
    assert chunk.read_bytes() == w.done["gz-write"], "the damaged chunk was replaced"
    assert (intern.array(f"precomputed://{w.root}/gz-write")[0:8, 8:16, 0:8] == 3).all()


def _cli(*argv: str) -> Callable[[World], Any]:
    """Run ``intern ARGV`` in this process ({root}, {node}, ... filled in); a failure raises CommandFailed."""
    def act(w: World) -> Any:
        from intern.cli import main

        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                status = main([w.fmt(a) for a in argv])
            except SystemExit as exc:  # argparse's own usage errors
                status = int(exc.code or 0)
        if status:
            raise CommandFailed(status, err.getvalue())
        return status
    return act


def _dvid(uri: str) -> Callable[[World], Any]:
    return lambda w: intern.open(w.fmt(uri))


# -- the table ----------------------------------------------------------------------------------------------------

CASES: list[Bad] = [
    # URIs and schemes, before any driver
    Bad("uri-empty", lambda w: intern.open(""), InvalidURIError, ("''", "empty")),
    Bad("uri-not-a-string", lambda w: intern.open(42), InvalidURIError, ("int",)),
    Bad("uri-unknown-scheme", lambda w: intern.open("nosuch://x/y"), DriverNotInstalledError, ("'nosuch://'",)),
    Bad("uri-scheme-of-a-missing-driver", lambda w: intern._registry.Registry(entry_points=False).factory("dvid"),
        DriverNotInstalledError, ("dvid://", "pip install intern-dvid")),
    Bad("uri-suffix-of-a-missing-driver",
        lambda w: intern._registry.Registry(entry_points=False).scheme_for_path("/data/em.ome.zarr"),
        DriverNotInstalledError, ("/data/em.ome.zarr", "pip install intern-zarr")),
    Bad("uri-plain-path-no-driver-claims", lambda w: intern.open("/data/em.n5"), InvalidURIError, ("/data/em.n5",)),
    Bad("uri-query-not-key-value", lambda w: intern.open(f"zarr://{w.root}/seg.zarr?mode"), InvalidURIError,
        ("query", "'mode'")),
    Bad("uri-scheme-malformed", lambda w: intern.open("zarr:/data/em.zarr://x"), InvalidURIError,
        ("zarr:/data/em.zarr://x",)),

    # Zarr metadata damaged on disk
    *_zarr_damage(),
    Bad("zarr-zattrs-not-json", _broken_zattrs, MetadataError, ("{root}/zattrs.zarr/.zattrs", "not JSON")),
    Bad("zarr-dtype-intern-does-not-read", _open_zarr("complex", 3, "tensorstore", dtype="complex64"),
        MetadataError, ("{root}/complex-v3-tensorstore.zarr/zarr.json", "complex64")),
    Bad("zarr-v2-dtype-intern-does-not-read", _open_zarr("text", 2, "zarr-python", dtype="<U4"),
        MetadataError, ("{root}/text-v2-zarr-python.zarr/.zarray",)),
    Bad("zarr-ome-axes-unknown",
        lambda w: intern.array(_ome_group(w, "axes.zarr", {"version": "0.4", "datasets": [{"path": "0"}],
                                                           "axes": ["q", "y", "x"]})),
        MetadataError, ("{root}/axes.zarr", "'q'")),
    Bad("zarr-ome-dataset-missing",
        lambda w: intern.array(_ome_group(w, "missing.zarr", {"version": "0.4", "datasets": [{"path": "0"},
                                                                                             {"path": "1"}]})),
        MetadataError, ("{root}/missing.zarr", "'1'")),
    Bad("zarr-option-engine", lambda w: intern.array(w.seg.uri, engine="fast"), InvalidURIError, ("engine", "'fast'")),
    Bad("zarr-option-cache-bytes", lambda w: intern.array(f"{w.seg.uri}?cache_bytes=lots"), InvalidURIError,
        ("cache_bytes", "'lots'")),
    Bad("zarr-option-unknown", lambda w: intern.array(w.seg.uri, colour="red"), ParameterError, ("zarr://", "colour")),
    Bad("zarr-create-compressor", lambda w: intern.create(f"zarr://{w.root}/lz4.zarr", shape=(4, 4, 4), dtype="uint8",
                                                          compressor="lz4"), MetadataError, ("'lz4'",)),
    Bad("zarr-create-shards", lambda w: intern.create(f"zarr://{w.root}/sh.zarr", shape=(4, 4, 4), dtype="uint8",
                                                      shards=(4, 4)), MetadataError, ("shards", "(4, 4)")),
    Bad("h5-option-unknown", lambda w: intern.array(
        intern.create(f"h5://{w.root}/o.h5/raw", shape=(4, 4, 4), dtype="uint8", exist_ok=True).uri, colour="red"),
        ParameterError, ("h5://", "colour")),

    # precomputed: infos that make no volume intern can read, damaged chunks
    Bad("precomputed-unknown-encoding", lambda w: intern.array(_precomputed(w, "zfp", _scale0("encoding", "zfp")).uri),
        MetadataError, ("{root}/zfp/info", "scale '1_1_1'", "'zfp'", "raw, jpeg, png")),
    Bad("precomputed-scale-without-size", lambda w: intern.array(_precomputed(w, "nosize", lambda d: d["scales"][0]
                                                                               .pop("size")).uri),
        MetadataError, ("{root}/nosize/info", "scale 0")),
    Bad("precomputed-unknown-dtype", lambda w: intern.array(_precomputed(w, "u9", lambda d: d.update(
        data_type="uint9")).uri), MetadataError, ("{root}/u9/info", "uint9")),
    Bad("precomputed-no-channels", lambda w: intern.array(_precomputed(w, "c0", lambda d: d.update(
        num_channels=0)).uri), MetadataError, ("{root}/c0/info", "num_channels")),
    Bad("precomputed-channels-not-a-number", lambda w: intern.array(_precomputed(w, "ctwo", lambda d: d.update(
        num_channels="two")).uri), MetadataError, ("{root}/ctwo/info", "'two'")),
    Bad("precomputed-resolution-not-numbers", lambda w: intern.array(_precomputed(
        w, "res", _scale0("resolution", ["a", 8, 8])).uri), MetadataError, ("{root}/res/info", "resolution")),
    Bad("precomputed-corrupt-gzip-chunk", _read_damaged("gz-read", "gzip", b"\x1f\x8b\x08\x00 torn"), MetadataError,
        ("{root}/gz-read/", "0-8_0-8_0-8.gz", "gzip")),
    Bad("precomputed-corrupt-brotli-chunk", _read_damaged("br-read", "br", b"\x00 not brotli"), MetadataError,
        ("{root}/br-read/", "0-8_0-8_0-8.br", "br")),
    Bad("precomputed-corrupt-gzip-chunk-partial-write", _write_into_damaged, MetadataError,
        ("{root}/gz-write/", "0-8_0-8_0-8.gz"), after=_chunk_kept),
    Bad("precomputed-corrupt-compressed-segmentation-chunk",
        _read_damaged("cseg", "none", b"\x01\x00\x00\x00 not cseg", dtype="uint32", kind="segmentation",
                      encoding="compressed_segmentation"), MetadataError,
        ("0-8_0-8_0-8", "compressed_segmentation")),

    # DVID URIs: malformed servers are refused at open, before any request
    Bad("dvid-port-out-of-range-no-host", _dvid("dvid://:99999/abc/x"), InvalidURIError, ("dvid://:99999/abc/x",)),
    Bad("dvid-port-out-of-range", _dvid("dvid://127.0.0.1:99999/abc/x"), InvalidURIError,
        ("dvid://127.0.0.1:99999/abc/x", "65535")),
    Bad("dvid-port-not-a-number", _dvid("dvid://127.0.0.1:http/abc/x"), InvalidURIError,
        ("dvid://127.0.0.1:http/abc/x", "'http'")),
    Bad("dvid-no-host", _dvid("dvid://:8000/abc/x"), InvalidURIError, ("dvid://:8000/abc/x", "no host")),
    Bad("dvid-port-zero", _dvid("dvid://127.0.0.1:0/abc/x"), InvalidURIError, ("dvid://127.0.0.1:0/abc/x", "port 0")),
    Bad("dvid-ipv6-unclosed", _dvid("dvid://[::1/abc/x"), InvalidURIError, ("dvid://[::1/abc/x",)),
    Bad("dvid-no-uuid", _dvid("dvid://{dvid}//seg"), InvalidURIError, ("dvid://{dvid}//seg", "no version")),
    Bad("dvid-https-no-host", _dvid("dvid+https://:443/abc/x"), InvalidURIError, ("dvid+https://:443/abc/x",)),
    Bad("dvid-unknown-uuid", _dvid("dvid://{dvid}/0123456789abcdef/seg"), NotFoundError, ("0123456789abcdef",)),
    Bad("dvid-unknown-instance", _dvid("{node}/nosuch"), NotFoundError, ("nosuch",)),
    Bad("dvid-option-mode", _dvid("{node}/seg?mode=w"), InvalidURIError, ("mode", "'w'")),
    Bad("dvid-option-supervoxels", _dvid("{node}/seg?supervoxels=perhaps"), InvalidURIError,
        ("supervoxels", "'perhaps'")),
    Bad("dvid-node-takes-no-options", lambda w: intern.open(w.node, compression="gzip"), ParameterError,
        ("compression",)),

    # services: a parameter the implementation about to run does not take
    Bad("service-mesh-labels", lambda w: intern.mesh(w.seg, labels=[7]), ParameterError,
        ("mesh", "'zmesh'", "'labels'", "did you mean 'ids'")),
    Bad("service-mesh-mip", lambda w: intern.mesh(w.seg, ids=[7], mip=1), ParameterError, ("did you mean 'scale'",)),
    Bad("service-mesh-misspelt", lambda w: intern.mesh(w.seg, ids=[7], simplfy=8), ParameterError,
        ("'simplfy'", "did you mean 'simplify'")),
    Bad("service-mesh-lod-locally", lambda w: intern.mesh(w.seg, ids=[7], lod=1), ParameterError, ("'lod'", "zmesh")),
    Bad("service-skeleton-box-typo", lambda w: intern.skeleton(w.seg, bxo=None), ParameterError,
        ("skeleton", "'bxo'", "did you mean 'box'")),
    Bad("service-downsample-numpy-method", lambda w: intern.downsample(w.seg, prefer="numpy", method="mode"),
        ParameterError, ("downsample", "'numpy'", "'method'", "factor")),
    Bad("service-size-misspelt", lambda w: intern.resolve("size", w.seg)(lable=7), ParameterError,
        ("size", "'lable'", "did you mean 'label'")),
    Bad("service-label-at-misspelt", lambda w: intern.resolve("label_at", w.seg)(point=(0, 0, 0)), ParameterError,
        ("label_at", "'point'", "'points'")),
    Bad("service-dvid-label-at-server", lambda w: intern.resolve("label_at", intern.open(f"{w.node}/seg"))(
        points=(1, 2, 2), supervoxel=True), ParameterError, ("dvid-server", "'supervoxel'", "'supervoxels'")),
    Bad("service-dvid-size-server", lambda w: intern.resolve("size", intern.open(f"{w.node}/seg"))(labels=[9]),
        ParameterError, ("size", "dvid-server", "'labels'", "label")),
    Bad("service-dvid-sparsevol-box", lambda w: intern.resolve("sparsevol", intern.open(f"{w.node}/seg"))(
        label=9, box=intern.Box((0, 0, 0), (1, 1, 1))), ParameterError, ("sparsevol", "'box'")),
    Bad("service-prefer-unknown", lambda w: intern.mesh(w.seg, prefer="marching-squares"),
        CapabilityUnavailableError, ("'marching-squares'", "zmesh")),

    # the command line: exit status 2 and a message naming the argument, never a traceback
    Bad("cli-info-unclaimed-path", _cli("info", "/data/em.n5"), CommandFailed, ("intern: error:", "/data/em.n5")),
    Bad("cli-info-damaged-zarr", lambda w: (_zarr_array(w, "cli.zarr", 3, content=""),
                                            _cli("info", "zarr://{root}/cli.zarr")(w)),
        CommandFailed, ("intern: error:", "{root}/cli.zarr/zarr.json", "empty")),
    Bad("cli-info-unknown-encoding", lambda w: (_precomputed(w, "cli-zfp", _scale0("encoding", "zfp")),
                                                _cli("info", "precomputed://{root}/cli-zfp")(w)),
        CommandFailed, ("intern: error:", "{root}/cli-zfp/info", "'zfp'")),
    Bad("cli-ls-dvid-bad-port", _cli("ls", "dvid://:99999/abc"), CommandFailed, ("intern: error:", ":99999")),
    Bad("cli-capabilities-dvid-bad-port", _cli("capabilities", "dvid://127.0.0.1:x/abc/seg"), CommandFailed,
        ("intern: error:", "127.0.0.1:x")),
    Bad("cli-cutout-box-not-ranges", _cli("cutout", "{seg}", "--box", "a:b,0:1,0:1", "-o", "{root}/x.npy"),
        CommandFailed, ("intern: error:", "'a:b'")),
    Bad("cli-cutout-box-outside", _cli("cutout", "{seg}", "--box", "0:9,0:1,0:1", "-o", "{root}/x.npy"),
        CommandFailed, ("intern: error:", "box [0:9,0:1,0:1]", "outside")),
    Bad("cli-cutout-scale-missing", _cli("cutout", "{seg}", "--box", "0:1,0:1,0:1", "--scale", "3", "-o",
                                         "{root}/x.npy"), CommandFailed, ("intern: error:", "scale 3")),
    Bad("cli-cutout-without-box", _cli("cutout", "{seg}", "-o", "{root}/x.npy"), CommandFailed, ("--box",)),
    Bad("cli-unknown-command", _cli("cutuot", "{seg}"), CommandFailed, ("'cutuot'",)),
    Bad("cli-copy-scales-missing", _cli("copy", "{seg}", "mem://bad-inputs/copy2", "--scales", "4"), CommandFailed,
        ("intern: error:", "scales", "4")),
    Bad("cli-mesh-negative-simplify", _cli("mesh", "{seg}", "-o", "{root}/m", "--simplify", "-1"), CommandFailed,
        ("--simplify",)),
    Bad("cli-mesh-ids-not-numbers", _cli("mesh", "{seg}", "-o", "{root}/m", "--ids", "7,x"), CommandFailed,
        ("--ids",)),
    Bad("cli-mesh-box-not-ranges", _cli("mesh", "{seg}", "-o", "{root}/m", "--box", "0-4"), CommandFailed,
        ("0-4",)),
]


@pytest.mark.parametrize("bad", CASES, ids=[c.id for c in CASES])
def test_bad_input_gets_a_clear_intern_error(bad: Bad, world: World) -> None:
    with pytest.raises(bad.error) as info:
        bad.act(world)
    error = info.value
    if isinstance(error, CommandFailed):
        # the command answers like any command-line tool: status 2, one line saying what is wrong, no traceback
        message = error.stderr
        assert error.status == 2 and "Traceback" not in message, message
    else:
        message = str(error)
        assert isinstance(error, InternError), f"{type(error).__name__} is not one of intern's errors: {message}"
    for name in bad.names:
        assert world.fmt(name) in message, f"the message does not name {world.fmt(name)!r}: {message}"
    if bad.after is not None:
        bad.after(world)

