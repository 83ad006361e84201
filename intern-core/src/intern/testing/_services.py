"""Service contract tests: a datastore's server-side implementations answer as the core's local ones do.

The resolver runs a datastore's own implementation of a built-in service when the remote offers one, and the local
surrogate otherwise; a script must get the same answer either way. A driver whose remote serves any of ``label_at``,
``size``, ``bounding_box``, ``mesh`` or ``skeleton`` subclasses :class:`ServiceContractTests`::

    class TestMyServices(ServiceContractTests):
        server_services = ("label_at", "size", "bounding_box")

        @pytest.fixture
        def new_uri(self, tmp_path):
            return lambda name: f"mydb://{tmp_path}/{name}"

The kit creates a segmentation (labels in blobs that cross chunks, one in the last chunk only, one above 2**32),
asks ``prefer="server"`` and the local implementation the same questions and compares the answers, their types and
their errors (the contract is in ``docs/plugin-guide.md``, "The built-in services' call contract"). Stored meshes and
skeletons are compared when the class gives the ``store_meshes`` / ``store_skeletons`` fixtures: the kit computes them
locally, the fixture stores them the way the datastore keeps them, and the server's answer must match within 0.01 nm.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np
import pytest

import intern
from intern._box import Box
from intern._resolver import resolve
from intern.errors import CapabilityUnavailableError, NotFoundError, OutOfBoundsError

__all__ = ["ServiceContractTests", "kit_labels", "same_geometry"]

#: the labels of :func:`kit_labels`: blobs crossing chunk borders, a label in the last chunk only, one above 2**32
KIT_LABELS = (1, 2, 3, 2**33 + 7)
#: a label the kit's segmentation does not hold
ABSENT_LABEL = 99
#: how far a stored mesh's or skeleton's vertices may lie from the local one's, in nm (float32 storage, unit scaling)
VERTEX_TOLERANCE_NM = 0.01

StoreProducts = Callable[[intern.Array, Mapping[int, Any]], None]


def kit_labels(shape: tuple[int, int, int]) -> np.ndarray:
    """The kit's segmentation: four labels on background 0, placed relative to ``shape`` (at least 12 x 20 x 20)."""
    z, y, x = shape
    seg = np.zeros(shape, np.uint64)
    seg[1:z // 2 + 2, 2:y // 2 + 3, 3:x // 2 + 4] = KIT_LABELS[0]  # crosses the first chunk borders on every axis
    seg[z // 2 + 3:z - 2, 4:y - 3, x // 3:x - 2] = KIT_LABELS[1]
    seg[2:6, y // 2 + 5:y - 1, 2:9] = KIT_LABELS[3]  # a label above 2**32 (JSON and float64 must keep it exact)
    seg[z - 3:z, y - 4:y, x - 5:x] = KIT_LABELS[2]  # in the last chunk only, touching the volume's far faces
    return seg


def _match(a: np.ndarray, b: np.ndarray, atol: float) -> np.ndarray | None:
    """For each row of ``a``, the index of the row of ``b`` within ``atol`` (None when some row has none)."""
    if a.shape != b.shape:
        return None
    found = np.empty(len(a), dtype=np.int64)
    for start in range(0, len(a), 512):
        d = np.abs(a[start:start + 512, None, :].astype(np.float64) - b[None, :, :].astype(np.float64)).max(axis=2)
        best = d.argmin(axis=1)
        if (d[np.arange(len(best)), best] > atol).any():
            return None
        found[start:start + 512] = best
    return found


def same_geometry(a_vertices: np.ndarray, a_cells: np.ndarray, b_vertices: np.ndarray, b_cells: np.ndarray,
                  atol: float = VERTEX_TOLERANCE_NM) -> bool:
    """Whether two meshes (cells = faces) or skeletons (cells = edges) are the same shape: every vertex of one within
    ``atol`` of a vertex of the other and the same cells between them, in any order and orientation."""
    index = _match(np.asarray(a_vertices), np.asarray(b_vertices), atol)
    if index is None or len(a_cells) != len(b_cells):
        return False
    mapped = np.sort(index[np.asarray(a_cells, dtype=np.int64)], axis=1)
    other = np.sort(np.asarray(b_cells, dtype=np.int64), axis=1)
    return {tuple(c) for c in mapped.tolist()} == {tuple(c) for c in other.tolist()}


class ServiceContractTests:
    """Inherit, provide ``new_uri`` and ``server_services``: each server-side service is checked against the local one."""

    shape: ClassVar[tuple[int, int, int]] = (20, 37, 45)
    chunks: ClassVar[tuple[int, int, int]] = (8, 16, 16)
    voxel_size: ClassVar[tuple[float, float, float]] = (40.0, 8.0, 8.0)
    #: the label queries the driver's remote serves for the kit's segmentation (the kit checks that it does); stored
    #: meshes and skeletons are checked when the class gives ``store_meshes`` / ``store_skeletons``
    server_services: ClassVar[tuple[str, ...]] = ()

    @pytest.fixture
    def new_uri(self) -> Callable[[str], str]:
        raise NotImplementedError("a driver's test class provides the new_uri fixture: name -> URI of a new volume")

    @pytest.fixture
    def store_meshes(self) -> StoreProducts | None:
        """``store(volume, {label: Mesh})``: keep meshes where the datastore's server-side ``mesh`` finds them."""
        return None

    @pytest.fixture
    def store_skeletons(self) -> StoreProducts | None:
        """``store(volume, {label: Skeleton})``: keep skeletons where the server-side ``skeleton`` finds them."""
        return None

    @pytest.fixture
    def segmentation(self, new_uri: Callable[[str], str]) -> intern.Array:
        seg = intern.create(new_uri("services-seg"), shape=self.shape, dtype="uint64", chunks=self.chunks,
                            voxel_size=self.voxel_size, kind="segmentation")
        seg[...] = kit_labels(self.shape)
        return intern.array(seg.uri)

    def _both(self, capability: str, seg: intern.Array) -> tuple[Any, Any]:
        if capability not in self.server_services:
            pytest.skip(f"the driver's remote does not serve {capability}")
        server = resolve(capability, seg.resource, prefer="server")
        local = resolve(capability, seg.resource, prefer="local")
        return server, local

    # -- the tests -----------------------------------------------------------------------------------------------
    def test_server_offers_what_the_class_names(self, segmentation: intern.Array) -> None:
        if not self.server_services:
            pytest.skip("the class names no server_services")
        for capability in self.server_services:
            how = resolve(capability, segmentation.resource, strict=False)
            assert how.server_side, f"{segmentation.uri} does not serve {capability} itself:\n{how.explain()}"

    def test_label_at(self, segmentation: intern.Array) -> None:
        server, local = self._both("label_at", segmentation)
        truth = kit_labels(self.shape)
        rng = np.random.default_rng(3)
        points = np.stack([rng.integers(0, n, 40) for n in self.shape], axis=1)
        corners = np.array([[0, 0, 0], [n - 1 for n in self.shape], [2, self.shape[1] - 2, 4]])
        points = np.concatenate([points, corners, np.argwhere(truth == KIT_LABELS[3])[:3]])
        many = server(points=points)
        assert isinstance(many, np.ndarray) and many.dtype == np.uint64 and many.shape == (len(points),), \
            f"label_at(points=(n, 3)) answers an (n,) uint64 array, got {type(many).__name__} {getattr(many, 'dtype', '')}"
        np.testing.assert_array_equal(many, local(points=points))
        np.testing.assert_array_equal(many, truth[tuple(points.T)])
        one = server(points=tuple(int(v) for v in points[-1]))
        assert type(one) is int and one == local(points=points[-1]) == KIT_LABELS[3], \
            f"label_at(points=(z, y, x)) answers a Python int, got {one!r}"
        assert server(points=np.zeros((0, 3), np.int64)).shape == (0,)
        for outside in ([self.shape[0], 0, 0], [0, -1, 0], [0, 0, self.shape[2] + 3]):
            for impl in (server, local):
                with pytest.raises(OutOfBoundsError):
                    impl(points=[[0, 0, 0], outside])
        for impl in (server, local):
            with pytest.raises(TypeError):
                impl()

    def test_size(self, segmentation: intern.Array) -> None:
        server, local = self._both("size", segmentation)
        truth = kit_labels(self.shape)
        for label in KIT_LABELS:
            got = server(label=label)
            assert type(got) is int, f"size(label=) answers a Python int, got {got!r}"
            assert got == local(label=label) == int((truth == label).sum())
        self._absent_and_background("size", segmentation, server, local)

    def test_bounding_box(self, segmentation: intern.Array) -> None:
        server, local = self._both("bounding_box", segmentation)
        truth = kit_labels(self.shape)
        for label in KIT_LABELS:
            got = server(label=label)
            where = np.argwhere(truth == label)
            expected = Box(tuple(int(v) for v in where.min(axis=0)), tuple(int(v) + 1 for v in where.max(axis=0)))
            assert isinstance(got, Box), f"bounding_box(label=) answers an intern.Box, got {got!r}"
            assert got == local(label=label) == expected
        self._absent_and_background("bounding_box", segmentation, server, local)

    @staticmethod
    def _absent_and_background(capability: str, seg: intern.Array, server: Any, local: Any) -> None:
        for impl in (server, local):
            with pytest.raises(NotFoundError):
                impl(label=ABSENT_LABEL)
            with pytest.raises(TypeError):
                impl()
        # background: the server answers as the local scan does, or declines and the resolver hands over
        try:
            answer = server(label=0)
        except CapabilityUnavailableError:
            answer = resolve(capability, seg.resource)(label=0)
        assert answer == local(label=0)

    def test_stored_meshes(self, segmentation: intern.Array, store_meshes: StoreProducts | None) -> None:
        self._stored("mesh", segmentation, store_meshes, "faces")

    def test_stored_skeletons(self, segmentation: intern.Array, store_skeletons: StoreProducts | None) -> None:
        self._stored("skeleton", segmentation, store_skeletons, "edges")

    def _stored(self, capability: str, seg: intern.Array, store: StoreProducts | None, cells: str) -> None:
        if store is None:
            pytest.skip(f"the class gives no store_{capability}s fixture to keep {capability}es the server then reads")
        front = getattr(intern, capability)
        try:
            made = front(seg, prefer="local")
        except CapabilityUnavailableError as exc:
            pytest.skip(f"no local {capability} implementation is installed to compare with: {exc}")
        store(seg, made)
        again = intern.array(seg.uri)  # reopened, so a remote that reads what it serves when it opens sees them
        how = resolve(capability, again.resource, strict=False)
        assert how.server_side, f"{again.uri} does not serve the {capability}es just stored:\n{how.explain()}"
        served = front(again, prefer="server")
        assert sorted(served) == sorted(made), f"stored {capability}es of {sorted(made)}, served {sorted(served)}"
        for label, mine in made.items():
            theirs = served[label]
            assert same_geometry(mine.vertices, getattr(mine, cells), theirs.vertices, getattr(theirs, cells)), \
                f"the served {capability} of label {label} differs from the stored one by more than " \
                f"{VERTEX_TOLERANCE_NM} nm (vertices (x, y, z) in nm on both sides?)"
        one = front(again, prefer="server", ids=[KIT_LABELS[0]])
        assert list(one) == [KIT_LABELS[0]]
        with pytest.raises(NotFoundError):
            front(again, prefer="server", ids=[ABSENT_LABEL])
