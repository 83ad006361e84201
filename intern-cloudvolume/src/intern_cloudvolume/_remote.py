"""``precomputed://``: neuroglancer precomputed volumes on local disks, Google Cloud Storage, S3 and HTTP servers.

One :class:`PrecomputedRemote` per protocol (and S3 endpoint) opens volumes by URL, lists directories, creates
volumes and advertises, per volume, the meshes and skeletons its ``info`` says are stored beside it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from intern.errors import (
    AlreadyExistsError,
    InvalidURIError,
    MetadataError,
    NotFoundError,
    ParameterError,
    ReadOnlyError,
)
from intern.plugin import URI, Option, OptionSet, VolumeMetadata, shared_remote

from ._errors import translating
from ._info import info_from_metadata
from ._location import Location
from ._volume import MODES, PrecomputedVolume, compress_option, volume_uri

__all__ = ["OPTIONS", "PrecomputedRemote"]

#: what ``open`` and ``create`` take; the core parses them (query strings included) before the remote sees them
OPTIONS = OptionSet(
    "precomputed",
    Option("mode", str, "r+", choices=MODES, help="'r' read-only; 'r+' or 'a' read and write ('r' for http(s))"),
    Option("fill_missing", bool, True, help="chunks never written read as zeros; false makes them a NotFoundError"),
    Option("compress", object, None, help="how written chunks are compressed: 'gzip', 'br', 'zstd' or 'none'"),
    Option("encoding", str, "raw", creation_only=True,
           help="'raw', 'compressed_segmentation' (uint32/uint64), 'jpeg' or 'png' (uint8), for every scale"),
)


def _mode(options: dict[str, Any], location: Location) -> str:
    mode = str(options.pop("mode", "r" if location.read_only_protocol else "r+"))
    if mode not in MODES:  # the core checks URIs and intern.open's keywords; this guards direct calls
        raise InvalidURIError(f"mode={mode!r}: use 'r' (read-only), 'r+' or 'a' (read and write)")
    return mode


class PrecomputedRemote:
    """Precomputed volumes reached by one protocol (``file``, ``gs``, ``s3``, ``http``, ``https``)."""

    scheme: ClassVar[str] = "precomputed"
    declared_options: ClassVar[OptionSet] = OPTIONS
    server_name: ClassVar[str] = "precomputed-server"  # how the resolver names its stored meshes and skeletons

    def __init__(self, protocol: str, endpoint: str | None = None) -> None:
        self.protocol = protocol
        self.endpoint = endpoint

    @classmethod
    def from_uri(cls, uri: URI) -> tuple[PrecomputedRemote, str]:
        """The remote for ``precomputed://URL`` and the URL inside it (the core has split intern's options off)."""
        try:
            location = Location.parse(uri.rest)
        except ValueError as exc:
            raise InvalidURIError(f"{uri}: {exc}") from None
        key = (location.protocol, location.endpoint)  # one remote per protocol and S3 endpoint
        return shared_remote(cls.scheme, key, lambda: cls(*key)), uri.rest

    @staticmethod
    def _location(path: str, options: dict[str, Any]) -> Location:
        try:
            return Location.parse(path)
        except ValueError as exc:
            raise InvalidURIError(f"precomputed://{path}: {exc}") from None

    # -- the Remote protocol ------------------------------------------------------------------------------------
    def open(self, path: str, **options: Any) -> PrecomputedVolume:
        """The volume whose ``info`` is at ``path``.

        Options:
            mode: ``"r"`` read-only; ``"r+"`` (the default, ``"r"`` for http/https) or ``"a"`` read and write.
            fill_missing: ``True`` (default) reads chunks that were never written as zeros; ``False`` makes them
                a :class:`~intern.errors.NotFoundError`.
            compress: how written chunks are compressed: ``"gzip"``, ``"br"``, ``"zstd"``, ``"none"``. By default
                none on local disks (a ``.gz`` file is a cloud-volume convention TensorStore and static file servers
                do not follow) and, on object stores, gzip for raw and compressed_segmentation (cloud-volume's rule).

        Raises:
            NotFoundError: there is no ``info`` at ``path``.
            MetadataError: the info is not that of an image or segmentation volume.
        """
        options = dict(options)
        location = self._location(path, options)
        mode = _mode(options, location)
        fill_missing = options.pop("fill_missing", True)
        compress = compress_option(options.pop("compress", None))
        if options:
            raise ParameterError(f"unknown option(s) for precomputed:// open: {', '.join(sorted(options))}")
        with translating(volume_uri(location, mode=mode)):
            info = self._info(location)
            if info is None:
                raise NotFoundError(f"{volume_uri(location)} does not exist (no info file there)")
            return PrecomputedVolume(self, location, info, mode=mode, fill_missing=fill_missing, compress=compress)

    def ls(self, path: str = "") -> list[str]:
        """Entries of a directory (or key prefix); nothing for a volume, whose scales are ``scale=`` levels."""
        location = self._location(path, {})
        with translating(f"precomputed://{location.url}"):
            if self._info(location) is not None:
                return []
            names = sorted({name.rstrip("/").split("/")[0] for name in location.cloudfiles().list(flat=True)} - {""})
            if not names:
                raise NotFoundError(f"precomputed://{location.url} does not exist or is empty")
            return names

    def create(self, path: str, metadata: VolumeMetadata, *, exist_ok: bool = False, encoding: str = "raw",
               compress: Any = None, **options: Any) -> PrecomputedVolume:
        """Write the ``info`` of a new volume (every scale of ``metadata``); chunks are written as data arrives.

        Args:
            encoding: ``"raw"`` (default), ``"compressed_segmentation"`` (uint32/uint64), ``"jpeg"`` (uint8, lossy)
                or ``"png"`` (uint8), for every scale.
            compress: as for :meth:`open`; it is not stored in the info, so give it again when reopening.

        Raises:
            AlreadyExistsError: a volume is there and ``exist_ok`` is false, or something that is not a volume.
            MetadataError: precomputed cannot hold the volume (a time axis, a dtype the encoding does not take).
            ReadOnlyError: the protocol takes no writes (http, https).
        """
        options = dict(options)
        location = self._location(path, options)
        mode = _mode(options, location)
        fill_missing = options.pop("fill_missing", True)
        compress = compress_option(options.pop("compress", compress))
        if options:
            raise ParameterError(f"unknown option(s) for precomputed:// create: {', '.join(sorted(options))}")
        uri = volume_uri(location)
        if location.read_only_protocol:
            raise ReadOnlyError(f"{uri}: a plain HTTP server takes no writes; create the volume where it is stored")
        info = info_from_metadata(metadata, encoding=encoding, where=uri)
        with translating(uri):
            existing = self._info(location)
            if existing is not None:
                if not exist_ok:
                    raise AlreadyExistsError(f"{uri} exists already (pass exist_ok=True to open it)")
                return PrecomputedVolume(self, location, existing, mode=mode, fill_missing=fill_missing,
                                         compress=compress)
            if location.is_local:
                import os

                if os.path.isdir(location.local_path) and os.listdir(location.local_path):
                    raise AlreadyExistsError(f"{location.local_path} exists and is not a precomputed volume (no "
                                             "info); intern will not write into it")
            self._put_info(location, info)
            return PrecomputedVolume(self, location, info, mode=mode, fill_missing=fill_missing, compress=compress)

    def server_services(self, resource: Any) -> Mapping[str, Callable[..., Any]]:
        """``mesh`` when the volume's info names a mesh directory, ``skeleton`` when it names a skeleton one.

        Only segmentations have them; the mesh and skeleton directories' own info files are read when the service
        runs, not here, so asking costs no I/O.
        """
        if not isinstance(resource, PrecomputedVolume) or resource.metadata.kind != "segmentation":
            return {}
        from . import _services

        found: dict[str, Callable[..., Any]] = {}
        if resource.info.get("mesh"):
            found["mesh"] = _services.stored_meshes
        if resource.info.get("skeletons"):
            found["skeleton"] = _services.stored_skeletons
        return found

    # -- helpers ------------------------------------------------------------------------------------------------
    @staticmethod
    def _info(location: Location) -> dict[str, Any] | None:
        """The parsed info at ``location``, ``None`` when there is none."""
        content = location.cloudfiles().get("info")
        if content is None:
            return None
        try:
            info = json.loads(content)
        except ValueError as exc:
            raise MetadataError(f"precomputed://{location.url}/info is not JSON ({exc})") from None
        return info if isinstance(info, dict) else None

    @staticmethod
    def _put_info(location: Location, info: dict[str, Any]) -> None:
        location.cloudfiles().put("info", json.dumps(info, indent=2).encode(), content_type="application/json",
                                  compress=None, cache_control="no-cache")

    def __repr__(self) -> str:
        return f"<PrecomputedRemote {self.protocol}://" + (f" at {self.endpoint}>" if self.endpoint else ">")
