"""The core's own plugin: the in-memory ``mem://`` remote and the last-resort local services.

It is registered like any other plugin (and is the smallest example of one): its hooks name code by dotted
reference, so nothing here imports more than :mod:`intern._hookspecs`.
"""

from __future__ import annotations

from .._hookspecs import SchemeSpec, ServiceSpec, hookimpl


@hookimpl
def intern_schemes() -> list[SchemeSpec]:
    return [SchemeSpec("mem", "intern._builtin.mem:MemRemote.from_uri",
                       description="in-memory volumes of this process (tests, demos, scratch)")]


@hookimpl
def intern_services() -> list[ServiceSpec]:
    return [ServiceSpec(
        capability="downsample",
        name="numpy",
        implementation="intern._builtin.downsample:downsample",
        priority=-100,
        requires=("volume",),
        description="block mean (images) or block mode (segmentations) in numpy; last resort",
    )] + [
        ServiceSpec(capability=name, name="scan", implementation=f"intern._builtin.labels:{name}", priority=-100,
                    requires=("segmentation",), description=f"{name} by reading the volume chunk by chunk; last resort")
        for name in ("label_at", "bounding_box", "size")
    ]
