"""End to end: `mlchain scan` gates on the ONNX and repository fixtures (exit codes, JSON)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from fixtures.canary import CANARY_PATH

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "fixtures"


def _run(*paths: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    cmd = [sys.executable, "-m", "mlchain", "scan", "--format", "json", *map(str, paths)]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)


def test_benign_fixtures_pass_the_default_gate() -> None:
    done = _run(FIXTURES / "onnx" / "benign", FIXTURES / "repo" / "benign")
    assert done.returncode == 0, done.stderr
    json.loads(done.stdout)


def test_malicious_fixtures_fail_the_gate() -> None:
    done = _run(FIXTURES / "onnx" / "malicious", FIXTURES / "repo" / "malicious")
    assert done.returncode == 1, done.stderr
    rules = {f["rule_id"] for f in _findings(json.loads(done.stdout))}
    expected = {"onnx-external-data-escape", "onnx-custom-op", "hf-remote-code", "keras-lambda"}
    assert expected <= rules
    assert not Path(CANARY_PATH).exists()


def _findings(doc: object) -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
    stack = [doc]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "rule_id" in item:
                found.append(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found
