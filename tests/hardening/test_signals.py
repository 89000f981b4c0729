"""Ctrl-C during a scan exits 130 and leaves no partial output file."""

from __future__ import annotations

import os
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
sys.argv = ["mlchain", "scan", "-j", sys.argv[3], "-f", "json", "-o", sys.argv[2], sys.argv[1]]
print("ready", flush=True)
from mlchain._entry import main
main()
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize(("jobs", "files"), [("1", 400), ("2", 600)], ids=["serial", "pool"])
def test_sigint_exits_130_without_partial_output(tmp_path: Path, jobs: str, files: int) -> None:
    # With -j 2 and 600 files the scan runs in forked workers: Ctrl-C reaches the whole process
    # group, as a terminal sends it; the workers ignore it, the parent stops them and reaps them.
    models = tmp_path / "models"
    models.mkdir()
    for i in range(files):
        (models / f"{i:03}.md").write_text("x\n")
    out = tmp_path / "report.json"
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_SCAN, str(models), str(out), jobs],
        start_new_session=True,
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
    os.killpg(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    with pytest.raises(ProcessLookupError):  # no worker outlived the run
        os.killpg(proc.pid, 0)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr
    assert "Traceback" not in stderr
    assert list(tmp_path.glob("*.json")) == []
    assert list(tmp_path.glob(".report.json.*")) == []


DYING_SCAN = """
import os, signal, sys
import mlchain.scan as scan
original = scan.scan_entry
def dying(entry, options):
    if entry.rel.name == "300.md":
        os.kill(os.getpid(), signal.SIGKILL)  # as the out-of-memory killer would
    return original(entry, options)
scan.scan_entry = dying
sys.argv = ["mlchain", "scan", "-j", "2", "-f", "json", "-o", sys.argv[2], sys.argv[1]]
from mlchain._entry import main
main()
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_killed_worker_fails_the_scan_with_exit_3(tmp_path: Path) -> None:
    # The files the worker held were never scanned: no report, a one-paragraph error, exit 3.
    models = tmp_path / "models"
    models.mkdir()
    for i in range(600):
        (models / f"{i:03}.md").write_text("x\n")
    out = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-c", DYING_SCAN, str(models), str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        start_new_session=True,
    )
    assert done.returncode == 3, done.stderr
    assert "killed by signal 9" in done.stderr and "scan is incomplete" in done.stderr
    assert "Traceback" not in done.stderr
    assert list(tmp_path.glob("*.json")) == [] and list(tmp_path.glob(".report.json.*")) == []
