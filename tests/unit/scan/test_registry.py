"""Every detected format has a scanner or an explicit reason it is not scanned."""

from __future__ import annotations

import pytest

from mlchain.models import ArtifactFormat
from mlchain.scan.registry import SCANNERS, UNSCANNED, scanner_for


@pytest.mark.parametrize("fmt", list(ArtifactFormat))
def test_every_format_is_mapped_or_explained(fmt: ArtifactFormat) -> None:
    assert (fmt in SCANNERS) != (fmt in UNSCANNED), fmt
    if fmt in SCANNERS:
        scanner = scanner_for(fmt)
        assert scanner is not None
        assert callable(scanner.scan)
    else:
        assert scanner_for(fmt) is None
        assert UNSCANNED[fmt]


def test_scanner_instances_are_shared() -> None:
    assert scanner_for(ArtifactFormat.ZIP) is scanner_for(ArtifactFormat.PYTORCH_ZIP)
