"""Human output with rich: findings worst first, then the files that were not scanned.

Built to stay readable in any terminal and in CI logs:

* the width is the terminal's (``COLUMNS`` when set; 120 when stdout is not a terminal), and the
  table has no vertical borders, so narrow terminals never show broken box drawing;
* rows are sorted by severity, then file, member and offset;
* paths are wrapped only at ``/`` and ``!`` separators, and a token longer than its column (a
  digest, a long file name) loses its middle to ``…`` instead of being cut mid-token, so what
  is shown can be matched against the file system; the JSON report carries every value whole;
* evidence is labelled, on its own line under the message;
* ``min_severity`` hides findings below it from the table only: the gate (exit code) and every
  machine-readable format still see all of them.
"""

from __future__ import annotations

import io
import re
from typing import Any

from mlchain.models import Finding, ScanReport, Severity
from mlchain.output.base import CLEAN_DISCLAIMER, Formatter

STYLES = {
    Severity.INFO: "dim",
    Severity.LOW: "cyan",
    Severity.MEDIUM: "yellow",
    Severity.HIGH: "red",
    Severity.CRITICAL: "bold red",
}
_ELLIPSIS = "…"
_WIDE = 110
"""From this width on, severity and rule get columns of their own."""
_SEPARATORS = re.compile(r"(?<=[/!])")


def elide_middle(token: str, width: int) -> str:
    """Shorten ``token`` to ``width`` characters by replacing its middle with ``…``."""
    if len(token) <= width:
        return token
    if width <= 1:
        return _ELLIPSIS[:width]
    keep = width - 1
    return token[: (keep + 1) // 2] + _ELLIPSIS + token[len(token) - keep // 2 :]


def wrap_path(path: str, width: int) -> str:
    """Break ``path`` into lines of at most ``width`` characters, only after ``/`` or ``!``."""
    lines: list[str] = []
    line = ""
    for part in _SEPARATORS.split(path):
        if not part:
            continue
        if line and len(line) + len(part) > width:
            lines.append(line)
            line = ""
        line += part
    lines.append(line)
    return "\n".join(elide_middle(item, width) for item in lines)


def wrap_words(text: str, width: int) -> str:
    """Elide the middle of any whitespace-separated token longer than ``width``."""
    return " ".join(elide_middle(word, width) for word in text.split(" "))


class TableFormatter(Formatter):
    """Renders findings as a table. Colour is decided by the console that prints the text."""

    def __init__(
        self, *, color: bool = False, width: int = 120, min_severity: Severity | None = None
    ) -> None:
        self.color = color
        self.width = max(40, width)
        self.min_severity = min_severity

    def render(self, report: ScanReport) -> str:
        """Return the table as text (ANSI colour only when ``color`` is set)."""
        findings = sorted(report.findings, key=_worst_first)
        shown = [
            f for f in findings if self.min_severity is None or f.severity >= self.min_severity
        ]
        lines: list[tuple[str, str]] = []  # (text, rich style) printed after the table
        if shown:
            hidden = len(findings) - len(shown)
            if hidden:
                assert self.min_severity is not None
                lines.append(
                    (
                        f"{hidden} finding(s) below {self.min_severity.label} not shown "
                        "(--min-severity); they still count for --fail-on.",
                        "dim",
                    )
                )
        elif findings:
            assert self.min_severity is not None
            lines.append(
                (
                    f"{len(findings)} finding(s), all below {self.min_severity.label} "
                    "(--min-severity); they still count for --fail-on.",
                    "",
                )
            )
        else:
            scanned = len(report.results) - len(report.not_scanned)
            lines.append((f"{scanned} file(s) scanned: {CLEAN_DISCLAIMER}.", ""))
        if report.suppressed:
            lines.append(
                (
                    f"{len(report.suppressed)} finding(s) suppressed (by a reviewed suppression "
                    "or the baseline; listed in the JSON and SARIF reports).",
                    "dim",
                )
            )
        skipped = report.not_scanned
        if skipped:
            lines.append((f"Not scanned ({len(skipped)}):", "bold"))
            lines.extend((f"  {r.location.display()}: {r.skipped}", "") for r in skipped)
        if "hf_commit" in report.metadata:
            source = report.metadata.get("hf_uri") or report.metadata.get("hf_repo", "")
            lines.append((f"Source: {source} at commit {report.metadata['hf_commit']}", ""))
        if report.allowlist_additions:
            allowed = ", ".join(report.allowlist_additions)
            lines.append((f"Allowed by the user: {allowed}", ""))
        if not shown and not self.color and all(self._plain(text) for text, _ in lines):
            # What rich would print, without importing it (a clean scan's whole output; rich
            # costs about a fifth of a one-file scan). A test compares both on random lines.
            return "".join(f"{text}\n" for text, _ in lines)
        return self._rich(shown, lines)

    def _plain(self, text: str) -> bool:
        """Whether rich prints ``text`` unchanged: printable ASCII that needs no wrapping."""
        return len(text) <= self.width and text.isascii() and text.isprintable()

    def _rich(self, shown: list[Finding], lines: list[tuple[str, str]]) -> str:
        from rich.console import Console
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
        if shown:
            console.print(self._table(shown))
        for text, style in lines:
            console.print(Text(text, style=style))
        return buffer.getvalue()

    def _table(self, shown: list[Finding]) -> Any:
        """The findings table, laid out for ``self.width`` columns.

        Wide terminals get severity | rule | location | message; below 110 columns severity and
        rule share the first column (two lines), so location and message keep room to read.
        """
        from rich import box
        from rich.table import Table
        from rich.text import Text

        rule_width = max(len(f.rule_id) for f in shown)
        stacked = self.width < _WIDE
        columns = 3 if stacked else 4
        # No outer edge, one padding space each side of a cell except at the table's edges, one
        # divider between columns: 2 * columns - 2 + columns - 1.
        overhead = 3 * columns - 3
        first = max(rule_width, 8) if stacked else 8 + 3 + rule_width
        rest = max(32, self.width - overhead - first)
        location_width = max(16, rest * 2 // 5)
        message_width = max(16, rest - location_width)
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=False)
        if stacked:
            table.add_column("finding", no_wrap=True)
        else:
            table.add_column("severity", no_wrap=True, min_width=8)
            table.add_column("rule", no_wrap=True)
        table.add_column("location", width=location_width, overflow="fold")
        table.add_column("message", width=message_width, overflow="fold")
        for f in shown:
            message = Text(wrap_words(f.message, message_width))
            if f.evidence:
                message.append("\nevidence: ", style="dim")
                message.append(wrap_words(f.evidence, message_width))
            severity = Text(f.severity.label, style=STYLES[f.severity])
            head = (
                [Text.assemble(severity, "\n", f.rule_id)]
                if stacked
                else [severity, Text(f.rule_id)]
            )
            table.add_row(
                *head,
                Text(wrap_path(f.location.display(), location_width)),
                message,  # Text() never interprets markup from artifacts
            )
        return table


def _worst_first(f: Finding) -> tuple[int, str, str, int, str]:
    loc = f.location
    offset = loc.offset if loc.offset is not None else -1
    return (-int(f.severity), loc.file(), loc.member or "", offset, f.rule_id)


def summary_line(report: ScanReport) -> str:
    """One line for stderr: counts per severity and files not scanned."""
    counts = report.counts()
    parts = [f"{counts[s]} {s.label}" for s in reversed(Severity) if counts[s]]
    text = f"scanned {len(report.results)} file(s): "
    text += ", ".join(parts) if parts else "no findings"
    if report.not_scanned:
        text += f"; {len(report.not_scanned)} not scanned"
    if report.suppressed:
        text += f"; {len(report.suppressed)} suppressed"
    if not parts:
        text += f" ({CLEAN_DISCLAIMER})"
    return text
