"""Strict, bounded JSON reading for configuration files taken from model repositories.

Strict means: UTF-8 only, and both duplicate keys and ``NaN``/``Infinity`` literals are
*reported* (loaders keep the last duplicate, other tools the first; Python's ``json``, which
transformers and Keras use, accepts the literals while standard parsers reject them: parser
differentials either way). Bounded
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
    constants: list[str] = field(default_factory=list)
    """Non-standard literals met (``NaN``, ``Infinity``, ``-Infinity``)."""


def read_bounded(path: Path, limit: int) -> bytes | None:
    """Read ``path`` if it holds at most ``limit`` bytes, else return ``None`` (never more)."""
    with path.open("rb") as handle:
        data = handle.read(limit + 1)
    return None if len(data) > limit else data


def parse_strict(data: bytes) -> ParsedJson:
    """Parse ``data`` as strict JSON.

    Raises:
        JsonProblem: for invalid UTF-8, invalid JSON or excessive nesting.
    """
    duplicates: list[str] = []
    constants: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if key in out and len(duplicates) < 32:
                duplicates.append(key)
            out[key] = value
        return out

    def constant(name: str) -> Any:
        if name not in constants:
            constants.append(name)
        return float(name.replace("Infinity", "inf"))

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JsonProblem(f"not UTF-8 (byte {exc.start})") from None
    if text.startswith("\ufeff"):
        raise JsonProblem("starts with a byte-order mark")
    try:
        value = json.loads(text, object_pairs_hook=pairs, parse_constant=constant)
    except json.JSONDecodeError as exc:
        raise JsonProblem(
            f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise JsonProblem("nested too deeply to parse") from None
    except (ValueError, OverflowError) as exc:  # e.g. int string conversion limits
        raise JsonProblem(f"invalid JSON: {exc}") from None
    return ParsedJson(value, duplicates, constants)


__all__ = ["MAX_CONFIG_BYTES", "JsonProblem", "ParsedJson", "parse_strict", "read_bounded"]
