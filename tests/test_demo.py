"""The quick-start demo runs end to end on local files and leaves what it promises."""

import json
import subprocess
import sys
from pathlib import Path

DEMO = Path(__file__).resolve().parents[1] / "demo" / "demo.py"


def test_demo_runs(tmp_path):
    out = subprocess.run([sys.executable, str(DEMO), "--out", str(tmp_path / "demo")], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert "equal to the source" in out.stdout and "300 cells" in out.stdout
    png = tmp_path / "demo" / "em-z32.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    prov = json.loads((tmp_path / "demo" / "em-z32.png.provenance.json").read_text())
    assert prov["source"].endswith("em.ome.zarr") and prov["box"]["start"] == [32, 0, 0]
    mesh_dir = tmp_path / "demo" / "meshes"
    assert json.loads((mesh_dir / "info").read_text())["@type"] == "neuroglancer_legacy_mesh"
    assert len(list(mesh_dir.glob("*:0"))) == 3 and (mesh_dir / "provenance.json").is_file()
    import intern

    seg = intern.array(f"zarr://{tmp_path}/demo/cells.ome.zarr")
    assert seg.kind == "segmentation" and len(seg.scales) == 3
