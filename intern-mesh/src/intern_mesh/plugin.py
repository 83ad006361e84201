"""The light plugin module of intern-mesh: registers the local ``mesh``, ``skeleton`` and ``downsample`` services and
the ``intern mesh`` command.

The core imports this module when it builds its registry, so it imports nothing but :mod:`intern.plugin` and the
standard library; zmesh, kimimaro, tinybrain and scikit-image load on a service's first run, through the dotted
references. A library that is not installed is not registered (``importlib.util.find_spec`` looks without
importing), so the resolver never picks an implementation that cannot run.
"""

from __future__ import annotations

from importlib.util import find_spec

from intern.plugin import CommandSpec, ServiceSpec, hookimpl

__all__ = ["intern_cli_commands", "intern_services"]

_MESH_PARAMETERS = {
    "simplify": "None (default) keeps the marching-cubes surface; a number bounds in nm how far a vertex of the "
                "simplified mesh may lie from the unsimplified surface; True means one voxel (the largest side)",
    "reduction_factor": "how many times fewer triangles simplification aims for (default 100)",
    "close": "True (default) closes surfaces cut by the box; False leaves them open there",
    "chunk_shape": "(z, y, x) voxels per meshing task; None chooses (one task up to 256^3 voxels)",
}


def _installed(module: str) -> bool:
    return find_spec(module) is not None


@hookimpl
def intern_services() -> list[ServiceSpec]:
    """Local surrogates: they run on any volume that has the traits they require, when the datastore serves none."""
    specs = []
    if _installed("zmesh"):
        specs.append(ServiceSpec(
            capability="mesh", name="zmesh", implementation="intern_mesh._meshing:mesh_zmesh", priority=10,
            requires=("volume", "segmentation"), parameters=_MESH_PARAMETERS,
            description="multi-label marching cubes (zmesh), chunked and stitched, vertices in nm"))
    if _installed("skimage"):
        specs.append(ServiceSpec(
            capability="mesh", name="skimage", implementation="intern_mesh._meshing:mesh_skimage", priority=0,
            requires=("volume", "segmentation"), parameters=_MESH_PARAMETERS,
            description="per-label marching cubes (scikit-image); the fallback where zmesh is not installed"))
    if _installed("kimimaro"):
        specs.append(ServiceSpec(
            capability="skeleton", name="kimimaro", implementation="intern_mesh._skeleton:skeleton", priority=10,
            requires=("volume", "segmentation"),
            parameters={"teasar_scale, const, pdrf_scale, pdrf_exponent, soma_*":
                        "TEASAR parameters (kimimaro's names; its scale is teasar_scale)",
                        "dust_threshold": "skip labels with fewer voxels (default 1000)"},
            description="TEASAR skeletons (kimimaro), anisotropy from the voxel size"))
    if _installed("tinybrain"):
        specs.append(ServiceSpec(
            capability="downsample", name="tinybrain", implementation="intern_mesh._downsample:downsample",
            priority=10, requires=("volume",),
            parameters={"method": "'mean' (images) or 'mode' (segmentations); chosen from the volume's kind"},
            description="block mean for images, block mode for segmentations (tinybrain), chunked into the pyramid"))
    return specs


@hookimpl
def intern_cli_commands() -> list[CommandSpec]:
    return [CommandSpec("mesh", "intern_mesh.cli:main",
                        help="mesh a segmentation's labels into OBJ, PLY or a precomputed mesh directory")]
