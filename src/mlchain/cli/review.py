"""Excludes, suppressions and baselines for ``mlchain scan`` (see :mod:`mlchain.suppress`).

The project's files are read from the current folder (where CI runs, the repository root), never
from inside the scanned paths: a model's author must not be able to ship the ignore file that
hides the model's own payload.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlchain.cli import console
from mlchain.errors import UsageError
from mlchain.models import ScanReport, ScanResult

if TYPE_CHECKING:
    from mlchain.suppress import Suppression

IGNORE_FILE = ".mlchainignore"
MAX_IGNORE_BYTES = 1 << 20
MAX_BASELINE_BYTES = 256 << 20


def exclude_patterns(exclude: list[str] | None, ignore_file: Path | None) -> tuple[str, ...]:
    """``--exclude`` globs plus the lines of the ignore file (``.mlchainignore`` by default).

    Raises:
        UsageError: if a named ignore file cannot be read.
    """
    patterns = [p for p in exclude or () if p.strip()]
    path = ignore_file if ignore_file is not None else Path(IGNORE_FILE)
    if ignore_file is not None or path.is_file():
        from mlchain.inputfile import read_regular_file

        try:
            text = read_regular_file(path, limit=MAX_IGNORE_BYTES).decode("utf-8", "replace")
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise UsageError(
                f"Cannot read the ignore file {path}: {reason}.",
                hint="Check --ignore-file, or remove it to use ./.mlchainignore when present.",
            ) from exc
        patterns += [line for line in text.splitlines() if line.strip()]
    return tuple(patterns)


@dataclass(frozen=True, slots=True)
class Review:
    """The project's suppressions and the baseline, loaded once and applied to reports."""

    entries: list[Suppression]
    baseline: dict[tuple[str, str, str, str], str | None] | None

    def apply(self, report: ScanReport) -> ScanReport:
        """``report`` with suppressed findings moved to ``report.suppressed``."""
        from mlchain.suppress import apply

        return apply(
            report, self.entries, today=dt.date.today(), baseline=self.baseline, digest=_digest
        ).report


def load_review(config: Path | None, baseline: Path | None) -> tuple[Review | None, int]:
    """Load the suppression file and the baseline; report expired entries once.

    Returns the review (``None`` when there is nothing to apply) and the number of expired
    suppressions, which fail the run.

    Raises:
        UsageError: on a malformed or unreadable suppression file or baseline.
    """
    from mlchain.suppress import baseline_keys, find_config, load_suppressions

    config = config if config is not None else find_config(Path.cwd())
    entries = load_suppressions(config) if config is not None else []
    keys = None
    if baseline is not None:
        from mlchain.inputfile import read_regular_file

        try:
            document = json.loads(read_regular_file(baseline, limit=MAX_BASELINE_BYTES))
        except (OSError, ValueError) as exc:  # unreadable, special file, too large, not JSON
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise UsageError(
                f"Cannot use the baseline {baseline}: {reason}.",
                hint="--baseline takes a report saved by `mlchain scan -f json -o FILE`.",
            ) from exc
        keys = baseline_keys(document)
    today = dt.date.today()
    expired = [entry for entry in entries if entry.expired(today)]
    for entry in expired:
        console.error(
            f"suppression {entry.source} ({entry.rule} on {entry.path}) expired on "
            f"{entry.expires}; it no longer applies. Review it: renew its `expires` date or "
            "remove it."
        )
    if not entries and keys is None:
        return None, 0
    return Review(entries, keys), len(expired)


def apply_review(
    report: ScanReport, config: Path | None, baseline: Path | None
) -> tuple[ScanReport, int]:
    """Apply the suppression file and the baseline; return the report and the expired count.

    Raises:
        UsageError: on a malformed or unreadable suppression file or baseline.
    """
    review, expired = load_review(config, baseline)
    return (review.apply(report) if review is not None else report), expired


def _digest(result: ScanResult) -> str | None:
    """A result's current sha256, for suppressions of critical findings (read on demand)."""
    from mlchain.suppress import file_sha256

    if result.sha256 is not None:
        return result.sha256
    if result.location.root is None:
        return None
    return file_sha256(Path(result.location.root) / str(result.location.path))
