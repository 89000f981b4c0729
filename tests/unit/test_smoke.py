from __future__ import annotations

from pathlib import Path

from mlchain.models import ArtifactFormat
from mlchain.scan import scan_paths


def test_scan_text_file_is_clean(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# model\n")
    report = scan_paths([tmp_path])
    assert [r.format for r in report.results] == [ArtifactFormat.DATA]
    assert report.findings == ()
    assert report.not_scanned == ()
