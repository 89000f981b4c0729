"""Files that change between the walk and the scan (size grows or shrinks) never crash a scanner.

The walk records a size; the scanner then opens the file. A file rewritten in between (a download
in progress, an attacker racing the scanner) must give findings or a clean result, never a
``scanner-error``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from helpers import FIXTURES, deadline
from mlchain.scan import scan_entry
from mlchain.scan.base import ScanOptions
from mlchain.scan.walk import walk

SAMPLES = sorted(
    p
    for area in ("pickle", "containers", "safetensors", "gguf", "onnx", "repo", "hfmodel")
    for p in (FIXTURES / area).rglob("*")
    if p.is_file() and p.suffix != ".py" and 64 < p.stat().st_size < 200_000
)[::3]


@pytest.mark.parametrize("fixture", SAMPLES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_size_changes_between_walk_and_scan(fixture: Path, tmp_path: Path) -> None:
    data = fixture.read_bytes()
    target = tmp_path / fixture.name
    target.write_bytes(data)
    (entry,) = list(walk(target, []))
    options = ScanOptions(jobs=1)
    for now in (data[: len(data) // 2], data + b"\x00" * 4096, b""):
        target.write_bytes(now)
        for claimed in (entry.size, len(now)):
            result = scan_entry(replace(entry, size=claimed), options)
            crashes = [f for f in result.findings if f.rule_id == "scanner-error"]
            assert crashes == [], f"{fixture.name}: {crashes[0].evidence}"


def _big_files(tmp_path: Path) -> list[Path]:
    import json
    import pickle
    import struct
    import sys
    import zipfile

    sys.path.insert(0, str(FIXTURES.parent / "benchmarks"))
    import artifacts  # the benchmark generators write real formats

    out = [
        artifacts.safetensors_file(tmp_path / "a.safetensors", 300_000, 4),
        artifacts.gguf_file(tmp_path / "a.gguf", 300_000, 4),
    ]
    (tmp_path / "a.pkl").write_bytes(pickle.dumps([b"x" * 300_000, {"k": 1}], protocol=4))
    with zipfile.ZipFile(tmp_path / "a.pt", "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"w": 1}, protocol=2))
        archive.writestr("archive/data/0", b"\x00" * 300_000)
    header = json.dumps({"t": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}).encode()
    (tmp_path / "b.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + b"\x01")
    return [*out, tmp_path / "a.pkl", tmp_path / "a.pt"]


def test_large_files_shrinking_after_the_walk(tmp_path: Path) -> None:
    options = ScanOptions(jobs=1)
    for target in _big_files(tmp_path):
        (entry,) = list(walk(target, []))
        data = target.read_bytes()
        for keep in (100_000, 70_000):  # still longer than the 64 KiB head
            target.write_bytes(data[:keep])
            result = scan_entry(entry, options)  # entry.size is the old, larger size
            crashes = [f for f in result.findings if f.rule_id == "scanner-error"]
            assert crashes == [], f"{target.name}: {crashes[0].evidence}"
        target.write_bytes(data)


def test_findings_before_a_scanner_error_are_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hostile file that makes a scanner fail half-way must not downgrade what was found."""
    from mlchain.models import ArtifactFormat
    from mlchain.scan import registry
    from mlchain.scan.base import finding

    class HalfWay:
        def scan(self, artifact, ctx):  # type: ignore[no-untyped-def]
            yield finding("pickle-dangerous-call", "calls os.system", artifact.location)
            raise OSError(36, "File name too long")

    monkeypatch.setitem(registry.SCANNERS, ArtifactFormat.PICKLE, HalfWay)
    target = tmp_path / "a.pkl"
    target.write_bytes(b"\x80\x04N.")
    (entry,) = list(walk(target, []))
    result = scan_entry(entry, ScanOptions(jobs=1))
    assert {f.rule_id for f in result.findings} == {"pickle-dangerous-call", "file-unreadable"}
    assert result.max_severity is not None and result.max_severity.label == "critical"


def test_bundles_beside_the_model_are_read_with_a_bound(tmp_path: Path) -> None:
    """A signature or attestation path that is /dev/zero (or huge) must not be read whole."""
    import mlchain.signing.bundle as bundle
    from mlchain.signing.verify import read_bundle

    huge = tmp_path / "model.sig"
    with huge.open("wb") as handle:
        handle.truncate(bundle.MAX_BUNDLE_BYTES + 10)  # sparse: costs no disk
    with pytest.raises(ValueError, match="larger than"):
        bundle.read_bundle_text(huge)
    from mlchain.signing.bundle import BundleError

    with pytest.raises(BundleError, match="larger than"):
        read_bundle(huge)
    with pytest.raises(ValueError, match="not a regular file"):  # refused before any read
        bundle.read_bundle_text(Path("/dev/zero"))


# A name swapped after the walk (mlchain scans a folder others can write to: shared storage, a
# checkout a build step still writes). Each file is opened once, without blocking, and every
# scanner reads that descriptor; what happens to the name afterwards changes nothing.

EVERY_FORMAT = sorted(
    p
    for p in FIXTURES.rglob("*")
    if p.is_file()
    and p.suffix not in {".py", ".md"}
    and p.parent != FIXTURES
    and p.stat().st_size < 2_000_000
)[::4]

SWAPPED_IN = (
    b"\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03." + b"\x00" * 70_000
)
"""What is renamed over the name: a pickle that runs ``os.system`` and is longer than the head."""


@pytest.mark.parametrize("fixture", EVERY_FORMAT, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_a_file_renamed_over_after_detection_is_not_what_the_scanners_read(
    fixture: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlchain.scan.detect as detection

    target = tmp_path / fixture.name
    target.write_bytes(fixture.read_bytes())
    (entry,) = list(walk(target, []))
    options = ScanOptions(jobs=1)
    expected = scan_entry(entry, options)
    read_head = detection.read_head

    def swap_after_reading(path: Path, limit: int = detection.HEAD_BYTES) -> bytes:
        head = read_head(path, limit)
        other = tmp_path / "other"
        other.write_bytes(SWAPPED_IN)
        other.replace(target)
        return head

    monkeypatch.setattr(detection, "read_head", swap_after_reading)
    assert scan_entry(entry, options) == expected
    assert target.read_bytes() == SWAPPED_IN  # the name did change


def test_a_fifo_put_in_place_after_the_walk_is_a_finding_not_a_hang(tmp_path: Path) -> None:
    import os

    target = tmp_path / "model.pkl"
    target.write_bytes(b"\x80\x04K\x01.")
    (entry,) = list(walk(target, []))
    target.unlink()
    os.mkfifo(target)

    with deadline(10):
        result = scan_entry(entry, ScanOptions(jobs=1))
    (found,) = result.findings
    assert found.rule_id == "file-unreadable"
    assert "became a FIFO after it was listed" in found.message
    assert result.skipped == "not a regular file when opened (FIFO)"


def test_scan_paths_reports_a_fifo_swapped_in_between_walk_and_scan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    import mlchain.scan as scan_module
    from mlchain.scan import scan_paths

    names = [f"m{i:02}.pkl" for i in range(scan_module.POOL_THRESHOLD)]  # enough for a pool
    monkeypatch.setattr(scan_module, "POOL_MIN_FILES", 0)
    run = scan_module._run_cached

    def swap_then_run(entries: list[object], *args: object) -> object:
        (tmp_path / names[-1]).unlink()
        os.mkfifo(tmp_path / names[-1])
        return run(entries, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(scan_module, "_run_cached", swap_then_run)
    for jobs in (1, 2):
        for name in names:
            (tmp_path / name).unlink(missing_ok=True)
            (tmp_path / name).write_bytes(b"\x80\x04K\x01.")
        with deadline(10):
            report = scan_paths([tmp_path], ScanOptions(jobs=jobs))
        by_name = {str(r.location.path): r for r in report.results}
        assert sorted(by_name) == names
        assert all(by_name[name].findings == () for name in names[:-1])
        (found,) = by_name[names[-1]].findings
        assert found.rule_id == "file-unreadable"
        assert "became a FIFO after it was listed" in found.message


def test_a_symlink_put_in_place_after_the_walk_is_not_followed(tmp_path: Path) -> None:
    # The walk refuses links that leave the root; a link swapped in after it must not be
    # followed either: the scan would read (and may quote) a file outside the root.
    import os

    outside = tmp_path / "outside.pkl"
    outside.write_bytes(b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00id\x85R.")
    root = tmp_path / "root"
    root.mkdir()
    target = root / "model.pkl"
    target.write_bytes(b"\x80\x04K\x01.")
    (entry,) = list(walk(target, []))
    target.unlink()
    os.symlink(outside, target)
    result = scan_entry(entry, ScanOptions(jobs=1))
    (found,) = result.findings
    assert found.rule_id == "file-unreadable"
    assert "became a symbolic link after it was listed; it was not followed" in found.message
    assert result.skipped == "not a regular file when opened (symbolic link)"
