"""``bossdb://``: a Boss (BossDB, or an intern relay) as an intern Remote.

URIs::

    bossdb://COLL/EXP/CHAN                    host, protocol and token from the configuration
    bossdb://COLL/EXP/CHAN/RES                the same channel with resolution RES as scale 0
    bossdb://http://HOST:PORT/COLL/EXP/CHAN   a fully qualified server (http or https)
    bossdb://COLL  bossdb://COLL/EXP  bossdb://   collections and experiments (intern.ls lists them)

``intern.open`` gives a :class:`~intern_boss._volume.BossChannel` (a volume) for a channel, a :class:`BossCollection`
or :class:`BossExperiment` above it. The remote itself has the whole project API (:class:`BossRemote`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit

from intern.errors import AlreadyExistsError, InvalidArgumentError, InvalidURIError, MetadataError, NotFoundError
from intern.plugin import INTS, URI, Option, OptionSet, VolumeMetadata, shared_remote

from ._api import BossAPI, split_path
from ._config import ClientOptions, Endpoint, configured_endpoints, fallback_token
from ._http import Transport
from ._volume import BossChannel

__all__ = ["BossCollection", "BossExperiment", "BossRemote"]

_UNITS_NM = "nanometers"

#: what ``open`` and ``create`` take; the core parses them (query strings included) before the remote sees them
OPTIONS = OptionSet(
    "bossdb",
    Option("mode", str, "a", choices=("r", "r+", "a"), help="'r' refuses writes; 'a' allows them"),
    Option("token", str, None, help="the token for this server (over the configuration)"),
    Option("access_mode", str, None, choices=("cache", "no-cache", "raw"), help="sent with every read"),
    Option("timeout", float, 120.0, help="seconds to wait for an answer (each request)"),
    Option("connect_timeout", float, 10.0, help="seconds to wait for a connection"),
    Option("retries", int, 5, help="further tries after a dropped connection, a timeout, a 5xx or a 429"),
    Option("backoff", float, 0.5, help="first wait between tries, in seconds"),
    Option("block", INTS, (16, 512, 512), help="the request size Z,Y,X: multiples of the 16x512x512 cuboid"),
    Option("send_zeros", bool, True, help="whether uploads send all-zero blocks"),
    Option("format", str, "blosc", help="'blosc' or 'npygz' bodies"),
    Option("description", str, "", creation_only=True, help="the description of what create makes"),
    Option("coord_frame", str, None, creation_only=True, help="the coordinate frame's name (default COLL_EXP)"),
)


class _Node:
    """A collection or experiment: its JSON, what lies below it, and its metadata."""

    def __init__(self, remote: BossRemote, path: str, info: dict[str, Any]) -> None:
        self._remote = remote
        self.path = path
        self.info = info

    @property
    def uri(self) -> str:
        return self._remote.uri_for(self.path)

    @property
    def remote(self) -> BossRemote:
        return self._remote

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    def ls(self) -> list[str]:
        return self._remote.ls(self.path)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.uri}>"


class BossCollection(_Node):
    """A Boss collection; ``ls()`` lists its experiments."""


class BossExperiment(_Node):
    """A Boss experiment; ``ls()`` lists its channels, ``coord_frame`` is its frame's JSON."""

    @property
    def coord_frame(self) -> dict[str, Any]:
        return self._remote.api.get_coordinate_frame(self.info["coord_frame"])


class BossRemote:
    """One Boss server: opens channels as volumes, and has the Boss's project API.

    Paths are ``"COLL"``, ``"COLL/EXP"`` or ``"COLL/EXP/CHAN"``; coordinate frames go by their own names.

    >>> remote, _ = BossRemote.from_uri(URI("bossdb", "http://127.0.0.1:8000/c/e/ch"))  # doctest: +SKIP
    >>> remote.ls("")                                                                  # doctest: +SKIP
    ['c']
    """

    scheme: ClassVar[str] = "bossdb"
    declared_options: ClassVar[OptionSet] = OPTIONS

    def __init__(self, *, project: Endpoint, metadata: Endpoint | None = None, volume: Endpoint | None = None,
                 qualified: bool = False, options: ClientOptions | None = None) -> None:
        self.options = options or ClientOptions.from_config()
        self.transport = Transport(self.options)
        self.api = BossAPI(self.transport, project=project, metadata=metadata or project, volume=volume or project)
        self._qualified = qualified

    @classmethod
    def from_uri(cls, uri: URI) -> tuple[BossRemote, str]:
        """The remote a ``bossdb://`` URI names and the path inside it."""
        rest = uri.rest
        if rest.startswith(("http://", "https://")):
            parts = urlsplit(rest)
            if not parts.netloc:
                raise InvalidURIError(f"{uri}: no host after {parts.scheme}://")
            if parts.query:
                raise InvalidURIError(f"{uri}: pass options to intern.open(...) rather than in the URL's query")
            configured = configured_endpoints()["project"]
            token = configured.token if configured.host == parts.netloc else fallback_token()
            endpoints = {k: Endpoint(parts.scheme, parts.netloc, token) for k in ("project", "metadata", "volume")}
            qualified, path = True, parts.path
        else:
            endpoints, qualified, path = configured_endpoints(), False, rest
        options = ClientOptions.from_config()
        # one remote (one connection pool) per set of endpoints, tokens and client options
        key = (endpoints["project"], endpoints["metadata"], endpoints["volume"], qualified, options)
        remote = shared_remote(cls.scheme, key, lambda: cls(qualified=qualified, options=options, **endpoints))
        return remote, path.strip("/")

    def uri_for(self, path: str) -> str:
        """The URI that opens ``path`` on this remote again."""
        if self._qualified:
            return f"bossdb://{self.api.project.base_url}/{path}".rstrip("/")
        return f"bossdb://{path}"

    def __repr__(self) -> str:
        return f"<BossRemote {self.api.project.base_url}>"

    def close(self) -> None:
        """Close the pooled connections (the remote stays usable: new requests open new ones)."""
        self.transport.close()

    # -- the Remote protocol ----------------------------------------------------------------------------------------
    def open(self, path: str, **options: Any) -> BossChannel | BossExperiment | BossCollection:
        """The channel (a volume), experiment or collection at ``path``.

        Options (channels):
            mode: ``"r"`` to refuse writes, ``"a"`` (default) to allow them.
            token: the token for this server (overrides the configuration).
            access_mode: ``"cache"``, ``"no-cache"`` or ``"raw"``, sent with every read.
            timeout, connect_timeout, retries, backoff, block, send_zeros, format: as in ``[bossdb]``.

        Raises:
            NotFoundError: nothing at ``path``.
        """
        options = dict(options)
        remote = self._with(options)
        if remote is not self:
            return remote.open(path, **options)
        parts = split_path(path, most=4)
        if not parts:
            raise InvalidURIError("bossdb:// names a collection, experiment or channel: bossdb://COLL/EXP/CHAN "
                                  "(intern.ls('bossdb://') lists the collections)")
        first = 0
        if len(parts) == 4:
            if not parts[3].isdigit():
                raise InvalidURIError(f"{path!r}: after COLL/EXP/CHAN comes a resolution number, not {parts[3]!r}")
            first = int(parts.pop())
        key = "/".join(parts)
        if len(parts) < 3:
            if options:
                raise TypeError(f"unknown option(s) for a Boss {'experiment' if len(parts) == 2 else 'collection'}: "
                                f"{', '.join(sorted(options))}")
            cls = BossCollection if len(parts) == 1 else BossExperiment
            return cls(self, key, self.api.get(key))
        mode = str(options.pop("mode", "a"))  # the core checked it against OPTIONS
        access_mode = options.pop("access_mode", None)
        if options:
            raise TypeError(f"unknown option(s) for bossdb:// open: {', '.join(sorted(options))}")
        info = self.api.get(key)
        experiment = self.api.get("/".join(parts[:2]))
        frame = self.api.get_coordinate_frame(experiment["coord_frame"])
        return BossChannel(self, key, info=info, experiment=experiment, frame=frame, first=first,
                           options=self.options, access_mode=access_mode, mode=mode)

    def _with(self, options: dict[str, Any]) -> BossRemote:
        """This remote, or one with another token or client options when ``options`` ask for them."""
        token = options.pop("token", None)
        tuned = {k: options.pop(k) for k in list(options) if k in ClientOptions.__dataclass_fields__}
        if token is None and not tuned:
            return self
        api = self.api
        client = ClientOptions.from_config(tuned) if tuned else self.options

        def swap(e: Endpoint) -> Endpoint:
            return Endpoint(e.protocol, e.host, str(token)) if token is not None else e

        key = (swap(api.project), swap(api.meta), swap(api.volume), self._qualified, client)
        return shared_remote(self.scheme, key, lambda: BossRemote(project=key[0], metadata=key[1], volume=key[2],
                                                                  qualified=self._qualified, options=client))

    def ls(self, path: str = "") -> list[str]:
        """Collections (``""``), experiments (``"COLL"``), channels (``"COLL/EXP"``); nothing below a channel."""
        parts = split_path(path, most=4)
        if len(parts) >= 3:
            self.api.get("/".join(parts[:3]))  # a NotFoundError when there is no such channel
            return []
        return self.api.list(path)

    def create(self, path: str, metadata: VolumeMetadata, *, exist_ok: bool = False, description: str = "",
               coord_frame: str | None = None, **options: Any) -> BossChannel:
        """Make a channel (and its collection, coordinate frame and experiment when they are missing).

        The pyramid must be one the Boss builds: every level halves x and y (``anisotropic``) or x, y and z
        (``isotropic``). The coordinate frame is named ``COLL_EXP`` unless ``coord_frame`` says otherwise.

        Raises:
            AlreadyExistsError: the channel exists and ``exist_ok`` is false, or the experiment exists with another
                geometry.
            MetadataError: a pyramid, dtype or axis layout the Boss cannot hold.
        """
        parts = split_path(path)
        if len(parts) != 3:
            raise InvalidURIError(f"create needs COLL/EXP/CHAN, got {path!r}")
        coll, exp, chan = parts
        fields = _experiment_fields(metadata)
        try:
            self.api.get(path)
        except NotFoundError:
            pass
        else:
            if not exist_ok:
                raise AlreadyExistsError(f"{self.uri_for(path)} exists already (pass exist_ok=True to open it)")
            return self.open(path, **options)  # type: ignore[return-value]
        if coll not in self.api.list(""):
            self.api.create(coll, {"description": description})
        try:
            have = self.api.get(f"{coll}/{exp}")
        except NotFoundError:
            have = None
        if have is None:
            frame_name = coord_frame or f"{coll}_{exp}"
            frame = _frame_fields(metadata, description)
            try:
                existing = self.api.get_coordinate_frame(frame_name)
            except NotFoundError:
                self.api.create_coordinate_frame(frame_name, frame)
            else:
                if any(existing.get(k) != v for k, v in frame.items() if k != "description"):
                    raise AlreadyExistsError(f"coordinate frame {frame_name!r} exists with another extent or voxel "
                                             "size; pass coord_frame= to name a new one")
            self.api.create(f"{coll}/{exp}", {"description": description, "coord_frame": frame_name,
                                              "collection": coll, **fields})
        elif int(have.get("num_time_samples") or 1) != fields["num_time_samples"]:
            raise AlreadyExistsError(f"experiment {coll}/{exp} exists with {have.get('num_time_samples')} time "
                                     f"samples, not {fields['num_time_samples']}")
        self.api.create(path, {
            "description": description, "datatype": metadata.dtype, "base_resolution": 0,
            "type": "annotation" if metadata.kind == "segmentation" else "image",
            "default_time_sample": 0, "sources": [], "related": [],
        })
        return self.open(path, **options)  # type: ignore[return-value]

    # -- project API, by path -----------------------------------------------------------------------------------------
    def info(self, path: str) -> dict[str, Any]:
        """The JSON of the collection, experiment or channel at ``path``."""
        return self.api.get(path)

    def create_collection(self, name: str, *, description: str = "") -> dict[str, Any]:
        return self.api.create(name, {"description": description})

    def create_experiment(self, collection: str, name: str, *, coord_frame: str, num_hierarchy_levels: int = 1,
                          hierarchy_method: str = "anisotropic", num_time_samples: int = 1, time_step: int = 0,
                          time_step_unit: str = "", description: str = "") -> dict[str, Any]:
        return self.api.create(f"{collection}/{name}", {
            "description": description, "coord_frame": coord_frame, "num_hierarchy_levels": num_hierarchy_levels,
            "hierarchy_method": hierarchy_method, "num_time_samples": num_time_samples, "collection": collection,
            "time_step": time_step, "time_step_unit": time_step_unit})

    def create_channel(self, collection: str, experiment: str, name: str, *, datatype: str, type: str = "image",  # noqa: A002
                       base_resolution: int = 0, default_time_sample: int = 0, sources: Iterable[str] = (),
                       related: Iterable[str] = (), description: str = "") -> dict[str, Any]:
        return self.api.create(f"{collection}/{experiment}/{name}", {
            "description": description, "default_time_sample": default_time_sample, "datatype": datatype,
            "base_resolution": base_resolution, "type": type, "sources": list(sources), "related": list(related)})

    def update(self, path: str, **changes: Any) -> dict[str, Any]:
        """Change fields of a collection, experiment or channel (``description=...``, ``name=...`` renames)."""
        return self.api.update(path, changes)

    def delete(self, path: str) -> None:
        """Delete a collection, experiment or channel (the Boss refuses while it has children)."""
        self.api.delete(path)

    # -- coordinate frames -------------------------------------------------------------------------------------------
    def coordinate_frames(self) -> list[str]:
        return self.api.list_coordinate_frames()

    def coordinate_frame(self, name: str) -> dict[str, Any]:
        return self.api.get_coordinate_frame(name)

    def create_coordinate_frame(self, name: str, *, extent_xyz: tuple[int, int, int],
                                voxel_size_xyz: tuple[float, float, float], voxel_unit: str = _UNITS_NM,
                                start_xyz: tuple[int, int, int] = (0, 0, 0), description: str = "") -> dict[str, Any]:
        """A coordinate frame covering ``[start, start + extent)`` voxels (x, y, z order, as the Boss has it).

        Raises:
            InvalidArgumentError: ``start_xyz``, ``extent_xyz`` or ``voxel_size_xyz`` does not have three entries.
        """
        for argument, values in (("start_xyz", start_xyz), ("extent_xyz", extent_xyz), ("voxel_size_xyz", voxel_size_xyz)):
            if len(values) != 3:
                raise InvalidArgumentError(f"{argument}={tuple(values)} has {len(values)} entries; it needs x, y, z")
        fields: dict[str, Any] = {"description": description, "voxel_unit": voxel_unit}
        for axis, a, n, v in zip("xyz", start_xyz, extent_xyz, voxel_size_xyz, strict=True):
            fields.update({f"{axis}_start": int(a), f"{axis}_stop": int(a) + int(n), f"{axis}_voxel_size": float(v)})
        return self.api.create_coordinate_frame(name, fields)

    def update_coordinate_frame(self, name: str, **changes: Any) -> dict[str, Any]:
        return self.api.update_coordinate_frame(name, changes)

    def delete_coordinate_frame(self, name: str) -> None:
        self.api.delete_coordinate_frame(name)

    # -- metadata ------------------------------------------------------------------------------------------------------
    def list_metadata(self, path: str) -> list[str]:
        return self.api.list_metadata(path)

    def get_metadata(self, path: str, keys: Iterable[str]) -> dict[str, str]:
        return self.api.get_metadata(path, keys)

    def create_metadata(self, path: str, values: Mapping[str, Any]) -> None:
        self.api.create_metadata(path, values)

    def update_metadata(self, path: str, values: Mapping[str, Any]) -> None:
        self.api.update_metadata(path, values)

    def delete_metadata(self, path: str, keys: Iterable[str]) -> None:
        self.api.delete_metadata(path, keys)


def _experiment_fields(metadata: VolumeMetadata) -> dict[str, Any]:
    if "c" in metadata.axes:
        raise MetadataError("a Boss channel has no channel axis 'c': create one channel per c")
    levels = metadata.scales
    method = "anisotropic"
    if len(levels) > 1:
        first = tuple(levels[1].downsample)
        method = "isotropic" if first == (2.0, 2.0, 2.0) else "anisotropic"
    for r, level in enumerate(levels):
        want = (2.0**r if method == "isotropic" else 1.0, 2.0**r, 2.0**r)
        if tuple(level.downsample) != want:
            raise MetadataError(
                f"scale {r} is downsampled {level.downsample} (z, y, x); a Boss pyramid halves x and y at every level "
                "(anisotropic) or x, y and z (isotropic): pass scales=[(1, 2, 2), ...] or [(2, 2, 2), ...]")
    return {"num_hierarchy_levels": len(levels), "hierarchy_method": method,
            "num_time_samples": metadata.shape[0] if metadata.axes[0] == "t" else 1,
            "time_step": 0, "time_step_unit": ""}


def _frame_fields(metadata: VolumeMetadata, description: str) -> dict[str, Any]:
    level = metadata.scales[0]
    fields: dict[str, Any] = {"description": description, "voxel_unit": _UNITS_NM}
    for axis, n, o, v in zip("zyx", level.shape[-3:], level.offset, level.voxel_size, strict=True):
        fields.update({f"{axis}_start": int(o), f"{axis}_stop": int(o) + int(n), f"{axis}_voxel_size": float(v)})
    return fields
