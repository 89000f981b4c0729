"""SARIF 2.1.0, as GitHub code scanning accepts it.

Severity maps to SARIF levels as zizmor does (info/low: note, medium: warning, high/critical:
error) and to ``security-severity`` scores GitHub uses to rank alerts. Locations are relative to
the scan root; binary files get a byte region (``byteOffset``) when the offset is known.
"""

from __future__ import annotations

import hashlib
import posixpath
from pathlib import PurePosixPath
from typing import Any

from mlchain.jsontext import dumps
from mlchain.models import Finding, ScanReport, Severity
from mlchain.output.base import Formatter
from mlchain.rules import RULES, Rule

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/mlchain-dev/mlchain"

LEVELS = {
    Severity.INFO: "note",
    Severity.LOW: "note",
    Severity.MEDIUM: "warning",
    Severity.HIGH: "error",
    Severity.CRITICAL: "error",
}
SECURITY_SEVERITY = {
    Severity.INFO: "0.0",
    Severity.LOW: "3.0",
    Severity.MEDIUM: "5.5",
    Severity.HIGH: "8.0",
    Severity.CRITICAL: "9.5",
}


def _rule_descriptor(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "name": "".join(part.capitalize() for part in rule.id.split("-")),
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": rule.description},
        "help": {
            "text": f"{rule.description}\n\nRemediation: {rule.remediation}",
            "markdown": f"{rule.description}\n\n**Remediation:** {rule.remediation}",
        },
        "helpUri": rule.help_uri,
        "defaultConfiguration": {"level": LEVELS[rule.severity]},
        "properties": {
            "tags": list(rule.tags),
            "security-severity": SECURITY_SEVERITY[rule.severity],
            "precision": "high",
        },
    }


def fingerprint(f: Finding) -> str:
    """Stable hash of rule + path + member + evidence, for GitHub's alert de-duplication."""
    key = "\0".join(
        [f.rule_id, str(f.location.path), f.location.member or "", f.evidence or f.message]
    )
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32] + ":1"


def artifact_location(
    file: str, base: PurePosixPath | None, cwd: PurePosixPath | None
) -> dict[str, Any]:
    """An ``artifactLocation`` for ``file`` (as :meth:`Location.file` names it).

    With ``base`` (the repository root) and ``cwd`` (the folder ``file`` is relative to), both
    absolute, a file inside the repository is a URI relative to ``%SRCROOT%``, which GitHub
    code scanning resolves against the repository; a file outside it is an absolute
    ``file://`` URI. Without them, ``file`` is taken as it is.
    """
    if base is None or cwd is None:
        return {"uri": _uri(file), "uriBaseId": "%SRCROOT%"}
    absolute = PurePosixPath(posixpath.normpath(posixpath.join(cwd, file)))
    try:
        relative = absolute.relative_to(base)
    except ValueError:
        return {"uri": "file://" + _uri(str(absolute))}
    return {"uri": _uri(str(relative)), "uriBaseId": "%SRCROOT%"}


def _result(
    f: Finding,
    rule_index: dict[str, int],
    base: PurePosixPath | None,
    cwd: PurePosixPath | None,
) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": artifact_location(f.location.file(), base, cwd)}
    if f.location.offset is not None:
        physical["region"] = {"byteOffset": f.location.offset, "byteLength": 1}
    message = f.message
    if f.location.member:
        message += f" (member {f.location.member})"
    if f.evidence:
        message += f" Evidence: {f.evidence}"
    result: dict[str, Any] = {
        "ruleId": f.rule_id,
        "ruleIndex": rule_index[f.rule_id],
        "level": LEVELS[f.severity],
        "message": {"text": message},
        "locations": [{"physicalLocation": physical}],
        "partialFingerprints": {"primaryLocationLineHash": fingerprint(f)},
        "properties": {
            "severity": f.severity.label,
            "confidence": f.confidence.label,
            "security-severity": SECURITY_SEVERITY[f.severity],
        },
    }
    if f.location.member:
        result["properties"]["member"] = f.location.member
    return result


def _uri(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="/")


class SarifFormatter(Formatter):
    """Renders a SARIF 2.1.0 log with one run.

    ``invocations[0].exitCode`` is the exit code the scan ends with under ``fail_on`` and
    ``strict`` (1 when the gate fails, else 0), so a SARIF consumer sees the gate's verdict.
    """

    def __init__(
        self,
        *,
        fail_on: Severity | None = Severity.MEDIUM,
        strict: bool = False,
        base: PurePosixPath | None = None,
        cwd: PurePosixPath | None = None,
    ) -> None:
        self.fail_on = fail_on
        self.strict = strict
        self.base = base
        """The repository root that ``%SRCROOT%`` stands for (absolute), when known."""
        self.cwd = cwd
        """The folder the report's file names are relative to (absolute), when known."""

    def render(self, report: ScanReport) -> str:
        """Return the SARIF document followed by a newline."""
        rules = sorted(RULES.values(), key=lambda r: r.id)
        rule_index = {rule.id: i for i, rule in enumerate(rules)}
        not_scanned = [
            {
                "uri": artifact_location(r.location.file(), self.base, self.cwd)["uri"],
                "reason": r.skipped,
            }
            for r in report.not_scanned
        ]
        log = {
            "$schema": SARIF_SCHEMA,
            "version": "2.1.0",
            "runs": [
                {
                    "tool": {
                        "driver": {
                            "name": "mlchain",
                            "version": report.tool_version,
                            "semanticVersion": report.tool_version,
                            "informationUri": INFORMATION_URI,
                            "rules": [_rule_descriptor(rule) for rule in rules],
                        }
                    },
                    "automationDetails": {"id": "mlchain/scan/"},
                    "invocations": [
                        {
                            "executionSuccessful": True,
                            "exitCode": int(report.exceeds(self.fail_on, strict=self.strict)),
                        }
                    ],
                    "originalUriBaseIds": {"%SRCROOT%": {"uri": self._srcroot()}},
                    "results": [
                        _result(f, rule_index, self.base, self.cwd) for f in report.findings
                    ]
                    + [
                        {
                            **_result(x.finding, rule_index, self.base, self.cwd),
                            # SARIF's own record of a reviewed suppression (GitHub shows the
                            # alert as dismissed, with the justification).
                            "suppressions": [
                                {"kind": "external", "justification": f"{x.by}: {x.reason}"}
                            ],
                        }
                        for x in report.suppressed
                    ],
                    "properties": {
                        "schema_version": report.schema_version,
                        "allowlist_additions": list(report.allowlist_additions),
                        "pickleallowlist_version": report.allowlist_version,
                        "not_scanned": not_scanned,
                        "roots": list(report.roots),
                        **{f"mlchain.{k}": v for k, v in sorted(report.metadata.items())},
                    },
                }
            ],
        }
        return dumps(log) + "\n"

    def _srcroot(self) -> str:
        if self.base is None:
            return "./"
        return "file://" + _uri(str(self.base)).rstrip("/") + "/"
