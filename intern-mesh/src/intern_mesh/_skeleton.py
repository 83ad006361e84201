"""The ``skeleton`` service: TEASAR skeletons of a segmentation's labels by kimimaro, as ``intern.Skeleton``.

kimimaro sees the (x, y, z) view of the labels (a transposition, no copy) with the voxel size as its anisotropy, so
its vertices come out in nm and in the order skeleton formats use. They are then moved to the dataset's frame with the
convention of the meshes (:mod:`intern_mesh._region`): a voxel's centre is at ``(offset + index + 0.5) * voxel size``,
so a skeleton runs inside the mesh of the same label.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from intern.plugin import Box, Skeleton, VolumeResource

from ._region import Region, as_unsigned, label_ids

__all__ = ["TEASAR_PARAMETERS", "skeleton"]

#: kimimaro's TEASAR parameters (``teasar_params``), with its defaults; its ``scale`` is ``teasar_scale`` here, as
#: ``scale`` is the pyramid level in every intern service
TEASAR_PARAMETERS = {
    "teasar_scale": 1.5, "const": 300, "pdrf_scale": 100000, "pdrf_exponent": 4, "soma_acceptance_threshold": 3500,
    "soma_detection_threshold": 750, "soma_invalidation_const": 300, "soma_invalidation_scale": 2,
    "max_paths": None,
}
#: kimimaro's other options that may be passed through
OPTIONS = ("dust_threshold", "fix_branching", "fix_borders", "fill_holes", "fix_avocados", "parallel",
           "parallel_chunk_size", "extra_targets_before", "extra_targets_after")


def skeleton(resource: VolumeResource, *, ids: Sequence[int] | None = None, box: Box | None = None, scale: int = 0,
             dust_threshold: int = 1000, teasar_params: dict[str, Any] | None = None,
             **params: Any) -> dict[int, Skeleton]:
    """Skeletons of a segmentation's labels by kimimaro's TEASAR; the implementation behind ``intern.skeleton``.

    Args:
        resource: a segmentation volume.
        ids: the labels to skeletonize; all by default. Labels without voxels in the box, or smaller than
            ``dust_threshold`` voxels, are left out.
        box: (z, y, x) voxels at ``scale`` (or a box over every axis); the whole level by default.
        scale: the pyramid level.
        dust_threshold: skip connected pieces of fewer voxels (kimimaro's default, 1000).
        teasar_params: kimimaro's ``teasar_params`` dict, by its names (``scale``, ``const``, ...).
        params: TEASAR parameters one by one (``teasar_scale`` for kimimaro's ``scale``, the rest by kimimaro's
            names: ``const`` in nm, ``pdrf_scale``, ``pdrf_exponent``, ``soma_*``, ``max_paths``) and kimimaro's
            options (``fix_branching``, ``fix_borders``, ``fill_holes``, ``fix_avocados``, ``parallel``, ...).

    Returns:
        ``{label: intern.Skeleton}``, vertices (x, y, z) in nm in the dataset's frame, radii in nm.

    Raises:
        TypeError: a parameter kimimaro does not know.

    Example:
        >>> import numpy as np, intern
        >>> tube = np.zeros((9, 9, 60), np.uint8); tube[2:7, 2:7, 5:55] = 1
        >>> sk = intern.skeleton(tube, voxel_size=(8, 8, 8), dust_threshold=0)[1]
        >>> float(sk.vertices[:, 0].min()), float(sk.vertices[:, 0].max())  # x of the end voxels' centres, nm
        (44.0, 436.0)
    """
    import kimimaro

    teasar = {"scale" if k == "teasar_scale" else k: params.pop(k) for k in list(params) if k in TEASAR_PARAMETERS}
    teasar = {**(teasar_params or {}), **teasar}
    defaults = {"scale" if k == "teasar_scale" else k: v for k, v in TEASAR_PARAMETERS.items() if v is not None}
    unknown = sorted(set(params) - set(OPTIONS))
    if unknown:
        raise TypeError(f"skeleton() got unknown parameters {unknown}; TEASAR parameters are "
                        f"{sorted(TEASAR_PARAMETERS)} and kimimaro options {sorted(OPTIONS)}")
    region = Region.of(resource, box, scale)
    wanted = label_ids(ids)
    if wanted is not None and not len(wanted):
        return {}
    labels = as_unsigned(region.read(region.spatial))
    anisotropy = tuple(float(v) for v in region.voxel_size[::-1])
    found = kimimaro.skeletonize(
        labels.T, teasar_params={**defaults, **teasar},
        object_ids=None if wanted is None else [int(i) for i in wanted], anisotropy=anisotropy,
        dust_threshold=dust_threshold, progress=False, **params)
    corner = np.array([(o + 0.5) * v for o, v in zip(region.origin[::-1], anisotropy, strict=True)])
    out = {}
    for label in sorted(found):
        sk = found[label]
        vertices = np.asarray(sk.vertices, dtype=np.float64) + corner
        out[int(label)] = Skeleton(vertices, np.asarray(sk.edges), radii=np.asarray(sk.radius), id=int(label))
    return out


#: what ``**params`` passes on to kimimaro, so that the resolver refuses anything else before kimimaro is imported
skeleton.extra_parameters = (*TEASAR_PARAMETERS, *OPTIONS)  # type: ignore[attr-defined]
