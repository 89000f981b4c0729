"""Helpers shared by the container tests (scan bytes without files, load fixtures)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from mlchain.models import ArtifactFormat, Finding, Location, Severity
from mlchain.scan.base import Limits, ScanContext, ScanOptions

REPO = Path(__file__).resolve().parent.parent
BENIGN = REPO / "fixtures" / "containers" / "benign"
MALICIOUS = REPO / "fixtures" / "containers" / "malicious"
REVIEW = REPO / "fixtures" / "containers" / "review"
LOC = Location(PurePosixPath("x"))


def ctx(**limits: int) -> ScanContext:
    return ScanContext(ScanOptions(limits=Limits(**limits)))


def scan_bytes(
    data: bytes, fmt: ArtifactFormat | None = None, *, context: ScanContext | None = None
) -> list[Finding]:
    """Scan ``data`` as ``fmt`` (sniffed when ``None``) through the container dispatcher."""
    from mlchain.scan.containers import dispatch

    context = context or ctx()
    state = dispatch.new_state()
    if fmt is None:
        return list(dispatch.scan_nested(data, LOC, context, state, 0))
    return list(dispatch.scan_buffer(data, fmt, LOC, context, state, 0))


def rules(findings: list[Finding], at_least: Severity = Severity.INFO) -> set[str]:
    return {f.rule_id for f in findings if f.severity >= at_least}


def worst(findings: list[Finding]) -> Severity | None:
    return max((f.severity for f in findings), default=None)


def fixture(name: str) -> Path:
    for folder in (BENIGN, MALICIOUS):
        if (folder / name).exists():
            return folder / name
    raise FileNotFoundError(name)
