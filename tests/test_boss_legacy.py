"""The public ``intern`` 1.4.2 client, unchanged, reads through an intern relay what our client and zarr read.

intern 1.4.2 has our import name, so it runs in its own virtual environment (``tools/legacy_intern.py``) as a
subprocess, configured the way its users configure it: ``INTERN_PROTOCOL``, ``INTERN_HOST`` and ``INTERN_TOKEN``.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

import intern

pytest.importorskip("intern_boss.relay")
pytest.importorskip("intern_zarr")
from intern_boss.relay import RelayProcess  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "legacy-token"

_spec = importlib.util.spec_from_file_location("legacy_intern", ROOT / "tools" / "legacy_intern.py")
legacy_intern = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(legacy_intern)  # type: ignore[union-attr]

LEGACY = r"""
import json, sys
import numpy as np
from intern import array
from intern.remote.boss import BossRemote

out = sys.argv[1] if len(sys.argv) > 1 else None
a = array("bossdb://lab/em/image")
full = a[0:100, 0:600, 0:700]            # over one request: the public client's process pool splits it
part = a[3:97, 17:590, 100:650]
rmt = BossRemote()
channel = rmt.get_channel("image", "lab", "em")
cut = rmt.get_cutout(channel, 0, [100, 650], [17, 590], [3, 97])
low = rmt.get_cutout(channel, 1, [10, 300], [20, 250], [5, 20])
np.savez(OUT, full=full, part=part, cut=cut, low=low)
print(json.dumps({"shape": list(a.shape), "voxel_size": list(a.voxel_size), "dtype": str(a.dtype),
                  "collections": rmt.list_collections(), "experiments": rmt.list_experiments("lab"),
                  "resolutions": a.available_resolutions, "downsample": a.downsample_status}))
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> tuple[RelayProcess, np.ndarray, Path]:
    root = tmp_path_factory.mktemp("legacy")
    rng = np.random.default_rng(5)
    data = rng.integers(0, 256, (100, 600, 700), dtype=np.uint8)
    a = intern.create(f"zarr://{root}/em.zarr", shape=data.shape, dtype="uint8", chunks=(32, 128, 128),
                      voxel_size=(40, 8, 8), scales=2)
    a[...] = data
    a.at_scale(1)[...] = data[:, ::2, ::2]
    relay = RelayProcess({"lab/em/image": f"zarr://{root}/em.zarr?mode=r"}, tokens=[TOKEN],
                         cache_dir=root / "cache", env={"INTERN_CONFIG": str(root / "none.cfg")},
                         log=root / "relay.log")
    relay.start()
    yield relay, data, root
    relay.close()


def test_public_client_reads_what_we_read(served: tuple[RelayProcess, np.ndarray, Path],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    relay, data, root = served
    env = {"INTERN_PROTOCOL": "http", "INTERN_HOST": f"127.0.0.1:{relay.port}", "INTERN_TOKEN": TOKEN,
           "HOME": str(root)}  # no ~/.intern/intern.cfg: the environment configures it
    npz = root / "legacy.npz"
    facts = json.loads(legacy_intern.run_legacy(LEGACY.replace("OUT", repr(str(npz))), env=env, timeout=300))
    assert facts["shape"] == [100, 600, 700] and facts["dtype"] == "uint8"
    assert facts["voxel_size"] == [8.0, 8.0, 40.0]  # the public client's order, x first
    assert facts["collections"] == ["lab"] and facts["experiments"] == ["em"] and facts["resolutions"] == [0, 1]
    assert facts["downsample"] == "DOWNSAMPLED"

    for key, value in env.items():
        if key != "HOME":
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("INTERN_CONFIG", str(root / "none.cfg"))
    ours = intern.array("bossdb://lab/em/image")
    got = np.load(npz)
    np.testing.assert_array_equal(got["full"], data)
    np.testing.assert_array_equal(ours[...], data)
    np.testing.assert_array_equal(got["part"], ours[3:97, 17:590, 100:650])
    np.testing.assert_array_equal(got["cut"], data[3:97, 17:590, 100:650])
    np.testing.assert_array_equal(got["low"], intern.array("bossdb://lab/em/image", scale=1)[5:20, 20:250, 10:300])
    np.testing.assert_array_equal(got["low"], data[5:20, 40:500:2, 20:600:2])
