"""Benchmark: the cost of ``import intern`` and ``intern.plugins()`` with every installed driver.

Compared, in the same run, with importing numpy and pydantic alone (the core's own dependencies). Each variant runs
in a fresh interpreter many times, interleaved, and the minimum is kept (the least disturbed run). Also checks the
rule behind the budget: after ``intern.plugins()`` no driver's heavy dependency has been imported.

    python3 bench/bench_import.py [--repeat 15] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

VARIANTS = {
    "numpy + pydantic": "import numpy, pydantic",
    "import intern": "import numpy, pydantic, intern",
    "import intern + plugins()": "import numpy, pydantic, intern; intern.plugins()",
}
HEAVY = ["zarr", "h5py", "tensorstore", "fsspec", "cloudvolume", "requests", "dask", "zmesh", "kimimaro", "boto3"]


def _time(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - start


def main() -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=15)
    p.add_argument("--json")
    args = p.parse_args()
    best = {name: float("inf") for name in VARIANTS}
    for _ in range(args.repeat):
        for name, code in VARIANTS.items():
            best[name] = min(best[name], _time(code))
    check = subprocess.run([sys.executable, "-c", "import sys, json, intern; ps = intern.plugins(); "
                            f"print(json.dumps([[p.name for p in ps], [m for m in {HEAVY!r} if m in sys.modules]]))"],
                           check=True, capture_output=True, text=True)
    plugins, heavy = json.loads(check.stdout)
    base = best["numpy + pydantic"]
    result = {
        "seconds": best,
        "overhead_ms": {k: (v - base) * 1000 for k, v in best.items() if k != "numpy + pydantic"},
        "budget_ms": 100,
        "plugins": plugins,
        "heavy_modules_imported": heavy,
    }
    print(f"{'variant':<28}{'best (ms)':>10}{'over numpy+pydantic (ms)':>28}")
    for name, secs in best.items():
        print(f"{name:<28}{secs * 1000:>10.1f}{(secs - base) * 1000:>28.1f}")
    print(f"plugins loaded: {', '.join(plugins)}; heavy modules imported: {', '.join(heavy) or 'none'}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == "__main__":
    main()
