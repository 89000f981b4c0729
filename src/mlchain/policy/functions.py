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


_LITERAL, _ONE, _STAR, _ANY, _DIRS, _CLASS = range(6)


@lru_cache(maxsize=256)
def _glob_tokens(pattern: str) -> tuple[tuple[int, str, bool], ...]:
    """Parse a glob into ``(kind, characters, negated)`` tokens."""
    out: list[tuple[int, str, bool]] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append((_DIRS, "", False))
            i += 3
        elif pattern.startswith("**", i):
            out.append((_ANY, "", False))
            i += 2
        elif c == "*":
            out.append((_STAR, "", False))
            i += 1
        elif c == "?":
            out.append((_ONE, "", False))
            i += 1
        elif c == "[":
            negated = pattern.startswith("[!", i)
            end = pattern.find("]", i + 2 if negated else i + 1)
            if end == -1:
                out.append((_LITERAL, c, False))
                i += 1
                continue
            body = pattern[i + (2 if negated else 1) : end]
            chars: set[str] = set()
            k = 0
            while k < len(body):
                if k + 2 < len(body) and body[k + 1] == "-":
                    lo, hi = body[k], body[k + 2]
                    if lo > hi:
                        raise ValueError(f"bad range {lo}-{hi} in [{body}]")
                    chars.update(chr(x) for x in range(ord(lo), ord(hi) + 1))
                    k += 3
                else:
                    chars.add(body[k])
                    k += 1
            out.append((_CLASS, "".join(sorted(chars)), negated))
            i = end + 1
        else:
            out.append((_LITERAL, c, False))
            i += 1
    return tuple(out)


def _glob_match(tokens: tuple[tuple[int, str, bool], ...], path: str) -> bool:
    r"""Simulate the glob as an NFA over ``path``: time O(len(path) * len(tokens)), no backtracking.

    A regular expression such as ``[^/]*\.[^/]*\.[^/]*\.pt`` backtracks polynomially on a name
    made of many dots; attacker-chosen file names reach ``matches_glob`` (mlchain issue #15,
    item 9), so the match is a set-of-states simulation instead. State ``2*i`` is "at token
    ``i``"; ``2*i+1`` is "inside a ``**/`` token, which must still end on a slash".
    """
    end = 2 * len(tokens)

    def closure(states: set[int]) -> set[int]:
        stack = list(states)
        while stack:
            state = stack.pop()
            if state % 2 or state == end:
                continue
            kind = tokens[state // 2][0]
            if kind in (_STAR, _ANY, _DIRS) and state + 2 not in states:
                states.add(state + 2)  # the token may match the empty string
                stack.append(state + 2)
        return states

    current = closure({0})
    for char in path:
        following: set[int] = set()
        for state in current:
            if state == end:
                continue
            kind, chars, negated = tokens[state // 2]
            if state % 2:  # inside "**/": anything; a slash may close it
                following.add(state)
                if char == "/":
                    following.add(state + 1)
            elif kind == _LITERAL:
                if char == chars:
                    following.add(state + 2)
            elif kind == _ONE:
                if char != "/":
                    following.add(state + 2)
            elif kind == _CLASS:
                if (char in chars) != negated:
                    following.add(state + 2)
            elif kind == _STAR:
                if char != "/":
                    following.add(state)
            elif kind == _ANY:
                following.add(state)
            else:  # _DIRS entered with one character
                following.add(state + 1)
                if char == "/":
                    following.add(state + 2)
        if not following:
            return False
        current = closure(following)
    return end in current


def glob_regex(pattern: str) -> re.Pattern[str]:
    """The glob as a Python regular expression (documentation and differential tests only).

    ``*`` and ``?`` stay within one path segment, ``**`` crosses them, ``[abc]`` classes are
    supported (``[!abc]`` negates), and a leading ``**/`` also matches at the top level, so
    ``**/*.py`` matches ``setup.py`` and ``src/x.py``. :func:`matches_glob` does not use it: a
    backtracking regex is polynomial on hostile names.
    """
    out: list[str] = []
    for kind, chars, negated in _glob_tokens(pattern):
        if kind == _DIRS:
            out.append("(?:.*/)?")
        elif kind == _ANY:
            out.append(".*")
        elif kind == _STAR:
            out.append("[^/]*")
        elif kind == _ONE:
            out.append("[^/]")
        elif kind == _CLASS:
            body = "".join(re.escape(c) for c in chars)
            out.append(
                f"[{'^' if negated else ''}{body}]" if body else ("." if negated else "(?!)")
            )
        else:
            out.append(re.escape(chars))
    return re.compile("".join(out), re.DOTALL)


def matches_glob(path: Any, pattern: Any) -> bool:
    """Whether the slash-separated ``path`` matches the glob ``pattern`` as a whole.

    Linear in the length of ``path`` for a given pattern (no backtracking).
    """
    if not isinstance(path, str) or not isinstance(pattern, str):
        raise TypeError("matches_glob(path, pattern) takes two strings")
    try:
        tokens = _glob_tokens(pattern)
    except ValueError as exc:
        raise ValueError(f"bad glob {pattern!r}: {exc}") from None
    return _glob_match(tokens, path)


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def full_match(text: Any, pattern: Any) -> bool:
    r"""Whether the regular expression ``pattern`` matches the *whole* of ``text``.

    CEL's own ``text.matches(re)`` is an unanchored search: ``"release@example\.com"`` also
    matches ``evil-release@example.com.attacker.org``. ``full_match`` anchors at both ends, as
    ``subjectRegExp`` does.
    """
    if not isinstance(text, str) or not isinstance(pattern, str):
        raise TypeError("full_match(text, regexp) takes two strings")
    try:
        regex = _compiled(pattern)
    except re.error as exc:
        raise ValueError(f"bad regular expression {pattern!r}: {exc}") from None
    return regex.fullmatch(text) is not None


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
    "full_match": full_match,
    "licenses": licenses,
}
"""Name -> implementation, as registered in the CEL context."""
