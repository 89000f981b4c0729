"""The single seam between container readers and the symbolic pickle VM."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlchain.models import Finding, Location
    from mlchain.scan.base import ScanContext
    from mlchain.scan.containers.buffer import Buf
    from mlchain.scan.pickle.vm import PickleScan


def scan_pickle_stream(
    data: Buf,
    location: Location,
    ctx: ScanContext,
    *,
    start: int = 0,
    max_pickles: int | None = None,
    depth: int = 0,
) -> PickleScan:
    """Scan the pickle stream in ``data`` from ``start`` with the symbolic VM (never loads it)."""
    from mlchain.scan.pickle.vm import scan_pickle

    return scan_pickle(data, location, ctx, start=start, max_pickles=max_pickles, depth=depth)


_TORCH_PIDS = ("('storage'", "('module'")
"""Persistent ids torch writes itself: tensor storages, and (legacy) module source records."""


def without_torch_storages(findings: Iterable[Finding]) -> list[Finding]:
    """Drop the persistent-id notes for torch storages.

    Inside a torch container they are how tensors are stored (``persistent_load`` is torch's
    own), not something to report.
    """
    return [
        f
        for f in findings
        if not (
            f.rule_id == "pickle-persistent-id"
            and (f.evidence or "").replace("\\", "").lstrip("\"'").startswith(_TORCH_PIDS)
        )
    ]
