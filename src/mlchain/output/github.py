"""GitHub Actions workflow commands (``::error file=...::message``) and a job-summary table.

Each finding becomes one annotation on the file (``error`` for high and critical, ``warning`` for
medium, ``notice`` below). Workflow commands are parsed from the step's output, so every value
taken from an artifact is escaped as the runner expects (``%``, CR and LF in the message; also
``:`` and ``,`` in properties): a hostile file name cannot inject a command of its own.
"""

from __future__ import annotations

from mlchain.models import Finding, ScanReport, Severity
from mlchain.output.base import CLEAN_DISCLAIMER, Formatter

_COMMAND = {
    Severity.INFO: "notice",
    Severity.LOW: "notice",
    Severity.MEDIUM: "warning",
    Severity.HIGH: "error",
    Severity.CRITICAL: "error",
}


def escape_data(text: str) -> str:
    """Escape a workflow command's message."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a workflow command's property value."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


class GithubFormatter(Formatter):
    """Renders findings as workflow-command annotations, one line each."""

    def render(self, report: ScanReport) -> str:
        """Return the annotation lines (a notice when nothing was found)."""
        lines = [self._annotation(f) for f in report.findings]
        for result in report.not_scanned:
            path = escape_property(str(result.location.path))
            lines.append(
                f"::notice file={path},title=not scanned::{escape_data(result.skipped or '')}"
            )
        if not report.findings:
            lines.append(f"::notice title=mlchain::{escape_data(CLEAN_DISCLAIMER)}")
        return "\n".join(lines) + "\n"

    @staticmethod
    def _annotation(finding: Finding) -> str:
        where = finding.location
        title = f"{finding.rule_id} ({finding.severity.label})"
        text = finding.message
        if where.member:
            text += f" [in {where.member}]"
        if finding.evidence:
            text += f": {finding.evidence}"
        return (
            f"::{_COMMAND[finding.severity]} file={escape_property(str(where.path))},"
            f"title={escape_property(title)}::{escape_data(text)}"
        )


def job_summary(report: ScanReport, *, fail_on: Severity | None) -> str:
    """A Markdown job summary (for ``$GITHUB_STEP_SUMMARY``): counts and a table of findings."""
    counts = report.counts()
    gate = "never" if fail_on is None else fail_on.label
    failed = report.exceeds(fail_on)
    verdict = "failed" if failed else "passed"
    lines = [
        "## mlchain scan",
        "",
        f"**{verdict}** (gate: `--fail-on {gate}`): {len(report.results)} file(s) scanned, "
        + ", ".join(f"{counts[s]} {s.label}" for s in reversed(Severity)),
        "",
    ]
    if report.findings:
        lines += ["| severity | rule | location | message |", "|---|---|---|---|"]
        for f in sorted(report.findings, key=lambda f: (-int(f.severity), f.sort_key())):
            cells = [
                _cell(c) for c in (f.severity.label, f.rule_id, f.location.display(), f.message)
            ]
            cells[1] = f"`{cells[1]}`"
            lines.append("| " + " | ".join(cells) + " |")
    else:
        lines.append(f"_{CLEAN_DISCLAIMER}._")
    if report.not_scanned:
        lines += ["", f"{len(report.not_scanned)} file(s) not scanned."]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    """Make text safe inside a Markdown table cell (no pipes, no newlines, no raw HTML)."""
    return (
        text.replace("\\", "\\\\")
        .replace("|", "\\|")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\n", " ")
        .replace("`", "'")
    )
