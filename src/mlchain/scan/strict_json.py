"""Strict, bounded JSON parsing for headers and configuration files taken from model folders.

Python's :mod:`json` is lenient where an attacker can profit from it: a duplicated key silently
keeps the last value (other loaders may keep the first), ``NaN``/``Infinity`` are accepted although
they are not JSON, and deep nesting raises :class:`RecursionError`. :func:`parse_strict` reports
each of these as a problem string instead of hiding or crashing on it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


class JsonProblem(Exception):
    """The text is not strict JSON; the message says why (safe to show after cleaning)."""


@dataclass(slots=True)
class JsonResult:
    """A parsed document plus every duplicated key path seen while parsing it."""

    value: Any
    duplicates: list[str] = field(default_factory=list)
    """Keys that occurred more than once in one object (in document order)."""
    duplicate_values: dict[str, list[Any]] = field(default_factory=dict)
    """Every value a duplicated key had, so callers can analyse all of them."""


def _reject_constant(name: str) -> Any:
    raise JsonProblem(f"non-standard JSON constant {name}")


def parse_strict(data: bytes) -> JsonResult:
    """Parse UTF-8 JSON bytes strictly.

    Raises:
        JsonProblem: invalid UTF-8, invalid or non-standard JSON, or nesting too deep for the
            parser (its C scanner guards recursion and raises :class:`RecursionError`).
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JsonProblem(f"not valid UTF-8 at byte {exc.start}") from None
    result = JsonResult(None)

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj: dict[str, Any] = {}
        for key, value in pairs:
            if key in obj:
                result.duplicates.append(key)
                seen = result.duplicate_values.setdefault(key, [obj[key]])
                seen.append(value)
            obj[key] = value
        return obj

    try:
        result.value = json.loads(text, object_pairs_hook=hook, parse_constant=_reject_constant)
    except JsonProblem:
        raise
    except (ValueError, RecursionError) as exc:
        raise JsonProblem(f"invalid JSON: {exc}") from None
    return result
