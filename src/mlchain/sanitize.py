"""Make strings taken from artifacts safe to show: no control characters, no ANSI, bounded length.

Every string that comes out of a model file (names, template text, pickle arguments) is hostile.
Scanners pass evidence through :func:`clean` before it enters a :class:`~mlchain.models.Finding`;
formatters escape markup on top of that.
"""

from __future__ import annotations

import re

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")

DEFAULT_LIMIT = 160


def clean(text: str, limit: int = DEFAULT_LIMIT) -> str:
    """Strip ANSI sequences and control characters, fold newlines and tabs, and truncate.

    Newlines and tabs become visible escapes so that one finding stays on one line.
    """
    # Undecodable bytes in file names arrive as lone surrogates: make them visible escapes.
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    text = _ANSI.sub("", text)
    text = text.replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    if len(text) > limit:
        text = text[: max(limit - 1, 0)] + "…"
    return text


def clean_bytes(data: bytes, limit: int = DEFAULT_LIMIT) -> str:
    """Decode bytes leniently (invalid UTF-8 shown as escapes) and :func:`clean` them."""
    return clean(data[: limit * 4].decode("utf-8", errors="backslashreplace"), limit)


def clean_path(text: str) -> str:
    """Clean a file or member name without truncating it (paths must stay unique)."""
    if text.isascii() and text.isprintable():  # the common case, without the regexes
        return text
    return clean(text, limit=4096)
