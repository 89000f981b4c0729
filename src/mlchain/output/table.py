"""Human output with rich: one row per finding, then the not-scanned files."""

from __future__ import annotations

import io

from mlchain.models import ScanReport, Severity
from mlchain.output.base import CLEAN_DISCLAIMER, Formatter

STYLES = {
    Severity.INFO: "dim",
    Severity.LOW: "cyan",
    Severity.MEDIUM: "yellow",
    Severity.HIGH: "red",
    Severity.CRITICAL: "bold red",
}


class TableFormatter(Formatter):
    """Renders findings as a table. Colour is decided by the console that prints the text."""

    def __init__(self, *, color: bool = False, width: int = 120) -> None:
        self.color = color
        self.width = width

    def render(self, report: ScanReport) -> str:
        """Return the table as text (ANSI colour only when ``color`` is set)."""
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        buffer = io.StringIO()
        console = Console(
            file=buffer,
            width=self.width,
            force_terminal=self.color,
            no_color=not self.color,
            highlight=False,
            emoji=False,
        )
        findings = report.findings
        if findings:
            table = Table(show_lines=False, expand=False)
            for column in ("severity", "rule", "location", "message"):
                table.add_column(column, overflow="fold")
            for f in findings:
                message = f.message + (f"\n{f.evidence}" if f.evidence else "")
                table.add_row(
                    Text(f.severity.label, style=STYLES[f.severity]),
                    Text(f.rule_id),
                    Text(f.location.display()),
                    Text(message),  # Text() never interprets markup from artifacts
                )
            console.print(table)
        else:
            console.print(Text(f"{len(report.results)} file(s): {CLEAN_DISCLAIMER}."))
        skipped = report.not_scanned
        if skipped:
            console.print(Text(f"Not scanned ({len(skipped)}):", style="bold"))
            for r in skipped:
                console.print(Text(f"  {r.location.display()}: {r.skipped}"))
        if "hf_commit" in report.metadata:
            source = report.metadata.get("hf_uri") or report.metadata.get("hf_repo", "")
            console.print(Text(f"Source: {source} at commit {report.metadata['hf_commit']}"))
        if report.allowlist_additions:
            allowed = ", ".join(report.allowlist_additions)
            console.print(Text(f"Allowed by the user: {allowed}"))
        return buffer.getvalue()


def summary_line(report: ScanReport) -> str:
    """One line for stderr: counts per severity and files not scanned."""
    counts = report.counts()
    parts = [f"{counts[s]} {s.label}" for s in reversed(Severity) if counts[s]]
    text = f"scanned {len(report.results)} file(s): "
    text += ", ".join(parts) if parts else "no findings"
    if report.not_scanned:
        text += f"; {len(report.not_scanned)} not scanned"
    if not parts:
        text += f" ({CLEAN_DISCLAIMER})"
    return text
