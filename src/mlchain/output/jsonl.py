"""JSON Lines: one object per line, written as results arrive (``scan -f jsonl``).

Every line is a JSON object with a ``type``:

- ``result``: one file, the same object as an entry of the JSON report's ``results`` (plus
  ``source``, the pinned ``hf://`` reference, for a file of a Hub repository);
- ``suppressed``: a finding a reviewed suppression or the baseline took out, as in ``suppressed``;
- ``summary``: always the last line: ``schema_version``, ``tool``, ``roots``,
  ``allowlist_additions``, ``metadata`` and ``summary`` as in the JSON report.

A stream without a final ``summary`` line was cut short. :class:`JsonlWriter` keeps only counters,
so a million results never sit in memory; :class:`JsonlFormatter` renders a whole report the same
way (``scan -f jsonl`` of an ``hf://`` reference).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import IO, Any

from mlchain.models import ScanReport, ScanResult, Severity, Suppressed
from mlchain.output.base import CLEAN_DISCLAIMER, Formatter

__all__ = ["JsonlFormatter", "JsonlWriter"]


def _line(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n"


class JsonlWriter:
    """Writes result lines to ``stream`` as they come and a summary line at the end."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self.files = 0
        self.not_scanned = 0
        self.counts = dict.fromkeys(Severity, 0)
        self.max_severity: Severity | None = None

    def result(self, result: ScanResult, *, source: str | None = None) -> None:
        """Write one result line and count it (``source``: the ``hf://`` reference it is from)."""
        from mlchain.report import result_to_dict

        self.files += 1
        self.not_scanned += result.skipped is not None
        for item in result.findings:
            self.counts[item.severity] += 1
        worst = result.max_severity
        if worst is not None and (self.max_severity is None or worst > self.max_severity):
            self.max_severity = worst
        extra = {"source": source} if source is not None else {}
        self._stream.write(_line({"type": "result", **extra, **result_to_dict(result)}))

    def suppressed(self, items: Iterable[Suppressed]) -> None:
        """Write one line per suppressed finding."""
        from mlchain.report import finding_to_dict

        for s in items:
            document = {"finding": finding_to_dict(s.finding), "by": s.by, "reason": s.reason}
            self._stream.write(_line({"type": "suppressed", **document}))

    def exceeds(self, threshold: Severity | None, *, strict: bool = False) -> bool:
        """The gate, as :meth:`ScanReport.exceeds` decides it, from the counters."""
        if strict and self.not_scanned:
            return True
        return threshold is not None and any(n for s, n in self.counts.items() if s >= threshold)

    def summary(
        self,
        *,
        roots: Iterable[str],
        tool_version: str,
        allowlist_version: str,
        allowlist_additions: Iterable[str] = (),
        metadata: dict[str, str] | None = None,
    ) -> None:
        """Write the closing summary line."""
        from mlchain.models import SCHEMA_VERSION

        found = any(self.counts.values())
        self._stream.write(
            _line(
                {
                    "type": "summary",
                    "schema_version": SCHEMA_VERSION,
                    "tool": {
                        "name": "mlchain",
                        "version": tool_version,
                        "pickleallowlist_version": allowlist_version,
                    },
                    "roots": list(roots),
                    "allowlist_additions": list(allowlist_additions),
                    "metadata": dict(sorted((metadata or {}).items())),
                    "summary": {
                        "files": self.files,
                        "not_scanned": self.not_scanned,
                        "findings": {s.label: self.counts[s] for s in reversed(Severity)},
                        "max_severity": None
                        if self.max_severity is None
                        else self.max_severity.label,
                        "verdict": "findings" if found else CLEAN_DISCLAIMER,
                    },
                }
            )
        )


class JsonlFormatter(Formatter):
    """Renders a whole report as JSON Lines (the streaming writer's output for that report)."""

    def render(self, report: ScanReport) -> str:
        """Return the result lines, the suppressed lines and the summary line."""
        import io

        buffer = io.StringIO()
        writer = JsonlWriter(buffer)
        for result in report.results:
            writer.result(result)
        writer.suppressed(report.suppressed)
        writer.summary(
            roots=report.roots,
            tool_version=report.tool_version,
            allowlist_version=report.allowlist_version,
            allowlist_additions=report.allowlist_additions,
            metadata=report.metadata,
        )
        return buffer.getvalue()
