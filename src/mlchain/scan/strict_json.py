"""Strict, bounded JSON reading for configuration files taken from model repositories.

Strict means: UTF-8 only, no ``NaN``/``Infinity`` literals, and duplicate keys are *reported*
(loaders keep the last value, other tools the first: a classic parser differential). Bounded
means: the caller caps the byte size before parsing, and nesting too deep for the C parser is
caught and reported instead of crashing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_CONFIG_BYTES = 16 * 1024 * 1024
"""Largest configuration JSON read (real ``config.json`` files are a few KiB)."""


class JsonProblem(ValueError):
    """The bytes are not strict JSON; the message says why."""


@dataclass(slots=True)
class ParsedJson:
    """A parsed document plus the duplicate keys met on the way."""

    value: Any
    duplicates: list[str] = field(default_factory=list)


def read_bounded(path: Path, limit: int) -> bytes | None:
    """Read ``path`` if it holds at most ``limit`` bytes, else return ``None`` (never more)."""
    with path.open("rb") as handle:
        data = handle.read(limit + 1)
    return None if len(data) > limit else data


def parse_strict(data: bytes) -> ParsedJson:
    """Parse ``data`` as strict JSON.

    Raises:
        JsonProblem: for invalid UTF-8, invalid JSON, non-finite numbers or excessive nesting.
    """
    duplicates: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if key in out and len(duplicates) < 32:
                duplicates.append(key)
            out[key] = value
        return out

    def no_constants(name: str) -> Any:
        raise JsonProblem(f"non-standard JSON literal {name}")

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JsonProblem(f"not UTF-8 (byte {exc.start})") from None
    if text.startswith("\ufeff"):
        raise JsonProblem("starts with a byte-order mark")
    try:
        value = json.loads(text, object_pairs_hook=pairs, parse_constant=no_constants)
    except json.JSONDecodeError as exc:
        raise JsonProblem(
            f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise JsonProblem("nested too deeply to parse") from None
    except (ValueError, OverflowError) as exc:  # e.g. int string conversion limits
        raise JsonProblem(f"invalid JSON: {exc}") from None
    return ParsedJson(value, duplicates)


__all__ = ["MAX_CONFIG_BYTES", "JsonProblem", "ParsedJson", "parse_strict", "read_bounded"]
