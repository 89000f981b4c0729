"""A scanner says "not scanned" by yielding a Skip, never by raising (mlchain issue #16, item 7)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pytest

from mlchain.models import ArtifactFormat, Location
from mlchain.scan import ScanOptions, registry, scan_entry
from mlchain.scan.base import Artifact, Outcome, ScanContext, Skip, finding
from mlchain.scan.inert import UNRECOGNISED, InertScanner
from mlchain.scan.walk import walk


def _artifact(path: Path) -> Artifact:
    data = path.read_bytes()
    return Artifact(
        path, Location(PurePosixPath(path.name)), path.parent, len(data), ArtifactFormat.DATA, data
    )


def test_inert_scanner_yields_a_skip_for_unknown_binary(tmp_path: Path) -> None:
    blob = tmp_path / "blob.bin"
    blob.write_bytes(bytes(range(256)) * 4)
    outcomes = list(InertScanner().scan(_artifact(blob), ScanContext(ScanOptions())))
    assert outcomes == [Skip(UNRECOGNISED)]
    (entry,) = list(walk(blob, []))
    result = scan_entry(entry, ScanOptions(jobs=1))
    assert result.skipped == UNRECOGNISED
    assert result.findings == ()


def test_inert_scanner_passes_text_without_a_skip(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("just some notes\n")
    assert list(InertScanner().scan(_artifact(text), ScanContext(ScanOptions()))) == []


def test_findings_before_a_skip_are_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Partial:
        def scan(self, artifact: Artifact, ctx: ScanContext) -> Iterator[Outcome]:
            yield finding("pickle-dangerous-call", "calls os.system", artifact.location)
            yield Skip("the rest could not be judged")

    monkeypatch.setitem(registry.SCANNERS, ArtifactFormat.PICKLE, Partial)
    target = tmp_path / "a.pkl"
    target.write_bytes(b"\x80\x04N.")
    (entry,) = list(walk(target, []))
    result = scan_entry(entry, ScanOptions(jobs=1))
    assert result.skipped == "the rest could not be judged"
    assert [f.rule_id for f in result.findings] == ["pickle-dangerous-call"]


def test_the_registry_is_typed_and_lazy() -> None:
    """One factory per format; asking for one scanner imports no other scanner module."""
    code = (
        "import sys\n"
        "from mlchain.models import ArtifactFormat as F\n"
        "from mlchain.scan.registry import scanner_for\n"
        "scanner = scanner_for(F.SAFETENSORS)\n"
        "print(type(scanner).__name__)\n"
        "others = ['mlchain.scan.onnx', 'mlchain.scan.chat_template', 'mlchain.scan.gguf',"
        " 'mlchain.scan.pickle.vm', 'mlchain.scan.containers.dispatch']\n"
        "print(sorted(set(others) & set(sys.modules)))\n"
    )
    src = Path(__file__).resolve().parents[3] / "src"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(src)},
    ).stdout.split("\n")
    assert out[:2] == ["SafetensorsScanner", "[]"]
    assert all(callable(factory) for factory in registry.SCANNERS.values())
