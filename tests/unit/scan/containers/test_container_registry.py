"""Every container format is registered to the container scanner."""

from __future__ import annotations

import pytest

from mlchain.models import ArtifactFormat as F
from mlchain.scan.containers.dispatch import ContainerScanner
from mlchain.scan.registry import scanner_for

CONTAINERS = [
    F.PYTORCH_ZIP,
    F.TORCHSCRIPT,
    F.PYTORCH_LEGACY,
    F.PYTORCH_TAR,
    F.NUMPY,
    F.NUMPY_ZIP,
    F.GZIP,
    F.BZIP2,
    F.XZ,
    F.ZLIB,
    F.SEVEN_ZIP,
    F.ZIP,
    F.TAR,
]


@pytest.mark.parametrize("fmt", CONTAINERS)
def test_container_format_is_registered(fmt: F) -> None:
    assert isinstance(scanner_for(fmt), ContainerScanner)


def test_new_rules_exist() -> None:
    from mlchain.rules import RULES

    for rule in ("archive-malformed", "archive-unsupported", "archive-bomb", "torchscript-code"):
        assert rule in RULES
