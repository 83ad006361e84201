"""What several benchmarks share: EM-like test data, peak-memory measurement (Linux) in MB, and memory warming."""

from __future__ import annotations

import numpy as np


def em_like(shape: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    """Smooth cells with dark membranes and grain noise, uint8: compresses about as real EM does."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    low = tuple(max(4, s // 8) for s in shape)
    field = ndimage.gaussian_filter(rng.standard_normal(low).astype(np.float32), 1.5)
    field = ndimage.zoom(field, [s / n for s, n in zip(shape, low, strict=True)], order=1)[tuple(slice(0, s) for s in shape)]
    field /= field.std() + 1e-6
    membrane = np.exp(-((np.abs(np.sin(3.0 * field)) / 0.15) ** 2))
    img = 150.0 + 30.0 * np.tanh(field) - 90.0 * membrane + rng.normal(0.0, 12.0, shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def status_mb(field: str) -> float:
    """A memory field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``) in MB (10^6 bytes)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024 / 1e6  # kB (KiB) to MB, the unit of the cutout sizes
    raise RuntimeError(f"/proc/self/status has no {field}")


def reset_peak() -> float:
    """Reset the process's peak RSS (Linux: clear_refs 5) and return the current RSS, in MB."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return status_mb("VmRSS")


def warm_memory(gib: float) -> None:
    """Touch and free ``gib`` GiB, so that the step timed next finds memory the machine has already backed.

    On a virtual machine that returns free memory to its host (virtio free page reporting), pages freed a few seconds
    ago are faulted back in at a few hundred MB/s on their next use; on the machine these figures come from, a step
    writing 1 GiB of new files could spend more time there than in the code being measured. Touching the memory just
    before a step takes that cost out of every contender's timing alike.
    """
    block = np.ones(int(gib * 2**30), dtype=np.uint8)  # np.ones writes every page
    del block
