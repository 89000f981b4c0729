"""Whether bytes are text: the one test detection, the inert scanner and format rules share."""

from __future__ import annotations


def is_text(head: bytes) -> bool:
    """Whether ``head`` decodes as UTF-8 text (a cut multi-byte character at the end is fine)."""
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"
    return True
