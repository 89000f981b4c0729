"""The report's data model: moving a result under a display root changes nothing else."""

from __future__ import annotations

import dataclasses
from pathlib import PurePosixPath

from mlchain.models import ArtifactFormat, Confidence, Finding, Location, ScanResult, Severity


def test_under_keeps_every_field_but_the_roots() -> None:
    loc = Location(PurePosixPath("a/b.pkl"), "data.pkl", 7)
    found = Finding("pickle-unknown-import", Severity.HIGH, Confidence.HIGH, "m", loc, "e")
    result = ScanResult(loc, ArtifactFormat.PICKLE, (found,), "why", 12, "ab" * 32)
    moved = result.under("models")
    names = [f.name for f in dataclasses.fields(ScanResult)]
    # under() builds the result field by field: a new field must be carried over there too.
    assert names == ["location", "format", "findings", "skipped", "size", "sha256"]
    for field in dataclasses.fields(ScanResult):
        if field.name not in {"location", "findings"}:
            assert getattr(moved, field.name) == getattr(result, field.name), field.name
    assert moved == result  # the root is not part of equality...
    assert moved.location.root == "models"  # ...but it is set, on the findings too
    assert [f.location.root for f in moved.findings] == ["models"]
    assert moved.location.display() == "models/a/b.pkl!data.pkl@7"
