"""Every benign fixture folder passes the default gate; every malicious fixture fails it.

This is the corpus-wide version of each area's own tests: a scanner change that makes one
benign fixture noisy, or lets one malicious fixture through, fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import FIXTURES
from mlchain.models import Severity
from mlchain.scan import scan_paths
from mlchain.scan.base import ScanOptions

BENIGN = sorted(FIXTURES.glob("*/benign"))
SUPPORT_FILES = {FIXTURES / "onnx" / "malicious" / "small.bin"}
"""Inert data that malicious fixtures point at (an external-data file), not attacks themselves."""
MALICIOUS = sorted(
    p
    for folder in FIXTURES.glob("*/malicious")
    for p in folder.iterdir()
    if not p.name.startswith(".") and p not in SUPPORT_FILES
)


@pytest.mark.parametrize("folder", BENIGN, ids=lambda p: p.parent.name)
def test_benign_folder_passes_the_default_gate(folder: Path) -> None:
    report = scan_paths([folder], ScanOptions(jobs=1))
    loud = [
        f"{f.location.display()}: {f.rule_id}"
        for f in report.findings
        if f.severity >= Severity.MEDIUM
    ]
    assert loud == []
    assert report.results


@pytest.mark.parametrize("item", MALICIOUS, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_each_malicious_fixture_fails_the_default_gate(item: Path) -> None:
    report = scan_paths([item], ScanOptions(jobs=1))
    assert report.max_severity is not None and report.max_severity >= Severity.MEDIUM, [
        (f.rule_id, f.severity.label) for f in report.findings
    ]
