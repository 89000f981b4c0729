"""Nothing executes: scanning every fixture never creates the canary file.

Every malicious fixture's payload, if a loader ever ran it, would create ``CANARY_PATH``. The scan
runs in-process and in the worker pool, over the whole fixtures folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures.canary import CANARY_PATH

from helpers import FIXTURES
from mlchain.scan import scan_paths
from mlchain.scan.base import ScanOptions


@pytest.fixture
def canary() -> Path:
    path = Path(CANARY_PATH)
    if path.exists():
        path.unlink()
    yield path
    assert not path.exists(), "a fixture payload was executed"


@pytest.mark.parametrize("jobs", [1, 2])
def test_scanning_all_fixtures_runs_no_payload(
    canary: Path, jobs: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlchain.scan

    monkeypatch.setattr(mlchain.scan, "POOL_MIN_BYTES", 0)  # jobs=2 really uses worker processes
    report = scan_paths([FIXTURES], ScanOptions(jobs=jobs))
    assert len(report.results) > 0
    assert not canary.exists()
