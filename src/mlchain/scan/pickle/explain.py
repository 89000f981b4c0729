"""``mlchain scan --explain``: fickling decompilations of raw pickle files, for humans.

The verdict always comes from mlchain's own VM; this module only renders each pickle of a raw
pickle file as Python-like source with fickling (imported lazily, only here), next to the
findings. Pickle boundaries come from our VM, so every pickle the loader would run is shown, not
just the first. fickling failing on a file (joblib array bytes, broken streams, hostile input) is
reported in the explanation, never raised. All text is sanitised: it comes from the artifact.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from mlchain.models import ArtifactFormat
from mlchain.sanitize import clean, clean_path
from mlchain.scan.base import ScanContext, ScanOptions

MAX_PICKLES = 16
"""Pickles decompiled per file."""
MAX_LINES = 200
"""Source lines shown per pickle."""
MAX_DECOMPILE_BYTES = 64 * 1024 * 1024
"""Larger pickles are not handed to fickling (it builds a full AST in memory)."""

_EXPLAINED = frozenset({ArtifactFormat.PICKLE, ArtifactFormat.JOBLIB})


@dataclass(frozen=True, slots=True)
class PickleExplanation:
    """The decompilation of one pickle of a file (or why there is none)."""

    offset: int
    source: tuple[str, ...] = ()
    """Sanitised source lines."""
    error: str | None = None


@dataclass(frozen=True, slots=True)
class FileExplanation:
    """Every pickle of one file, in stream order."""

    path: str
    pickles: tuple[PickleExplanation, ...]
    note: str | None = None


def explain_paths(
    paths: Sequence[Path], options: ScanOptions | None = None
) -> list[FileExplanation]:
    """Decompile every raw pickle file under ``paths`` (other formats are skipped)."""
    from mlchain.scan.detect import detect, read_head
    from mlchain.scan.walk import walk

    options = options or ScanOptions()
    out: list[FileExplanation] = []
    for root in paths:
        for entry in walk(root, []):
            if entry.skipped is not None or entry.escape is not None or entry.size == 0:
                continue
            try:
                fmt = detect(entry.path, read_head(entry.path), entry.size).format
            except OSError:
                continue
            if fmt in _EXPLAINED:
                out.append(explain_file(entry.path, str(entry.rel), options))
    return out


def explain_file(path: Path, display: str, options: ScanOptions | None = None) -> FileExplanation:
    """Decompile each pickle of one raw pickle file."""
    options = options or ScanOptions()
    name = clean_path(display)
    try:
        with (
            path.open("rb") as handle,
            mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view,
        ):
            return FileExplanation(name, tuple(_explain(view, options)))
    except (OSError, ValueError) as exc:
        return FileExplanation(name, (), note=clean(f"could not read the file: {exc}"))


def _explain(view: mmap.mmap, options: ScanOptions) -> Iterator[PickleExplanation]:
    from pathlib import PurePosixPath

    from mlchain.models import Location
    from mlchain.scan.pickle.vm import scan_pickle

    location = Location(PurePosixPath("explain"))
    start = 0
    for _ in range(MAX_PICKLES):
        if start >= len(view):
            return
        scan = scan_pickle(view, location, ScanContext(options), start=start, max_pickles=1)
        end = scan.end if scan.pickles else len(view)
        if end <= start:
            return
        yield _decompile(view[start:end] if end - start <= MAX_DECOMPILE_BYTES else b"", start)
        if not scan.pickles:
            return
        start = end


def _decompile(data: bytes, offset: int) -> PickleExplanation:
    if not data:
        return PickleExplanation(offset, error="pickle too large to decompile")
    try:
        import ast

        from fickling.fickle import Pickled

        source = ast.unparse(Pickled.load(data).ast)
    except Exception as exc:  # fickling failing is shown, never fatal
        return PickleExplanation(offset, error=clean(f"fickling could not decompile: {exc!r}"))
    lines = source.splitlines()
    shown = tuple(clean(line, limit=300) for line in lines[:MAX_LINES])
    if len(lines) > MAX_LINES:
        shown += (f"# … {len(lines) - MAX_LINES} more lines",)
    return PickleExplanation(offset, shown)


def render_explanations(explanations: Sequence[FileExplanation]) -> str:
    """Plain-text rendering for the CLI (already sanitised; no markup)."""
    parts: list[str] = []
    for item in explanations:
        parts.append(f"== {item.path} (fickling decompilation; verdict from mlchain's VM)")
        if item.note:
            parts.append(f"   {item.note}")
        for pickle in item.pickles:
            parts.append(f"-- pickle at offset {pickle.offset}")
            if pickle.error:
                parts.append(f"   ! {pickle.error}")
            parts.extend(f"   {line}" for line in pickle.source)
    return "\n".join(parts) + ("\n" if parts else "")
