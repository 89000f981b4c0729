"""Strict, bounded JSON parsing for headers and configuration files taken from model folders.

Python's :mod:`json` is lenient where an attacker can profit from it: a duplicated key silently
keeps the last value (other loaders keep the first), ``NaN``/``Infinity`` are accepted although
they are not JSON, a byte-order mark is tolerated by some readers only, and deep nesting raises
:class:`RecursionError`. :func:`parse_strict` reports each of these instead of hiding or crashing
on it: parser differentials are how a file looks different to the scanner and to the loader.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_CONFIG_BYTES = 16 * 1024 * 1024
"""Largest configuration JSON read (real ``config.json`` files are a few KiB)."""
MAX_REPORTED_DUPLICATES = 64


class JsonProblem(ValueError):
    """The bytes are not strict JSON; the message says why (safe to show after cleaning)."""


@dataclass(slots=True)
class ParsedJson:
    """A parsed document plus what was odd about it."""

    value: Any
    duplicates: list[str] = field(default_factory=list)
    """Keys that occurred more than once in one object (document order, capped)."""
    duplicate_values: dict[str, list[Any]] = field(default_factory=dict)
    """Every value a duplicated key had, so callers can analyse all of them."""
    constants: list[str] = field(default_factory=list)
    """Non-standard literals met (``NaN``, ``Infinity``, ``-Infinity``) when allowed."""


JsonResult = ParsedJson
"""Older name kept for the header scanners."""


def read_bounded(path: Path, limit: int) -> bytes | None:
    """Read ``path`` if it holds at most ``limit`` bytes, else return ``None``.

    The size is checked before reading: ``read(n)`` allocates ``n`` bytes up front in CPython.
    """
    with path.open("rb") as handle:
        size = _size(handle)
        if size > limit:
            return None
        data = handle.read(size + 1)
    return None if len(data) > limit else data


def _size(handle: Any) -> int:
    import os

    return os.fstat(handle.fileno()).st_size


def parse_strict(data: bytes, *, allow_constants: bool = False) -> ParsedJson:
    """Parse UTF-8 JSON bytes strictly.

    With ``allow_constants`` the non-standard ``NaN``/``Infinity`` literals are recorded in
    :attr:`ParsedJson.constants` instead of being an error (configuration files written by Python).

    Raises:
        JsonProblem: invalid UTF-8, a byte-order mark, invalid or (by default) non-standard JSON,
            or nesting too deep for the parser.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JsonProblem(f"not valid UTF-8 at byte {exc.start}") from None
    if text.startswith("\ufeff"):
        raise JsonProblem("starts with a byte-order mark")
    result = ParsedJson(None)

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        obj: dict[str, Any] = {}
        for key, value in items:
            if key in obj and len(result.duplicates) < MAX_REPORTED_DUPLICATES:
                result.duplicates.append(key)
                result.duplicate_values.setdefault(key, [obj[key]]).append(value)
            obj[key] = value
        return obj

    def constant(name: str) -> Any:
        if not allow_constants:
            raise JsonProblem(f"non-standard JSON constant {name}")
        if name not in result.constants:
            result.constants.append(name)
        return float(name.replace("Infinity", "inf"))

    try:
        result.value = json.loads(text, object_pairs_hook=pairs, parse_constant=constant)
    except JsonProblem:
        raise
    except json.JSONDecodeError as exc:
        raise JsonProblem(
            f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise JsonProblem("nested too deeply to parse") from None
    except (ValueError, OverflowError) as exc:  # e.g. int string conversion limits
        raise JsonProblem(f"invalid JSON: {exc}") from None
    return result


__all__ = [
    "MAX_CONFIG_BYTES",
    "JsonProblem",
    "JsonResult",
    "ParsedJson",
    "parse_strict",
    "read_bounded",
]
