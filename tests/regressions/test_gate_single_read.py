"""The deploy gate reads each model file once (mlchain issue #15, item 5; issue #19, item 7).

The gate hashed every file (model-signing opens each by name), then the scanner opened each by
name again: a writer of the model folder could swap a file in between, and every byte was read
twice. The gate now opens each file once and hands that descriptor to both the hashing and the
scan (:mod:`mlchain.pinned`).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import FIXTURES, run_cli
from signing_helpers import write_key

_WATCHED: list[Path] = []
_OPENS: Counter[str] = Counter()


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event != "open" or not _WATCHED or not args:
        return
    target = args[0]
    if isinstance(target, int | bytes) or target is None:
        return  # a descriptor (the pinned one, duplicated), never a name
    real = os.path.realpath(os.fspath(target))
    for root in _WATCHED:
        if real.startswith(str(root) + os.sep) and os.path.isfile(real):
            _OPENS[os.path.relpath(real, root)] += 1


sys.addaudithook(_audit)  # audit hooks cannot be removed: it is inert unless _WATCHED is set


@pytest.fixture
def count_opens() -> Iterator[Counter[str]]:
    _OPENS.clear()
    yield _OPENS
    _WATCHED.clear()
    _OPENS.clear()


def _model(tmp_path: Path) -> tuple[Path, Path]:
    keys = write_key(tmp_path, "signer")
    model = tmp_path / "m"
    (model / "sub").mkdir(parents=True)
    (model / "config.json").write_text('{"model_type":"bert"}\n')
    shutil.copy(FIXTURES / "safetensors" / "benign" / "f32.safetensors", model / "w.safetensors")
    (model / "sub" / "tok.txt").write_text("hello\n")
    (model / "state.pkl").write_bytes(b"\x80\x02}q\x00X\x01\x00\x00\x00aK\x01s.")
    assert run_cli("sign", str(model), "--key", str(keys.private)).exit_code == 0
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "apiVersion: mlchain.dev/v1alpha1\nkind: ModelPolicy\nmetadata:\n  name: gate\n"
        f"spec:\n  authorities:\n    - name: k\n      key:\n        path: {keys.public}\n"
        "  scan:\n    failOn: medium\n"
    )
    return model, policy


def _gate(model: Path, policy: Path) -> tuple[int, dict[str, Any]]:
    result = run_cli("verify", str(model), "--policy", str(policy), "-f", "json")
    return result.exit_code, json.loads(result.stdout)


def test_gate_opens_each_model_file_once(tmp_path: Path, count_opens: Counter[str]) -> None:
    """Hashing for the signature, the attestation digests and the scan share one open."""
    model, policy = _model(tmp_path)
    _WATCHED.append(model.resolve())
    code, report = _gate(model, policy)
    assert code == 0, report
    files = ["config.json", "state.pkl", "sub/tok.txt", "w.safetensors"]
    assert {f: count_opens[f] for f in files} == dict.fromkeys(files, 1)
    assert report["scan_summary"]["files"] >= len(files)


def test_plain_scan_opens_each_file_once_too(tmp_path: Path, count_opens: Counter[str]) -> None:
    """Outside a gate run each file is opened once as well, when it is scanned: detection and
    the safetensors scanner used to open ``w.safetensors`` by name one after the other (a file
    renamed over in between was scanned in place of the detected one; a FIFO put there hung
    the scan). The walk itself only lists and ``lstat``s."""
    model, _ = _model(tmp_path)
    _WATCHED.append(model.resolve())
    assert run_cli("scan", str(model), "-q", "-j", "1").exit_code == 0
    files = ["config.json", "state.pkl", "sub/tok.txt", "w.safetensors"]
    assert {f: count_opens[f] for f in files} == dict.fromkeys(files, 1)


def test_file_rewritten_in_place_during_gate_is_denied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write into the pinned file itself (same inode, so the pin does not help) changes its
    ctime: the gate denies it as changed, whatever the new bytes are."""
    import mlchain.scan

    model, policy = _model(tmp_path)
    real = mlchain.scan.scan_paths

    def rewrite(*args: Any, **kwargs: Any) -> Any:
        with (model / "state.pkl").open("r+b") as handle:
            handle.write(b"\x80\x02")  # the same bytes: only the change stamps move
        return real(*args, **kwargs)

    monkeypatch.setattr(mlchain.scan, "scan_paths", rewrite)
    code, report = _gate(model, policy)
    assert code == 1
    failed = {r["name"]: r["message"] for r in report["results"] if not r["passed"]}
    assert "state.pkl" in failed["unchanged-during-gate"]


def test_renamed_over_file_is_scanned_as_hashed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file renamed over the signed one after the hash: the scan still reads the signed
    bytes (the pinned descriptor), so the report describes what was verified."""
    import mlchain.scan

    model, policy = _model(tmp_path)
    real = mlchain.scan.scan_paths
    seen: dict[str, Any] = {}

    def swap(*args: Any, **kwargs: Any) -> Any:
        replacement = model / "w.safetensors.tmp"
        replacement.write_bytes(b"not a safetensors file at all")
        replacement.replace(model / "w.safetensors")
        report = real(*args, **kwargs)
        seen["sizes"] = {r.location.file(): r.size for r in report.results}
        return report

    monkeypatch.setattr(mlchain.scan, "scan_paths", swap)
    code, _ = _gate(model, policy)
    assert code == 1  # denied: the path changed during the gate
    original = (FIXTURES / "safetensors" / "benign" / "f32.safetensors").stat().st_size
    sizes = {name.rpartition("/")[2]: size for name, size in seen["sizes"].items()}
    assert sizes["w.safetensors"] == original


def test_gate_opens_a_single_file_model_once(tmp_path: Path, count_opens: Counter[str]) -> None:
    """A single-file model (model-signing names it ``"."``) is pinned and read once too."""
    keys = write_key(tmp_path, "signer")
    folder = tmp_path / "one"
    folder.mkdir()
    model = folder / "w.safetensors"
    shutil.copy(FIXTURES / "safetensors" / "benign" / "f32.safetensors", model)
    assert run_cli("sign", str(model), "--key", str(keys.private)).exit_code == 0
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "apiVersion: mlchain.dev/v1alpha1\nkind: ModelPolicy\nmetadata:\n  name: gate\n"
        f"spec:\n  authorities:\n    - name: k\n      key:\n        path: {keys.public}\n"
        "  scan:\n    failOn: medium\n"
    )
    _WATCHED.append(folder.resolve())
    code, report = _gate(model, policy)
    assert code == 0, report
    assert count_opens["w.safetensors"] == 1
