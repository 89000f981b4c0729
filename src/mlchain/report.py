"""The scan report's JSON, both directions: the one home of mlchain's scan-report wire contract.

``mlchain scan -f json`` writes :func:`report_to_dict`; the scan cache stores
:func:`result_to_dict` and reads it back with :func:`result_from_dict`; every command that reads a
saved report (``sbom --scan-report``, ``policy check --scan``) goes through :func:`load_report`,
so the same bad file gets the same error and exit code everywhere. The shape is documented by
``mlchain/schemas/report.schema.json`` and changes only additively within a major version.

This module sits on the floor beside :mod:`mlchain.models`: it imports nothing else of mlchain
but the error types, so scanners, formatters, policy and the SBOM can all use it.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any

from mlchain.errors import InputError, UsageError
from mlchain.inputfile import NotRegularFileError, read_regular_file
from mlchain.models import (
    CLEAN_DISCLAIMER,
    ArtifactFormat,
    Confidence,
    Finding,
    Location,
    ScanReport,
    ScanResult,
    Severity,
)

MAX_REPORT_BYTES = 256 << 20
"""Largest saved report :func:`load_report` reads."""

LOAD_HINT = "Pass the JSON written by `mlchain scan -f json -o scan.json`."


class ReportError(UsageError):
    """A file given as a saved scan report is not one (exit 2, like a malformed policy file)."""

    hint = LOAD_HINT


def location_to_dict(loc: Location) -> dict[str, Any]:
    """Serialise a location (``file``, the path as the user finds it, when the root is known)."""
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


def report_to_dict(report: ScanReport) -> dict[str, Any]:
    """Serialise a report; the shape is documented by ``report.schema.json``."""
    counts = report.counts()
    return {
        "schema_version": report.schema_version,
        "tool": {
            "name": "mlchain",
            "version": report.tool_version,
            "pickleallowlist_version": report.allowlist_version,
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


def _location(data: dict[str, Any]) -> Location:
    return Location(PurePosixPath(data["path"]), data["member"], data["offset"])


def result_from_dict(data: dict[str, Any]) -> ScanResult:
    """Inverse of :func:`result_to_dict`.

    Raises:
        KeyError, TypeError, ValueError: if ``data`` is not a serialised result.
    """
    findings = tuple(
        Finding(
            rule_id=f["rule_id"],
            severity=Severity.parse(f["severity"]),
            confidence=Confidence[f["confidence"].upper()],
            message=f["message"],
            location=_location(f["location"]),
            evidence=f["evidence"],
        )
        for f in data["findings"]
    )
    return ScanResult(
        location=_location(data["location"]),
        format=ArtifactFormat(data["format"]),
        findings=findings,
        skipped=data["skipped"],
        size=data["size"],
        sha256=data["sha256"],
    )


def load_report(path: Path) -> dict[str, Any]:
    """Read a saved ``mlchain scan -f json`` report and validate it against the shipped schema.

    Raises:
        InputError: if the file cannot be read (exit 3).
        ReportError: if it is too large, not JSON, or not a mlchain scan report (exit 2).
    """
    from importlib import resources

    import jsonschema

    try:
        # Regular files only, never a blocking open (a FIFO given as --scan must not hang).
        raw = read_regular_file(path, limit=MAX_REPORT_BYTES)
    except NotRegularFileError as exc:
        raise ReportError(f"Cannot use the scan report {path}: {exc}.") from exc
    except OSError as exc:
        raise InputError(f"Cannot read the scan report {path}: {exc.strerror or exc}.") from exc
    except ValueError:
        raise ReportError(f"The scan report {path} is larger than 256 MiB.") from None
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        raise ReportError(f"The scan report {path} is not JSON.") from None
    schema = json.loads(
        resources.files("mlchain").joinpath("schemas/report.schema.json").read_text("utf-8")
    )
    try:
        jsonschema.Draft202012Validator(schema).validate(document)
    except jsonschema.ValidationError as exc:
        raise ReportError(
            f"The scan report {path} is not a mlchain JSON report ({exc.message[:200]})."
        ) from None
    except RecursionError:
        raise ReportError(f"The scan report {path} nests too deeply.") from None
    return dict(document)


__all__ = [
    "MAX_REPORT_BYTES",
    "ReportError",
    "finding_to_dict",
    "load_report",
    "location_to_dict",
    "report_to_dict",
    "result_from_dict",
    "result_to_dict",
]
