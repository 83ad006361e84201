"""Parsing intern URIs.

An intern URI is ``SCHEME://REST``. The scheme picks the driver; what ``REST`` means is the driver's business
(``zarr:///data/em.zarr``, ``zarr://s3://bucket/em.zarr``, ``dvid://host:8000/a1b2/grayscale``,
``bossdb://coll/exp/chan``). A plain path with no scheme is given to the driver that claims its suffix
(``/data/em.zarr`` is ``zarr:///data/em.zarr``); see :func:`intern._registry.scheme_for_path`.

The query string (``?key=value&...``) is split off here, once, and its values become options of ``open`` and
``create``, parsed by the options the driver declares (:mod:`intern._options`): ``zarr:///data/em.zarr?mode=r``,
``zarr://s3://bucket/em.zarr?mode=r``. The one exception is a rest that is an ``http://`` or ``https://`` URL: its
query belongs to the web server (a signed URL, a token), so it stays in ``rest``; pass intern's options as keyword
arguments there (``intern.array("zarr://https://host/em.zarr", mode="r")``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from .errors import InvalidURIError

__all__ = ["URI", "parse_uri"]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://(.*)$", re.DOTALL)


@dataclass(frozen=True)
class URI:
    """A parsed URI: ``scheme`` (lower case), ``rest`` (everything after ``://`` and before ``?``), ``options``."""

    scheme: str
    rest: str
    options: dict[str, str] = field(default_factory=dict, compare=False)

    def __str__(self) -> str:
        query = "&".join(f"{k}={v}" for k, v in self.options.items())
        return f"{self.scheme}://{self.rest}" + (f"?{query}" if query else "")

    def join(self, child: str) -> URI:
        """The URI of ``child`` below this one (``zarr:///a.zarr`` + ``labels`` = ``zarr:///a.zarr/labels``)."""
        return URI(self.scheme, self.rest.rstrip("/") + "/" + child.strip("/"), dict(self.options))


def parse_uri(text: str, *, default_scheme: str | None = None) -> URI:
    """Split ``text`` into scheme, rest and options.

    Args:
        text: the URI.
        default_scheme: scheme for text without ``://`` (plain paths); without it such text is an error.

    Raises:
        InvalidURIError: the text is empty, has blanks at its ends, or has no scheme and no default.
    """
    if not isinstance(text, str):
        raise InvalidURIError(f"a URI is a string such as 'zarr:///data/em.zarr', got {type(text).__name__}")
    if not text or text != text.strip():
        raise InvalidURIError(f"URI {text!r} is empty or has blanks at its ends")
    m = _SCHEME.match(text)
    if m is None:
        if "://" in text or text.startswith(":"):
            raise InvalidURIError(f"URI {text!r} has a malformed scheme; write SCHEME://PATH, e.g. zarr:///data/em.zarr")
        if default_scheme is None:
            raise InvalidURIError(
                f"{text!r} has no scheme; write SCHEME://PATH (e.g. zarr://{text}) or a path with a suffix a driver "
                "claims (.zarr, .h5)"
            )
        return URI(default_scheme, text)
    scheme, rest = m.group(1).lower(), m.group(2)
    options: dict[str, str] = {}
    # an http(s) URL's query is the web server's (signed URLs, tokens); every other query is intern's options
    if "?" in rest and not rest[:8].lower().startswith(("http://", "https://")):
        rest, _, query = rest.partition("?")
        try:
            options = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=True))
        except ValueError:
            raise InvalidURIError(f"URI {text!r}: the query {query!r} is not key=value&...") from None
    # an empty rest names the root of the remote (``intern ls mem://``); drivers reject it where that means nothing
    return URI(scheme, rest, options)
