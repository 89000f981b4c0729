"""Reviewed suppressions and baselines: silence known findings without hiding new ones.

A suppression names a rule, a path glob (gitignore syntax, matched against the file as reports
show it) and a reason; optionally an expiry date and the file's sha256. Suppressions live in
``.mlchain.yaml`` (or a ``[tool.mlchain]`` table in ``pyproject.toml``) in the project folder, or
in a file given with ``--config``; never inside the scanned model, whose author is the party the
scan is about. A baseline is a saved ``scan -f json`` report: findings it already had are not
new.

Limits that keep a suppression from becoming a bypass:

* every suppressed finding stays in the report, in ``suppressed``, with what suppressed it;
* an expired suppression suppresses nothing, and the run fails until it is renewed or removed;
* a **critical** finding is suppressed only by an entry that names that exact file (no glob
  characters) and that file's sha256 as it is now; a baseline never hides a critical finding
  unless its result recorded the same sha256. A changed file is judged again.
"""

from __future__ import annotations

import datetime as dt
import posixpath
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mlchain.errors import UsageError
from mlchain.models import Finding, ScanReport, ScanResult, Severity, Suppressed

CONFIG_NAMES = (".mlchain.yaml", ".mlchain.yml")
_GLOB_CHARS = re.compile(r"[*?\[\]!]")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
MAX_CONFIG_BYTES = 1 << 20


class SuppressionError(UsageError):
    """The suppression file or baseline is malformed (exit 2)."""

    hint = (
        "Fix the file: each suppression needs `rule`, `path` and `reason`, optionally `expires` "
        "(YYYY-MM-DD) and `sha256` (see docs/suppressions.md)."
    )


@dataclass(frozen=True, slots=True)
class Suppression:
    """One reviewed entry: this rule, on files matching this glob, for this reason."""

    rule: str
    path: str
    reason: str
    source: str
    """Where the entry was written (``.mlchain.yaml#3``), for the report."""
    expires: dt.date | None = None
    sha256: str | None = None

    @property
    def exact(self) -> bool:
        """Whether ``path`` names one file (no glob characters)."""
        return _GLOB_CHARS.search(self.path) is None

    def expired(self, today: dt.date) -> bool:
        """Whether the entry is past its expiry date (it then suppresses nothing)."""
        return self.expires is not None and today > self.expires

    def matches(self, finding: Finding) -> bool:
        """Whether this entry covers ``finding`` by rule and path (not by digest)."""
        if finding.rule_id != self.rule:
            return False
        if self.exact:
            return finding.location.file() == posixpath.normpath(self.path)
        from pathspec import GitIgnoreSpec

        return bool(GitIgnoreSpec.from_lines([self.path]).match_file(finding.location.file()))


@dataclass(frozen=True, slots=True)
class Outcome:
    """The report with suppressed findings removed, and what was removed and why."""

    report: ScanReport
    suppressed: tuple[Suppressed, ...]
    expired: tuple[Suppression, ...]
    used: tuple[Suppression, ...]


def load_suppressions(path: Path) -> list[Suppression]:
    """Read ``suppressions:`` from a YAML file, or ``[tool.mlchain]`` from a pyproject.toml.

    Raises:
        SuppressionError: on anything malformed (unknown keys, unknown rule ids, bad dates).
    """
    from mlchain.inputfile import read_regular_file

    try:
        raw = read_regular_file(path, limit=MAX_CONFIG_BYTES)
    except (OSError, ValueError) as exc:  # unreadable, a FIFO or device, larger than 1 MiB
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise SuppressionError(f"Cannot read {path}: {reason}.") from exc
    text = raw.decode("utf-8", "replace")
    if path.name == "pyproject.toml":
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover - Python 3.10
            import tomli as tomllib

        try:
            table = tomllib.loads(text).get("tool", {}).get("mlchain", {})
        except tomllib.TOMLDecodeError as exc:
            raise SuppressionError(f"{path} is not valid TOML: {exc}.") from exc
    else:
        import yaml

        try:
            table = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise SuppressionError(f"{path} is not valid YAML: {exc}.") from exc
    if not isinstance(table, dict):
        raise SuppressionError(f"{path} must hold a mapping with a `suppressions` list.")
    unknown = set(table) - {"suppressions"}
    if unknown:
        raise SuppressionError(f"{path}: unknown key(s) {', '.join(sorted(map(str, unknown)))}.")
    entries = table.get("suppressions") or []
    if not isinstance(entries, list):
        raise SuppressionError(f"{path}: `suppressions` must be a list.")
    return [_entry(item, f"{path.name}#{i + 1}") for i, item in enumerate(entries)]


def _entry(item: Any, source: str) -> Suppression:
    from mlchain.rules import RULES

    if not isinstance(item, dict):
        raise SuppressionError(f"{source}: each suppression must be a mapping.")
    unknown = set(item) - {"rule", "path", "reason", "expires", "sha256"}
    if unknown:
        raise SuppressionError(f"{source}: unknown key(s) {', '.join(sorted(map(str, unknown)))}.")
    for key in ("rule", "path", "reason"):
        if not isinstance(item.get(key), str) or not item[key].strip():
            raise SuppressionError(f"{source}: `{key}` is required (a non-empty string).")
    if item["rule"] not in RULES:
        raise SuppressionError(f"{source}: unknown rule id {item['rule']!r}.")
    expires = item.get("expires")
    if isinstance(expires, str):
        try:
            expires = dt.date.fromisoformat(expires)
        except ValueError as exc:
            raise SuppressionError(f"{source}: `expires` must be YYYY-MM-DD.") from exc
    if expires is not None and not isinstance(expires, dt.date):
        raise SuppressionError(f"{source}: `expires` must be a date (YYYY-MM-DD).")
    digest = item.get("sha256")
    if digest is not None and (not isinstance(digest, str) or not _SHA256.match(digest)):
        raise SuppressionError(f"{source}: `sha256` must be 64 lower-case hex digits.")
    return Suppression(
        rule=item["rule"],
        path=item["path"].strip(),
        reason=item["reason"].strip(),
        source=source,
        expires=expires,
        sha256=digest,
    )


def find_config(folder: Path) -> Path | None:
    """The project's suppression file in ``folder``, or ``None`` when there is none.

    That is ``.mlchain.yaml`` (or ``.yml``), else a ``pyproject.toml`` with a ``[tool.mlchain]``
    table.
    """
    for name in CONFIG_NAMES:
        if (folder / name).is_file():
            return folder / name
    pyproject = folder / "pyproject.toml"
    if pyproject.is_file():
        try:
            if "[tool.mlchain]" in pyproject.read_text(encoding="utf-8", errors="replace"):
                return pyproject
        except OSError:
            return None
    return None


def baseline_keys(document: Any) -> dict[tuple[str, str, str, str], str | None]:
    """Finding keys of a saved JSON report, each with its file's sha256 when recorded.

    Raises:
        SuppressionError: if the document is not an mlchain scan report.
    """
    if not isinstance(document, dict) or not isinstance(document.get("results"), list):
        raise SuppressionError("The baseline is not an mlchain scan report (`scan -f json`).")
    keys: dict[tuple[str, str, str, str], str | None] = {}
    for result in document["results"]:
        try:
            location = result["location"]
            file = location.get("file") or location["path"]
            for f in result["findings"]:
                member = f["location"].get("member") or ""
                keys[(f["rule_id"], file, member, f.get("evidence") or f["message"])] = result.get(
                    "sha256"
                )
        except (KeyError, TypeError, AttributeError) as exc:
            raise SuppressionError("The baseline report is malformed.") from exc
    return keys


def _key(finding: Finding) -> tuple[str, str, str, str]:
    loc = finding.location
    return (finding.rule_id, loc.file(), loc.member or "", finding.evidence or finding.message)


def apply(
    report: ScanReport,
    suppressions: Iterable[Suppression],
    *,
    today: dt.date,
    baseline: dict[tuple[str, str, str, str], str | None] | None = None,
    digest: Callable[[ScanResult], str | None],
) -> Outcome:
    """Remove suppressed and baseline findings from ``report`` (keeping them in the outcome).

    ``digest`` returns a result's current sha256 (or ``None`` when it cannot be read); it is
    called only for results with a critical finding that an entry would suppress.
    """
    entries = list(suppressions)
    live = [s for s in entries if not s.expired(today)]
    expired = tuple(s for s in entries if s.expired(today))
    suppressed: list[Suppressed] = []
    used: dict[str, Suppression] = {}
    results: list[ScanResult] = []
    for result in report.results:
        keep: list[Finding] = []
        current: list[str | None] = []  # the digest, computed at most once per file

        def sha256(result: ScanResult = result, current: list[str | None] = current) -> str | None:
            if not current:
                current.append(digest(result))
            return current[0]

        for finding in result.findings:
            hit = _suppressed_by(finding, live, baseline, sha256)
            if hit is None:
                keep.append(finding)
                continue
            by, reason = hit
            suppressed.append(Suppressed(finding, by, reason))
            for entry in live:
                if entry.source == by:
                    used[by] = entry
        results.append(
            replace(result, findings=tuple(keep)) if len(keep) != len(result.findings) else result
        )
    return Outcome(
        report=replace(report, results=tuple(results), suppressed=tuple(suppressed)),
        suppressed=tuple(suppressed),
        expired=expired,
        used=tuple(used.values()),
    )


def _suppressed_by(
    finding: Finding,
    entries: list[Suppression],
    baseline: dict[tuple[str, str, str, str], str | None] | None,
    sha256: Callable[[], str | None],
) -> tuple[str, str] | None:
    critical = finding.severity >= Severity.CRITICAL
    for entry in entries:
        if not entry.matches(finding):
            continue
        if entry.sha256 is not None and entry.sha256 != sha256():
            continue  # the file changed since the review: judge it again
        if critical and (not entry.exact or entry.sha256 is None):
            continue
        return entry.source, entry.reason
    if baseline is not None:
        key = _key(finding)
        if key in baseline:
            recorded = baseline[key]
            if critical and (recorded is None or recorded != sha256()):
                return None
            return "baseline", "present in the baseline report"
    return None


def file_sha256(path: Path) -> str | None:
    """sha256 of a file (``None`` when it cannot be read)."""
    import hashlib  # only when a critical finding meets a suppression

    digest = hashlib.sha256()
    buffer = bytearray(1 << 20)
    view = memoryview(buffer)
    try:
        with path.open("rb", buffering=0) as handle:
            while n := handle.readinto(buffer):
                digest.update(view[:n])
    except OSError:
        return None
    return digest.hexdigest()
