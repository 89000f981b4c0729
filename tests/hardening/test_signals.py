"""Ctrl-C during a scan exits 130 and leaves no partial output file."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SLOW_SCAN = """
import sys, time
import mlchain.scan as scan
original = scan.scan_entry
def slow(entry, options):
    time.sleep(0.05)
    return original(entry, options)
scan.scan_entry = slow
sys.argv = ["mlchain", "scan", "-j", "1", "-f", "json", "-o", sys.argv[2], sys.argv[1]]
print("ready", flush=True)
from mlchain._entry import main
main()
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigint_exits_130_without_partial_output(tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    for i in range(400):
        (models / f"{i:03}.md").write_text("x\n")
    out = tmp_path / "report.json"
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_SCAN, str(models), str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A suite started in the background of a non-interactive shell (nohup, some CI runners)
        # has SIGINT ignored, and children inherit that: Python then installs no
        # KeyboardInterrupt handler. The child gets SIGINT's default back, as a terminal has it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(1.0)  # the scan takes ~20 s; interrupt it in the middle
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr
    assert "Traceback" not in stderr
    assert list(tmp_path.glob("*.json")) == []
    assert list(tmp_path.glob(".report.json.*")) == []
