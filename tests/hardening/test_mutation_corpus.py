"""Every committed fixture, truncated and bit-flipped, yields findings or a clean result.

No scanner may raise (the pipeline would turn that into a ``scanner-error`` finding, which this test
treats as a crash), hang, or allocate in proportion to what a corrupted header claims. Offsets are a
deterministic sample so the whole corpus stays within a bounded time.
"""

from __future__ import annotations

import random
import time
import tracemalloc
from pathlib import Path

import pytest

from helpers import FIXTURES
from mlchain.scan import scan_paths
from mlchain.scan.base import ScanOptions

# Per file: the first HEAD_OFFSETS offsets (where headers, magic numbers and lengths live) plus a
# deterministic random sample. The corpus doubled to ~500 files in issue 14/13's work (real
# templates, training artifacts, TF/TorchScript/HDF5 fixtures), so the sample per file is bounded
# to keep the whole test near two minutes on two cores; per-parser Hypothesis tests go deeper.
HEAD_OFFSETS = 12
TRUNCATIONS_PER_FILE = 16
FLIPS_PER_FILE = 16
PEAK_BUDGET = 96 * 1024 * 1024
SLOW_SCAN_SECONDS = 10.0  # a hang guard, not a speed target (speed lives in benchmarks/)
OPTIONS = ScanOptions(jobs=1)


PER_FOLDER = 16
"""Files per fixture folder: all of a small folder, an evenly spaced sample of a large one (the
72 real chat templates, the 37 training artifacts, the 48 malicious pickles). Every parser still
meets every folder's kinds of file; each parser's own Hypothesis tests go deeper."""


def _corpus() -> list[Path]:
    folders: dict[Path, list[Path]] = {}
    for p in sorted(FIXTURES.rglob("*")):
        if p.is_file() and not p.is_symlink() and p.suffix != ".py" and p.stat().st_size < 1 << 20:
            folders.setdefault(p.parent, []).append(p)
    picked: list[Path] = []
    for files in folders.values():
        step = max(1, -(-len(files) // PER_FOLDER))  # ceil: at most PER_FOLDER, evenly spaced
        picked += files[::step]
    return sorted(picked)


CORPUS = _corpus()


def _offsets(size: int, count: int, rng: random.Random) -> list[int]:
    head = list(range(min(size, HEAD_OFFSETS)))
    rest = sorted(rng.sample(range(size), min(size, count))) if size else []
    return sorted(set(head + rest))


def _check(tmp: Path, name: str, data: bytes) -> None:
    target = tmp / name
    target.write_bytes(data)
    tracemalloc.start()
    started = time.monotonic()
    try:
        report = scan_paths([target], OPTIONS)
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    elapsed = time.monotonic() - started
    crashes = [f for f in report.findings if f.rule_id == "scanner-error"]
    assert crashes == [], f"{name} ({len(data)} bytes): {crashes[0].message} {crashes[0].evidence}"
    assert peak < PEAK_BUDGET, f"{name}: {peak} bytes traced"
    assert elapsed < SLOW_SCAN_SECONDS, f"{name}: {elapsed:.1f} s"


@pytest.mark.skipif(not CORPUS, reason="no fixtures generated yet")
@pytest.mark.parametrize("fixture", CORPUS, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_truncated_and_bitflipped_fixture(fixture: Path, tmp_path: Path) -> None:
    data = fixture.read_bytes()
    rng = random.Random(fixture.name)
    for offset in _offsets(len(data), TRUNCATIONS_PER_FILE // 2, rng):
        _check(tmp_path, fixture.name, data[:offset])
    for offset in _offsets(len(data), FLIPS_PER_FILE // 2, rng)[: FLIPS_PER_FILE + HEAD_OFFSETS]:
        if offset >= len(data):
            continue
        flipped = bytearray(data)
        flipped[offset] ^= 1 << rng.randrange(8)
        _check(tmp_path, fixture.name, bytes(flipped))
