"""Scanning at registry scale: results yielded in report order, a chunk at a time.

:func:`iter_scan` walks the same paths :func:`mlchain.scan.scan_paths` would, sorts the entries up
front into the order the report would have, and scans them in chunks (through the same cache and
executor), yielding each result as soon as its chunk is done. Only one chunk of results is held at a
time, so ``scan -f jsonl`` over a million files writes a million lines without keeping them; the
walked entries (a path and a size each) are still listed first, to sort them.

The output is the report's results, in the report's order: ``scan -f jsonl`` and ``scan -f json``
agree line for line.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mlchain.models import ScanResult
from mlchain.scan.base import ScanOptions
from mlchain.scan.walk import Entry

__all__ = ["CHUNK_FILES", "StreamedScan", "iter_scan", "read_refs"]

CHUNK_FILES = 4096
"""Files scanned per chunk: enough to keep a process pool or a Ray cluster busy."""


@dataclass(slots=True)
class StreamedScan:
    """What a streamed scan learned besides its results; complete once the iterator is spent."""

    roots: tuple[str, ...]
    metadata: dict[str, str] = field(default_factory=dict)
    total: int = 0
    """Files to report (the entries, plus one line for files beyond ``--max-files``)."""


def iter_scan(
    paths: Sequence[Path],
    options: ScanOptions,
    *,
    progress: Callable[[int, int], None] | None = None,
    chunk: int = CHUNK_FILES,
) -> tuple[StreamedScan, Iterator[ScanResult]]:
    """Walk ``paths`` now; return the scan's facts and an iterator over its results.

    Raises:
        InputError: if a given path does not exist or cannot be listed (raised here, not later).
    """
    from mlchain.scan import _entries, _Limited, display_root

    state = StreamedScan(roots=tuple(str(p) for p in paths))
    excluded: list[str] = []
    source = _Limited(_entries(paths, options, excluded, state.metadata), options.limits.max_files)
    entries = list(source)
    if excluded:
        state.metadata["excluded"] = ",".join(sorted(excluded))
    shown = {root: display_root(root) for root in {e.root for e in entries}}

    def key(entry: Entry) -> str:
        return posixpath.normpath(posixpath.join(shown[entry.root], str(entry.rel)))

    entries.sort(key=key)  # stable: the report's order (scan_paths sorts its results so)
    extra = source.result()
    state.total = len(entries) + (extra is not None)
    return state, _results(entries, key, shown, extra, options, progress, chunk)


def _results(
    entries: list[Entry],
    key: Callable[[Entry], str],
    shown: dict[Path, str],
    extra: ScanResult | None,
    options: ScanOptions,
    progress: Callable[[int, int], None] | None,
    chunk: int,
) -> Iterator[ScanResult]:
    from mlchain.scan import _run_cached

    total = len(entries)
    for start in range(0, total, chunk):
        part = entries[start : start + chunk]

        def step(done: int, _: int, start: int = start) -> None:
            if progress:
                progress(start + done, total)

        for entry, result in zip(part, _run_cached(part, options, step), strict=True):
            if extra is not None and extra.location.file() < key(entry):
                yield extra
                extra = None
            yield result.under(shown[entry.root])
    if extra is not None:
        yield extra


def read_refs(listing: Path, text: str) -> list[str]:
    """The references in a ``--from-file`` listing, in order.

    One reference per line: a local path, or an ``hf://``/``oci://`` reference. Blank lines and
    lines starting with ``#`` are ignored, as is whitespace around a reference. A relative path is
    taken relative to the folder holding the listing (so a listing can travel with the tree it
    names), not to the current folder.
    """
    refs: list[str] = []
    base = listing.parent
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if "://" in line or Path(line).is_absolute():
            refs.append(line)
        else:
            refs.append(str(base / line))
    return refs
