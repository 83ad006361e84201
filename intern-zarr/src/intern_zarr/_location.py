"""Where a Zarr node or HDF5 file lives: a local path or an fsspec URL, plus the options to reach it.

``zarr://`` URIs carry either a path (``zarr:///abs/em.zarr``, ``zarr://relative/em.zarr``) or a whole URL
(``zarr://s3://bucket/em.zarr``, ``zarr://https://host/em.zarr``). Local paths are made absolute once, here, so the
URI a resource reports opens the same data from any working directory or process.

Storage options for URLs (endpoint, credentials) come, later winning, from the ``[zarr]`` section of the intern
config (or ``INTERN_ZARR_*`` environment variables) and from a ``storage_options`` dict given to ``open``/``create``.
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any

from intern.plugin import config_section

__all__ = ["Location", "storage_options_from_config"]

_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")

# config keys that are intern-zarr's own, not fsspec storage options
_OWN_KEYS = frozenset({"mode", "engine", "cache_bytes"})


def _coerce(value: str) -> Any:
    # the INI file and the environment only hold strings; fsspec wants booleans and numbers typed
    lowered = value.strip().lower()
    if lowered in ("true", "yes", "on"):
        return True
    if lowered in ("false", "no", "off"):
        return False
    if re.fullmatch(r"-?\d+", lowered):
        return int(lowered)
    return value


def storage_options_from_config(protocol: str) -> dict[str, Any]:
    """fsspec storage options for ``protocol`` from the ``[zarr]`` config section.

    Keys pass through to fsspec as they are (``endpoint_url``, ``anon``, ``key``, ``secret`` for s3fs); ``region``
    becomes s3fs's ``client_kwargs={"region_name": ...}``. Only protocols of the S3 family take them, so settings for
    a private S3 endpoint never leak into ``https://`` requests.
    """
    if protocol not in ("s3", "s3a"):
        return {}
    raw = {k: v for k, v in config_section("zarr").items() if k not in _OWN_KEYS}
    options: dict[str, Any] = {k: _coerce(v) for k, v in raw.items() if k != "region"}
    if "region" in raw:
        options["client_kwargs"] = {"region_name": raw["region"]}
    return options


@dataclass(frozen=True)
class Location:
    """A node's place: ``protocol`` ``"file"`` with an absolute ``path``, or an fsspec protocol and its URL.

    Attributes:
        protocol: ``"file"`` for local paths, else the URL's scheme (``"s3"``, ``"https"``, ``"memory"``...).
        path: the absolute local path (no trailing slash), or the URL without a trailing slash.
        storage_options: fsspec options for URLs; ignored for local paths.
    """

    protocol: str
    path: str
    storage_options: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def parse(cls, text: str, storage_options: dict[str, Any] | None = None) -> Location:
        """The location a URI's rest names (a path, ``file://`` URL, or any fsspec URL)."""
        m = _URL.match(text)
        if m is None or m.group(1).lower() == "file":
            local = text[len("file://"):] if m is not None else text
            return cls("file", _normalise_local(local))
        protocol = m.group(1).lower()
        options = {**storage_options_from_config(protocol), **(storage_options or {})}
        url = text if text.endswith("://") else text.rstrip("/")
        return cls(protocol, url, options)

    # -- naming -------------------------------------------------------------------------------------------------
    @property
    def is_local(self) -> bool:
        return self.protocol == "file"

    @property
    def name(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]

    def child(self, name: str) -> Location:
        """The location of ``name`` (a relative path of one or more components) below this one."""
        name = name.strip("/")
        if not name:
            return self
        path = posixpath.normpath(posixpath.join(self.path, name)) if self.is_local else f"{self.path}/{name}"
        return Location(self.protocol, path, self.storage_options)

    @property
    def parent(self) -> Location:
        head = self.path.rstrip("/").rsplit("/", 1)[0]
        if self.is_local:
            head = head or "/"
        return Location(self.protocol, head, self.storage_options)

    def __str__(self) -> str:
        return self.path

    # -- access -------------------------------------------------------------------------------------------------
    def filesystem(self) -> tuple[Any, str]:
        """The fsspec filesystem and the path in it (for listing; imports fsspec on first use)."""
        import fsspec

        if self.is_local:
            return fsspec.filesystem("file"), self.path
        fs, path = fsspec.core.url_to_fs(self.path, **self.storage_options)
        return fs, path

    def zarr_store(self, *, read_only: bool) -> Any:
        """A zarr-python store rooted at this location."""
        from zarr.storage import FsspecStore, LocalStore

        if self.is_local:
            return LocalStore(self.path, read_only=read_only)
        return FsspecStore.from_url(self.path, storage_options=dict(self.storage_options), read_only=read_only)

    def ts_kvstore(self) -> dict[str, Any] | None:
        """The TensorStore kvstore spec for this location, or None when TensorStore cannot reach it as configured.

        Local paths use the ``file`` driver. ``s3://`` URLs use TensorStore's ``s3`` driver when their storage
        options say nothing TensorStore cannot express (an endpoint, a region, anonymous access); keys and secrets
        given in the options, or any other fsspec option, leave the URL to zarr-python.
        """
        if self.is_local:
            return {"driver": "file", "path": self.path.rstrip("/") + "/"}
        if self.protocol != "s3":
            return None
        options = dict(self.storage_options)
        options.pop("skip_instance_cache", None)  # fsspec's own; means nothing to TensorStore
        endpoint = options.pop("endpoint_url", None) or os.environ.get("AWS_ENDPOINT_URL_S3") \
            or os.environ.get("AWS_ENDPOINT_URL")
        anon = bool(options.pop("anon", False))
        client = dict(options.pop("client_kwargs", None) or {})
        region = client.pop("region_name", None)
        if options or client:
            return None
        region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") \
            or ("us-east-1" if endpoint else None)
        bucket, _, key = self.path[len("s3://"):].partition("/")
        spec: dict[str, Any] = {"driver": "s3", "bucket": bucket, "path": key.strip("/") + "/"}
        if endpoint:
            spec["endpoint"] = endpoint
        if region:
            spec["aws_region"] = region
        # naming the source stops the AWS SDK from probing (and loudly logging about) absent profile files
        if anon:
            spec["aws_credentials"] = {"type": "anonymous"}
        elif "AWS_ACCESS_KEY_ID" in os.environ:
            spec["aws_credentials"] = {"type": "environment"}
        return spec

    def exists(self) -> bool:
        if self.is_local:
            return os.path.exists(self.path)
        fs, path = self.filesystem()
        return bool(fs.exists(path))

    def listdir(self) -> list[str]:
        """Names of the entries of a directory (or key prefix), sorted; raises FileNotFoundError when there is none."""
        if self.is_local:
            return sorted(os.listdir(self.path))
        fs, path = self.filesystem()
        if hasattr(fs, "invalidate_cache"):
            fs.invalidate_cache(path)  # s3fs caches listings; a volume made a moment ago must show
        entries = fs.ls(path, detail=False)
        return sorted({posixpath.basename(str(e).rstrip("/")) for e in entries} - {""})


def _normalise_local(path: str) -> str:
    if not path:
        raise ValueError("an empty local path")
    return os.path.abspath(os.path.expanduser(path))
