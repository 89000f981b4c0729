"""Shared plumbing for the fuzz targets: a scan context, scratch files and the atheris entry.

Targets import nothing from atheris at module level, so ``tests/hardening/test_fuzz_targets.py``
can import every target and replay its seeds without atheris installed.
"""

from __future__ import annotations

import atexit
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from mlchain.models import ArtifactFormat, Location
from mlchain.scan.base import Artifact, Limits, ScanContext, ScanOptions

LIMITS = Limits(max_seconds_per_file=30.0)
"""Default limits except the wall-time budget, which stays above libFuzzer's -timeout=10 so a
slow input is reported by the fuzzer as a hang instead of hidden by mlchain's own deadline."""

TIGHT = Limits(
    max_pickle_bytes=16 * 1024,
    max_opcodes=2_000,
    max_memo=64,
    max_stack=64,
    max_nesting=2,
    max_decompressed_bytes=64 * 1024,
    max_ratio=20,
    max_members=8,
    max_header_bytes=4 * 1024,
    max_seconds_per_file=30.0,
)
"""Small limits, so that fuzzed inputs reach every limit-exceeded path, not only the parsers."""

_SCRATCH: list[Path] = []


def context(data: bytes = b"") -> ScanContext:
    """A fresh per-input scan context (the deadline starts now).

    One input in four (by length) is scanned under :data:`TIGHT` limits, the rest under the
    defaults; the choice depends only on ``data``, so every crash reproduces.
    """
    limits = TIGHT if data and len(data) % 4 == 0 else LIMITS
    return ScanContext(ScanOptions(limits=limits, jobs=1))


def location(name: str) -> Location:
    """The location findings for the fuzzed input carry."""
    return Location(PurePosixPath(name))


def scratch_dir() -> Path:
    """A per-process temporary folder, removed at exit."""
    if not _SCRATCH:
        path = Path(tempfile.mkdtemp(prefix="mlchain-fuzz-"))
        atexit.register(shutil.rmtree, path, ignore_errors=True)
        _SCRATCH.append(path)
    return _SCRATCH[0]


def scratch_file(data: bytes, name: str) -> Path:
    """Write ``data`` to ``name`` inside the scratch folder (scanners that read files get one)."""
    path = scratch_dir() / name
    path.write_bytes(data)
    return path


def artifact(path: Path, fmt: ArtifactFormat) -> Artifact:
    """An :class:`Artifact` for ``path`` as the pipeline would build it."""
    return Artifact(
        path=path,
        location=location(path.name),
        root=path.parent,
        size=path.stat().st_size,
        format=fmt,
    )


def main(test_one_input: Callable[[bytes], None]) -> None:
    """Run ``test_one_input`` under atheris with libFuzzer's command line from ``sys.argv``.

    Every already-imported module is instrumented (mlchain plus the pure-Python libraries it
    parses with, such as jinja2 and PyYAML), so coverage feedback reaches the parsers.
    """
    import atheris

    atheris.instrument_all()
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
