"""The exit-code contract (docs/exit-codes.md): 0, 1, 2, 3 and 130, each driven through the CLI."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

import mlchain.scan
from helpers import run_cli


def _gguf_named_safetensors(tmp_path: Path) -> Path:
    # Content says GGUF, the name says safetensors: a format-mismatch finding (high).
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\x00" * 16)
    return path


def test_exit_0_when_clean(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# hello\n")
    result = run_cli("scan", str(tmp_path))
    assert result.exit_code == 0
    assert "not proof of safety" in result.stdout


def test_exit_1_on_finding_at_or_above_fail_on(tmp_path: Path) -> None:
    _gguf_named_safetensors(tmp_path)
    result = run_cli("scan", str(tmp_path))
    assert result.exit_code == 1
    assert "format-mismatch" in result.stdout


def test_fail_on_never_is_advisory(tmp_path: Path) -> None:
    _gguf_named_safetensors(tmp_path)
    result = run_cli("scan", "--fail-on", "never", str(tmp_path))
    assert result.exit_code == 0
    assert "format-mismatch" in result.stdout


def test_fail_on_threshold_above_findings_passes(tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_text("version https://git-lfs.github.com/spec/v1\noid x\n")
    assert run_cli("scan", str(tmp_path)).exit_code == 1  # lfs-pointer is medium
    assert run_cli("scan", "--fail-on", "high", str(tmp_path)).exit_code == 0


def test_exit_2_on_bad_flag(tmp_path: Path) -> None:
    result = run_cli("scan", "--format", "xml", str(tmp_path))
    assert result.exit_code == 2
    assert "xml" in result.stderr


def test_exit_2_on_missing_path(tmp_path: Path) -> None:
    result = run_cli("scan", str(tmp_path / "nope"))
    assert result.exit_code == 2
    assert "No such file or directory" in result.stderr
    assert "Traceback" not in result.stderr


def test_exit_2_on_malformed_allow_global(tmp_path: Path) -> None:
    result = run_cli("scan", "--allow-global", "nodots", str(tmp_path))
    assert result.exit_code == 2
    assert "module.name" in result.stderr


def test_exit_3_when_output_cannot_be_written(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("x\n")
    target = tmp_path / "README.md" / "report.json"  # a folder that cannot exist
    result = run_cli("scan", "-f", "json", "-o", str(target), str(tmp_path))
    assert result.exit_code == 3
    assert "Cannot write" in result.stderr
    assert not target.exists()


def test_exit_3_on_internal_error_without_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(mlchain.scan, "scan_paths", boom)
    result = run_cli("scan", str(tmp_path))
    assert result.exit_code == 3
    assert "internal error" in result.stderr and "simulated bug" in result.stderr
    assert "Traceback" not in result.stderr
    verbose = run_cli("--verbose", "scan", str(tmp_path))
    assert verbose.exit_code == 3
    assert "Traceback" in verbose.stderr


def test_exit_130_on_interrupt_leaves_no_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(mlchain.scan, "scan_paths", interrupted)
    target = tmp_path / "out.json"
    result = run_cli("scan", "-o", str(target), str(tmp_path))
    assert result.exit_code == 130
    assert not target.exists()


def test_strict_fails_on_unscanned_files(tmp_path: Path) -> None:
    (tmp_path / "blob.bin").write_bytes(
        bytes(random.Random(0).randbytes(2048)).replace(b"\x80", b"\x81")
    )
    assert run_cli("scan", str(tmp_path)).exit_code == 0
    result = run_cli("scan", "--strict", str(tmp_path))
    assert result.exit_code == 1
    assert "unrecognised content" in result.stdout


def test_env_var_sets_option(tmp_path: Path) -> None:
    _gguf_named_safetensors(tmp_path)
    result = run_cli(
        "scan", str(tmp_path), env={"MLCHAIN_FAIL_ON": "never", "MLCHAIN_FORMAT": "json"}
    )
    assert result.exit_code == 0
    assert json.loads(result.stdout)["summary"]["max_severity"] == "high"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_is_reported_not_opened(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    result = run_cli("scan", "-f", "json", str(tmp_path))  # would hang if the FIFO were opened
    assert result.exit_code == 0
    (entry,) = json.loads(result.stdout)["results"]
    assert entry["skipped"] == "special file (fifo) not opened"


def test_zero_byte_file_is_not_scanned(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"")
    result = run_cli("scan", "-f", "json", str(tmp_path))
    assert result.exit_code == 0
    (entry,) = json.loads(result.stdout)["results"]
    assert entry["format"] == "empty" and entry["skipped"] == "empty file (0 bytes)"


def test_unreadable_file_is_a_finding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Running as root, chmod 000 does not stop reads, so the read itself is made to fail.
    import mlchain.scan.detect as detect

    target = tmp_path / "locked.pt"
    target.write_bytes(b"\x80\x04N.")
    real = detect.read_head

    def deny(path: Path, limit: int = detect.HEAD_BYTES) -> bytes:
        if path.name == "locked.pt":
            raise PermissionError(13, "Permission denied")
        return real(path, limit)

    monkeypatch.setattr(detect, "read_head", deny)
    result = run_cli("scan", "-f", "json", "-j", "1", str(tmp_path))
    assert result.exit_code == 1
    (entry,) = json.loads(result.stdout)["results"]
    assert entry["findings"][0]["rule_id"] == "file-unreadable"
    assert "Permission denied" in entry["findings"][0]["message"]
