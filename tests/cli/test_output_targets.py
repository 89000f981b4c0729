"""Issue #15 items 10-12: never destroy or hide what we write.

- 10: output targets that are not regular files (a device, a FIFO, /dev/stdout) are written to
  directly, never replaced by a rename (a newcomer replaced the machine's /dev/null with a report
  by running ``mlchain scan -o /dev/null`` as root: ../shared/reviews/UX_AUDIT.md).
- 11: reports, signatures and attestations get the mode the umask gives a new file, not 0600.
- 12: a single-file model gets its own ``<file>.sig``; two of them in one folder never share one.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from helpers import FIXTURES, REPO, run_cli
from signing_helpers import write_key

BENIGN = FIXTURES / "safetensors" / "benign"


def _benign_file() -> Path:
    return sorted(p for p in BENIGN.iterdir() if p.is_file())[0]


def _mlchain(*args: object, umask: int | None = None) -> subprocess.CompletedProcess[str]:
    def _set_umask() -> None:
        if umask is not None:
            os.umask(umask)

    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.run(
        [sys.executable, "-m", "mlchain", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        preexec_fn=_set_umask,
        timeout=120,
        check=False,
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod of a character device needs root")
def test_output_to_character_device_is_written_in_place(tmp_path: Path) -> None:
    """`-o DEVICE` writes into the device; the node is still the same device afterwards."""
    device = tmp_path / "null"
    os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # our own /dev/null node
    before = device.stat()
    result = run_cli("scan", "-f", "json", "-o", str(device), str(_benign_file()))
    assert result.exit_code == 0, result.stderr
    after = device.stat()
    assert stat.S_ISCHR(after.st_mode)
    assert (after.st_rdev, after.st_ino) == (before.st_rdev, before.st_ino)
    assert [p.name for p in tmp_path.iterdir()] == ["null"]  # no temp file left behind


def test_output_to_fifo_is_written_in_place(tmp_path: Path) -> None:
    """`-o FIFO` streams the report to the reader; the FIFO is not replaced by a file."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = run_cli("scan", "-f", "json", "-o", str(fifo), str(_benign_file()))
    reader.join(timeout=30)
    assert result.exit_code == 0, result.stderr
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert json.loads(received[0])["summary"]["files"] == 1


def test_output_to_dev_stdout_goes_to_stdout(tmp_path: Path) -> None:
    """`-o /dev/stdout` (a link to the process's stdout pipe) writes the report to stdout.

    The link is our own copy of what /dev/stdout is on Linux (-> /proc/self/fd/1): a test must
    never risk the system's node (the bug this tests replaced it with a regular file).
    """
    stdout_link = tmp_path / "stdout"
    stdout_link.symlink_to("/proc/self/fd/1")
    result = _mlchain("scan", "-f", "json", "-o", stdout_link, _benign_file())
    assert stdout_link.is_symlink()
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["summary"]["files"] == 1


def test_output_to_a_folder_is_refused_with_a_hint(tmp_path: Path) -> None:
    result = run_cli("scan", "-f", "json", "-o", str(tmp_path), str(_benign_file()))
    assert result.exit_code == 3
    assert "it is a folder" in result.stderr
    assert "Traceback" not in result.stderr


def test_output_through_a_symlink_keeps_the_link(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    result = run_cli("scan", "-f", "json", "-o", str(link), str(_benign_file()))
    assert result.exit_code == 0, result.stderr
    assert link.is_symlink()
    assert json.loads(real.read_text())["summary"]["files"] == 1


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_new_report_gets_the_umask_mode(tmp_path: Path, umask: int, mode: int) -> None:
    report = tmp_path / "report.json"
    result = _mlchain("scan", "-f", "json", "-o", report, _benign_file(), umask=umask)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(report.stat().st_mode) == mode


def test_replaced_report_keeps_its_mode(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    report.write_text("old")
    report.chmod(0o640)
    result = run_cli("scan", "-f", "json", "-o", str(report), str(_benign_file()))
    assert result.exit_code == 0, result.stderr
    assert stat.S_IMODE(report.stat().st_mode) == 0o640
    assert json.loads(report.read_text())["summary"]["files"] == 1


def test_signature_gets_the_umask_mode(tmp_path: Path) -> None:
    """A verifier running as another uid must be able to read the signature (0644, not 0600)."""
    keys = write_key(tmp_path)
    model = tmp_path / "m"
    model.mkdir()
    (model / "w.bin").write_bytes(b"weights")
    result = _mlchain("sign", model, "--key", keys.private, umask=0o022)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE((model / "model.sig").stat().st_mode) == 0o644


def test_single_file_signatures_never_overwrite_each_other(tmp_path: Path) -> None:
    """Two single-file models in one folder: each gets `<file>.sig` and verifies against it."""
    keys = write_key(tmp_path)
    first, second = tmp_path / "a.bin", tmp_path / "b.bin"
    first.write_bytes(b"first model")
    second.write_bytes(b"second model")
    for model in (first, second):
        signed = run_cli("sign", str(model), "--key", str(keys.private))
        assert signed.exit_code == 0, signed.stderr
    assert (tmp_path / "a.bin.sig").is_file()
    assert (tmp_path / "b.bin.sig").is_file()
    assert not (tmp_path / "model.sig").exists()
    for model in (first, second):
        verified = run_cli("verify", str(model), "--key", str(keys.public))
        assert verified.exit_code == 0, verified.stderr
    # Each signature covers only its own file: b.bin's bundle does not verify a.bin.
    crossed = run_cli(
        "verify", str(first), "--key", str(keys.public), "--signature", str(tmp_path / "b.bin.sig")
    )
    assert crossed.exit_code == 1


def test_output_into_a_missing_folder_creates_it(tmp_path: Path) -> None:
    """The README's `-o models/llama.mlchain/provenance.json` works without a `mkdir -p`."""
    report = tmp_path / "model.mlchain" / "scan.json"
    result = run_cli("scan", "-f", "json", "-o", str(report), str(_benign_file()))
    assert result.exit_code == 0, result.stderr
    assert json.loads(report.read_text())["summary"]["files"] == 1


def test_failed_scan_creates_no_output_folder(tmp_path: Path) -> None:
    report = tmp_path / "out" / "scan.json"
    result = run_cli("scan", "-f", "json", "-o", str(report), str(tmp_path / "missing"))
    assert result.exit_code == 2
    assert not (tmp_path / "out").exists()
