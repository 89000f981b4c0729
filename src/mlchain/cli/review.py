"""Excludes, suppressions and baselines for ``mlchain scan`` (see :mod:`mlchain.suppress`).

The project's files are read from the current folder (where CI runs, the repository root), never
from inside the scanned paths: a model's author must not be able to ship the ignore file that
hides the model's own payload.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from mlchain.cli import console
from mlchain.errors import UsageError
from mlchain.models import ScanReport, ScanResult

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


def apply_review(
    report: ScanReport, config: Path | None, baseline: Path | None
) -> tuple[ScanReport, int]:
    """Apply the suppression file and the baseline; return the report and the expired count.

    Raises:
        UsageError: on a malformed or unreadable suppression file or baseline.
    """
    from mlchain.suppress import apply, baseline_keys, file_sha256, find_config, load_suppressions

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
    if not entries and keys is None:
        return report, 0

    def digest(result: ScanResult) -> str | None:
        if result.sha256 is not None:
            return result.sha256
        if result.location.root is None:
            return None
        return file_sha256(Path(result.location.root) / str(result.location.path))

    outcome = apply(report, entries, today=dt.date.today(), baseline=keys, digest=digest)
    for entry in outcome.expired:
        console.error(
            f"suppression {entry.source} ({entry.rule} on {entry.path}) expired on "
            f"{entry.expires}; it no longer applies. Review it: renew its `expires` date or "
            "remove it."
        )
    return outcome.report, len(outcome.expired)
