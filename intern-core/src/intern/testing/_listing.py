"""Kit tests of what a URI names: ``intern.ls`` of a volume's parent, and creation options in a URI's query.

``intern.ls`` is how a scientist finds volumes: it lists what they created, not the files, keys or instances a driver
keeps for itself. A URI that created a volume (``zarr:///d/em.zarr?compressor=none``) is the one a notebook keeps, so
it must open the volume again, and, before the volume exists, say that nothing is there rather than that ``open``
does not know a creation option.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import ClassVar
from urllib.parse import urlencode

import numpy as np
import pytest

import intern
from intern._metadata import VolumeKind
from intern.errors import NotFoundError

__all__ = ["ListingTests", "split_name"]


def split_name(uri: str) -> tuple[str, str]:
    """(parent URI, name) of a volume's URI, without its query string."""
    bare = uri.split("?", 1)[0].rstrip("/")
    parent, _, name = bare.rpartition("/")
    return parent, name


class ListingTests:
    """``ls`` and URIs carrying creation options (mixed into :class:`~intern.testing.VolumeDriverTests`)."""

    # provided by VolumeDriverTests
    shape: ClassVar[tuple[int, ...]]
    chunks: ClassVar[tuple[int, ...]]
    axes: ClassVar[tuple[str, ...] | None]
    dtypes: ClassVar[tuple[str, ...]]
    kinds: ClassVar[dict[str, VolumeKind]]
    supports_create: ClassVar[bool]
    supports_write: ClassVar[bool]
    #: options of the driver's ``create`` that the kit puts in a URI's query string (``{"compressor": "none"}``)
    creation_options: ClassVar[Mapping[str, str]] = {}

    def _parent(self, uri: str) -> tuple[str, str]:
        parent, name = split_name(uri)
        if parent.endswith((":/", "://")):
            pytest.skip("the driver's volumes lie at the root of their remote")
        return parent, name

    def _new(self, uri: str, dtype: str) -> intern.Array:
        return intern.create(uri, shape=self.shape, dtype=dtype, chunks=self.chunks, axes=self.axes,
                             kind=self.kinds.get(dtype, "image"))

    def test_ls_lists_exactly_the_created_volumes(self, new_uri: Callable[[str], str]) -> None:
        if not self.supports_create:
            pytest.skip("the driver does not create volumes; test_ls_lists_created checks its listing")
        dtype = self.dtypes[0]
        made: dict[str, list[str]] = {}  # parent -> names created there (a driver may give each volume its own)
        for name in ("ls-first", "ls-second"):
            uri = new_uri(name)
            parent, leaf = self._parent(uri)
            self._new(uri, dtype)
            made.setdefault(parent, []).append(leaf)
        for parent, names in made.items():
            listed = intern.ls(parent)
            assert sorted(listed) == sorted(names), (
                f"intern.ls({parent!r}) lists {listed}; a scientist created only {names} there (files, keys or "
                "instances the driver keeps for itself are not the user's volumes)")

    def test_creation_options_in_the_uri(self, new_uri: Callable[[str], str]) -> None:
        if not (self.supports_create and self.creation_options):
            pytest.skip("the test class names no creation_options for the kit to put in a URI")
        dtype = self.dtypes[0]
        base = new_uri("with-options")
        uri = base + ("&" if "?" in base else "?") + urlencode(dict(self.creation_options))
        with pytest.raises(NotFoundError):
            intern.array(uri)  # a creation option in the query does not stop open() from saying nothing is there
        made = self._new(uri, dtype)
        if self.supports_write:
            made[...] = np.ones(self.shape, dtype)
        again = intern.array(uri)  # the URI that created the volume opens it
        assert again.shape == self.shape and again.dtype == np.dtype(dtype)
        if self.supports_write:
            assert again[...].all()
        parent, name = self._parent(uri)
        assert name in intern.ls(parent)
