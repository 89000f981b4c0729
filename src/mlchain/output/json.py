"""mlchain's own versioned JSON report (``schema_version``; schema in ``mlchain/schemas``)."""

from __future__ import annotations

import json
from typing import Any

from mlchain.models import Finding, Location, ScanReport, ScanResult, Severity
from mlchain.output.base import CLEAN_DISCLAIMER, Formatter


def location_to_dict(loc: Location) -> dict[str, Any]:
    """Serialise a location."""
    data: dict[str, Any] = {"path": str(loc.path), "member": loc.member, "offset": loc.offset}
    if loc.root is not None:
        data["file"] = loc.file()
    return data


def finding_to_dict(f: Finding) -> dict[str, Any]:
    """Serialise a finding."""
    return {
        "rule_id": f.rule_id,
        "severity": f.severity.label,
        "confidence": f.confidence.label,
        "message": f.message,
        "location": location_to_dict(f.location),
        "evidence": f.evidence,
    }


def result_to_dict(r: ScanResult) -> dict[str, Any]:
    """Serialise one file's result."""
    return {
        "location": location_to_dict(r.location),
        "format": r.format.value,
        "size": r.size,
        "sha256": r.sha256,
        "skipped": r.skipped,
        "max_severity": None if r.max_severity is None else r.max_severity.label,
        "findings": [finding_to_dict(f) for f in r.findings],
    }


def allowlist_version() -> str:
    """Version of the pickle allowlist the verdicts were made with (shown in every report)."""
    from mlchain.scan.pickle.allowlist import ALLOWLIST_VERSION

    return ALLOWLIST_VERSION


def report_to_dict(report: ScanReport) -> dict[str, Any]:
    """Serialise a report; the shape is documented by ``report.schema.json``."""
    counts = report.counts()
    return {
        "schema_version": report.schema_version,
        "tool": {
            "name": "mlchain",
            "version": report.tool_version,
            "pickleallowlist_version": allowlist_version(),
        },
        "roots": list(report.roots),
        "allowlist_additions": list(report.allowlist_additions),
        "metadata": dict(sorted(report.metadata.items())),
        "summary": {
            "files": len(report.results),
            "not_scanned": len(report.not_scanned),
            "findings": {s.label: counts[s] for s in reversed(Severity)},
            "max_severity": None if report.max_severity is None else report.max_severity.label,
            "verdict": "findings" if report.findings else CLEAN_DISCLAIMER,
        },
        "results": [result_to_dict(r) for r in report.results],
        **(
            {
                "suppressed": [
                    {"finding": finding_to_dict(s.finding), "by": s.by, "reason": s.reason}
                    for s in report.suppressed
                ]
            }
            if report.suppressed
            else {}
        ),
    }


class JsonFormatter(Formatter):
    """Renders the report as indented JSON with sorted metadata."""

    def render(self, report: ScanReport) -> str:
        """Return the JSON document followed by a newline."""
        return json.dumps(report_to_dict(report), indent=2, ensure_ascii=False) + "\n"
