"""Run every benchmark in one go and publish the figures.

Each benchmark script writes JSON; this collects them into ``bench/results/latest.json`` and rewrites the block
between ``<!-- bench-results -->`` and ``<!-- /bench-results -->`` in ``docs/performance.md``. Nothing is asserted:
the numbers are reported, with the machine they came from.

    python bench/run.py [--quick] [--only import,zarr]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
DOC = HERE.parent / "docs" / "performance.md"
BENCHES = {
    "import": ["bench_import.py"],
    "zarr": ["bench_zarr.py"],
}
QUICK = {"import": ["--repeat", "5"], "zarr": ["--size", "256", "--repeat", "3"]}
# every other bench/bench_NAME.py takes --json PATH and --quick, and its JSON has a "markdown" key with its tables
for _path in sorted(HERE.glob("bench_*.py")):
    _name = _path.stem.removeprefix("bench_")
    if _name not in BENCHES:
        BENCHES[_name] = [_path.name]
        QUICK[_name] = ["--quick"]


def _run(name: str, quick: bool) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, str(HERE / BENCHES[name][0]), "--json", str(out), *(QUICK[name] if quick else [])]
        print(f"\n$ {' '.join(cmd[1:])}", flush=True)
        subprocess.run(cmd, check=True)
        return json.loads(out.read_text())


def _versions() -> dict[str, str]:
    from importlib import metadata

    names = ["intern-core", "intern-zarr", "numpy", "zarr", "tensorstore", "numcodecs", "h5py"]
    found = {}
    for n in names:
        try:
            found[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            pass
    return found


def render(results: dict) -> str:
    lines = [f"Measured {results['when']} on {results['machine']['cpus']} CPUs, Python {results['machine']['python']}; "
             + ", ".join(f"{k} {v}" for k, v in results["versions"].items()) + "."]
    imp = results.get("import")
    if imp:
        lines += ["", "### Import time", "",
                  "Best of repeated fresh interpreters; overhead is over importing numpy and pydantic alone "
                  f"(budget {imp['budget_ms']} ms).", "",
                  "| measurement | best (ms) | overhead (ms) |", "|---|---:|---:|"]
        for name, secs in imp["seconds"].items():
            over = imp["overhead_ms"].get(name)
            lines.append(f"| {name} | {secs * 1000:.1f} | {'' if over is None else f'{over:.1f}'} |")
        lines += ["", f"Plugins loaded: {', '.join(imp['plugins'])}; driver dependencies imported by "
                      f"`intern.plugins()`: {', '.join(imp['heavy_modules_imported']) or 'none'}."]
    z = results.get("zarr")
    if z:
        vol = z["volume"]
        lines += ["", "### Zarr reads", "",
                  f"{'x'.join(map(str, vol['shape']))} {vol['dtype']} EM-like volume in {vol['chunks'][0]}^3 chunks, "
                  f"intern-zarr's default compressor ({vol['ratio']:.2f}x); best of {z['repeat']} after a warm-up. "
                  "Ratio = time / TensorStore's time (below 1: faster than TensorStore).", ""]
        for case, r in z["cases"].items():
            title = "full read" if case == "full" else f"misaligned cutout {z['cutout']}"
            lines += [f"**{title}** ({r['mb']:.0f} MB)", "", "| reader | seconds | MB/s | ratio to TensorStore |",
                      "|---|---:|---:|---:|"]
            ts = r["seconds"]["tensorstore"]
            for name, secs in r["seconds"].items():
                lines.append(f"| {name} | {secs:.4f} | {r['mb_per_s'][name]:.0f} | {secs / ts:.2f} |")
            lines.append("")
    for result in results.values():
        if isinstance(result, dict) and "markdown" in result:
            lines += ["", result["markdown"].rstrip()]
    return "\n".join(lines).rstrip() + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smaller volumes and fewer rounds (a smoke run)")
    p.add_argument("--only", help=f"comma-separated subset of {', '.join(BENCHES)}")
    p.add_argument("--no-docs", action="store_true", help="do not rewrite docs/performance.md")
    args = p.parse_args()
    names = args.only.split(",") if args.only else list(BENCHES)
    results: dict = {
        "when": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "versions": _versions(),
        "quick": args.quick,
    }
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    latest = out_dir / "latest.json"
    if args.only and latest.exists():  # a partial run updates its benchmarks and keeps the others' last figures
        previous = json.loads(latest.read_text())
        results.update({k: v for k, v in previous.items() if k in BENCHES and k not in names})
    for name in names:
        results[name] = _run(name, args.quick)
    latest.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {out_dir / 'latest.json'}")
    if not args.no_docs and not args.quick:
        text = DOC.read_text()
        start, end = "<!-- bench-results -->", "<!-- /bench-results -->"
        head, _, rest = text.partition(start)
        _, _, tail = rest.partition(end)
        DOC.write_text(f"{head}{start}\n{render(results)}{end}{tail}")
        print(f"updated {DOC}")


if __name__ == "__main__":
    main()
