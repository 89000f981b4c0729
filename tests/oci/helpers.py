"""Shared helpers for the OCI tests."""

from __future__ import annotations

from pathlib import Path

from mlchain.models import ScanReport

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def fixture_files(names: list[str]) -> dict[str, bytes]:
    """``{"pickle/malicious/x.pkl": bytes}`` -> ``{"x.pkl": bytes}`` (flat logical names)."""
    return {Path(name).name: (FIXTURES / name).read_bytes() for name in names}


def write_folder(root: Path, files: dict[str, bytes]) -> Path:
    """Lay ``files`` out under ``root`` (for the folder scan they are compared with)."""
    for name, data in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return root


def finding_keys(report: ScanReport) -> list[tuple[object, ...]]:
    """Findings as comparable tuples (path, member, offset, rule, severity, message, evidence)."""
    return sorted(
        (
            str(f.location.path),
            f.location.member or "",
            f.location.offset if f.location.offset is not None else -1,
            f.rule_id,
            int(f.severity),
            f.message,
            f.evidence or "",
        )
        for f in report.findings
    )
