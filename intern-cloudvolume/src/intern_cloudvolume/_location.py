"""Where a precomputed volume lives: the URL cloud-volume reads, the URI intern reports, and how to reach it.

``precomputed://`` URIs carry a whole URL after the scheme: ``precomputed://file:///data/em``,
``precomputed://gs://bucket/em``, ``precomputed://s3://bucket/em``, ``precomputed://https://host/em``. A bare path
(``precomputed:///data/em``, ``precomputed://em``) means a local directory; local paths are made absolute once, here,
so the URI a volume reports opens the same data from any working directory or process.

S3 settings come from the ``[precomputed]`` section of the intern configuration (or ``INTERN_PRECOMPUTED_*``
variables): ``endpoint_url`` for an S3-compatible server other than AWS (``AWS_ENDPOINT_URL_S3`` and
``AWS_ENDPOINT_URL`` are honoured as well), and ``access_key_id``/``secret_access_key``/``session_token``/``region``,
which default to the ``AWS_*`` environment variables. Without any, cloud-files looks in its own secrets directory.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from intern.plugin import config_section

__all__ = ["Location"]

_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
#: protocols cloud-files reaches; anything else is refused with a list of these
PROTOCOLS = ("file", "gs", "s3", "http", "https")


@dataclass(frozen=True)
class Location:
    """A volume's place.

    Attributes:
        protocol: ``"file"``, ``"gs"``, ``"s3"``, ``"http"`` or ``"https"``.
        url: the public URL without a trailing slash (``file:///abs/path``, ``s3://bucket/path``); it is what the
            URI of a volume shows after ``precomputed://``.
        secrets: credentials handed to cloud-files (S3 only; ``None`` lets cloud-files find its own).
        endpoint: the S3 endpoint (``http://127.0.0.1:9000``) when it is not AWS.
    """

    protocol: str
    url: str
    secrets: dict[str, str] | None = field(default=None, compare=False, hash=False, repr=False)
    endpoint: str | None = field(default=None, compare=False, hash=False)

    @classmethod
    def parse(cls, text: str) -> Location:
        """The location a URI's rest names: a bare path, or a ``file``, ``gs``, ``s3``, ``http(s)`` URL.

        Raises:
            ValueError: the text is empty or names a protocol cloud-files does not reach.
        """
        if not text:
            raise ValueError("no path: write precomputed://file:///path, precomputed://gs://bucket/path, ...")
        m = _URL.match(text)
        if m is None:
            return cls("file", "file://" + os.path.abspath(os.path.expanduser(text)).rstrip("/"))
        protocol = m.group(1).lower()
        rest = text[m.end():]
        if protocol not in PROTOCOLS:
            raise ValueError(f"protocol {protocol!r} is not one cloud-volume reaches here; use one of "
                             f"{', '.join(p + '://' for p in PROTOCOLS)}")
        if protocol == "file":
            if not rest:
                raise ValueError("file:// needs a path, e.g. file:///data/em")
            return cls("file", "file://" + os.path.abspath(os.path.expanduser(rest)).rstrip("/"))
        if not rest.strip("/"):
            raise ValueError(f"{protocol}:// needs a bucket or host and a path")
        url = f"{protocol}://{rest.rstrip('/')}"
        if protocol == "s3":
            settings = config_section("precomputed")
            endpoint = (settings.get("endpoint_url") or os.environ.get("AWS_ENDPOINT_URL_S3")
                        or os.environ.get("AWS_ENDPOINT_URL"))
            return cls(protocol, url, _s3_secrets(settings), endpoint.rstrip("/") if endpoint else None)
        return cls(protocol, url)

    # -- naming -------------------------------------------------------------------------------------------------
    @property
    def is_local(self) -> bool:
        return self.protocol == "file"

    @property
    def local_path(self) -> str:
        """The directory of a local volume (``file`` protocol only)."""
        return self.url[len("file://"):]

    @property
    def read_only_protocol(self) -> bool:
        """Plain HTTP servers take no writes."""
        return self.protocol in ("http", "https")

    @property
    def cloudpath(self) -> str:
        """The path as cloud-volume and cloud-files take it.

        An S3 endpoint other than AWS becomes a cloud-files alias protocol (``interns3_<hash>://bucket/path``):
        cloud-files alone would also take ``s3://http://host/bucket/path``, but cloud-volume's path parser takes
        only aliases.
        """
        if self.protocol == "s3" and self.endpoint:
            return f"{_endpoint_alias(self.endpoint)}://{self.url[len('s3://'):]}"
        return self.url

    @property
    def name(self) -> str:
        return self.url.rstrip("/").rsplit("/", 1)[-1]

    def child(self, name: str) -> Location:
        return Location(self.protocol, f"{self.url}/{name.strip('/')}", self.secrets, self.endpoint)

    def __str__(self) -> str:
        return self.url

    def cloudfiles(self, sub: str = "") -> Any:
        """A cloud-files handle on this location (or a subdirectory of it)."""
        from cloudfiles import CloudFiles

        if self.protocol == "s3" and self.secrets:
            _prime_s3_credentials(self.url[len("s3://"):].split("/", 1)[0], self.secrets)
        path = self.cloudpath + (f"/{sub.strip('/')}" if sub else "")
        return CloudFiles(path, secrets=self.secrets, progress=False)


def _prime_s3_credentials(bucket: str, secrets: dict[str, str]) -> None:
    """Hand cloud-files the credentials for ``bucket`` before it looks them up itself.

    cloud-files 6 builds each bucket's connection pool from its own credential lookup, even when a client passes
    secrets, and that lookup raises ``KeyError: 'AWS_SESSION_TOKEN'`` whenever ``AWS_ACCESS_KEY_ID`` is set without
    a session token (the usual case for keys of a service account). Its lookup returns a cached entry first, so
    the credentials read here go into that cache; nothing changes when a token is set.
    """
    if "AWS_SESSION_TOKEN" in os.environ:
        return
    from cloudfiles import secrets as cloudfiles_secrets

    cache = getattr(cloudfiles_secrets, "AWS_CREDENTIALS_CACHE", None)
    if isinstance(cache, dict) and bucket not in cache:
        cache[bucket] = dict(secrets)


_aliases: dict[str, str] = {}
_aliases_lock = threading.Lock()


def _endpoint_alias(endpoint: str) -> str:
    """The cloud-files alias protocol for an S3 endpoint, registered (for this process) on first use."""
    with _aliases_lock:
        name = _aliases.get(endpoint)
        if name is None:
            from cloudfiles.paths import add_alias

            name = "interns3_" + hashlib.sha1(endpoint.encode()).hexdigest()[:12]
            add_alias(name, f"s3://{endpoint}/")
            _aliases[endpoint] = name
        return name


def _s3_secrets(settings: dict[str, str]) -> dict[str, str] | None:
    # cloud-files' own reading of the AWS_* variables fails when AWS_SESSION_TOKEN is unset, so they are read here
    key = settings.get("access_key_id") or os.environ.get("AWS_ACCESS_KEY_ID")
    secret = settings.get("secret_access_key") or os.environ.get("AWS_SECRET_ACCESS_KEY")
    if not (key and secret):
        return None
    secrets = {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret}
    token = settings.get("session_token") or os.environ.get("AWS_SESSION_TOKEN")
    if token:
        secrets["AWS_SESSION_TOKEN"] = token
    region = settings.get("region") or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        secrets["AWS_DEFAULT_REGION"] = region
    return secrets
