"""Peak-memory measurement for benchmarks (Linux): reset the process's peak RSS, read it back, in MB."""

from __future__ import annotations


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
