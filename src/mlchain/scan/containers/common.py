"""What every container handler shares: per-file state, the hand-down of recursion, notes.

Handlers (:mod:`.zipscan`, :mod:`.tarscan`, :mod:`.compressed`, :mod:`.npy`, :mod:`.legacy`)
never import the router in :mod:`.dispatch`: the router hands itself down in :class:`State`
(``state.route``), so nested content reaches it without an import circle, and a reader can be
tested with any router.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from mlchain.models import ArtifactFormat as F
from mlchain.models import Finding, Location, Severity
from mlchain.scan import magic
from mlchain.scan.base import ScanContext, finding
from mlchain.scan.containers.buffer import SNIFF_BYTES, Buf
from mlchain.scan.magic import LZ4_MAGIC, NESTED_SCANNABLE

MAX_NOTES = 20
"""``not-scanned`` notes listed per archive before they are summarised."""


class Route(Protocol):
    """The router's signature (:func:`mlchain.scan.containers.dispatch.scan_buffer`)."""

    def __call__(
        self, buf: Buf, fmt: F, location: Location, ctx: ScanContext, state: State, depth: int
    ) -> Iterator[Finding]:
        """Yield the findings for ``buf`` holding content of format ``fmt``."""
        ...


@dataclass(slots=True)
class State:
    """Mutable per-file state shared across nesting levels, and the router handed down."""

    route: Route
    """Scans content of a known format one level down (the dispatcher hands itself in)."""
    decompressed: int = 0
    """Bytes decompressed so far in this file (all levels), against ``max_decompressed_bytes``."""
    timed_out: bool = False

    def nested(
        self, buf: Buf, location: Location, ctx: ScanContext, depth: int
    ) -> Iterator[Finding]:
        """Sniff ``buf`` (a member or decompressed stream) and scan it if it is a container."""
        if bytes(buf[:4]) == LZ4_MAGIC:
            yield finding(
                "archive-unsupported",
                "lz4 frame (joblib compress='lz4'): mlchain cannot decompress lz4; not scanned",
                location,
            )
            return
        fmt = nested_format(buf)
        if fmt is None:
            return
        yield from self.route(buf, fmt, location, ctx, self, depth)


def nested_format(buf: Buf) -> F | None:
    """Format of nested content by the one magic table, or ``None`` when it is nothing we scan."""
    fmt = magic.sniff(magic.Probe.of_buffer(buf))
    return fmt if fmt in NESTED_SCANNABLE else None


def worth_scanning(head: Buf, *, cut: bool = False) -> bool:
    """Whether content starting with ``head`` is something :meth:`State.nested` reports on.

    With ``cut``, ``head`` is only the start of longer content: a pickle whose first opcode's
    argument runs past it still counts, but content that may only show what it is at its end
    (a zip directory) cannot be ruled out from the head; callers then look at all of it.
    """
    if bytes(head[:4]) == LZ4_MAGIC:
        return True
    if not cut:
        return nested_format(head) is not None
    fmt = magic.sniff(magic.Probe.of_prefix(bytes(head[:SNIFF_BYTES]), cut=True))
    return fmt in NESTED_SCANNABLE


def unscanned_note(head: bytes, location: Location) -> Finding | None:
    """An INFO ``not-scanned`` finding for a member that is neither inert nor scannable."""
    if not head or magic.is_known_inert(head[:4096]):
        return None
    fmt = magic.sniff(magic.Probe.of_buffer(head))
    kind = {F.GGUF: "a GGUF model", F.SAFETENSORS: "a safetensors file"}.get(
        fmt or F.DATA, "unrecognised binary content"
    )
    return finding(
        "not-scanned",
        f"archive member holds {kind}; extract it and scan it on its own",
        location,
    )


def limit_notes(findings: Iterator[Finding], location: Location) -> Iterator[Finding]:
    """Pass ``findings`` through, listing at most :data:`MAX_NOTES` ``not-scanned`` notes."""
    notes = 0
    for item in findings:
        if item.rule_id == "not-scanned" and item.severity == Severity.INFO:
            notes += 1
            if notes > MAX_NOTES:
                continue
        yield item
    if notes > MAX_NOTES:
        yield finding(
            "not-scanned",
            f"{notes - MAX_NOTES} more archive members were not scanned (unrecognised content)",
            location,
        )
