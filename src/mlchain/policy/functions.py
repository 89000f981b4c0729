"""mlchain's own CEL functions, registered as custom functions in every policy evaluation.

common-expression-language implements core CEL only; these helpers cover what model policies
need most. Each is pure, never touches the file system, and raises ``TypeError``/``ValueError``
on arguments of the wrong shape: the expression then fails, and a failed expression DENIES.

Documented in ``docs/policy.md`` (keep the two in sync; a test checks every name is mentioned).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from mlchain.models import Severity


def _severity(value: Any, what: str) -> Severity:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a severity string, got {type(value).__name__}")
    try:
        return Severity.parse(value)
    except ValueError as exc:
        raise ValueError(f"{what}: {exc}") from None


def severity_at_least(severity: Any, threshold: Any) -> bool:
    """Whether ``severity`` (a severity name, or null for "no finding") is at least ``threshold``.

    ``severity_at_least(scan.summary.max_severity, "high")`` is false for a clean report.
    """
    limit = _severity(threshold, "threshold")
    if severity is None:
        return False
    return _severity(severity, "severity") >= limit


def _results(scan: Any) -> list[dict[str, Any]]:
    if not isinstance(scan, dict) or not isinstance(scan.get("results"), list):
        raise TypeError("expected an mlchain scan report (a map with a 'results' list)")
    results: list[dict[str, Any]] = scan["results"]
    if not all(isinstance(r, dict) for r in results):
        raise TypeError("scan report results must be maps")
    return results


def findings(scan: Any) -> list[dict[str, Any]]:
    """Every finding of a scan report, flattened across files, in report order."""
    out: list[dict[str, Any]] = []
    for result in _results(scan):
        items = result.get("findings", [])
        if not isinstance(items, list) or not all(isinstance(f, dict) for f in items):
            raise TypeError("scan report findings must be a list of maps")
        out.extend(items)
    return out


def max_severity(scan: Any) -> str | None:
    """The highest finding severity in a scan report, recomputed from its findings (or null).

    Computed from the findings rather than read from ``summary`` so a hand-edited summary does
    not change the answer. An unknown severity string counts as ``critical`` (fail closed).
    """
    worst: Severity | None = None
    for item in findings(scan):
        try:
            severity = _severity(item.get("severity"), "finding severity")
        except (TypeError, ValueError):
            severity = Severity.CRITICAL
        worst = severity if worst is None else max(worst, severity)
    return None if worst is None else worst.label


@lru_cache(maxsize=256)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """Compile a path glob: ``*`` and ``?`` stay within one path segment, ``**`` crosses them.

    ``[abc]`` classes are supported (``[!abc]`` negates); a leading ``**/`` also matches at the
    top level, so ``**/*.py`` matches ``setup.py`` and ``src/x.py``.
    """
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            end = pattern.find("]", i + 2 if pattern.startswith("[!", i) else i + 1)
            if end == -1:
                out.append(re.escape(c))
                i += 1
                continue
            body = pattern[i + 1 : end]
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end + 1
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out), re.DOTALL)


def matches_glob(path: Any, pattern: Any) -> bool:
    """Whether the slash-separated ``path`` matches the glob ``pattern`` as a whole."""
    if not isinstance(path, str) or not isinstance(pattern, str):
        raise TypeError("matches_glob(path, pattern) takes two strings")
    try:
        regex = glob_regex(pattern)
    except re.error as exc:
        raise ValueError(f"bad glob {pattern!r}: {exc}") from None
    return regex.fullmatch(path) is not None


def licenses(sbom: Any) -> list[str]:
    """Licence ids, names or expressions of every component of a CycloneDX BOM.

    Looks at ``metadata.component`` and ``components`` (nested components included). A
    component without any licence contributes the string ``"NOASSERTION"``, so an allowlist
    check such as ``licenses(sbom).all(l, l in [...])`` fails closed on undeclared licences.
    """
    if not isinstance(sbom, dict):
        raise TypeError("licenses() expects a CycloneDX BOM (a map)")
    found: list[str] = []
    stack: list[Any] = []
    metadata = sbom.get("metadata")
    if isinstance(metadata, dict) and metadata.get("component") is not None:
        stack.append(metadata["component"])
    components = sbom.get("components", [])
    if not isinstance(components, list):
        raise TypeError("BOM components must be a list")
    stack.extend(components)
    while stack:
        component = stack.pop(0)
        if not isinstance(component, dict):
            raise TypeError("BOM components must be maps")
        names = _component_licenses(component)
        found.extend(names or ["NOASSERTION"])
        nested = component.get("components", [])
        if isinstance(nested, list):
            stack.extend(nested)
    return found


def _component_licenses(component: dict[str, Any]) -> list[str]:
    names: list[str] = []
    entries = component.get("licenses", [])
    if not isinstance(entries, list):
        return names
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        if isinstance(entry.get("expression"), str):
            names.append(entry["expression"])
        lic = entry.get("license")
        if isinstance(lic, dict):
            value = lic.get("id") or lic.get("name")
            if isinstance(value, str):
                names.append(value)
    return names


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "severity_at_least": severity_at_least,
    "max_severity": max_severity,
    "findings": findings,
    "matches_glob": matches_glob,
    "licenses": licenses,
}
"""Name -> implementation, as registered in the CEL context."""
