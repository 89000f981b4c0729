"""The scanner seam: what a scanner receives and what it must return.

A scanner is any object with ``scan(artifact, ctx) -> Iterable[Finding | Skip]``. Scanners parse
bytes; they never deserialize or execute model content. Malformed input becomes a finding (usually
``parse-error`` or a format-specific rule), never an exception: the pipeline turns an escaping
exception into a ``scanner-error`` finding as a last line of defence, which is a bug to fix. A
scanner that finds it cannot judge a file at all yields a :class:`Skip` with the reason, and the
file is reported as not scanned.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeAlias

from mlchain.models import ArtifactFormat, Confidence, Finding, Location, Severity
from mlchain.rules import get_rule
from mlchain.sanitize import clean

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB


@dataclass(frozen=True, slots=True)
class Limits:
    """Resource bounds for one file. Hitting one is a ``scan-limit-exceeded`` finding."""

    max_pickle_bytes: int = 1 * GiB
    """Largest pickle stream read into memory (the pickle part only, never tensor storages)."""
    max_opcodes: int = 50_000_000
    max_memo: int = 1_000_000
    max_stack: int = 1_000_000
    max_nesting: int = 4
    """Depth of nested pickles and archives within archives."""
    max_decompressed_bytes: int = 4 * GiB
    max_ratio: int = 1_000
    """Largest decompressed/compressed size ratio of one stream before it is a bomb."""
    max_members: int = 100_000
    max_header_bytes: int = 100 * MiB
    """Largest safetensors/GGUF/JSON header read."""
    max_files: int = 1_000_000
    max_seconds_per_file: float = 120.0


@dataclass(frozen=True, slots=True)
class ScanOptions:
    """What the caller asked for; built by the CLI, passed unchanged to every worker."""

    limits: Limits = field(default_factory=Limits)
    allow_globals: frozenset[str] = frozenset()
    """Extra ``module.qualname`` globals the user allowed explicitly (flag or policy)."""
    jobs: int = 0
    """Worker processes; 0 picks the number of usable cores."""
    follow_symlinks_inside_root: bool = True
    cache_dir: Path | None = None
    """Opt-in result cache folder (``--cache``); see :mod:`mlchain.scan.cache`."""
    exclude: tuple[str, ...] = ()
    """gitignore-syntax patterns (``--exclude``, ``.mlchainignore``) matched against each file as
    reports name it (relative to the current folder); matching files are listed, not scanned."""
    executor: str = "local"
    """Where the per-file work runs: ``local`` (this process and its pool) or ``ray`` (a Ray
    cluster; see :mod:`mlchain.scan.executors`). Results are identical either way."""


@dataclass(frozen=True, slots=True)
class Artifact:
    """One regular file to scan."""

    path: Path
    """Filesystem path to open."""
    location: Location
    """Path relative to the scan root, for every report."""
    root: Path
    """The scan root (the model folder); scanners use it to judge references that escape it."""
    size: int
    format: ArtifactFormat
    head: bytes = b""
    """The first bytes detection read (up to 64 KiB); the whole file when ``len(head) == size``."""


@dataclass(slots=True)
class ScanContext:
    """Per-file context: options plus a deadline that scanners check in long loops."""

    options: ScanOptions
    started: float = field(default_factory=time.monotonic)

    @property
    def limits(self) -> Limits:
        """Shortcut to ``options.limits``."""
        return self.options.limits

    def out_of_time(self) -> bool:
        """Whether this file's wall-time budget is spent."""
        return time.monotonic() - self.started > self.options.limits.max_seconds_per_file


@dataclass(frozen=True, slots=True)
class Skip:
    """Yielded by a scanner that did not scan the file: it is reported as not scanned."""

    reason: str
    """Shown to the user as the reason (``ScanResult.skipped``)."""


Outcome: TypeAlias = "Finding | Skip"
"""What a scanner yields."""


class Scanner(Protocol):
    """A format scanner. Stateless; one instance serves every file of its formats."""

    def scan(self, artifact: Artifact, ctx: ScanContext) -> Iterable[Outcome]:
        """Yield the findings for ``artifact`` (or a :class:`Skip`); never raise for content."""
        ...


def finding(
    rule_id: str,
    message: str,
    location: Location,
    *,
    evidence: str | None = None,
    severity: Severity | None = None,
    confidence: Confidence = Confidence.HIGH,
) -> Finding:
    """Build a finding with the rule's default severity, sanitising message and evidence."""
    rule = get_rule(rule_id)
    return Finding(
        rule_id=rule.id,
        severity=rule.severity if severity is None else severity,
        confidence=confidence,
        message=clean(message, limit=400),
        location=location,
        evidence=None if evidence is None else clean(evidence),
    )
