"""The opt-in result cache: hits for unchanged files, misses for any change, refuses shared dirs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import mlchain.scan
from helpers import FIXTURES
from mlchain.errors import UsageError
from mlchain.scan import scan_paths
from mlchain.scan.base import Limits, ScanOptions


def _model(tmp_path: Path) -> Path:
    model = tmp_path / "model"
    model.mkdir()
    (model / "README.md").write_text("# m\n")
    (model / "evil.pkl").write_bytes(
        (FIXTURES / "pickle" / "malicious" / "os_system_reduce.pkl").read_bytes()
    )
    return model


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    real = mlchain.scan.scan_entry

    def counting(entry, options):  # type: ignore[no-untyped-def]
        seen.append(str(entry.rel))
        return real(entry, options)

    monkeypatch.setattr(mlchain.scan, "scan_entry", counting)
    return seen


def test_unchanged_files_are_served_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, cache = _model(tmp_path), tmp_path / "cache"
    options = ScanOptions(jobs=1, cache_dir=cache)
    first = scan_paths([model], options)
    seen = _counting(monkeypatch)
    second = scan_paths([model], options)
    assert seen == []
    assert second.results == first.results
    assert {f.rule_id for f in second.findings} >= {"pickle-dangerous-call"}


def test_a_changed_file_is_rescanned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model, cache = _model(tmp_path), tmp_path / "cache"
    options = ScanOptions(jobs=1, cache_dir=cache)
    scan_paths([model], options)
    stat = (model / "README.md").stat()
    (model / "README.md").write_text("# x\n")  # same size, then the old mtime put back
    os.utime(model / "README.md", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    seen = _counting(monkeypatch)
    scan_paths([model], options)
    assert seen == ["README.md"], "ctime changed, so the entry must not be reused"


def test_other_options_do_not_share_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, cache = _model(tmp_path), tmp_path / "cache"
    scan_paths([model], ScanOptions(jobs=1, cache_dir=cache))
    seen = _counting(monkeypatch)
    allowed = ScanOptions(jobs=1, cache_dir=cache, allow_globals=frozenset({"os.system"}))
    scan_paths([model], allowed)
    scan_paths([model], ScanOptions(jobs=1, cache_dir=cache, limits=Limits(max_opcodes=10)))
    assert sorted(seen) == ["README.md", "README.md", "evil.pkl", "evil.pkl"]


def test_shared_cache_folder_is_refused(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o777)
    cache.chmod(0o777)
    with pytest.raises(UsageError, match="writable by other users"):
        scan_paths([_model(tmp_path)], ScanOptions(jobs=1, cache_dir=cache))


def test_cli_cache_flag(tmp_path: Path) -> None:
    from helpers import run_cli

    model, cache = _model(tmp_path), tmp_path / "c"
    first = run_cli("scan", "-f", "json", "--cache", str(cache), str(model))
    second = run_cli("scan", "-f", "json", "--cache", str(cache), str(model))
    assert first.exit_code == second.exit_code == 1
    assert first.stdout == second.stdout
    assert (cache / "mlchain-scan-cache.sqlite3").is_file()


# Content keys: an unchanged blob scanned anywhere is not scanned again (mlchain issue #19 item 3).


def test_same_content_elsewhere_is_served_by_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, cache = _model(tmp_path), tmp_path / "cache"
    options = ScanOptions(jobs=1, cache_dir=cache)
    first = scan_paths([model], options)
    elsewhere = tmp_path / "other" / "org" / "repo"
    elsewhere.mkdir(parents=True)
    (elsewhere / "evil.pkl").write_bytes((model / "evil.pkl").read_bytes())
    (elsewhere / "README.md").write_text("# m\n")
    seen = _counting(monkeypatch)
    second = scan_paths([elsewhere], options)
    assert seen == ["README.md"], "only self-contained formats are shared by content"
    evil = next(r for r in second.results if r.location.path.name == "evil.pkl")
    before = next(r for r in first.results if r.location.path.name == "evil.pkl")
    assert evil.findings == before.findings
    assert evil.location.root != before.location.root
    assert evil.sha256 is not None


def test_another_name_is_another_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model, cache = _model(tmp_path), tmp_path / "cache"
    options = ScanOptions(jobs=1, cache_dir=cache)
    scan_paths([model], options)
    other = tmp_path / "other"
    other.mkdir()
    (other / "evil.safetensors").write_bytes((model / "evil.pkl").read_bytes())
    seen = _counting(monkeypatch)
    report = scan_paths([other], options)
    assert seen == ["evil.safetensors"], "detection reads the name: it is part of the key"
    assert "format-mismatch" in {f.rule_id for f in report.findings}


def test_a_cache_replica_serves_another_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    model, cache = _model(tmp_path), tmp_path / "cache"
    scan_paths([model], ScanOptions(jobs=1, cache_dir=cache))
    replica = tmp_path / "replica"
    replica.mkdir(mode=0o700)
    shutil.copy(cache / "mlchain-scan-cache.sqlite3", replica)
    copy = tmp_path / "node2" / "model"
    shutil.copytree(model, copy)
    monkeypatch.setattr("mlchain.scan.cache.os.access", lambda *a, **k: False)  # read-only
    seen = _counting(monkeypatch)
    report = scan_paths([copy], ScanOptions(jobs=1, cache_dir=replica))
    assert seen == ["README.md"]
    assert {f.rule_id for f in report.findings} >= {"pickle-dangerous-call"}


def test_a_file_swapped_between_hashing_and_scanning_is_never_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TOCTOU poisoning: hash the payload, scan a clean file, file it under the payload digest."""
    model, cache = _model(tmp_path), tmp_path / "cache"
    payload = (model / "evil.pkl").read_bytes()
    real = mlchain.scan._run

    def swap_then_scan(entries, options, progress):  # type: ignore[no-untyped-def]
        (model / "evil.pkl").write_bytes(b"\x80\x04K\x01.")  # a clean pickle: the int 1
        return real(entries, options, progress)

    monkeypatch.setattr(mlchain.scan, "_run", swap_then_scan)
    options = ScanOptions(jobs=1, cache_dir=cache)
    scan_paths([model], options)
    monkeypatch.setattr(mlchain.scan, "_run", real)
    again = tmp_path / "again"
    again.mkdir()
    (again / "evil.pkl").write_bytes(payload)
    report = scan_paths([again], options)
    assert "pickle-dangerous-call" in {f.rule_id for f in report.findings}


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to give the folder to another user")
def test_a_cache_folder_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    os.chown(cache, 12345, 12345)
    with pytest.raises(UsageError, match="writable by other users"):
        scan_paths([_model(tmp_path)], ScanOptions(jobs=1, cache_dir=cache))
