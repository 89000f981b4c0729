"""The walk never follows links out of the root, never opens special files, never hides a file."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from helpers import FIXTURES
from mlchain.errors import InputError
from mlchain.scan import scan_paths
from mlchain.scan.walk import walk


def _by_path(root: Path) -> dict[str, object]:
    report = scan_paths([root])
    return {str(r.location.path): r for r in report.results}


def test_symlink_out_of_root_is_a_finding_and_not_read(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("secret\n")
    root = tmp_path / "model"
    root.mkdir()
    (root / "link.txt").symlink_to(outside)
    result = _by_path(root)["link.txt"]
    assert [f.rule_id for f in result.findings] == ["symlink-outside-root"]  # type: ignore[attr-defined]
    assert result.skipped == "symlink leaves the scan root"  # type: ignore[attr-defined]


def test_symlink_inside_root_is_scanned(tmp_path: Path) -> None:
    (tmp_path / "real.md").write_text("x\n")
    (tmp_path / "alias.md").symlink_to(tmp_path / "real.md")
    results = _by_path(tmp_path)
    assert results["alias.md"].skipped is None  # type: ignore[attr-defined]


def test_symlink_loop_and_dangling_are_reported(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    (tmp_path / "dangling").symlink_to(tmp_path / "missing")
    results = _by_path(tmp_path)
    assert results["a"].skipped == "symlink loop not followed"  # type: ignore[attr-defined]
    assert results["dangling"].skipped == "dangling symlink not followed"  # type: ignore[attr-defined]


def test_directory_symlink_not_followed(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f.md").write_text("x\n")
    (tmp_path / "loop").symlink_to(tmp_path)
    results = _by_path(tmp_path)
    assert results["loop"].skipped == "symlink to a directory not followed"  # type: ignore[attr-defined]
    assert "d/f.md" in results


def test_socket_is_not_opened(tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
        result = _by_path(tmp_path)["s.sock"]
    assert result.skipped == "special file (socket) not opened"  # type: ignore[attr-defined]


def test_git_directory_excluded_and_recorded(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (tmp_path / "README.md").write_text("x\n")
    report = scan_paths([tmp_path])
    assert [str(r.location.path) for r in report.results] == ["README.md"]
    assert report.metadata == {"excluded": ".git"}


def test_missing_root_raises_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="Cannot read"):
        list(walk(tmp_path / "missing", []))


def test_pool_and_serial_agree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mlchain.scan
    from mlchain.scan import forkpool

    monkeypatch.setattr(mlchain.scan, "POOL_MIN_BYTES", 0)  # small files, but use the pool
    monkeypatch.setattr(mlchain.scan, "POOL_MIN_FILES", 0)
    pools: list[tuple[int, int]] = []
    real = forkpool.run

    def spy(count: int, jobs: int, work: Callable[[int], bytes]) -> Iterator[bytes]:
        pools.append((count, jobs))
        return real(count, jobs, work)

    monkeypatch.setattr(forkpool, "run", spy)
    for i in range(40):
        (tmp_path / f"f{i:02}.md").write_text(f"{i}\n")
    (tmp_path / "x.safetensors").write_bytes(b"GGUF\x03\x00\x00\x00" + b"\0" * 16)
    from mlchain.scan.base import ScanOptions

    serial = scan_paths([tmp_path], ScanOptions(jobs=1))
    pooled = scan_paths([tmp_path], ScanOptions(jobs=2))
    assert serial.results == pooled.results
    assert len(pooled.results) == 41
    assert len(pools) == 1, "the second scan must have run in the pool"
    assert pools[0][1] == 2 and pools[0][0] > 2, "in several tasks, on two workers"


def test_pool_and_serial_agree_on_findings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forked workers send clean results packed and the rest whole; the report must not change."""
    import mlchain.scan
    from mlchain.scan.base import ScanOptions

    monkeypatch.setattr(mlchain.scan, "POOL_MIN_BYTES", 0)
    monkeypatch.setattr(mlchain.scan, "POOL_MIN_FILES", 0)
    packed: list[int] = []
    real = mlchain.scan._unpack

    def spy(entry: object, item: object) -> object:
        packed.append(isinstance(item, list))  # a clean result: four values, not a whole one
        return real(entry, item)  # type: ignore[arg-type]

    monkeypatch.setattr(mlchain.scan, "_unpack", spy)
    roots = [FIXTURES / area for area in ("pickle", "safetensors", "containers", "nested", "onnx")]
    serial = scan_paths(roots, ScanOptions(jobs=1))
    assert not packed
    pooled = scan_paths(roots, ScanOptions(jobs=2))
    assert serial.results == pooled.results
    assert [r.location.root for r in serial.results] == [r.location.root for r in pooled.results]
    assert any(packed) and not all(packed), "both kinds of result must have crossed the pool"


@pytest.mark.skipif(os.geteuid() != 0, reason="device nodes need root")
def test_device_file_is_not_opened(tmp_path: Path) -> None:
    import stat

    try:
        os.mknod(tmp_path / "zero", stat.S_IFCHR | 0o600, os.makedev(1, 5))
    except OSError:
        pytest.skip("mknod not permitted in this sandbox")
    result = _by_path(tmp_path)["zero"]
    assert result.skipped == "special file (character device) not opened"  # type: ignore[attr-defined]
