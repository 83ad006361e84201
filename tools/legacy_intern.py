"""A virtual environment with the public ``intern`` 1.4.2 client, for comparisons and compatibility tests.

intern 1.4.2 has our import name, ``intern``, so it can never share an environment with this repository's packages.
This module makes (once) a virtual environment beside the repository with only that release installed and runs code
in it as a subprocess: benchmarks time it against our client, tests check it reads what our servers serve.

    from tools.legacy_intern import legacy_python, run_legacy
    out = run_legacy("import intern; print(intern.__version__)")
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

VERSION = "1.4.2"
ROOT = Path(__file__).resolve().parents[1]
VENV = Path(os.environ.get("INTERN_LEGACY_VENV", ROOT / ".venv-intern-legacy"))


def legacy_python() -> Path:
    """The interpreter of the environment holding intern 1.4.2, made on first call."""
    python = VENV / "bin" / "python"
    marker = VENV / f".intern-{VERSION}"
    if marker.exists():
        return python
    uv = shutil.which("uv")
    if uv:
        subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(VENV)], check=True)
        subprocess.run([uv, "pip", "install", "-q", "--python", str(python), f"intern=={VERSION}"], check=True)
    else:
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", f"intern=={VERSION}"], check=True)
    marker.touch()
    return python


def run_legacy(code: str, *, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    """Run ``code`` with intern 1.4.2 and return its standard output; raise with its stderr if it fails."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    full_env.update(env or {})
    proc = subprocess.run([str(legacy_python()), "-c", code], capture_output=True, text=True, env=full_env,
                          timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"intern {VERSION} failed:\n{proc.stderr}")
    return proc.stdout
