"""Helpers shared by the pickle VM unit, differential and regression tests."""

from __future__ import annotations

from pathlib import PurePosixPath

from mlchain.models import Finding, Location, Severity
from mlchain.scan.base import Limits, ScanContext, ScanOptions
from mlchain.scan.pickle import PickleScan, scan_pickle

LOC = Location(PurePosixPath("model.pkl"))


def run(data: bytes, **kwargs: object) -> PickleScan:
    """Scan ``data`` with default options (keyword arguments go to scan_pickle)."""
    return scan_pickle(data, LOC, ScanContext(ScanOptions()), **kwargs)  # type: ignore[arg-type]


def run_with(
    data: bytes, limits: Limits | None = None, allow: frozenset[str] = frozenset()
) -> PickleScan:
    """Scan with custom limits or user-allowed globals."""
    options = ScanOptions(limits=limits or Limits(), allow_globals=allow)
    return scan_pickle(data, LOC, ScanContext(options))


def rules(result: PickleScan) -> set[str]:
    return {f.rule_id for f in result.findings}


def serious(result: PickleScan, floor: Severity = Severity.MEDIUM) -> list[Finding]:
    return [f for f in result.findings if f.severity >= floor]


class InertStub:
    """Inert stand-in for every global a recording ``find_class`` returns in differential tests.

    A type, so NEWOBJ accepts it; it accepts any construction, call, state and container
    mutation, records nothing and runs nothing from the pickle.
    """

    def __new__(cls, *args: object, **kwargs: object) -> InertStub:
        return object.__new__(cls)

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def __call__(self, *args: object, **kwargs: object) -> InertStub:
        return InertStub()

    def __setstate__(self, state: object) -> None:
        pass

    def __setitem__(self, key: object, value: object) -> None:
        pass

    def append(self, item: object) -> None:
        pass

    def extend(self, items: object) -> None:
        pass

    def add(self, item: object) -> None:
        pass
