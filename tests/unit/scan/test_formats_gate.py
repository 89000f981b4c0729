"""End to end: the default gate on the real-library fixtures of mlchain issue #14.

Every benign folder (real saves made by the ``fixtures/gen_*.py`` generators) must pass
``mlchain scan`` with exit 0; every malicious folder must fail it with exit 1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "fixtures"
AREAS = ("torchscript", "savedmodel", "hdf5", "tflite", "skops", "mldata")


def _run(*paths: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    cmd = [sys.executable, "-m", "mlchain", "scan", "--format", "json", *map(str, paths)]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)


def test_real_library_outputs_pass_the_default_gate() -> None:
    done = _run(*(FIXTURES / area / "benign" for area in AREAS))
    assert done.returncode == 0, done.stdout[-2000:]


def test_every_malicious_variant_fails_the_default_gate() -> None:
    folders = [FIXTURES / a / "malicious" for a in AREAS if (FIXTURES / a / "malicious").is_dir()]
    done = _run(*folders)
    assert done.returncode == 1
    worst: dict[str, int] = {}
    for result in json.loads(done.stdout)["results"]:
        top = max((_RANK[f["severity"]] for f in result["findings"]), default=-1)
        entry = result["location"]["path"].split("/", 1)[0]  # a model file or a model folder
        worst[entry] = max(worst.get(entry, -1), top)
    assert set(worst) == {entry.name for folder in folders for entry in folder.iterdir()}
    assert all(v >= _RANK["medium"] for v in worst.values()), worst


_RANK = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
