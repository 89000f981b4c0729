"""Helpers shared by the pickle VM unit, differential and regression tests."""

from __future__ import annotations

from pathlib import PurePosixPath

from mlchain.models import Finding, Location, Severity
from mlchain.scan.base import Limits, ScanContext, ScanOptions
from mlchain.scan.pickle import PickleScan, scan_pickle

LOC = Location(PurePosixPath("model.pkl"))


def run(data: bytes, **kwargs: object) -> PickleScan:
    """Scan ``data`` with default options (keyword arguments go to scan_pickle)."""
    return scan_pickle(data, LOC, ScanContext(ScanOptions()), **kwargs)  # type: ignore[arg-type]


def run_with(
    data: bytes, limits: Limits | None = None, allow: frozenset[str] = frozenset()
) -> PickleScan:
    """Scan with custom limits or user-allowed globals."""
    options = ScanOptions(limits=limits or Limits(), allow_globals=allow)
    return scan_pickle(data, LOC, ScanContext(options))


def rules(result: PickleScan) -> set[str]:
    return {f.rule_id for f in result.findings}


def serious(result: PickleScan, floor: Severity = Severity.MEDIUM) -> list[Finding]:
    return [f for f in result.findings if f.severity >= floor]
